// Bad input and security against the real controller: refused handshakes, role checks, agents
// reporting on jobs that are not theirs, size limits, literal arguments, bad config files.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <regex>

#include <grpcpp/grpcpp.h>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/pki.h"
#include "common/tls.h"
#include "gtest/gtest.h"
#include "tachyon/v1/agent.grpc.pb.h"
#include "tachyon/v1/control.grpc.pb.h"
#include "tests/integration/harness.h"

namespace tachyon::itest {
namespace {

namespace v1 = ::tachyon::v1;

constexpr auto kRpcDeadline = std::chrono::seconds(20);

class SecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.StartController());
    ASSERT_TRUE(cluster_.StartAgent("web01", {"web"}));
  }

  std::shared_ptr<grpc::Channel> Channel(const std::shared_ptr<grpc::ChannelCredentials>& creds,
                                         int max_send = -1) {
    grpc::ChannelArguments args;
    if (max_send > 0) args.SetMaxSendMessageSize(max_send);
    return grpc::CreateCustomChannel(cluster_.address(), creds, args);
  }

  std::shared_ptr<grpc::ChannelCredentials> Creds(const std::string& cert,
                                                  const std::string& key) {
    auto creds = tls::ChannelCredentials({cluster_.ca(), cert, key});
    EXPECT_TRUE(creds.ok()) << creds.status();
    return creds.ok() ? *creds : nullptr;
  }

  grpc::Status ListAgents(const std::shared_ptr<grpc::ChannelCredentials>& creds) {
    auto stub = v1::ControlService::NewStub(Channel(creds));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + kRpcDeadline);
    v1::ListAgentsRequest req;
    v1::ListAgentsResponse resp;
    return stub->ListAgents(&ctx, req, &resp);
  }

  // Writes a certificate signed by `ca` (or the cluster's CA) into the test dir; returns the
  // (cert, key) paths.
  std::pair<std::string, std::string> MakeCert(const std::string& file_stem, pki::Role role,
                                               const std::string& name, pki::Validity validity,
                                               const pki::CaPems* ca = nullptr) {
    pki::CaPems ours;
    if (!ca) {
      ours.cert_pem = ReadFile(cluster_.ca());
      ours.key_pem = ReadFile(cluster_.pki_dir() + "/ca.key");
      ca = &ours;
    }
    auto key = pki::MakeKeyPem();
    EXPECT_TRUE(key.ok()) << key.status();
    auto cert = pki::SignCertificate(ca->cert_pem, ca->key_pem, *key, role, name, validity, {});
    EXPECT_TRUE(cert.ok()) << cert.status();
    std::string cert_path = cluster_.dir() + "/" + file_stem + ".crt";
    std::string key_path = cluster_.dir() + "/" + file_stem + ".key";
    WriteFile(cert_path, cert.ok() ? *cert : "", 0644);
    WriteFile(key_path, key.ok() ? *key : "", 0600);
    return {cert_path, key_path};
  }

  static pki::Validity ValidNow() {
    return {absl::Now() - absl::Hours(1), absl::Now() + absl::Hours(24)};
  }

  // The controller still serves operators and still has its agent.
  void ExpectStillServing() {
    CliResult r = cluster_.Cli({"agents", "-o", "json"});
    ASSERT_EQ(r.rc, 0) << r;
    auto lines = r.JsonLines();
    bool web01 = false;
    for (const auto& a : lines) {
      if (a.value("name", "") == "web01") web01 = a.value("state", "") == "connected";
    }
    EXPECT_TRUE(web01) << r;
    r = cluster_.Cli({"exec", "web01", "-o", "json", "--", "/bin/echo", "alive"});
    ASSERT_EQ(r.rc, 0) << r;
    EXPECT_NE(r.out.find("\"stdout\":\"alive\""), std::string::npos) << r;
  }

  Cluster cluster_;
};

// --- Refused handshakes -----------------------------------------------------------------------

