#include "agent/simulator.h"

#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/agent_stream.h"
#include "agent/facts.h"
#include "agent/jobs/job_engine.h"
#include "agent/noop_engine.h"
#include "agent/outbox.h"
#include "common/callback_poller.h"
#include "common/daemon.h"
#include "common/fs.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/pki.h"
#include "common/signals.h"
#include "common/status.h"
#include "proto/job_state.h"
#include "tachyon/v1/agent.grpc.pb.h"

namespace tachyon::agent {
namespace {

namespace v1 = tachyon::v1;

constexpr char kNamePlaceholder[] = "@@TACHYON_SIM_NAME@@";

struct SimOptions {
  std::string controller = "127.0.0.1:7443";
  std::string state_dir;
  std::string ca;
  std::string ca_dir;
  std::vector<std::string> groups;
  int count = 0;
  std::string prefix = "sim";
  std::string jobs = "noop";
  int connect_concurrency = 256;
  int days = 825;
  int mint_threads = 4;
  absl::Duration backoff_initial = absl::Milliseconds(200);
  absl::Duration backoff_max = absl::Seconds(30);
};

// Runs callbacks at given times on one thread: every identity's reconnect backoff.
class Timers {
 public:
  Timers() : thread_([this] { Run(); }) {}
  ~Timers() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      cv_.notify_all();
    }
    thread_.join();
  }
  void At(absl::Time when, std::function<void()> fn) {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.emplace(when, std::move(fn));
    cv_.notify_all();
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      if (queue_.empty()) {
        cv_.wait(lock);
        continue;
      }
      absl::Time next = queue_.begin()->first;
      absl::Time now = absl::Now();
      if (next > now) {
        cv_.wait_for(lock, absl::ToChronoNanoseconds(next - now));
        continue;
      }
      auto fn = std::move(queue_.begin()->second);
      queue_.erase(queue_.begin());
      lock.unlock();
      fn();
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<absl::Time, std::function<void()>> queue_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the rest is built
};

class Simulator;
class SimStream;

// One simulated agent: its identity, channel, outbox and engine. Streams come and go.
class SimAgent {
 public:
  SimAgent(Simulator* sim, std::string name, std::shared_ptr<grpc::Channel> channel)
      : sim_(sim),
        name_(std::move(name)),
        channel_(std::move(channel)),
        stub_(v1::AgentService::NewStub(channel_)) {}

  const std::string& name() const { return name_; }
  Outbox* outbox() { return outbox_.get(); }
  jobs::JobEngine* engine() { return engine_.get(); }
  void SetParts(std::unique_ptr<Outbox> outbox, std::unique_ptr<jobs::JobEngine> engine) {
    outbox_ = std::move(outbox);
    engine_ = std::move(engine);
  }
  void StopEngine() { engine_.reset(); }

  // Opens a stream (unless stopping).
  void Connect();
  // The engine reported an event: it is in the outbox; send it if connected.
  void Flush();
  void Cancel();
  // Called by the stream.
  void OnWelcomed();
  void OnStreamDone(const grpc::Status& status, bool welcomed);

 private:
  Simulator* sim_;
  const std::string name_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AgentService::Stub> stub_;
  std::unique_ptr<Outbox> outbox_;
  std::unique_ptr<jobs::JobEngine> engine_;
  std::mutex mu_;
  std::shared_ptr<SimStream> current_;  // guarded by mu_
  bool counted_ = false;                // guarded by mu_: first welcome reported to the simulator
  absl::Duration backoff_ = absl::ZeroDuration();  // guarded by mu_
};

class Simulator {
 public:
  explicit Simulator(SimOptions options)
      : options_(std::move(options)), rng_(std::random_device{}()) {}

  const SimOptions& options() const { return options_; }
  Timers* timers() { return &timers_; }
  NoopWorker* worker() { return worker_.get(); }

  absl::Status Build();
  void Start();
  void Stop();
  void Report(bool force);

  // The hello an identity sends (facts as this host's, named after the identity).
  v1::AgentMessage Hello(const std::string& name, const std::vector<std::string>& known_jids);

  void StreamStarted() { active_streams_.fetch_add(1); }
  void StreamEnded() {
    if (active_streams_.fetch_sub(1) == 1) {
      std::lock_guard<std::mutex> lock(mu_);
      cv_.notify_all();
    }
  }
  // An identity's first connection attempt ended (welcomed or not): let the next one dial.
  void FirstAttemptOver(bool welcomed);
  bool stopping() const { return stopping_.load(); }
  absl::Duration Jitter(absl::Duration max) {
    std::lock_guard<std::mutex> lock(mu_);
    std::uniform_int_distribution<int64_t> dist(0, absl::ToInt64Milliseconds(max));
    return absl::Milliseconds(dist(rng_));
  }
  void CountEvent() { events_sent_.fetch_add(1, std::memory_order_relaxed); }
  void CountDispatch() { dispatches_.fetch_add(1, std::memory_order_relaxed); }

