#include "common/tls.h"

#include <dlfcn.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/stub_options.h>
#include <openssl/ssl.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/fs.h"
#include "common/pki.h"
#include "common/ssl_tuning.h"
#include "gtest/gtest.h"

namespace tachyon::tls {
namespace {

constexpr char kMethod[] = "/tachyon.test.Echo/WhoAmI";

// Answers every call with "ROLE/NAME" of the verified peer certificate, so the client side of a
// test sees exactly what PeerIdentity returned on the server.
class WhoAmIService : public grpc::CallbackGenericService {
 public:
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override {
    return new Reactor(ctx);
  }

 private:
  class Reactor : public grpc::ServerGenericBidiReactor {
   public:
    explicit Reactor(grpc::GenericCallbackServerContext* ctx) {
      absl::StatusOr<pki::Identity> id = PeerIdentity(ctx->auth_context());
      if (!id.ok()) {
        Finish(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, std::string(id.status().message())));
        return;
      }
      reply_ = absl::StrCat(pki::RoleName(id->role), "/", id->name);
      StartRead(&request_);
    }
    void OnReadDone(bool ok) override {
      if (!ok) {
        Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no request"));
        return;
      }
      grpc::Slice slice(reply_);
      response_ = grpc::ByteBuffer(&slice, 1);
      StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK);
    }
    void OnDone() override { delete this; }

   private:
    std::string reply_;
    grpc::ByteBuffer request_;
    grpc::ByteBuffer response_;
  };
};

std::string MustRead(const std::string& path) {
  absl::StatusOr<std::string> data = ReadFile(path);
  EXPECT_TRUE(data.ok()) << data.status();
  return data.ok() ? *data : std::string();
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tachyon-tls-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    pki_ = root_ + "/pki";
    pki::InitOptions opts;
    opts.dir = pki_;
    ASSERT_TRUE(pki::Init(opts).ok());
    ASSERT_TRUE(pki::Issue(pki_, pki::Role::kOperator, "alice", 1).ok());
    ASSERT_TRUE(pki::Issue(pki_, pki::Role::kAgent, "web1", 1).ok());
  }

  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
    server_.reset();
    ASSERT_TRUE(RemoveTree(root_).ok());
  }

  Files ServerFiles() {
    return {pki_ + "/ca.crt", pki_ + "/controller.crt", pki_ + "/controller.key"};
  }
  Files AdminFiles() { return {pki_ + "/ca.crt", pki_ + "/admin.crt", pki_ + "/admin.key"}; }

  void StartServer(const Files& files) {
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> creds = ServerCredentials(files);
    ASSERT_TRUE(creds.ok()) << creds.status();
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", *creds, &port);
    builder.RegisterCallbackGenericService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_TRUE(server_);
    ASSERT_GT(port, 0);
    target_ = absl::StrCat("127.0.0.1:", port);
  }

  // Writes a key and certificate pair under the temp dir and returns client Files for it.
  Files WriteClient(const std::string& stem, const std::string& cert, const std::string& key,
                    const std::string& ca_path = "") {
    EXPECT_TRUE(WriteFileAtomic(root_ + "/" + stem + ".crt", cert, 0644).ok());
    EXPECT_TRUE(WriteFileAtomic(root_ + "/" + stem + ".key", key, 0600).ok());
    return {ca_path.empty() ? pki_ + "/ca.crt" : ca_path, root_ + "/" + stem + ".crt",
            root_ + "/" + stem + ".key"};
  }

  // One call on a fresh channel (so each call does its own handshake): "ROLE/NAME" or the error.
  absl::StatusOr<std::string> Call(const std::shared_ptr<grpc::ChannelCredentials>& creds) {
    std::shared_ptr<grpc::Channel> channel = grpc::CreateChannel(target_, creds);
    grpc::GenericStub stub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Slice slice(std::string("ping"));
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer response;
    grpc::Status status;
    absl::Notification done;
    stub.UnaryCall(&ctx, kMethod, grpc::StubOptions(), &request, &response, [&](grpc::Status s) {
      status = std::move(s);
      done.Notify();
    });
    done.WaitForNotification();
    if (!status.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                          status.error_message());
    }
    std::vector<grpc::Slice> slices;
    EXPECT_TRUE(response.Dump(&slices).ok());
    std::string out;
    for (const grpc::Slice& s : slices)
      out.append(reinterpret_cast<const char*>(s.begin()), s.size());
    return out;
  }

  absl::StatusOr<std::string> CallWith(const Files& files) {
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds = ChannelCredentials(files);
    if (!creds.ok()) return creds.status();
    return Call(*creds);
  }

  // After every refused peer, a good one must still get through: a bad handshake must not take
  // the server down or wedge it.
  void ExpectStillServing() {
    absl::StatusOr<std::string> who = CallWith(AdminFiles());
    ASSERT_TRUE(who.ok()) << who.status();
    EXPECT_EQ(*who, "operator/admin");
  }

  std::string root_;
  std::string pki_;
  std::string target_;
  WhoAmIService service_;
  std::unique_ptr<grpc::Server> server_;
};

// The daemons link common/ssl_tuning.cc; so does this test, so that every handshake below runs
// with it.
TEST(SslTuningTest, EverySslObjectReleasesItsBuffersWhenIdle) {
  EXPECT_TRUE(SslTuningActive());
  // libgrpc's calls bind to the process-wide first definition: ours, when it is exported.
  EXPECT_EQ(::dlsym(RTLD_DEFAULT, "SSL_new"), reinterpret_cast<void*>(&SSL_new));
}