TEST_F(SecurityTest, PlaintextClientIsRefused) {
  // Raw HTTP/2 cleartext preface and a SETTINGS frame on the TLS port.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(cluster_.port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0)
      << std::strerror(errno);
  std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  preface += std::string("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9);
  ASSERT_EQ(::send(fd, preface.data(), preface.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(preface.size()));
  // The server must close the connection without ever speaking HTTP/2 to us.
  std::string got;
  bool closed = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kWaitSeconds);
  while (!closed && std::chrono::steady_clock::now() < deadline) {
    struct pollfd p = {fd, POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) continue;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n > 0) {
      got.append(buf, static_cast<size_t>(n));
    } else {
      closed = true;
    }
  }
  ::close(fd);
  EXPECT_TRUE(closed) << "the controller kept a plaintext connection open";
  // Anything it sent is TLS (an alert or handshake record), never an HTTP/2 SETTINGS frame.
  if (!got.empty()) {
    EXPECT_TRUE(got[0] == '\x15' || got[0] == '\x16') << "first byte " << int(got[0]);
    EXPECT_EQ(got.find("HTTP"), std::string::npos);
  }

  // A gRPC client without TLS fails too.
  grpc::Status st = ListAgents(grpc::InsecureChannelCredentials());
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();

  ExpectStillServing();
}

// The handshake lets a client without a certificate through (it may need to enroll), so every
// service but EnrollService must refuse it itself: each ControlService call and the agent stream.
TEST_F(SecurityTest, ClientWithoutCertificateIsRefused) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ReadFile(cluster_.ca());
  auto creds = grpc::SslCredentials(options);
  size_t cursor = cluster_.controller()->StderrLineCount();
  grpc::Status st = ListAgents(creds);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
  EXPECT_TRUE(cluster_.controller()->WaitStderr(
      Contains({"security:", "ControlService.ListAgents", "no verified certificate"}), &cursor));

  auto control = v1::ControlService::NewStub(Channel(creds));
  auto deadline = [](grpc::ClientContext* ctx) {
    ctx->set_deadline(std::chrono::system_clock::now() + kRpcDeadline);
  };
  std::vector<std::pair<std::string, grpc::Status>> calls;
  {
    grpc::ClientContext ctx;
    deadline(&ctx);
    v1::JobRequest req;
    req.set_jid("j1.1");
    v1::JobStatusResponse resp;
    calls.emplace_back("JobStatus", control->JobStatus(&ctx, req, &resp));
  }
  {
    grpc::ClientContext ctx;
    deadline(&ctx);
    v1::JobRequest req;
    req.set_jid("j1.1");
    v1::JobActionResponse resp;
    calls.emplace_back("KillJob", control->KillJob(&ctx, req, &resp));
  }
  {
    grpc::ClientContext ctx;
    deadline(&ctx);
    v1::JobRequest req;
    req.set_jid("j1.1");
    v1::JobActionResponse resp;
    calls.emplace_back("CleanupJob", control->CleanupJob(&ctx, req, &resp));
  }
  {
    grpc::ClientContext ctx;
    deadline(&ctx);
    v1::StartRolloutRequest req;
    req.set_playbook("site.yml");
    v1::StartRolloutResponse resp;
    calls.emplace_back("StartRollout", control->StartRollout(&ctx, req, &resp));
  }
  {
    grpc::ClientContext ctx;
    deadline(&ctx);
    v1::ListRolloutsResponse resp;
    calls.emplace_back("ListRollouts",
                       control->ListRollouts(&ctx, v1::ListRolloutsRequest(), &resp));
  }
  for (const char* method : {"GetRollout", "PauseRollout", "ResumeRollout", "AbortRollout"}) {
    grpc::ClientContext ctx;
    deadline(&ctx);
    v1::RolloutRequest req;
    req.set_id("r1");
    v1::RolloutInfo resp;
    std::string m = method;
    grpc::Status s = m == "GetRollout"      ? control->GetRollout(&ctx, req, &resp)
                     : m == "PauseRollout"  ? control->PauseRollout(&ctx, req, &resp)
                     : m == "ResumeRollout" ? control->ResumeRollout(&ctx, req, &resp)
                                            : control->AbortRollout(&ctx, req, &resp);
    calls.emplace_back(m, s);
  }
  {
    grpc::ClientContext ctx;
    deadline(&ctx);
    v1::RevokeAgentRequest req;
    req.set_name("web01");
    v1::RevokeAgentResponse resp;
    calls.emplace_back("RevokeAgent", control->RevokeAgent(&ctx, req, &resp));
  }
  {
    grpc::ClientContext ctx;
    deadline(&ctx);
    v1::CreateTokenRequest req;
    req.set_name("web09");
    v1::CreateTokenResponse resp;
    calls.emplace_back("CreateToken", control->CreateToken(&ctx, req, &resp));
  }
  {
    grpc::ClientContext ctx;
    deadline(&ctx);
    v1::ExecRequest req;
    req.set_pattern("all");
    req.add_argv("/bin/true");
    req.set_poll_seconds(-1);
    auto reader = control->Exec(&ctx, req);
    v1::ExecUpdate update;
    EXPECT_FALSE(reader->Read(&update));
    calls.emplace_back("Exec", reader->Finish());
  }
  {
    grpc::ClientContext ctx;
    deadline(&ctx);
    v1::EventsRequest req;
    auto reader = control->Events(&ctx, req);
    v1::Event event;
    EXPECT_FALSE(reader->Read(&event));
    calls.emplace_back("Events", reader->Finish());
  }
  for (const auto& [method, status] : calls) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
        << method << ": " << status.error_message();
  }

  // Nor can such a client open an agent stream.
  auto stub = v1::AgentService::NewStub(Channel(creds));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kRpcDeadline);
  auto stream = stub->Connect(&ctx);
  v1::AgentMessage hello;
  hello.mutable_hello()->set_protocol_version(v1::PROTOCOL_VERSION_1);
  stream->Write(hello);
  v1::ControllerMessage msg;
  EXPECT_FALSE(stream->Read(&msg)) << msg.DebugString();
  st = stream->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
  EXPECT_TRUE(cluster_.controller()->WaitStderr(
      Contains({"security:", "AgentService.Connect", "no verified certificate"}), &cursor));

  // Nothing was dispatched, revoked or created.
  for (const auto& e : cluster_.AllEvents()) {
    EXPECT_NE(e.value("type", ""), "job_dispatched") << e;
  }
  ExpectStillServing();
}