 private:
  void StartMore();

  SimOptions options_;
  std::mt19937_64 rng_;  // guarded by mu_
  Timers timers_;
  std::unique_ptr<NoopWorker> worker_;
  std::vector<std::unique_ptr<SimAgent>> agents_;
  std::string facts_text_;  // ansible_facts_json, with kNamePlaceholder for the name
  Facts facts_;

  std::mutex mu_;
  std::condition_variable cv_;
  size_t next_to_start_ = 0;  // guarded by mu_
  int connecting_ = 0;        // guarded by mu_
  size_t welcomed_ = 0;       // guarded by mu_: identities welcomed at least once
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> active_streams_{0};
  std::atomic<uint64_t> events_sent_{0};
  std::atomic<uint64_t> dispatches_{0};
  absl::Time started_at_;
  uint64_t last_reported_ = UINT64_MAX;  // reporter thread only
};

// One stream of one identity: the same protocol as agent/controller_link.cc's Connection. One
// read and one write in flight; writes queue. Keeps itself alive until OnDone.
class SimStream final : public AgentStreamReactor, public std::enable_shared_from_this<SimStream> {
 public:
  SimStream(Simulator* sim, SimAgent* agent) : sim_(sim), agent_(agent) {}

  void Begin(v1::AgentService::Stub* stub) {
    self_ = shared_from_this();
    sim_->StreamStarted();
    stub->async()->Connect(&context_, this);
    Enqueue(sim_->Hello(agent_->name(), agent_->engine()->KnownJobs()));
    StartReading();
    StartCall();
  }

  void Cancel() { context_.TryCancel(); }

  // Taking events from the outbox and queueing them happen under one lock, so they are queued
  // in seq order.
  void SendNewEvents() {
    std::lock_guard<std::mutex> lock(send_mu_);
    if (!welcomed_.load()) return;
    for (const auto& e : agent_->outbox()->TakeNew()) {
      sim_->CountEvent();
      Enqueue(OutboxEventToProto(e));
    }
  }

  void OnDone(const grpc::Status& status) override {
    sim_->StreamEnded();
    agent_->OnStreamDone(status, welcomed_.load());
    self_.reset();  // may delete this; nothing below
  }

 private:
  void Handle(const v1::ControllerMessage& msg) override {
    switch (msg.msg_case()) {
      case v1::ControllerMessage::kWelcome: {
        {
          std::lock_guard<std::mutex> lock(send_mu_);
          for (const auto& e : agent_->outbox()->OnWelcome(msg.welcome().last_acked_seq())) {
            sim_->CountEvent();
            Enqueue(OutboxEventToProto(e));
          }
          welcomed_ = true;
        }
        agent_->OnWelcomed();
        SendNewEvents();
        break;
      }
      case v1::ControllerMessage::kDispatch: {
        sim_->CountDispatch();
        const auto& spec = msg.dispatch().spec();
        jobs::JobSpec js;
        js.jid = spec.jid();
        js.module = spec.module();
        js.args = nlohmann::json::parse(spec.args_json(), nullptr, /*allow_exceptions=*/false);
        js.timeout_seconds = spec.timeout_seconds();
        js.env.insert(spec.env().begin(), spec.env().end());
        js.cwd = spec.cwd();
        absl::Status st =
            js.args.is_object()
                ? agent_->engine()->Submit(js)
                : absl::InvalidArgumentError("module arguments are not a JSON object");
        v1::AgentMessage reply;
        auto* ack = reply.mutable_dispatch_ack();
        ack->set_jid(spec.jid());
        ack->set_accepted(st.ok());
        if (!st.ok()) ack->set_error(std::string(st.message()));
        Enqueue(std::move(reply));
        break;
      }
      case v1::ControllerMessage::kKill:
        Enqueue(ActionResultMessage(msg.kill().jid(), agent_->engine()->Kill(msg.kill().jid())));
        break;
      case v1::ControllerMessage::kCleanup:
        Enqueue(ActionResultMessage(msg.cleanup().jid(),
                                    agent_->engine()->Cleanup(msg.cleanup().jid())));
        break;
      case v1::ControllerMessage::kAck:
        agent_->outbox()->Ack(msg.ack().acked_seq());
        break;
      default:
        break;
    }
  }