TEST_F(TlsTest, ValidCertsConnectAndPeerIdentityComesFromTheCertificate) {
  StartServer(ServerFiles());
  ExpectStillServing();
  absl::StatusOr<std::string> who =
      CallWith({pki_ + "/ca.crt", pki_ + "/operators/alice.crt", pki_ + "/operators/alice.key"});
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_EQ(*who, "operator/alice");
  who = CallWith({pki_ + "/ca.crt", pki_ + "/agents/web1.crt", pki_ + "/agents/web1.key"});
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_EQ(*who, "agent/web1");
}

TEST_F(TlsTest, ClientWithoutCertificateIsRefused) {
  StartServer(ServerFiles());
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = MustRead(pki_ + "/ca.crt");
  absl::StatusOr<std::string> who = Call(grpc::SslCredentials(options));
  EXPECT_FALSE(who.ok()) << *who;
  ExpectStillServing();
}

TEST_F(TlsTest, ClientCertFromAnotherCaIsRefused) {
  StartServer(ServerFiles());
  absl::Time now = absl::Now();
  pki::Validity v{now - absl::Hours(1), now + absl::Hours(24)};
  // Same subject name as the real CA: only the key tells them apart.
  absl::StatusOr<pki::CaPems> other = pki::MakeCa("tachyon CA", v);
  ASSERT_TRUE(other.ok());
  absl::StatusOr<std::string> key = pki::MakeKeyPem();
  ASSERT_TRUE(key.ok());
  absl::StatusOr<std::string> cert = pki::SignCertificate(other->cert_pem, other->key_pem, *key,
                                                          pki::Role::kOperator, "admin", v, {});
  ASSERT_TRUE(cert.ok());
  absl::StatusOr<std::string> who = CallWith(WriteClient("forged", *cert, *key));
  EXPECT_FALSE(who.ok()) << *who;
  ExpectStillServing();
}

TEST_F(TlsTest, ExpiredClientCertIsRefused) {
  StartServer(ServerFiles());
  absl::Time now = absl::Now();
  absl::StatusOr<std::string> key = pki::MakeKeyPem();
  ASSERT_TRUE(key.ok());
  absl::StatusOr<std::string> cert = pki::SignCertificate(
      MustRead(pki_ + "/ca.crt"), MustRead(pki_ + "/ca.key"), *key, pki::Role::kOperator, "old",
      {now - absl::Hours(48), now - absl::Hours(1)}, {});
  ASSERT_TRUE(cert.ok());
  absl::StatusOr<std::string> who = CallWith(WriteClient("expired", *cert, *key));
  EXPECT_FALSE(who.ok()) << *who;
  ExpectStillServing();
}

TEST_F(TlsTest, PlaintextClientIsRefused) {
  StartServer(ServerFiles());
  absl::StatusOr<std::string> who = Call(grpc::InsecureChannelCredentials());
  EXPECT_FALSE(who.ok()) << *who;
  ExpectStillServing();
}

TEST_F(TlsTest, ClientRefusesServerFromAnotherCa) {
  StartServer(ServerFiles());
  absl::Time now = absl::Now();
  absl::StatusOr<pki::CaPems> other =
      pki::MakeCa("tachyon CA", {now - absl::Hours(1), now + absl::Hours(24)});
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(WriteFileAtomic(root_ + "/other-ca.crt", other->cert_pem, 0644).ok());
  Files files = AdminFiles();
  files.ca = root_ + "/other-ca.crt";
  EXPECT_FALSE(CallWith(files).ok());
  ExpectStillServing();
}

TEST_F(TlsTest, ClientRefusesExpiredServerCert) {
  absl::Time now = absl::Now();
  absl::StatusOr<std::string> key = pki::MakeKeyPem();
  ASSERT_TRUE(key.ok());
  absl::StatusOr<std::string> cert = pki::SignCertificate(
      MustRead(pki_ + "/ca.crt"), MustRead(pki_ + "/ca.key"), *key, pki::Role::kController,
      "controller", {now - absl::Hours(48), now - absl::Hours(1)}, {"127.0.0.1"});
  ASSERT_TRUE(cert.ok());
  StartServer(WriteClient("expired-server", *cert, *key));
  EXPECT_FALSE(CallWith(AdminFiles()).ok());
}

TEST_F(TlsTest, ClientRefusesAgentCertActingAsServer) {
  // A stolen agent key must not let its holder impersonate the controller: an agent certificate
  // names no host and lacks serverAuth, and either is enough for the client to refuse it.
  StartServer({pki_ + "/ca.crt", pki_ + "/agents/web1.crt", pki_ + "/agents/web1.key"});
  auto creds = ChannelCredentials(AdminFiles());
  ASSERT_TRUE(creds.ok());
  EXPECT_FALSE(Call(*creds).ok());
}

TEST_F(TlsTest, CredentialErrorsNameTheFile) {
  Files files = AdminFiles();
  files.cert = root_ + "/missing.crt";
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds = ChannelCredentials(files);
  ASSERT_FALSE(creds.ok());
  EXPECT_TRUE(absl::StrContains(creds.status().message(), root_ + "/missing.crt"))
      << creds.status();

  files = ServerFiles();
  files.key = pki_ + "/admin.key";  // a key that belongs to another certificate
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> server = ServerCredentials(files);
  ASSERT_FALSE(server.ok());
  EXPECT_TRUE(absl::StrContains(server.status().message(), "does not match")) << server.status();
  EXPECT_TRUE(absl::StrContains(server.status().message(), files.key)) << server.status();

  files = ServerFiles();
  files.ca = pki_ + "/ca.key";  // not a certificate
  server = ServerCredentials(files);
  ASSERT_FALSE(server.ok());
  EXPECT_TRUE(absl::StrContains(server.status().message(), files.ca)) << server.status();

  files.ca = "";
  EXPECT_EQ(ServerCredentials(files).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tachyon::tls