TEST_F(SecurityTest, CertificateFromAnotherCaIsRefused) {
  auto evil = pki::MakeCa("tachyon CA", ValidNow());
  ASSERT_TRUE(evil.ok()) << evil.status();
  // Same name and role as the real admin, but signed by another CA.
  auto [cert, key] = MakeCert("evil-admin", pki::Role::kOperator, "admin", ValidNow(), &*evil);

  grpc::Status st = ListAgents(Creds(cert, key));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();

  CliResult r = cluster_.Cli({"agents", "--cert", cert, "--key", key});
  EXPECT_EQ(r.rc, 1) << r;
  EXPECT_NE(r.err.find("cannot reach the controller"), std::string::npos) << r;
  EXPECT_EQ(r.out, "") << r;

  // A foreign agent certificate is refused as well, and never registers as an agent.
  auto [acert, akey] = MakeCert("evil-agent", pki::Role::kAgent, "web09", ValidNow(), &*evil);
  auto stub = v1::AgentService::NewStub(Channel(Creds(acert, akey)));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kRpcDeadline);
  auto stream = stub->Connect(&ctx);
  v1::AgentMessage hello;
  hello.mutable_hello()->set_protocol_version(v1::PROTOCOL_VERSION_1);
  stream->Write(hello);
  v1::ControllerMessage msg;
  EXPECT_FALSE(stream->Read(&msg));
  st = stream->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();

  ExpectStillServing();
  r = cluster_.Cli({"agents", "-o", "json"});
  EXPECT_EQ(r.out.find("web09"), std::string::npos) << r;
}