  Simulator* sim_;
  SimAgent* agent_;
  std::shared_ptr<SimStream> self_;
  grpc::ClientContext context_;
  std::atomic<bool> welcomed_{false};
  std::mutex send_mu_;
};

void SimAgent::Connect() {
  std::shared_ptr<SimStream> stream;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (sim_->stopping() || current_) return;
    stream = std::make_shared<SimStream>(sim_, this);
    current_ = stream;
  }
  stream->Begin(stub_.get());
}

void SimAgent::Flush() {
  std::shared_ptr<SimStream> stream;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stream = current_;
  }
  if (stream) stream->SendNewEvents();
}

void SimAgent::Cancel() {
  std::shared_ptr<SimStream> stream;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stream = current_;
  }
  if (stream) stream->Cancel();
}

void SimAgent::OnWelcomed() {
  bool first = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    backoff_ = sim_->options().backoff_initial;
    if (!counted_) first = counted_ = true;
  }
  if (first) sim_->FirstAttemptOver(true);
}

void SimAgent::OnStreamDone(const grpc::Status& status, bool welcomed) {
  outbox_->OnDisconnect();
  bool first = false;
  absl::Duration wait;
  {
    std::lock_guard<std::mutex> lock(mu_);
    current_.reset();  // the stream holds itself until its OnDone returns
    if (!counted_) first = counted_ = true;
    if (welcomed || backoff_ == absl::ZeroDuration()) backoff_ = sim_->options().backoff_initial;
    wait = sim_->Jitter(backoff_);
    backoff_ = std::min(backoff_ * 2, sim_->options().backoff_max);
  }
  if (!sim_->stopping()) {
    TLOG(Debug) << "simulated agent '" << name_ << "': stream ended: " << status.error_code() << " "
                << status.error_message();
    sim_->timers()->At(absl::Now() + wait, [this] { Connect(); });
  }
  if (first) sim_->FirstAttemptOver(false);
}

