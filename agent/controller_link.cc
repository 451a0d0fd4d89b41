#include "agent/controller_link.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <deque>
#include <optional>
#include <random>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "agent/agent_stream.h"
#include "agent/enroll.h"
#include "agent/facts.h"
#include "common/callback_poller.h"
#include "common/fs.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/pki.h"
#include "proto/job_state.h"
#include "tachyon/v1/agent.grpc.pb.h"

namespace tachyon::agent {

namespace v1 = tachyon::v1;

// One stream to the controller. One read and one write in flight; writes queue. Holds the
// outcome until the link thread collects it with Await().
class Connection final : public AgentStreamReactor {
 public:
  Connection(v1::AgentService::Stub* stub, jobs::JobEngine* engine, Outbox* outbox,
             const std::vector<std::string>& groups)
      : engine_(engine), outbox_(outbox) {
    stub->async()->Connect(&context_, this);
    v1::AgentMessage hello;
    auto* h = hello.mutable_hello();
    h->set_protocol_version(v1::PROTOCOL_VERSION_1);
    h->set_agent_version(TACHYON_VERSION);
    for (const auto& g : groups) h->add_groups(g);
    Facts f = GatherFacts();
    auto* pf = h->mutable_facts();
    pf->set_hostname(f.hostname);
    pf->set_fqdn(f.fqdn);
    pf->set_os_family(f.os_family);
    pf->set_distribution(f.distribution);
    pf->set_distribution_version(f.distribution_version);
    pf->set_os_pretty_name(f.os_pretty_name);
    pf->set_kernel(f.kernel);
    pf->set_architecture(f.architecture);
    pf->set_cpu_count(f.cpu_count);
    pf->set_memory_mb(f.memory_mb);
    for (const auto& ip : f.ip_addresses) pf->add_ip_addresses(ip);
    std::string all =
        AnsibleFacts(f).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (all.size() <= kMaxFactsBytes) h->set_ansible_facts_json(std::move(all));
    for (const auto& jid : engine_->KnownJobs()) h->add_known_jids(jid);
    Enqueue(std::move(hello));
    StartReading();
    StartCall();
  }

  void Cancel() { context_.TryCancel(); }

  // Blocks the link thread until the stream is over (true), a renewal answer arrived, or
  // `deadline` passed (false).
  bool WaitUntil(absl::Time deadline) {
    std::unique_lock<std::mutex> lock(done_mu_);
    auto ready = [this] { return done_ || renewed_.has_value(); };
    if (deadline == absl::InfiniteFuture()) {
      done_cv_.wait(lock, ready);
    } else {
      done_cv_.wait_until(lock, absl::ToChronoTime(deadline), ready);
    }
    return done_;
  }

  std::optional<v1::RenewResponse> TakeRenewed() {
    std::lock_guard<std::mutex> lock(done_mu_);
    std::optional<v1::RenewResponse> r = std::move(renewed_);
    renewed_.reset();
    return r;
  }

  bool welcomed() const { return welcomed_.load(); }
  bool controller_renews() const { return controller_renews_.load(); }

  // Blocks the link thread (never a reactor) until the stream is over.
  grpc::Status Await(bool* was_welcomed) {
    std::unique_lock<std::mutex> lock(done_mu_);
    done_cv_.wait(lock, [this] { return done_; });
    *was_welcomed = welcomed_;
    return status_;
  }

  // Taking events from the outbox and queueing them happen under one lock, so two threads
  // can never queue them out of seq order (the controller treats a lower seq as a duplicate).
  void SendNewEvents() {
    std::lock_guard<std::mutex> lock(send_mu_);
    if (!welcomed_.load()) return;
    for (const auto& e : outbox_->TakeNew()) Enqueue(OutboxEventToProto(e));
  }

  // Unnumbered messages (live output) go out only once the stream is welcomed.
  void SendLive(v1::AgentMessage message) {
    if (welcomed_.load()) Enqueue(std::move(message));
  }

  void OnDone(const grpc::Status& status) override {
    std::lock_guard<std::mutex> lock(done_mu_);
    status_ = status;
    done_ = true;
    done_cv_.notify_all();
  }

