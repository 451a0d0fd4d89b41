#include "controller/agent_service.h"

#include <deque>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/tls.h"
#include "proto/job_state.h"

namespace tachyon::controller {
namespace {

namespace v1 = tachyon::v1;

// Ends a stream at once; used for callers that fail the identity check.
class RejectReactor final
    : public grpc::ServerBidiReactor<v1::AgentMessage, v1::ControllerMessage> {
 public:
  explicit RejectReactor(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

class AgentStream;

// The dispatcher's handle on one stream. It holds the stream weakly: once the stream is done,
// sends return false instead of touching a finished reactor.
class StreamLink final : public AgentLink {
 public:
  explicit StreamLink(std::weak_ptr<AgentStream> stream) : stream_(std::move(stream)) {}
  bool SendDispatch(const DispatchRequest& request) override;
  bool SendKill(const std::string& jid) override;
  bool SendCleanup(const std::string& jid) override;
  bool SendEventAck(uint64_t acked_seq) override;
  void Close(const std::string& reason) override;

 private:
  bool Send(v1::ControllerMessage message);
  const std::weak_ptr<AgentStream> stream_;
};

// One agent's stream. One read and one write in flight; outgoing messages queue. The object
// keeps itself alive (self_) until OnDone, and links may extend that briefly while sending.
class AgentStream final : public grpc::ServerBidiReactor<v1::AgentMessage, v1::ControllerMessage>,
                          public std::enable_shared_from_this<AgentStream> {
 public:
  AgentStream(Dispatcher* dispatcher, std::string name, std::string peer,
              CertAuthority* authority = nullptr, std::string cert_pem = "")
      : dispatcher_(dispatcher),
        name_(std::move(name)),
        peer_(std::move(peer)),
        authority_(authority),
        cert_pem_(std::move(cert_pem)) {}

  void Begin() {
    self_ = shared_from_this();
    link_ = std::make_shared<StreamLink>(weak_from_this());
    StartRead(&in_);
  }

  // Queues a message; false once the stream is finishing or done.
  bool Enqueue(v1::ControllerMessage message) {
    const v1::ControllerMessage* next = nullptr;
    {
      absl::MutexLock lock(&mu_);
      if (finishing_ || done_) return false;
      queue_.push_back(std::move(message));
      if (!writing_) {
        writing_ = true;
        next = &queue_.front();
      }
    }
    if (next) StartWrite(next);
    return true;
  }

  void FinishOnce(const grpc::Status& status) {
    bool call = false;
    {
      absl::MutexLock lock(&mu_);
      if (finishing_ || done_) return;
      finishing_ = true;
      status_ = status;
      if (!writing_) call = true;
    }
    if (call) Finish(status);
  }

  void OnWriteDone(bool ok) override {
    const v1::ControllerMessage* next = nullptr;
    bool finish = false;
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      queue_.pop_front();
      if (!ok && !finishing_) {
        finishing_ = true;
        status_ = grpc::Status(grpc::StatusCode::UNAVAILABLE, "write to agent failed");
      }
      if (!finishing_ && !queue_.empty()) {
        next = &queue_.front();
      } else {
        writing_ = false;
        finish = finishing_;
        status = status_;
      }
    }
    if (next) StartWrite(next);
    if (finish) Finish(status);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      FinishOnce(grpc::Status::OK);
      return;
    }
    grpc::Status st = Handle(in_);
    if (!st.ok()) {
      TLOG(Warning) << "agent '" << name_ << "' (" << peer_ << "): " << st.error_message()
                    << "; closing its stream";
      FinishOnce(st);
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      if (finishing_) return;
    }
    StartRead(&in_);
  }

  void OnDone() override {
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
    }
    if (registered_) {
      dispatcher_->AgentDisconnected(name_, link_.get());
      TLOG(Info) << "agent '" << name_ << "' disconnected (" << peer_ << ")";
    }
    self_.reset();  // may delete this; nothing below
  }

