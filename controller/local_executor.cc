#include "controller/local_executor.h"

#include "agent/facts.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/status.h"
#include "nlohmann/json.hpp"

namespace tachyon::controller {

absl::StatusOr<std::shared_ptr<LocalExecutor>> LocalExecutor::Start(Dispatcher* dispatcher,
                                                                    Options options) {
  RETURN_IF_ERROR(MakeDirs(options.spool_dir, 0700));
  std::shared_ptr<LocalExecutor> self(new LocalExecutor(dispatcher));
  // Continue the per-agent numbering the store has for localhost, so events after a restart
  // are never taken for duplicates.
  ASSIGN_OR_RETURN(uint64_t last_seq, dispatcher->LastAgentSeq(kLocalhost));
  self->seq_ = last_seq;

  jobs::JobEngine::Options engine_options;
  engine_options.spool_dir = options.spool_dir;
  engine_options.shim_command = options.shim_command;
  engine_options.kill_grace = options.kill_grace;
  std::weak_ptr<LocalExecutor> weak = self;
  // Re-adopted jobs may report before we are connected; the dispatcher accepts them anyway
  // (it checks only that the job was dispatched to localhost).
  ASSIGN_OR_RETURN(self->engine_,
                   jobs::JobEngine::Create(engine_options, [weak](const jobs::JobEvent& e) {
                     if (auto s = weak.lock()) s->OnEngineEvent(e);
                   }));

  agent::Facts f = agent::GatherFacts();
  nlohmann::json facts = {{"hostname", f.hostname},
                          {"os_family", f.os_family},
                          {"distribution", f.distribution},
                          {"distribution_version", f.distribution_version},
                          {"kernel", f.kernel},
                          {"architecture", f.architecture},
                          {"processor_vcpus", f.cpu_count},
                          {"memtotal_mb", f.memory_mb}};
  AgentHello hello;
  hello.version = TACHYON_VERSION;
  hello.facts_json = facts.dump();
  hello.known_jids = self->engine_->KnownJobs();
  RETURN_IF_ERROR(dispatcher->AgentConnected(kLocalhost, hello, self).status());
  self->ready_ = true;
  return self;
}

LocalExecutor::~LocalExecutor() { Stop(); }

void LocalExecutor::Stop() {
  // The engine stops; running local jobs go on under their shims and are re-adopted by the
  // next controller, exactly as on an agent.
  engine_.reset();
}

bool LocalExecutor::SendDispatch(const DispatchRequest& request) {
  jobs::JobSpec spec;
  spec.jid = request.jid;
  spec.module = request.module;
  spec.args = nlohmann::json::parse(request.args_json, nullptr, /*allow_exceptions=*/false);
  spec.timeout_seconds = request.timeout_seconds;
  spec.env = request.env;
  spec.cwd = request.cwd;
  absl::Status st = spec.args.is_object()
                        ? engine_->Submit(spec)
                        : absl::InvalidArgumentError("module arguments are not a JSON object");
  absl::Status ack =
      dispatcher_->HandleDispatchAck(kLocalhost, request.jid, st.ok(), std::string(st.message()));
  if (!ack.ok())
    TLOG(Error) << "localhost: recording the dispatch of " << request.jid << ": " << ack;
  return true;
}

bool LocalExecutor::SendKill(const std::string& jid) {
  absl::Status st = engine_->Kill(jid);
  if (!st.ok()) TLOG(Warning) << "localhost: kill " << jid << ": " << st;
  return true;
}

bool LocalExecutor::SendCleanup(const std::string& jid) {
  absl::Status st = engine_->Cleanup(jid);
  if (!st.ok() && !absl::IsNotFound(st))
    TLOG(Warning) << "localhost: cleanup " << jid << ": " << st;
  return true;
}

void LocalExecutor::OnEngineEvent(const jobs::JobEvent& e) {
  AgentJobEvent ev;
  ev.jid = e.jid;
  ev.state = jobs::JobStateName(e.state);
  switch (e.kind) {
    case jobs::JobEvent::Kind::kStarted:
      ev.kind = AgentJobEvent::Kind::kStarted;
      ev.seq = ++seq_;
      break;
    case jobs::JobEvent::Kind::kFinished:
      ev.kind = AgentJobEvent::Kind::kFinished;
      ev.seq = ++seq_;
      ev.result_json = e.result.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      break;
    case jobs::JobEvent::Kind::kOutput:
      ev.kind = AgentJobEvent::Kind::kOutput;
      ev.output_stream = e.stream;
      ev.output_offset = e.offset;
      ev.output_data = e.data;
      break;
  }
  // Stored before this returns, so the engine's "reported" marker follows a durable record.
  absl::Status st = dispatcher_->HandleJobEvent(kLocalhost, ev);
  if (!st.ok()) TLOG(Error) << "localhost: job " << e.jid << " event not recorded: " << st;
}

}  // namespace tachyon::controller
