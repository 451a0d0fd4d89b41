#include "agent/outbox.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/status.h"

namespace tachyon::agent {

using nlohmann::json;

namespace {

const char* KindName(jobs::JobEvent::Kind k) {
  return k == jobs::JobEvent::Kind::kStarted ? "started" : "finished";
}

absl::StatusOr<jobs::JobState> StateFromName(const std::string& name) {
  for (auto s : {jobs::JobState::kPending, jobs::JobState::kRunning, jobs::JobState::kSucceeded,
                 jobs::JobState::kFailed, jobs::JobState::kTimedOut, jobs::JobState::kKilled,
                 jobs::JobState::kLost}) {
    if (name == jobs::JobStateName(s)) return s;
  }
  return absl::DataLossError(absl::StrCat("unknown job state '", name, "'"));
}

}  // namespace

json OutboxEventToJson(const OutboxEvent& e) {
  return {{"ordinal", e.ordinal},
          {"seq", e.seq},
          {"kind", KindName(e.event.kind)},
          {"jid", e.event.jid},
          {"state", jobs::JobStateName(e.event.state)},
          {"result", e.event.result},
          {"ts", e.ts_unix_ms}};
}

absl::StatusOr<OutboxEvent> OutboxEventFromJson(const json& j) {
  try {
    OutboxEvent e;
    e.ordinal = j.at("ordinal").get<uint64_t>();
    e.seq = j.at("seq").get<uint64_t>();
    std::string kind = j.at("kind").get<std::string>();
    if (kind != "started" && kind != "finished")
      return absl::DataLossError("unknown event kind " + kind);
    e.event.kind =
        kind == "started" ? jobs::JobEvent::Kind::kStarted : jobs::JobEvent::Kind::kFinished;
    e.event.jid = j.at("jid").get<std::string>();
    ASSIGN_OR_RETURN(e.event.state, StateFromName(j.at("state").get<std::string>()));
    e.event.result = j.value("result", json::object());
    e.ts_unix_ms = j.value("ts", int64_t{0});
    return e;
  } catch (const json::exception& ex) {
    return absl::DataLossError(absl::StrCat("malformed outbox event: ", ex.what()));
  }
}

absl::StatusOr<std::unique_ptr<Outbox>> Outbox::Open(const std::string& dir, uint64_t seq_block) {
  std::unique_ptr<Outbox> box(new Outbox(dir, std::max<uint64_t>(seq_block, 1)));
  if (!dir.empty()) {
    RETURN_IF_ERROR(MakeDirs(dir, 0700));
    RETURN_IF_ERROR(box->Load());
  }
  return box;
}

std::string Outbox::EventPath(uint64_t ordinal) const {
  return absl::StrFormat("%s/e-%020d.json", dir_, ordinal);
}

absl::Status Outbox::Load() {
  absl::MutexLock lock(&mu_);
  std::string meta_path = dir_ + "/meta.json";
  if (PathExists(meta_path)) {
    ASSIGN_OR_RETURN(std::string text, ReadFile(meta_path, 4096));
    json meta = json::parse(text, nullptr, false);
    if (!meta.is_object()) return absl::DataLossError(meta_path + ": not a JSON object");
    next_seq_ = meta.value("next_seq", uint64_t{1});
  }
  // Numbering waits for this run's first welcome, which says what the controller stored last:
  // an event numbered before it could get a number that a lost meta.json write let us reuse.
  // Every number below next_seq may have been handed out; the first one at or above it
  // reserves a new block before it is used.
  reserved_ = next_seq_;
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) return ErrnoStatus(errno, "opendir " + dir_);
  std::vector<std::string> names;
  while (struct dirent* ent = ::readdir(d)) {
    std::string name = ent->d_name;
    if (absl::StartsWith(name, "e-") && absl::EndsWith(name, ".json")) names.push_back(name);
    // Leftover temp files of an interrupted write never became events.
    if (absl::StrContains(name, ".tmp.")) ::unlink((dir_ + "/" + name).c_str());
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    std::string path = dir_ + "/" + name;
    auto text = ReadFile(path, 64u << 20);
    absl::StatusOr<OutboxEvent> e = text.ok()
                                        ? OutboxEventFromJson(json::parse(*text, nullptr, false))
                                        : absl::StatusOr<OutboxEvent>(text.status());
    if (!e.ok()) {
      // A damaged file cannot be delivered; keep it aside for a human, and say so.
      TLOG(Error) << "outbox: " << path << ": " << e.status() << "; moved aside";
      ::rename(path.c_str(), (path + ".bad").c_str());
      continue;
    }
    next_ordinal_ = std::max(next_ordinal_, e->ordinal + 1);
    if (e->seq != 0) next_seq_ = std::max(next_seq_, e->seq + 1);
    events_.push_back(*std::move(e));
  }
  if (!events_.empty()) {
    TLOG(Info) << "outbox: " << events_.size() << " unacknowledged events from a previous run";
  }
  return absl::OkStatus();
}

