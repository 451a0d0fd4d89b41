#include "agent/noop_engine.h"

#include <condition_variable>
#include <deque>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/jobs/spool.h"
#include "agent/modules/result_util.h"
#include "agent/modules/shlex.h"

namespace tachyon::agent {

struct NoopWorker::State {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::function<void()>> queue;
  bool stopping = false;
  std::thread thread;
};

NoopWorker::NoopWorker() : state_(std::make_shared<State>()) {
  State* s = state_.get();
  s->thread = std::thread([s] {
    while (true) {
      std::deque<std::function<void()>> batch;
      {
        std::unique_lock<std::mutex> lock(s->mu);
        s->cv.wait(lock, [s] { return s->stopping || !s->queue.empty(); });
        if (s->queue.empty()) return;  // stopping and drained
        batch.swap(s->queue);
      }
      for (auto& fn : batch) fn();
    }
  });
}

NoopWorker::~NoopWorker() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stopping = true;
    state_->cv.notify_all();
  }
  state_->thread.join();
}

void NoopWorker::Post(std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->queue.push_back(std::move(fn));
  state_->cv.notify_all();
}

NoopEngine::NoopEngine(NoopWorker* worker, EventCallback on_event)
    : worker_(worker), on_event_(std::move(on_event)) {}

nlohmann::json NoopEngine::NoopResult(const jobs::JobSpec& spec, absl::Time start, absl::Time end) {
  // What the command module reports for a program that printed nothing and exited 0; `cmd` is
  // the argv the command module would have run.
  nlohmann::json cmd = nlohmann::json::array();
  if (spec.args.contains("argv") && spec.args["argv"].is_array()) {
    cmd = spec.args["argv"];
  } else if (spec.args.contains("_raw_params") && spec.args["_raw_params"].is_string()) {
    auto words = modules::ShlexSplit(spec.args["_raw_params"].get<std::string>());
    if (words.ok()) cmd = *words;
  }
  return {{"changed", true},
          {"failed", false},
          {"rc", 0},
          {"cmd", cmd},
          {"stdout", ""},
          {"stderr", ""},
          {"stdout_lines", nlohmann::json::array()},
          {"stderr_lines", nlohmann::json::array()},
          {"start", modules::FormatPythonDatetime(start)},
          {"end", modules::FormatPythonDatetime(end)},
          {"delta", modules::FormatPythonTimedelta(end - start)},
          {"msg", ""}};
}

absl::Status NoopEngine::Submit(const jobs::JobSpec& spec) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Idempotent by jid, like the real engine: a redelivered job is not run again.
    if (!jobs_.emplace(spec.jid, jobs::RunningResult(spec.jid)).second) return absl::OkStatus();
  }
  absl::Time start = absl::Now();
  worker_->Post([this, spec, start] {
    on_event_({jobs::JobEvent::Kind::kStarted, spec.jid, jobs::JobState::kRunning, {}});
    nlohmann::json result = NoopResult(spec, start, absl::Now());
    jobs::MarkFinished(spec.jid, &result);
    {
      std::lock_guard<std::mutex> lock(mu_);
      jobs_[spec.jid] = result;
    }
    on_event_(
        {jobs::JobEvent::Kind::kFinished, spec.jid, jobs::JobState::kSucceeded, std::move(result)});
  });
  return absl::OkStatus();
}

absl::Status NoopEngine::Kill(const std::string& jid) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!jobs_.count(jid)) return absl::NotFoundError(absl::StrCat("could not find job ", jid));
  return absl::OkStatus();  // a noop job is over as soon as it starts
}

absl::Status NoopEngine::Cleanup(const std::string& jid) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!jobs_.erase(jid)) return absl::NotFoundError(absl::StrCat("could not find job ", jid));
  return absl::OkStatus();
}

absl::StatusOr<nlohmann::json> NoopEngine::Status(const std::string& jid) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(jid);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("could not find job ", jid));
  return it->second;
}

std::vector<std::string> NoopEngine::KnownJobs() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& [jid, result] : jobs_) out.push_back(jid);
  return out;
}

}  // namespace tachyon::agent