absl::Status Simulator::Build() {
  ASSIGN_OR_RETURN(std::string ca_cert, ReadFile(options_.ca_dir + "/ca.crt"));
  ASSIGN_OR_RETURN(std::string ca_key, ReadFile(options_.ca_dir + "/ca.key"));
  std::string trust = ca_cert;
  if (!options_.ca.empty()) {
    ASSIGN_OR_RETURN(trust, ReadFile(options_.ca));
  }
  facts_ = GatherFacts();
  nlohmann::json all = AnsibleFacts(facts_);
  for (const char* k : {"ansible_hostname", "ansible_nodename", "ansible_fqdn"}) {
    all[k] = kNamePlaceholder;
  }
  facts_text_ = all.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (options_.jobs == "noop") worker_ = std::make_unique<NoopWorker>();

  absl::Time t0 = absl::Now();
  // Exactly what `tachyon pki issue agent NAME` makes, but kept in memory. OpenSSL 3 spends
  // most of this decoding PEM (a few ms per identity), so several threads share the work.
  struct Minted {
    std::string name, key, cert;
    absl::Status status;
  };
  std::vector<Minted> minted(static_cast<size_t>(options_.count));
  for (int i = 1; i <= options_.count; ++i) {
    std::string name = absl::StrFormat("%s-%05d", options_.prefix, i);
    if (!pki::IsValidName(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--simulate-prefix makes '", name, "', which is not a valid agent name"));
    }
    minted[i - 1].name = std::move(name);
  }
  std::atomic<size_t> next{0};
  auto mint = [&] {
    for (size_t i; (i = next.fetch_add(1)) < minted.size();) {
      Minted& m = minted[i];
      auto key = pki::MakeKeyPem();
      if (!key.ok()) {
        m.status = key.status();
        continue;
      }
      absl::Time now = absl::Now();
      auto cert =
          pki::SignCertificate(ca_cert, ca_key, *key, pki::Role::kAgent, m.name,
                               {now - absl::Minutes(5), now + absl::Hours(24) * options_.days}, {});
      if (!cert.ok()) {
        m.status = cert.status();
        continue;
      }
      m.key = *std::move(key);
      m.cert = *std::move(cert);
    }
  };
  std::vector<std::thread> minters;
  for (int t = 0; t < options_.mint_threads; ++t) minters.emplace_back(mint);
  for (auto& t : minters) t.join();
  TLOG(Info) << "simulator: " << options_.count << " identities minted in "
             << absl::FormatDuration(absl::Now() - t0) << " (" << options_.mint_threads
             << " threads)";
  for (Minted& m : minted) {
    RETURN_IF_ERROR(m.status);
    std::string name = m.name;
    std::string key = std::move(m.key);
    std::string cert = std::move(m.cert);
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = trust;
    ssl.pem_private_key = std::move(key);
    ssl.pem_cert_chain = std::move(cert);
    auto creds = grpc::SslCredentials(ssl);
    if (!creds) return absl::InternalError("grpc::SslCredentials failed");
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(static_cast<int>(kMaxMessageBytes));
    args.SetMaxSendMessageSize(static_cast<int>(kMaxMessageBytes));
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    // One TLS connection per identity: never share a subchannel with another identity's channel.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetString("tachyon.sim_identity", name);
    auto agent = std::make_unique<SimAgent>(
        this, name, grpc::CreateCustomChannel(options_.controller, creds, args));
    ASSIGN_OR_RETURN(auto outbox, Outbox::Open(""));  // in memory: the simulator is not durable
    SimAgent* a = agent.get();
    auto on_event = [this, a](const jobs::JobEvent& e) {
      if (e.kind == jobs::JobEvent::Kind::kOutput) return;  // live output is not simulated
      a->outbox()->Add(e, absl::ToUnixMillis(absl::Now())).IgnoreError();
      a->Flush();
    };
    std::unique_ptr<jobs::JobEngine> engine;
    if (options_.jobs == "noop") {
      engine = std::make_unique<NoopEngine>(worker_.get(), on_event);
    } else {
      jobs::JobEngine::Options opts;
      opts.spool_dir = absl::StrCat(options_.state_dir, "/", name, "/jobs");
      RETURN_IF_ERROR(MakeDirs(opts.spool_dir, 0700));
      opts.shim_command = {SelfExePath("tachyon-agent"), "__shim"};
      opts.max_live_output = 0;
      opts.use_cgroup = false;
      ASSIGN_OR_RETURN(engine, jobs::JobEngine::Create(opts, on_event));
    }
    agent->SetParts(std::move(outbox), std::move(engine));
    agents_.push_back(std::move(agent));
  }
  return absl::OkStatus();
}

v1::AgentMessage Simulator::Hello(const std::string& name,
                                  const std::vector<std::string>& known_jids) {
  v1::AgentMessage hello;
  auto* h = hello.mutable_hello();
  h->set_protocol_version(v1::PROTOCOL_VERSION_1);
  h->set_agent_version(TACHYON_VERSION);
  for (const auto& g : options_.groups) h->add_groups(g);
  auto* pf = h->mutable_facts();
  pf->set_hostname(name);
  pf->set_fqdn(name);
  pf->set_os_family(facts_.os_family);
  pf->set_distribution(facts_.distribution);
  pf->set_distribution_version(facts_.distribution_version);
  pf->set_os_pretty_name(facts_.os_pretty_name);
  pf->set_kernel(facts_.kernel);
  pf->set_architecture(facts_.architecture);
  pf->set_cpu_count(facts_.cpu_count);
  pf->set_memory_mb(facts_.memory_mb);
  for (const auto& ip : facts_.ip_addresses) pf->add_ip_addresses(ip);
  // The facts were serialised once with a placeholder for the name (names need no JSON
  // escaping): thousands of hellos do not each dump the whole fact tree.
  std::string text = absl::StrReplaceAll(facts_text_, {{kNamePlaceholder, name}});
  if (text.size() <= kMaxFactsBytes) h->set_ansible_facts_json(std::move(text));
  for (const auto& jid : known_jids) h->add_known_jids(jid);
  return hello;
}

void Simulator::Start() {
  started_at_ = absl::Now();
  StartMore();
}

void Simulator::StartMore() {
  std::vector<SimAgent*> start;
  {
    std::lock_guard<std::mutex> lock(mu_);
    while (next_to_start_ < agents_.size() && connecting_ < options_.connect_concurrency) {
      start.push_back(agents_[next_to_start_++].get());
      ++connecting_;
    }
  }
  for (SimAgent* a : start) a->Connect();
}

void Simulator::FirstAttemptOver(bool welcomed) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    --connecting_;
    if (welcomed) ++welcomed_;
  }
  // Not on a reactor thread's stack for long: Connect only starts a call.
  if (!stopping()) StartMore();
}

void Simulator::Report(bool force) {
  size_t welcomed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    welcomed = welcomed_;
  }
  uint64_t signature = welcomed * 1000003u + dispatches_.load() * 7919u + events_sent_.load();
  if (!force && signature == last_reported_) return;
  last_reported_ = signature;
  TLOG(Info) << "simulator: " << welcomed << "/" << agents_.size() << " identities welcomed, "
             << active_streams_.load() << " streams open, " << dispatches_.load()
             << " dispatches received, " << events_sent_.load() << " events sent ("
             << absl::FormatDuration(absl::Trunc(absl::Now() - started_at_, absl::Milliseconds(1)))
             << " since start)";
}