 private:
  grpc::Status Handle(const v1::AgentMessage& msg) {
    if (!registered_) {
      if (!msg.has_hello()) {
        return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                            "the first message must be a hello");
      }
      return HandleHello(msg.hello());
    }
    switch (msg.msg_case()) {
      case v1::AgentMessage::kEvent:
        return HandleEvent(msg.event());
      case v1::AgentMessage::kDispatchAck: {
        const auto& ack = msg.dispatch_ack();
        auto st = dispatcher_->HandleDispatchAck(name_, ack.jid(), ack.accepted(), ack.error(),
                                                 ack.expired());
        if (!st.ok() && !absl::IsPermissionDenied(st)) {
          TLOG(Error) << "dispatch ack from '" << name_ << "' for " << ack.jid() << ": " << st;
        }
        return grpc::Status::OK;
      }
      case v1::AgentMessage::kActionResult:
        if (!msg.action_result().ok()) {
          TLOG(Warning) << "agent '" << name_ << "' could not act on job "
                        << msg.action_result().jid() << ": " << msg.action_result().error();
        }
        return grpc::Status::OK;
      case v1::AgentMessage::kRenew:
        return HandleRenew(msg.renew());
      case v1::AgentMessage::kHello:
        return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "a second hello on one stream");
      default:
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "empty agent message");
    }
  }

  grpc::Status HandleHello(const v1::Hello& hello) {
    if (hello.protocol_version() != v1::PROTOCOL_VERSION_1) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          absl::StrCat("unsupported protocol version ", hello.protocol_version(),
                                       "; this controller speaks 1"));
    }
    if (static_cast<size_t>(hello.groups_size()) > kMaxGroups ||
        hello.facts().ByteSizeLong() > kMaxFactsBytes ||
        static_cast<size_t>(hello.known_jids_size()) > kMaxKnownJids) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "hello exceeds size limits");
    }
    AgentHello h;
    h.version = hello.agent_version();
    for (const auto& g : hello.groups()) {
      if (g.empty() || g.size() > kMaxGroupNameBytes) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "invalid group name in hello");
      }
      h.groups.push_back(g);
    }
    h.known_jids.assign(hello.known_jids().begin(), hello.known_jids().end());
    const auto& f = hello.facts();
    nlohmann::json facts = {{"hostname", f.hostname()},
                            {"fqdn", f.fqdn()},
                            {"os_family", f.os_family()},
                            {"distribution", f.distribution()},
                            {"distribution_version", f.distribution_version()},
                            {"os_pretty_name", f.os_pretty_name()},
                            {"kernel", f.kernel()},
                            {"architecture", f.architecture()},
                            {"processor_vcpus", f.cpu_count()},
                            {"memtotal_mb", f.memory_mb()},
                            {"all_ipv4_addresses", nlohmann::json::array()}};
    for (const auto& ip : f.ip_addresses()) facts["all_ipv4_addresses"].push_back(ip);
    // The full set, by their names without the "ansible_" prefix (as ansible_facts holds them).
    if (!hello.ansible_facts_json().empty() &&
        hello.ansible_facts_json().size() <= kMaxFactsBytes) {
      auto all = nlohmann::json::parse(hello.ansible_facts_json(), nullptr, false);
      if (all.is_object()) {
        for (auto& [k, v] : all.items()) {
          facts[k.rfind("ansible_", 0) == 0 ? k.substr(8) : k] = v;
        }
      }
    }
    h.facts_json = facts.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);

    v1::ControllerMessage welcome;
    welcome.mutable_welcome()->set_protocol_version(v1::PROTOCOL_VERSION_1);
    welcome.mutable_welcome()->set_agent_name(name_);
    welcome.mutable_welcome()->set_controller_version(TACHYON_VERSION);
    welcome.mutable_welcome()->set_renews_certificates(authority_ != nullptr &&
                                                       authority_->can_sign());
    registered_ = true;
    // Redeliveries may be queued before the welcome; the agent handles either order.
    auto last_seq = dispatcher_->AgentConnected(name_, h, link_);
    if (!last_seq.ok()) {
      return grpc::Status(grpc::StatusCode::INTERNAL, std::string(last_seq.status().message()));
    }
    welcome.mutable_welcome()->set_last_acked_seq(*last_seq);
    // A revocation committed between the check at stream start and the registration above
    // found no link to close; this second look, after registering, cannot miss it.
    if (authority_ != nullptr) {
      if (absl::Status st = authority_->CheckAgent(name_, cert_pem_); !st.ok()) {
        TLOG(Warning) << "security: agent '" << name_ << "' (" << peer_ << ") refused: " << st;
        return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, std::string(st.message()));
      }
    }
    Enqueue(std::move(welcome));
    TLOG(Info) << "agent '" << name_ << "' connected (" << peer_ << ", version " << h.version
               << ", " << h.groups.size() << " groups)";
    return grpc::Status::OK;
  }

  grpc::Status HandleEvent(const v1::JobEvent& ev) {
    AgentJobEvent e;
    e.seq = ev.seq();
    e.jid = ev.jid();
    switch (ev.kind()) {
      case v1::JobEvent::KIND_STARTED:
        e.kind = AgentJobEvent::Kind::kStarted;
        break;
      case v1::JobEvent::KIND_OUTPUT:
        e.kind = AgentJobEvent::Kind::kOutput;
        e.output_stream =
            ev.output().stream() == v1::OutputChunk::STREAM_STDERR ? "stderr" : "stdout";
        e.output_offset = ev.output().offset();
        e.output_data = ev.output().data();
        break;
      case v1::JobEvent::KIND_FINISHED:
        e.kind = AgentJobEvent::Kind::kFinished;
        break;
      default:
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "job event without a kind");
    }
    e.state = wire::JobStateName(ev.state());
    e.result_json = ev.result_json();
    absl::Status st = dispatcher_->HandleJobEvent(name_, e);
    if (!st.ok() && !absl::IsPermissionDenied(st)) {
      // Not stored: close the stream without acking, so the agent reconnects and sends it
      // again; carrying on would let a later ack cover this event.
      TLOG(Error) << "event " << ev.seq() << " from '" << name_ << "' not stored: " << st;
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "controller could not store the event");
    }
    // Stored, a duplicate, or refused: in each case the agent may forget it. Live output is
    // unnumbered (seq 0) and never acked.
    // Acked only once durable: the agent deletes what was acked.
    if (ev.seq() != 0) {
      dispatcher_->WhenDurable([link = link_, seq = ev.seq()] { link->SendEventAck(seq); });
    }
    return grpc::Status::OK;
  }

  // Signs a new certificate for this stream's authenticated name; the CSR gives only its key.
  grpc::Status HandleRenew(const v1::RenewRequest& renew) {
    v1::ControllerMessage reply;
    auto* out = reply.mutable_renewed();
    absl::Status st = absl::FailedPreconditionError("this controller does not renew certificates");
    if (renew.csr_pem().size() > kMaxCsrBytes) {
      st = absl::InvalidArgumentError("certificate request too large");
    } else if (authority_ != nullptr) {
      auto issued = authority_->Renew(name_, renew.csr_pem());
      if (issued.ok()) {
        out->set_cert_pem(issued->cert_pem);
        out->set_ca_pem(issued->ca_pem);
      }
      st = issued.status();
    }
    if (!st.ok()) {
      TLOG(Warning) << "agent '" << name_ << "': renewal refused: " << st;
      out->set_error(std::string(st.message()));
    }
    Enqueue(std::move(reply));
    return grpc::Status::OK;
  }

  static constexpr size_t kMaxCsrBytes = 16 << 10;

  Dispatcher* dispatcher_;
  const std::string name_;
  const std::string peer_;
  CertAuthority* const authority_;
  const std::string cert_pem_;
  std::shared_ptr<AgentStream> self_;
  std::shared_ptr<StreamLink> link_;
  v1::AgentMessage in_;      // touched only by the read path: one read in flight
  bool registered_ = false;  // read path only

  absl::Mutex mu_;
  std::deque<v1::ControllerMessage> queue_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