TEST_F(SecurityTest, ExpiredCertificateIsRefused) {
  pki::Validity expired = {absl::Now() - absl::Hours(48), absl::Now() - absl::Hours(24)};
  auto [cert, key] = MakeCert("expired-admin", pki::Role::kOperator, "admin", expired);

  grpc::Status st = ListAgents(Creds(cert, key));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();

  CliResult r = cluster_.Cli({"agents", "--cert", cert, "--key", key});
  EXPECT_EQ(r.rc, 1) << r;
  EXPECT_EQ(r.out, "") << r;

  // Not yet valid is no better.
  pki::Validity future = {absl::Now() + absl::Hours(24), absl::Now() + absl::Hours(48)};
  auto [fcert, fkey] = MakeCert("future-admin", pki::Role::kOperator, "admin", future);
  st = ListAgents(Creds(fcert, fkey));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();

  ExpectStillServing();
}

// --- Roles ------------------------------------------------------------------------------------

TEST_F(SecurityTest, AgentCertificateCannotUseControlService) {
  size_t cursor = cluster_.controller()->StderrLineCount();
  auto creds = Creds(cluster_.AgentCert("web01"), cluster_.AgentKey("web01"));
  grpc::Status st = ListAgents(creds);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
  EXPECT_TRUE(cluster_.controller()->WaitStderr(
      Contains({"security:", "ControlService.ListAgents", "agent/web01"}), &cursor));

  // Exec is the one that matters most.
  auto stub = v1::ControlService::NewStub(Channel(creds));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kRpcDeadline);
  v1::ExecRequest req;
  req.set_pattern("all");
  req.add_argv("/bin/true");
  req.set_poll_seconds(-1);
  auto reader = stub->Exec(&ctx, req);
  v1::ExecUpdate update;
  EXPECT_FALSE(reader->Read(&update));
  st = reader->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();

  // Through the CLI: a clear refusal.
  CliResult r = cluster_.Cli({"exec", "all", "--cert", cluster_.AgentCert("web01"), "--key",
                              cluster_.AgentKey("web01"), "--", "/bin/true"});
  EXPECT_EQ(r.rc, 1) << r;
  EXPECT_NE(r.err.find("operator"), std::string::npos) << r;

  // Nothing was dispatched.
  for (const auto& e : cluster_.AllEvents()) {
    EXPECT_NE(e.value("type", ""), "job_dispatched") << e;
  }
  ExpectStillServing();
}

TEST_F(SecurityTest, OperatorCertificateCannotConnectAsAgent) {
  size_t cursor = cluster_.controller()->StderrLineCount();
  auto stub =
      v1::AgentService::NewStub(Channel(Creds(cluster_.admin_cert(), cluster_.admin_key())));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kRpcDeadline);
  auto stream = stub->Connect(&ctx);
  v1::AgentMessage hello;
  hello.mutable_hello()->set_protocol_version(v1::PROTOCOL_VERSION_1);
  stream->Write(hello);
  v1::ControllerMessage msg;
  EXPECT_FALSE(stream->Read(&msg)) << msg.DebugString();
  grpc::Status st = stream->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
  EXPECT_TRUE(cluster_.controller()->WaitStderr(
      Contains({"security:", "AgentService.Connect", "operator/admin"}), &cursor));

  CliResult r = cluster_.Cli({"agents", "-o", "json"});
  ASSERT_EQ(r.rc, 0) << r;
  for (const auto& a : r.JsonLines()) {
    EXPECT_TRUE(a.value("name", "") == "web01" || a.value("name", "") == "localhost") << a;
  }
  EXPECT_EQ(r.out.find("admin"), std::string::npos) << r;
  ExpectStillServing();
}

// --- An agent reporting on a job that was not dispatched to it -------------------------------