 private:
  void Handle(const v1::ControllerMessage& msg) override {
    switch (msg.msg_case()) {
      case v1::ControllerMessage::kWelcome: {
        const auto& w = msg.welcome();
        TLOG(Info) << "connected to controller " << w.controller_version() << " as '"
                   << w.agent_name() << "'";
        controller_renews_ = w.renews_certificates();
        {
          std::lock_guard<std::mutex> lock(send_mu_);
          for (const auto& e : outbox_->OnWelcome(w.last_acked_seq()))
            Enqueue(OutboxEventToProto(e));
          welcomed_ = true;
        }
        SendNewEvents();
        break;
      }
      case v1::ControllerMessage::kDispatch: {
        const auto& spec = msg.dispatch().spec();
        v1::AgentMessage reply;
        auto* ack = reply.mutable_dispatch_ack();
        ack->set_jid(spec.jid());
        jobs::JobSpec js;
        js.jid = spec.jid();
        js.module = spec.module();
        js.args = nlohmann::json::parse(spec.args_json(), nullptr, /*allow_exceptions=*/false);
        js.timeout_seconds = spec.timeout_seconds();
        js.env.insert(spec.env().begin(), spec.env().end());
        js.cwd = spec.cwd();
        absl::Status st = CheckDeliverBy(spec);
        if (st.ok()) {
          st = js.args.is_object()
                   ? engine_->Submit(js)
                   : absl::InvalidArgumentError("module arguments are not a JSON object");
        }
        ack->set_accepted(st.ok());
        ack->set_expired(absl::IsDeadlineExceeded(st));
        if (!st.ok()) {
          ack->set_error(std::string(st.message()));
          TLOG(Warning) << "job " << spec.jid() << " (" << spec.module()
                        << ") refused: " << st.message();
        } else {
          TLOG(Info) << "job " << spec.jid() << " (" << spec.module() << ") accepted";
        }
        Enqueue(std::move(reply));
        break;
      }
      case v1::ControllerMessage::kKill: {
        absl::Status st = engine_->Kill(msg.kill().jid());
        Enqueue(ActionResultMessage(msg.kill().jid(), st));
        break;
      }
      case v1::ControllerMessage::kCleanup: {
        absl::Status st = engine_->Cleanup(msg.cleanup().jid());
        Enqueue(ActionResultMessage(msg.cleanup().jid(), st));
        break;
      }
      case v1::ControllerMessage::kAck:
        outbox_->Ack(msg.ack().acked_seq());
        break;
      case v1::ControllerMessage::kRenewed: {
        // Files are written by the link thread, not here: a reactor never blocks.
        std::lock_guard<std::mutex> lock(done_mu_);
        renewed_ = msg.renewed();
        done_cv_.notify_all();
        break;
      }
      default:
        TLOG(Warning) << "ignoring an empty message from the controller";
    }
  }

  // A dispatch read after its deliver-by time was given up on by the controller (recorded
  // `unreachable`): refuse it unless we already have the job (a redelivery of an accepted one).
  absl::Status CheckDeliverBy(const v1::JobSpec& spec) const {
    if (spec.deliver_by_unix_ms() == 0) return absl::OkStatus();
    if (engine_->Status(spec.jid()).ok()) return absl::OkStatus();
    int64_t now_ms = absl::ToUnixMillis(absl::Now());
    if (now_ms <= spec.deliver_by_unix_ms()) return absl::OkStatus();
    return absl::DeadlineExceededError(absl::StrCat(
        "refused: the dispatch arrived ", now_ms - spec.deliver_by_unix_ms(),
        " ms after its delivery deadline (the controller records the job as never delivered; "
        "if this repeats, check this host's clock)"));
  }

  jobs::JobEngine* engine_;
  Outbox* outbox_;
  grpc::ClientContext context_;
  std::atomic<bool> welcomed_{false};
  std::atomic<bool> controller_renews_{false};
  std::mutex send_mu_;