bool StreamLink::Send(v1::ControllerMessage message) {
  auto stream = stream_.lock();
  return stream && stream->Enqueue(std::move(message));
}

bool StreamLink::SendDispatch(const DispatchRequest& r) {
  v1::ControllerMessage m;
  auto* spec = m.mutable_dispatch()->mutable_spec();
  spec->set_jid(r.jid);
  spec->set_module(r.module);
  spec->set_args_json(r.args_json);
  spec->set_timeout_seconds(static_cast<uint32_t>(std::max<int64_t>(0, r.timeout_seconds)));
  for (const auto& [k, v] : r.env) (*spec->mutable_env())[k] = v;
  spec->set_cwd(r.cwd);
  spec->set_rollout_id(r.rollout_id);
  if (r.deliver_by != absl::InfiniteFuture()) {
    spec->set_deliver_by_unix_ms(absl::ToUnixMillis(r.deliver_by));
  }
  return Send(std::move(m));
}

bool StreamLink::SendKill(const std::string& jid) {
  v1::ControllerMessage m;
  m.mutable_kill()->set_jid(jid);
  return Send(std::move(m));
}

bool StreamLink::SendCleanup(const std::string& jid) {
  v1::ControllerMessage m;
  m.mutable_cleanup()->set_jid(jid);
  return Send(std::move(m));
}

