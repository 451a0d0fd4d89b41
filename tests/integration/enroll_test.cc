// Issue 8 against the real binaries: enrollment with one-time tokens (`tachyon token create`,
// `tachyon-agent enroll`), revocation (`tachyon agents revoke`) and certificate renewal over the
// agent's own stream.

#include <grpcpp/grpcpp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <regex>

#include "absl/strings/str_cat.h"
#include "common/enroll_token.h"
#include "common/pki.h"
#include "gtest/gtest.h"
#include "tachyon/v1/agent.grpc.pb.h"
#include "tests/integration/harness.h"

namespace tachyon::itest {
namespace {

namespace v1 = ::tachyon::v1;

class EnrollTest : public ::testing::Test {
 protected:
  // `tachyon token create ... -o json` -> the token ("" on failure).
  std::string CreateToken(std::vector<std::string> flags) {
    std::vector<std::string> args = {"token", "create", "-o", "json"};
    args.insert(args.end(), flags.begin(), flags.end());
    CliResult r = cluster_.Cli(args);
    EXPECT_EQ(r.rc, 0) << r;
    auto lines = r.JsonLines();
    EXPECT_EQ(lines.size(), 1u) << r;
    return lines.empty() ? "" : lines[0].value("token", "");
  }

  // `tachyon-agent enroll` into DIR/enrolled-NAME.
  CliResult Enroll(const std::string& token, const std::string& state_dir,
                   std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {AgentBin(), "enroll", "--controller", cluster_.address(),
                                     "--token",  token,    "--state-dir",  state_dir};
    argv.insert(argv.end(), extra.begin(), extra.end());
    CliResult r;
    auto p = Process::Start({argv, {}, ""});
    if (!p) return r;
    r.rc = p->WaitExit().value_or(-1);
    p->WaitOutputClosed();
    r.out = p->StdoutText();
    r.err = p->StderrText();
    return r;
  }

  std::string StateDir(const std::string& name) { return cluster_.dir() + "/enrolled-" + name; }

  // Starts `tachyon-agent --state-dir DIR` (no TLS flags) and waits until it is connected.
  std::unique_ptr<Process> StartEnrolled(const std::string& name, size_t* cursor) {
    auto p = Process::Start({{AgentBin(), "--state-dir", StateDir(name), "--kill-grace", "1"},
                             {},
                             cluster_.dir() + "/agent-" + name + ".log"});
    if (!p) return nullptr;
    if (!cluster_.controller()->WaitStderr(Contains({"agent '" + name + "' connected"}), cursor)) {
      ADD_FAILURE() << "enrolled agent " << name << " did not connect:\n" << p->StderrText();
    }
    return p;
  }

  // Calls EnrollService.Enroll directly, trusting the cluster's CA, with a CSR of our making.
  grpc::Status RawEnroll(const std::string& token, const std::string& csr,
                         const std::string& requested_name, v1::EnrollResponse* resp) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = ReadFile(cluster_.ca());
    auto stub = v1::EnrollService::NewStub(
        grpc::CreateChannel(cluster_.address(), grpc::SslCredentials(options)));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(kWaitSeconds));
    v1::EnrollRequest req;
    req.set_token(token);
    req.set_csr_pem(csr);
    req.set_requested_name(requested_name);
    return stub->Enroll(&ctx, req, resp);
  }

  std::string AgentState(const std::string& name) {
    CliResult r = cluster_.Cli({"agents", "-o", "json"});
    EXPECT_EQ(r.rc, 0) << r;
    for (const auto& a : r.JsonLines()) {
      if (a.value("name", "") == name) return a.value("state", "");
    }
    return "";
  }

  Cluster cluster_;
};

// Only the bound identity, client auth only, CA:FALSE.
void ExpectAgentLeaf(const std::string& cert_pem, const std::string& name) {
  auto info = pki::ReadCertInfo(cert_pem);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_FALSE(info->is_ca);
  EXPECT_TRUE(info->client_auth);
  EXPECT_FALSE(info->server_auth);
  EXPECT_EQ(info->sans, std::vector<std::string>{"URI:tachyon://agent/" + name});
}