absl::Status Outbox::PersistEventLocked(const OutboxEvent& e) {
  if (dir_.empty()) return absl::OkStatus();
  // A `started` event describes a live process (Durability::kCrashSafe's rule): after a power
  // loss the job is gone too, and the agent's restart reports it lost with a durable
  // `finished`. Dropping its two fsyncs halves the disk flushes on the way to starting a job.
  const Durability durability = e.event.kind == jobs::JobEvent::Kind::kStarted
                                    ? Durability::kCrashSafe
                                    : Durability::kDurable;
  return WriteFileAtomic(EventPath(e.ordinal),
                         OutboxEventToJson(e).dump(-1, ' ', false, json::error_handler_t::replace),
                         0600, durability);
}

absl::Status Outbox::PersistMetaLocked(uint64_t reserve_upto) {
  if (dir_.empty()) {
    reserved_ = reserve_upto;
    return absl::OkStatus();
  }
  // "next_seq" promises that no number at or above it was handed out: a restarted agent
  // starts there.
  json meta = {{"next_seq", reserve_upto}};
  RETURN_IF_ERROR(WriteFileAtomic(dir_ + "/meta.json", meta.dump(), 0600));
  reserved_ = reserve_upto;
  return absl::OkStatus();
}

uint64_t Outbox::NextSeqLocked() {
  if (next_seq_ >= reserved_) {
    absl::Status st = PersistMetaLocked(next_seq_ + seq_block_);
    if (!st.ok()) {
      // The number is still safe: this run numbers only after a welcome (so above what the
      // controller stored), and so does the next run. Only a controller that also lost its
      // database could see it again.
      TLOG(Error) << "outbox: cannot persist its numbering: " << st;
    }
  }
  return next_seq_++;
}

absl::Status Outbox::Add(const jobs::JobEvent& event, int64_t ts_unix_ms) {
  absl::MutexLock lock(&mu_);
  OutboxEvent e;
  e.ordinal = next_ordinal_++;
  e.event = event;
  e.ts_unix_ms = ts_unix_ms;
  if (numbering_) e.seq = NextSeqLocked();
  events_.push_back(e);
  absl::Status st = PersistEventLocked(e);
  if (!st.ok()) {
    TLOG(Error) << "outbox: cannot persist the " << KindName(event.kind) << " event of job "
                << event.jid << " (" << st.message()
                << "); it is kept in memory and still delivered while this agent runs";
  }
  return st;
}

void Outbox::NumberLocked() {
  for (auto& e : events_) {
    if (e.seq != 0) continue;
    e.seq = NextSeqLocked();
    absl::Status st = PersistEventLocked(e);
    if (!st.ok())
      TLOG(Error) << "outbox: cannot renumber event of job " << e.event.jid << ": " << st;
  }
}

std::vector<OutboxEvent> Outbox::OnWelcome(uint64_t controller_last_seq) {
  absl::MutexLock lock(&mu_);
  // Numbered events up to the controller's last seq are stored there already.
  while (!events_.empty() && events_.front().seq != 0 &&
         events_.front().seq <= controller_last_seq) {
    if (!dir_.empty()) ::unlink(EventPath(events_.front().ordinal).c_str());
    events_.pop_front();
  }
  // Numbers continue above what the controller stored; NextSeqLocked reserves them on disk.
  next_seq_ = std::max<uint64_t>(next_seq_, controller_last_seq + 1);
  numbering_ = true;
  NumberLocked();
  live_ = true;
  sent_upto_ = events_.size();
  return {events_.begin(), events_.end()};
}

std::vector<OutboxEvent> Outbox::TakeNew() {
  absl::MutexLock lock(&mu_);
  if (!live_) return {};
  std::vector<OutboxEvent> out(events_.begin() + static_cast<std::ptrdiff_t>(sent_upto_),
                               events_.end());
  sent_upto_ = events_.size();
  return out;
}

void Outbox::Ack(uint64_t seq) {
  absl::MutexLock lock(&mu_);
  // The counter survives the files that carried it without a write here: meta.json already
  // reserves every number handed out (see NextSeqLocked).
  while (!events_.empty() && events_.front().seq != 0 && events_.front().seq <= seq) {
    if (!dir_.empty()) ::unlink(EventPath(events_.front().ordinal).c_str());
    events_.pop_front();
    if (sent_upto_ > 0) --sent_upto_;
  }
}

void Outbox::OnDisconnect() {
  absl::MutexLock lock(&mu_);
  live_ = false;
  sent_upto_ = 0;
}

size_t Outbox::size() const {
  absl::MutexLock lock(&mu_);
  return events_.size();
}

}  // namespace tachyon::agent