TEST_F(SecurityTest, AgentCannotReportOnAnotherAgentsJob) {
  Fifo ready(cluster_.dir() + "/ready", Fifo::kFromJob);
  Fifo go(cluster_.dir() + "/go", Fifo::kToJob);
  CliResult r = cluster_.Cli({"exec", "web01", "-B", "30", "-P", "0", "-o", "json", "--",
                              "/bin/sh", "-c",
                              "echo $$ > " + ready.path() + "; read x < " + go.path() +
                                  "; echo got $x"});
  ASSERT_EQ(r.rc, 0) << r;
  auto lines = r.JsonLines();
  ASSERT_EQ(lines.size(), 1u) << r;
  std::string jid = lines[0].value("ansible_job_id", "");
  ASSERT_FALSE(jid.empty()) << r;
  ASSERT_TRUE(ready.ReadLine()) << "the job never started";

  // web02 is a real agent certificate, but the job is web01's.
  cluster_.IssueAgent("web02");
  size_t cursor = cluster_.controller()->StderrLineCount();
  auto stub = v1::AgentService::NewStub(
      Channel(Creds(cluster_.AgentCert("web02"), cluster_.AgentKey("web02"))));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(kWaitSeconds));
  auto stream = stub->Connect(&ctx);
  v1::AgentMessage hello;
  hello.mutable_hello()->set_protocol_version(v1::PROTOCOL_VERSION_1);
  hello.mutable_hello()->set_agent_version("fake");
  ASSERT_TRUE(stream->Write(hello));
  v1::ControllerMessage msg;
  ASSERT_TRUE(stream->Read(&msg));
  ASSERT_TRUE(msg.has_welcome()) << msg.DebugString();
  EXPECT_EQ(msg.welcome().agent_name(), "web02");
  uint64_t seq = msg.welcome().last_acked_seq() + 1;

  v1::AgentMessage forged;
  auto* ev = forged.mutable_event();
  ev->set_seq(seq);
  ev->set_jid(jid);
  ev->set_kind(v1::JobEvent::KIND_FINISHED);
  ev->set_state(v1::JOB_STATE_SUCCEEDED);
  ev->set_result_json(R"({"rc":0,"stdout":"forged","changed":true})");
  ev->set_ts_unix_ms(absl::ToUnixMillis(absl::Now()));
  ASSERT_TRUE(stream->Write(forged));
  // The controller acks what it dropped (so a buggy agent does not resend it forever): the ack
  // is our event that the controller has handled the message.
  bool acked = false;
  while (!acked && stream->Read(&msg)) {
    if (msg.has_ack() && msg.ack().acked_seq() >= seq) acked = true;
  }
  EXPECT_TRUE(acked) << "no ack for the forged event";

  auto line = cluster_.controller()->WaitStderr(Contains({"security:", "web02", jid}), &cursor);
  EXPECT_TRUE(line) << "no security line naming web02 and " << jid;

  // A forged dispatch ack for the same job is dropped the same way.
  v1::AgentMessage forged_ack;
  forged_ack.mutable_dispatch_ack()->set_jid(jid);
  forged_ack.mutable_dispatch_ack()->set_accepted(false);
  forged_ack.mutable_dispatch_ack()->set_error("forged");
  ASSERT_TRUE(stream->Write(forged_ack));
  EXPECT_TRUE(cluster_.controller()->WaitStderr(Contains({"security:", "web02", jid, "acked"}),
                                                &cursor));
  stream->WritesDone();
  ctx.TryCancel();
  stream->Finish();

  // The job is untouched: still running on web01.
  r = cluster_.Cli({"job", "status", jid, "-o", "json"});
  EXPECT_EQ(r.rc, 0) << r;
  auto status = r.JsonLines();
  ASSERT_EQ(status.size(), 1u) << r;
  EXPECT_EQ(status[0].value("state", ""), "running") << r;
  EXPECT_EQ(status[0].value("finished", -1), 0) << r;
  EXPECT_EQ(status[0].value("host", ""), "web01") << r;
  for (const auto& e : cluster_.AllEvents()) {
    if (e.value("jid", "") != jid) continue;
    EXPECT_NE(e.value("type", ""), "job_finished") << e;
    EXPECT_NE(e.value("host", ""), "web02") << e;
  }

  // And it finishes normally, with web01's result, once.
  auto events = cluster_.FollowEvents(0);
  go.Send("real");
  size_t ecursor = 0;
  auto finished = WaitEvent(
      events.get(),
      [&](const json& e) { return e.value("type", "") == "job_finished" && e.value("jid", "") == jid; },
      &ecursor);
  ASSERT_TRUE(finished) << events->StdoutText();
  EXPECT_EQ(finished->value("host", ""), "web01") << *finished;
  EXPECT_EQ((*finished)["result"].value("stdout", ""), "got real") << *finished;
  int count = 0;
  for (const auto& e : cluster_.AllEvents()) {
    if (e.value("type", "") == "job_finished" && e.value("jid", "") == jid) ++count;
  }
  EXPECT_EQ(count, 1);
}