bool StreamLink::SendEventAck(uint64_t acked_seq) {
  v1::ControllerMessage m;
  m.mutable_ack()->set_acked_seq(acked_seq);
  return Send(std::move(m));
}

void StreamLink::Close(const std::string& reason) {
  if (auto stream = stream_.lock()) {
    stream->FinishOnce(grpc::Status(grpc::StatusCode::ABORTED, reason));
  }
}

}  // namespace

grpc::ServerBidiReactor<v1::AgentMessage, v1::ControllerMessage>* AgentServiceImpl::Connect(
    grpc::CallbackServerContext* context) {
  auto identity = tls::PeerIdentity(*context->auth_context());
  if (!identity.ok() || identity->role != pki::Role::kAgent) {
    std::string who = identity.ok()
                          ? absl::StrCat(pki::RoleName(identity->role), "/", identity->name)
                          : std::string(identity.status().message());
    TLOG(Warning) << "security: AgentService.Connect refused for " << context->peer() << " (" << who
                  << "): only agent certificates may connect";
    return new RejectReactor(grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                                          "AgentService accepts only agent certificates"));
  }
  std::string cert_pem;
  if (authority_ != nullptr) {
    // Revocation is ours to enforce (gRPC 1.51's CRL check is leaf-only and fails open): a
    // revoked agent's stream is refused before it is registered.
    auto pem = tls::PeerCertificatePem(*context->auth_context());
    absl::Status st = pem.status();
    if (pem.ok()) {
      cert_pem = *pem;
      st = authority_->CheckAgent(identity->name, cert_pem);
    }
    if (!st.ok()) {
      TLOG(Warning) << "security: AgentService.Connect refused for " << context->peer()
                    << " (agent/" << identity->name << "): " << st.message();
      return new RejectReactor(grpc::Status(absl::IsPermissionDenied(st)
                                                ? grpc::StatusCode::PERMISSION_DENIED
                                                : grpc::StatusCode::UNAVAILABLE,
                                            std::string(st.message())));
    }
  }
  auto stream = std::make_shared<AgentStream>(dispatcher_, identity->name, context->peer(),
                                              authority_, std::move(cert_pem));
  stream->Begin();
  return stream.get();
}

}  // namespace tachyon::controller