void Simulator::Stop() {
  stopping_ = true;
  for (auto& a : agents_) a->Cancel();
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [this] { return active_streams_.load() == 0; });
  }
  worker_.reset();  // delivers what it holds (no stream takes it any more)
  for (auto& a : agents_) a->StopEngine();
}

void RaiseFileLimit() {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

}  // namespace

bool WantsSimulator(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--simulate") == 0 || std::strncmp(argv[i], "--simulate=", 11) == 0) {
      return true;
    }
  }
  return false;
}

int SimulatorMain(int argc, char** argv) {
  BlockShutdownSignals();
  // Debian's Abseil is built with absl::Mutex deadlock detection on: every lock (gRPC's
  // included) then goes through one global graph under one spinlock, which serialises
  // thousands of connections' handshakes. The simulator does not need it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  CLI::App app{
      "tachyon-agent --simulate N: a fleet simulator (N agent identities in one process, each "
      "with its own certificate, TLS connection and stream) for measuring the controller"};
  DaemonFlags daemon;
  SimOptions o;
  AddDaemonFlags(app, &daemon);
  app.add_option("--simulate", o.count, "number of agent identities to run")
      ->required()
      ->check(CLI::Range(1, 1000000));
  app.add_option("--simulate-prefix", o.prefix,
                 "identity names are PREFIX-00001, PREFIX-00002, ... (default sim)");
  app.add_option("--simulate-jobs", o.jobs,
                 "noop: acknowledge each job and report it finished at once with a command "
                 "result (rc 0); real: run jobs with the job engine, one spool per identity "
                 "under --state-dir (one thread per identity: for small N)")
      ->check(CLI::IsMember({"noop", "real"}));
  app.add_option("--simulate-ca-dir", o.ca_dir,
                 "a `tachyon pki init` directory: identities are minted in memory from its "
                 "ca.crt and ca.key")
      ->required();
  app.add_option("--simulate-connect-concurrency", o.connect_concurrency,
                 "identities dialling at once while the fleet first connects (default 256)")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--simulate-days", o.days, "lifetime of the minted certificates in days");
  app.add_option("--simulate-mint-threads", o.mint_threads,
                 "threads minting the identities' keys and certificates at start (default 4)")
      ->check(CLI::Range(1, 64));
  app.add_option("--controller", o.controller, "controller HOST:PORT");
  app.add_option("--state-dir", o.state_dir, "spools of --simulate-jobs real (DIR/NAME/jobs)");
  app.add_option("--ca", o.ca,
                 "CA that the controller's certificate chains to (default: "
                 "--simulate-ca-dir's ca.crt)");
  app.add_option("--group", o.groups, "inventory group of every identity (repeatable)");
  if (int rc = ParseDaemonCommandLine(app, daemon, argc, argv, "agent"); rc >= 0) return rc;
  if (o.jobs == "real" && o.state_dir.empty()) {
    std::cerr << "agent: --simulate-jobs real needs --state-dir\n";
    return 5;
  }
  // Every identity holds a socket.
  RaiseFileLimit();

  CallbackPoller callback_poller;  // as in a real agent (common/callback_poller.h)
  auto sim = std::make_unique<Simulator>(o);
  if (auto st = sim->Build(); !st.ok()) {
    TLOG(Error) << "simulator: " << st;
    return 1;
  }
  // Logged before the first dial: bench/fleet.sh times the connect from this line.
  TLOG(Info) << "simulator started: " << o.count << " identities (" << o.prefix << "-00001...), "
             << o.jobs << " jobs, controller " << o.controller;
  sim->Start();
  // Progress once a second while it changes; the main thread waits for a signal meanwhile.
  std::atomic<bool> done{false};
  std::thread reporter([&] {
    while (!done.load()) {
      for (int i = 0; i < 10 && !done.load(); ++i) absl::SleepFor(absl::Milliseconds(100));
      sim->Report(false);
    }
  });
  int sig = WaitForShutdownSignal();
  done = true;
  reporter.join();
  TLOG(Info) << "signal " << sig << ": stopping the simulator";
  sim->Report(true);
  sim->Stop();
  TLOG(Info) << "stopped";
  // Channels and identities are torn down with the process: destroying tens of thousands of
  // channels one by one only delays the exit.
  std::quick_exit(0);
}

}  // namespace tachyon::agent