// --- Size limits ------------------------------------------------------------------------------

TEST_F(SecurityTest, OversizeArgsAreAClearError) {
  // Linux caps one argv string at 128 KiB, so a 2 MiB -a cannot even reach the CLI; 1.5 MiB of
  // words after -- is the largest over-limit command line a user can type.
  std::vector<std::string> args = {"exec", "web01", "--", "/bin/echo"};
  for (int i = 0; i < 12; ++i) args.push_back(std::string(128 * 1024 - 1, 'a' + i));
  CliResult r = cluster_.Cli(args);
  EXPECT_EQ(r.rc, 5) << r.rc << "\n" << r.err;
  EXPECT_NE(r.err.find("1 MiB"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");

  // The same through the API: -a of 2 MiB is refused by the controller, naming the limit.
  auto stub =
      v1::ControlService::NewStub(Channel(Creds(cluster_.admin_cert(), cluster_.admin_key())));
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + kRpcDeadline);
    v1::ExecRequest req;
    req.set_pattern("web01");
    req.set_module("shell");
    req.set_args(std::string(2u << 20, 'x'));
    req.set_poll_seconds(-1);
    auto reader = stub->Exec(&ctx, req);
    v1::ExecUpdate update;
    EXPECT_FALSE(reader->Read(&update));
    grpc::Status st = reader->Finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
    EXPECT_NE(st.error_message().find("limit"), std::string::npos) << st.error_message();
  }
  for (const auto& e : cluster_.AllEvents()) {
    EXPECT_NE(e.value("type", ""), "job_dispatched") << e;
  }
  ExpectStillServing();
}

TEST_F(SecurityTest, OversizeGrpcMessageIsResourceExhausted) {
  // The client lets it go; the controller's 8 MiB receive limit must stop it.
  auto stub = v1::ControlService::NewStub(
      Channel(Creds(cluster_.admin_cert(), cluster_.admin_key()), 64 << 20));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kRpcDeadline);
  v1::ExecRequest req;
  req.set_pattern("web01");
  req.set_module("shell");
  req.set_args(std::string(9u << 20, 'x'));
  req.set_poll_seconds(-1);
  auto reader = stub->Exec(&ctx, req);
  v1::ExecUpdate update;
  EXPECT_FALSE(reader->Read(&update));
  grpc::Status st = reader->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();

  // Same for an agent stream message.
  cluster_.IssueAgent("web05");
  auto bstub = v1::AgentService::NewStub(
      Channel(Creds(cluster_.AgentCert("web05"), cluster_.AgentKey("web05")), 64 << 20));
  grpc::ClientContext actx;
  actx.set_deadline(std::chrono::system_clock::now() + kRpcDeadline);
  auto stream = bstub->Connect(&actx);
  v1::AgentMessage hello;
  hello.mutable_hello()->set_protocol_version(v1::PROTOCOL_VERSION_1);
  hello.mutable_hello()->mutable_facts()->set_hostname(std::string(9u << 20, 'h'));
  stream->Write(hello);
  v1::ControllerMessage msg;
  EXPECT_FALSE(stream->Read(&msg));
  st = stream->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();

  ExpectStillServing();
}