  std::mutex done_mu_;
  std::condition_variable done_cv_;
  bool done_ = false;
  grpc::Status status_;
  std::optional<v1::RenewResponse> renewed_;  // guarded by done_mu_
};

ControllerLink::ControllerLink(Options options, jobs::JobEngine* engine, Outbox* outbox)
    : options_(std::move(options)), engine_(engine), outbox_(outbox) {}

ControllerLink::~ControllerLink() { Stop(); }

void ControllerLink::Start() {
  thread_ = std::thread([this] { Run(); });
}

void ControllerLink::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    if (current_) current_->Cancel();
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void ControllerLink::Flush() {
  std::shared_ptr<Connection> conn;
  {
    std::lock_guard<std::mutex> lock(mu_);
    conn = current_;
  }
  if (conn) conn->SendNewEvents();
}

void ControllerLink::SendOutput(const jobs::JobEvent& event) {
  std::shared_ptr<Connection> conn;
  {
    std::lock_guard<std::mutex> lock(mu_);
    conn = current_;
  }
  if (!conn) return;
  v1::AgentMessage m;
  auto* ev = m.mutable_event();
  ev->set_seq(0);
  ev->set_jid(event.jid);
  ev->set_kind(v1::JobEvent::KIND_OUTPUT);
  ev->set_state(v1::JOB_STATE_RUNNING);
  auto* chunk = ev->mutable_output();
  chunk->set_stream(event.stream == "stderr" ? v1::OutputChunk::STREAM_STDERR
                                             : v1::OutputChunk::STREAM_STDOUT);
  chunk->set_offset(event.offset);
  chunk->set_data(event.data);
  conn->SendLive(std::move(m));
}

namespace {

// When the certificate in `cert_path` should be renewed: at two thirds of its lifetime.
// InfiniteFuture when it cannot be read.
absl::Time RenewalDue(const std::string& cert_path) {
  auto pem = ReadFile(cert_path, 1 << 20);
  if (!pem.ok()) return absl::InfiniteFuture();
  auto info = pki::ReadCertInfo(*pem);
  if (!info.ok()) return absl::InfiniteFuture();
  return info->not_before + (info->not_after - info->not_before) * 2 / 3;
}

// How long to wait before asking again after a renewal that failed or got no answer.
absl::Duration RenewalRetry(const std::string& cert_path) {
  auto pem = ReadFile(cert_path, 1 << 20);
  absl::Duration lifetime = absl::Hours(24);
  if (pem.ok()) {
    if (auto info = pki::ReadCertInfo(*pem); info.ok()) {
      lifetime = info->not_after - info->not_before;
    }
  }
  return std::clamp(lifetime / 20, absl::Seconds(1), absl::Minutes(10));
}

}  // namespace

grpc::Status ControllerLink::Supervise(Connection* conn, bool* welcomed) {
  if (!options_.renew_certificate) return conn->Await(welcomed);
  std::string pending_key;  // the key of the request in flight
  absl::Time next = RenewalDue(options_.tls.cert);
  while (true) {
    if (conn->WaitUntil(next)) return conn->Await(welcomed);
    if (auto renewed = conn->TakeRenewed()) {
      if (!renewed->error().empty() || pending_key.empty()) {
        TLOG(Warning) << "certificate renewal refused by the controller: "
                      << (renewed->error().empty() ? "unexpected answer" : renewed->error());
        next = absl::Now() + RenewalRetry(options_.tls.cert);
      } else if (absl::Status st = InstallCertificate(options_.tls, pending_key,
                                                      renewed->cert_pem(), renewed->ca_pem());
                 !st.ok()) {
        TLOG(Error) << "certificate renewal: installing the new certificate: " << st;
        next = absl::Now() + RenewalRetry(options_.tls.cert);
      } else {
        auto info = pki::ReadCertInfo(renewed->cert_pem());
        TLOG(Info) << "certificate renewed"
                   << (info.ok()
                           ? absl::StrCat(": serial ", info->serial_hex, ", valid until ",
                                          absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", info->not_after,
                                                           absl::UTCTimeZone()))
                           : std::string())
                   << "; used from the next connection on";
        next = RenewalDue(options_.tls.cert);
      }
      pending_key.clear();
      continue;
    }
    if (absl::Now() < next) continue;
    if (!conn->welcomed()) {
      next = absl::Now() + absl::Seconds(1);
      continue;
    }
    if (!conn->controller_renews()) {
      next = absl::InfiniteFuture();
      continue;
    }
    auto key = pki::MakeKeyPem();
    auto csr = key.ok() ? pki::MakeCsrPem(*key, "") : key.status();
    if (!csr.ok()) {
      TLOG(Error) << "certificate renewal: " << csr.status();
      next = absl::Now() + RenewalRetry(options_.tls.cert);
      continue;
    }
    pending_key = *key;
    v1::AgentMessage m;
    m.mutable_renew()->set_csr_pem(*csr);
    conn->Enqueue(std::move(m));
    TLOG(Info) << "certificate renewal requested";
    // Asked again if no answer comes by then.
    next = absl::Now() + RenewalRetry(options_.tls.cert);
  }
}

void ControllerLink::Run() {
  // Without it, a dispatch that reaches an agent idle for a second is read up to 100 ms late.
  CallbackPoller poller;
  std::mt19937_64 rng{std::random_device{}()};
  absl::Duration backoff = options_.backoff_initial;
  while (true) {
    auto creds = tls::ChannelCredentials(options_.tls);
    std::shared_ptr<Connection> conn;
    if (!creds.ok()) {
      TLOG(Error) << "TLS credentials: " << creds.status();
    } else {
      grpc::ChannelArguments args;
      args.SetMaxReceiveMessageSize(static_cast<int>(kMaxMessageBytes));
      args.SetMaxSendMessageSize(static_cast<int>(kMaxMessageBytes));
      args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
      args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
      args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
      args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
      // Our own backoff decides when to dial again.
      args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
      args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
      auto channel = grpc::CreateCustomChannel(options_.controller, *creds, args);
      auto stub = v1::AgentService::NewStub(channel);
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopping_) return;
        conn = std::make_shared<Connection>(stub.get(), engine_, outbox_, options_.groups);
        current_ = conn;
      }
      bool welcomed = false;
      grpc::Status status = Supervise(conn.get(), &welcomed);
      {
        std::lock_guard<std::mutex> lock(mu_);
        current_.reset();
      }
      outbox_->OnDisconnect();
      if (welcomed) backoff = options_.backoff_initial;
      TLOG(Warning) << "controller stream ended: " << status.error_code() << " "
                    << status.error_message();
    }
    // Full jitter: a fleet that lost its controller does not come back in lockstep.
    std::uniform_int_distribution<int64_t> dist(0, absl::ToInt64Milliseconds(backoff));
    auto wait = std::chrono::milliseconds(dist(rng));
    backoff = std::min(backoff * 2, options_.backoff_max);
    std::unique_lock<std::mutex> lock(mu_);
    if (cv_.wait_for(lock, wait, [this] { return stopping_; })) return;
  }
}

}  // namespace tachyon::agent