TEST_F(EnrollTest, EnrolledAgentRunsWithStateDirOnly) {
  ASSERT_TRUE(cluster_.StartController());
  std::string token = CreateToken({"--name", "web07"});
  ASSERT_FALSE(token.empty());
  // The token carries the CA's fingerprint, never the CA key or anything secret of the CA.
  auto parsed = enroll::ParseToken(token);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->ca_pin, *enroll::CaPin(ReadFile(cluster_.ca())));

  CliResult r = Enroll(token, StateDir("web07"));
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("web07"), std::string::npos) << r;
  struct stat st;
  ASSERT_EQ(::stat((StateDir("web07") + "/agent.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ExpectAgentLeaf(ReadFile(StateDir("web07") + "/agent.crt"), "web07");
  // 30 days by default.
  auto info = pki::ReadCertInfo(ReadFile(StateDir("web07") + "/agent.crt"));
  ASSERT_TRUE(info.ok());
  EXPECT_NEAR(absl::ToDoubleHours(info->not_after - absl::Now()), 24 * 30, 1);

  size_t cursor = 0;
  auto agent = StartEnrolled("web07", &cursor);
  ASSERT_NE(agent, nullptr);
  r = cluster_.Cli({"exec", "web07", "-o", "json", "--", "/bin/echo", "enrolled"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("\"stdout\":\"enrolled\""), std::string::npos) << r;
  EXPECT_EQ(AgentState("web07"), "connected");
}

TEST_F(EnrollTest, UsedExpiredTamperedAndForeignTokensAreRefused) {
  ASSERT_TRUE(cluster_.StartController());
  std::string token = CreateToken({"--name", "web07"});
  ASSERT_EQ(Enroll(token, StateDir("web07")).rc, 0);

  // Single use by default.
  CliResult r = Enroll(token, StateDir("again"));
  EXPECT_EQ(r.rc, 1) << r;
  EXPECT_NE(r.err.find("already used"), std::string::npos) << r;
  EXPECT_NE(::access((StateDir("again") + "/agent.crt").c_str(), F_OK), 0);

  // Expired: its lifetime is over before the agent can use it.
  std::string expired = CreateToken({"--name", "web08", "--ttl", "1ms"});
  r = Enroll(expired, StateDir("web08"));
  EXPECT_EQ(r.rc, 1) << r;
  EXPECT_NE(r.err.find("expired"), std::string::npos) << r;

  // A wrong secret is an unknown token (and burns nothing: the real one still works).
  std::string good = CreateToken({"--name", "web09"});
  auto t = enroll::ParseToken(good);
  ASSERT_TRUE(t.ok());
  enroll::Token forged = *t;
  forged.secret[0] = forged.secret[0] == 'A' ? 'B' : 'A';
  r = Enroll(enroll::FormatToken(forged), StateDir("web09"));
  EXPECT_EQ(r.rc, 1) << r;
  EXPECT_NE(r.err.find("unknown token"), std::string::npos) << r;

  // Pinned to another CA: the agent refuses to send the token at all.
  auto other =
      pki::MakeCa("other CA", {absl::Now() - absl::Hours(1), absl::Now() + absl::Hours(1)});
  ASSERT_TRUE(other.ok());
  enroll::Token wrong_pin = *t;
  wrong_pin.ca_pin = *enroll::CaPin(other->cert_pem);
  size_t cursor = cluster_.controller()->StderrLineCount();
  r = Enroll(enroll::FormatToken(wrong_pin), StateDir("web09"));
  EXPECT_EQ(r.rc, 1) << r;
  EXPECT_NE(r.err.find("fingerprint"), std::string::npos) << r;

  ASSERT_EQ(Enroll(good, StateDir("web09")).rc, 0);
  // The controller never saw the mis-pinned attempt as an enrollment.
  auto lines = cluster_.controller()->StderrLines();
  for (size_t i = cursor; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i].find("enrollment from"), std::string::npos) << lines[i];
  }

  // Malformed tokens are bad options.
  r = Enroll("not-a-token", StateDir("bad"));
  EXPECT_EQ(r.rc, 5) << r;
}

TEST_F(EnrollTest, IdentityComesFromTheTokenNeverFromTheCsr) {
  ASSERT_TRUE(cluster_.StartController());
  // A token bound to web08 cannot enroll web09.
  std::string bound = CreateToken({"--name", "web08"});
  CliResult r = Enroll(bound, StateDir("web09"), {"--name", "web09"});
  EXPECT_EQ(r.rc, 1) << r;
  EXPECT_NE(r.err.find("bound to another name"), std::string::npos) << r;

  // A CSR that asks for a foreign SAN, CA:TRUE, server auth and cert signing gets none of it:
  // the certificate carries only the token's identity.
  auto key = pki::MakeKeyPem();
  ASSERT_TRUE(key.ok());
  auto csr = pki::MakeCsrPem(*key, "admin",
                             {{"subjectAltName",
                               "URI:tachyon://operator/admin,URI:tachyon://agent/web01,"
                               "DNS:ctl.example.com,IP:127.0.0.1"},
                              {"basicConstraints", "critical,CA:TRUE"},
                              {"keyUsage", "critical,keyCertSign,cRLSign,digitalSignature"},
                              {"extendedKeyUsage", "serverAuth,clientAuth"}});
  ASSERT_TRUE(csr.ok()) << csr.status();
  v1::EnrollResponse resp;
  grpc::Status st = RawEnroll(bound, *csr, "", &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.agent_name(), "web08");
  ExpectAgentLeaf(resp.cert_pem(), "web08");
  EXPECT_TRUE(pki::CheckKeyMatchesCert(resp.cert_pem(), *key).ok());
  auto id = pki::IdentityFromCertPem(resp.cert_pem());
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->role, pki::Role::kAgent);
  EXPECT_EQ(id->name, "web08");

  // A token bound to no name takes the agent's proposal, within the same limits.
  std::string unbound = CreateToken({});
  auto key2 = pki::MakeKeyPem();
  auto csr2 = pki::MakeCsrPem(*key2, "", {{"basicConstraints", "critical,CA:TRUE"}});
  ASSERT_TRUE(csr2.ok());
  st = RawEnroll(unbound, *csr2, "../../etc", &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  st = RawEnroll(unbound, *csr2, "db01", &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ExpectAgentLeaf(resp.cert_pem(), "db01");

  // A CSR whose signature does not verify (no proof of possession) is refused.
  std::string another = CreateToken({"--name", "web10"});
  std::string broken = *csr;
  broken[broken.size() / 2] = broken[broken.size() / 2] == 'A' ? 'B' : 'A';
  st = RawEnroll(another, broken, "", &resp);
  EXPECT_FALSE(st.ok());
  // ... without burning the token.
  auto key3 = pki::MakeKeyPem();
  st = RawEnroll(another, *pki::MakeCsrPem(*key3, ""), "", &resp);
  EXPECT_TRUE(st.ok()) << st.error_message();
}

TEST_F(EnrollTest, ReEnrollingAnExistingNameNeedsReplace) {
  ASSERT_TRUE(cluster_.StartController());
  ASSERT_TRUE(cluster_.StartAgent("web01"));
  // web01 exists (it connected with a certificate from `pki issue`).
  CliResult r = Enroll(CreateToken({"--name", "web01"}), StateDir("web01"));
  EXPECT_EQ(r.rc, 1) << r;
  EXPECT_NE(r.err.find("--replace"), std::string::npos) << r;
  // Same for a name enrolled before.
  ASSERT_EQ(Enroll(CreateToken({"--name", "web07"}), StateDir("web07")).rc, 0);
  r = Enroll(CreateToken({"--name", "web07"}), StateDir("web07b"));
  EXPECT_EQ(r.rc, 1) << r;
  // With --replace it is allowed.
  r = Enroll(CreateToken({"--name", "web07", "--replace"}), StateDir("web07b"));
  EXPECT_EQ(r.rc, 0) << r;
}

TEST_F(EnrollTest, RevokedAgentIsCutOffAndRefused) {
  ASSERT_TRUE(cluster_.StartController());
  ASSERT_TRUE(cluster_.StartAgent("web01", {"web"}));
  size_t cursor = cluster_.controller()->StderrLineCount();

  CliResult r = cluster_.Cli({"agents", "revoke", "web01"});
  auto revoked_at = std::chrono::steady_clock::now();
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("stream was closed"), std::string::npos) << r;
  // Its open stream is closed within a second of the revocation.
  auto line =
      cluster_.controller()->WaitStderr(Contains({"agent 'web01' disconnected"}), &cursor, 1.0);
  EXPECT_TRUE(line) << "the revoked agent's stream was not closed within a second";
  EXPECT_LT(std::chrono::steady_clock::now() - revoked_at, std::chrono::seconds(1));

  // Its jobs cannot be dispatched: unreachable, exit 3.
  r = cluster_.Cli({"exec", "web01", "-o", "json", "--", "/bin/true"});
  EXPECT_EQ(r.rc, 3) << r;
  auto lines = r.JsonLines();
  ASSERT_EQ(lines.size(), 1u) << r;
  EXPECT_EQ(lines[0].value("status", ""), "unreachable") << r;

  // It keeps trying to reconnect, and each stream is refused.
  EXPECT_TRUE(cluster_.controller()->WaitStderr(
      Contains({"security:", "AgentService.Connect refused", "agent/web01", "revoked"}), &cursor));
  EXPECT_EQ(AgentState("web01"), "revoked");
  r = cluster_.Cli({"agents"});
  EXPECT_TRUE(std::regex_search(r.out, std::regex("web01 +revoked"))) << r;

  // A name can be revoked before it ever connected.
  r = cluster_.Cli({"agents", "revoke", "web05", "-o", "json"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_EQ(AgentState("web05"), "revoked");
  // Bad names are bad options.
  EXPECT_EQ(cluster_.Cli({"agents", "revoke", "../x"}).rc, 5);

  // Re-enrolled with a new key (a --replace token), the name is usable again; the old
  // certificate stays refused.
  r = Enroll(CreateToken({"--name", "web01", "--replace"}), StateDir("web01"));
  ASSERT_EQ(r.rc, 0) << r;
  cluster_.StopAgent("web01");
  auto fresh = StartEnrolled("web01", &cursor);
  ASSERT_NE(fresh, nullptr);
  EXPECT_EQ(AgentState("web01"), "connected");
  r = cluster_.Cli({"exec", "web01", "-o", "json", "--", "/bin/echo", "back"});
  EXPECT_EQ(r.rc, 0) << r;
}

TEST_F(EnrollTest, RenewalKeepsTheStreamAndRunningJobs) {
  // Seconds instead of 30 days, so that renewal (at two thirds of the lifetime) comes soon.
  ASSERT_TRUE(cluster_.StartController({"--agent-cert-lifetime", "6s"}));
  ASSERT_EQ(Enroll(CreateToken({"--name", "rn01"}), StateDir("rn01")).rc, 0);
  std::string first_cert = ReadFile(StateDir("rn01") + "/agent.crt");
  auto first = pki::ReadCertInfo(first_cert);
  ASSERT_TRUE(first.ok());
  EXPECT_LT(first->not_after - absl::Now(), absl::Seconds(7));

  size_t cursor = 0;
  auto agent = StartEnrolled("rn01", &cursor);
  ASSERT_NE(agent, nullptr);
  size_t ctl_cursor = cursor;

  // A job that runs until the test lets it finish, across the renewal.
  Fifo ready(cluster_.dir() + "/ready", Fifo::kFromJob);
  Fifo go(cluster_.dir() + "/go", Fifo::kToJob);
  std::string jid = cluster_.StartAsync(
      "rn01",
      {"/bin/sh", "-c", "echo up > " + ready.path() + "; read x < " + go.path() + "; echo $x"}, 60);
  ASSERT_FALSE(jid.empty());
  ASSERT_TRUE(ready.ReadLine()) << "the job never started";

  size_t agent_cursor = 0;
  auto renewed = agent->WaitStderr(Contains({"certificate renewed"}), &agent_cursor);
  ASSERT_TRUE(renewed) << agent->StderrText();
  EXPECT_TRUE(cluster_.controller()->WaitStderr(
      Contains({"renewed the certificate of agent 'rn01'"}), &ctl_cursor));
  std::string second_cert = ReadFile(StateDir("rn01") + "/agent.crt");
  auto second = pki::ReadCertInfo(second_cert);
  ASSERT_TRUE(second.ok());
  EXPECT_NE(second->serial_hex, first->serial_hex);
  EXPECT_GT(second->not_after, first->not_after);
  ExpectAgentLeaf(second_cert, "rn01");
  EXPECT_TRUE(
      pki::CheckKeyMatchesCert(second_cert, ReadFile(StateDir("rn01") + "/agent.key")).ok());
  struct stat st;
  ASSERT_EQ(::stat((StateDir("rn01") + "/agent.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // The job finishes normally, on the same stream.
  auto events = cluster_.FollowEvents(0);
  go.Send("survived");
  size_t ecursor = 0;
  auto finished = WaitEvent(
      events.get(),
      [&](const json& e) {
        return e.value("type", "") == "job_finished" && e.value("jid", "") == jid;
      },
      &ecursor);
  ASSERT_TRUE(finished) << events->StdoutText();
  EXPECT_EQ((*finished)["result"].value("stdout", ""), "survived") << *finished;
  for (const auto& l : agent->StderrLines()) {
    EXPECT_EQ(l.find("controller stream ended"), std::string::npos) << l;
  }
  for (const auto& e : cluster_.AllEvents()) {
    EXPECT_NE(e.value("type", ""), "agent_disconnected") << e;
  }

  // A restarted agent connects with the renewed files.
  agent.reset();
  size_t restart_cursor = cluster_.controller()->StderrLineCount();
  auto again = StartEnrolled("rn01", &restart_cursor);
  ASSERT_NE(again, nullptr);
}

// docs/SECURITY.md's CA rotation, step by step, with an enrolled agent that must be able to
// reconnect after every controller restart. The harness always passes PKI/ca.crt,
// controller.{crt,key} and (as the default CA key) ca.key, so each step rewrites those files.
TEST_F(EnrollTest, CaRotationNeverCutsAgentsOff) {
  const std::vector<std::string> lifetime = {"--agent-cert-lifetime", "20s"};
  ASSERT_TRUE(cluster_.StartController(lifetime));
  ASSERT_EQ(Enroll(CreateToken({"--name", "rot1"}), StateDir("rot1")).rc, 0);
  size_t cursor = 0;
  auto agent = StartEnrolled("rot1", &cursor);
  ASSERT_NE(agent, nullptr);

  const std::string pki = cluster_.pki_dir();
  const std::string next = cluster_.dir() + "/pki-new";
  CliResult r = cluster_.Cli({"pki", "init", "--dir", next});
  ASSERT_EQ(r.rc, 0) << r;
  const std::string old_ca = ReadFile(pki + "/ca.crt");
  const std::string new_ca = ReadFile(next + "/ca.crt");
  auto restart = [&](std::vector<std::string> flags) {
    size_t from = 0;
    flags.insert(flags.begin(), lifetime.begin(), lifetime.end());
    EXPECT_TRUE(cluster_.RestartController(flags));
    EXPECT_TRUE(cluster_.controller()->WaitStderr(Contains({"agent 'rot1' connected"}), &from))
        << "the agent did not reconnect:\n"
        << agent->StderrText();
  };

  // Step 2: trust both CAs, keep serving the old certificate, sign with the new CA.
  WriteFile(pki + "/ca.crt", old_ca + new_ca);
  restart({"--ca-key", next + "/ca.key"});
  size_t agent_cursor = agent->StderrLineCount();
  ASSERT_TRUE(agent->WaitStderr(Contains({"certificate renewed"}), &agent_cursor))
      << agent->StderrText();
  EXPECT_EQ(ReadFile(StateDir("rot1") + "/ca.crt"), old_ca + new_ca);
  EXPECT_TRUE(pki::VerifyCertificate(new_ca, ReadFile(StateDir("rot1") + "/agent.crt")).ok());

  // Step 4: serve the new CA's controller certificate.
  WriteFile(pki + "/controller.crt", ReadFile(next + "/controller.crt"));
  WriteFile(pki + "/controller.key", ReadFile(next + "/controller.key"), 0600);
  restart({"--ca-key", next + "/ca.key"});

  // Step 5: drop the old CA (operators use the new CA's admin certificate from now on).
  WriteFile(pki + "/ca.crt", new_ca);
  WriteFile(pki + "/admin.crt", ReadFile(next + "/admin.crt"));
  WriteFile(pki + "/admin.key", ReadFile(next + "/admin.key"), 0600);
  restart({"--ca-key", next + "/ca.key"});
  r = cluster_.Cli({"exec", "rot1", "-o", "json", "--", "/bin/echo", "rotated"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("\"stdout\":\"rotated\""), std::string::npos) << r;
}

}  // namespace
}  // namespace tachyon::itest