// --- Config files -----------------------------------------------------------------------------

class ConfigFileTest : public ::testing::Test {
 protected:
  // Runs `bin --config FILE` (plus the flags it would need) with `yaml` in FILE.
  CliResult RunWithConfig(const std::string& bin, const std::string& yaml,
                          std::vector<std::string> extra, std::string* path) {
    *path = cluster_.dir() + "/bad.yaml";
    WriteFile(*path, yaml);
    std::vector<std::string> argv = {bin, "--config", *path};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto p = Process::Start({argv, {}, ""});
    CliResult r;
    if (!p) return r;
    r.rc = p->WaitExit().value_or(-1);
    p->WaitOutputClosed();
    r.out = p->StdoutText();
    r.err = p->StderrText();
    return r;
  }

  std::vector<std::string> ControllerFlags() {
    return {"--listen", "127.0.0.1:0", "--state-dir", cluster_.dir() + "/ctl",
            "--ca", cluster_.ca(), "--cert", cluster_.pki_dir() + "/controller.crt",
            "--key", cluster_.pki_dir() + "/controller.key"};
  }

  Cluster cluster_;
};

TEST_F(ConfigFileTest, UnknownKeyInControllerConfig) {
  std::string path;
  CliResult r = RunWithConfig(ControllerBin(), "listen: 127.0.0.1:0\nlisten_adress: 0.0.0.0:1\n",
                              ControllerFlags(), &path);
  EXPECT_EQ(r.rc, 5) << r;
  EXPECT_NE(r.err.find(path), std::string::npos) << r;
  EXPECT_NE(r.err.find("listen_adress"), std::string::npos) << r;
}

TEST_F(ConfigFileTest, BrokenYamlInControllerConfig) {
  std::string path;
  CliResult r = RunWithConfig(ControllerBin(), "listen: 127.0.0.1:0\nstate-dir: [unclosed\n",
                              ControllerFlags(), &path);
  EXPECT_EQ(r.rc, 5) << r;
  // FILE:LINE:COL
  EXPECT_NE(r.err.find(path + ":"), std::string::npos) << r;
  EXPECT_TRUE(std::regex_search(r.err, std::regex(":[0-9]+:[0-9]+"))) << r;
}

TEST_F(ConfigFileTest, UnknownKeyInAgentConfig) {
  std::string path;
  CliResult r = RunWithConfig(AgentBin(), "controller: 127.0.0.1:1\ngroupz: [web]\n",
                              {"--state-dir", cluster_.dir() + "/agent", "--ca", cluster_.ca(),
                               "--cert", cluster_.admin_cert(), "--key", cluster_.admin_key()},
                              &path);
  EXPECT_EQ(r.rc, 5) << r;
  EXPECT_NE(r.err.find(path), std::string::npos) << r;
  EXPECT_NE(r.err.find("groupz"), std::string::npos) << r;
}

TEST_F(ConfigFileTest, BrokenYamlInAgentConfig) {
  std::string path;
  CliResult r = RunWithConfig(AgentBin(), "controller: 127.0.0.1:1\n  - : : {\n",
                              {"--state-dir", cluster_.dir() + "/agent", "--ca", cluster_.ca(),
                               "--cert", cluster_.admin_cert(), "--key", cluster_.admin_key()},
                              &path);
  EXPECT_EQ(r.rc, 5) << r;
  EXPECT_NE(r.err.find(path + ":"), std::string::npos) << r;
  EXPECT_TRUE(std::regex_search(r.err, std::regex(":[0-9]+:[0-9]+"))) << r;
}

}  // namespace
}  // namespace tachyon::itest
