#include "agent/enroll.h"

#include <grpcpp/grpcpp.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "common/enroll_token.h"
#include "common/fs.h"
#include "common/limits.h"
#include "common/pki.h"
#include "common/status.h"
#include "tachyon/v1/agent.grpc.pb.h"

namespace tachyon::agent {
namespace {

namespace v1 = tachyon::v1;

constexpr int kHandshakeTimeoutSeconds = 20;

std::string Join(const std::string& dir, const char* file) { return absl::StrCat(dir, "/", file); }

// The certificates the controller sends in its TLS handshake (its own, then its CA bundle),
// fetched without trusting anything yet: the caller picks the CA out of them by fingerprint.
absl::StatusOr<std::vector<std::string>> FetchServerChain(const std::string& address) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        SSL_CTX_free);
  if (!ctx) return absl::InternalError("SSL_CTX_new failed");
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  std::unique_ptr<BIO, decltype(&BIO_free_all)> bio(BIO_new_ssl_connect(ctx.get()), BIO_free_all);
  if (!bio) return absl::InternalError("BIO_new_ssl_connect failed");
  BIO_set_conn_hostname(bio.get(), address.c_str());
  SSL* ssl = nullptr;
  BIO_get_ssl(bio.get(), &ssl);
  if (ssl == nullptr) return absl::InternalError("BIO_get_ssl failed");
  std::string host = address.substr(0, address.rfind(':'));
  if (!host.empty() && host.front() == '[') host = host.substr(1, host.size() - 2);
  SSL_set_tlsext_host_name(ssl, host.c_str());
  static const unsigned char kAlpn[] = {2, 'h', '2'};
  SSL_set_alpn_protos(ssl, kAlpn, sizeof(kAlpn));
  if (BIO_do_connect(bio.get()) <= 0) {
    ERR_clear_error();
    return absl::UnavailableError(absl::StrCat("cannot connect to the controller at ", address));
  }
  int fd = -1;
  BIO_get_fd(bio.get(), &fd);
  if (fd >= 0) {
    struct timeval tv = {kHandshakeTimeoutSeconds, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  }
  if (BIO_do_handshake(bio.get()) <= 0) {
    ERR_clear_error();
    return absl::UnavailableError(
        absl::StrCat("TLS handshake with the controller at ", address, " failed"));
  }
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);  // client side: the leaf first
  std::vector<std::string> out;
  for (int i = 0; chain != nullptr && i < sk_X509_num(chain); ++i) {
    std::unique_ptr<BIO, decltype(&BIO_free_all)> mem(BIO_new(BIO_s_mem()), BIO_free_all);
    if (!mem || !PEM_write_bio_X509(mem.get(), sk_X509_value(chain, i))) continue;
    char* data = nullptr;
    long len = BIO_get_mem_data(mem.get(), &data);
    out.emplace_back(data, static_cast<size_t>(len));
  }
  SSL_shutdown(ssl);
  ERR_clear_error();
  if (out.empty()) return absl::UnavailableError("the controller sent no certificate");
  return out;
}

// The pinned CA: a certificate of the controller's chain whose fingerprint is the token's, and
// that the controller's own certificate chains to.
absl::StatusOr<std::string> PinnedCa(const std::string& address, const std::string& pin) {
  ASSIGN_OR_RETURN(std::vector<std::string> chain, FetchServerChain(address));
  for (size_t i = 1; i < chain.size(); ++i) {
    auto candidate = enroll::CaPin(chain[i]);
    if (!candidate.ok() || *candidate != pin) continue;
    if (absl::Status st = pki::VerifyCertificate(chain[i], chain[0]); !st.ok()) {
      return absl::PermissionDeniedError(absl::StrCat(
          "the controller's certificate does not chain to the pinned CA: ", st.message()));
    }
    return chain[i];
  }
  return absl::PermissionDeniedError(
      absl::StrCat("the controller at ", address,
                   " does not present the CA this token was made for (fingerprint mismatch): "
                   "refusing to send the token"));
}

struct EnrollFlags {
  std::string controller;
  std::string token;
  std::string state_dir;
  std::string name;
};

absl::Status Enroll(const EnrollFlags& flags, std::string* enrolled_name) {
  ASSIGN_OR_RETURN(enroll::Token token, enroll::ParseToken(flags.token));
  ASSIGN_OR_RETURN(std::string ca_pem, PinnedCa(flags.controller, token.ca_pin));
  ASSIGN_OR_RETURN(std::string key_pem, pki::MakeKeyPem());
  ASSIGN_OR_RETURN(std::string csr_pem, pki::MakeCsrPem(key_pem, flags.name));

  // From here on the server is verified against the pinned CA (and its name against the
  // address, as gRPC does), so the token goes only to the real controller.
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ca_pem;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(static_cast<int>(kMaxMessageBytes));
  auto channel = grpc::CreateCustomChannel(flags.controller, grpc::SslCredentials(options), args);
  auto stub = v1::EnrollService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::EnrollRequest req;
  req.set_token(flags.token);
  req.set_csr_pem(csr_pem);
  req.set_requested_name(flags.name);
  v1::EnrollResponse resp;
  grpc::Status st = stub->Enroll(&ctx, req, &resp);
  if (!st.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(st.error_code()), st.error_message());
  }
  // Trust but verify: the certificate is for our key, from the pinned CA, and an agent's.
  RETURN_IF_ERROR(pki::CheckKeyMatchesCert(resp.cert_pem(), key_pem));
  RETURN_IF_ERROR(pki::VerifyCertificate(ca_pem, resp.cert_pem()));
  ASSIGN_OR_RETURN(pki::Identity id, pki::IdentityFromCertPem(resp.cert_pem()));
  if (id.role != pki::Role::kAgent) {
    return absl::PermissionDeniedError(
        "the controller issued a certificate that is not an agent's");
  }
  std::string bundle = resp.ca_pem().empty() ? ca_pem : resp.ca_pem();
  if (!pki::CheckCertificatePem(bundle).ok()) bundle = ca_pem;

  RETURN_IF_ERROR(MakeDirs(flags.state_dir, 0700));
  EnrolledFiles files = EnrolledFilesIn(flags.state_dir);
  RETURN_IF_ERROR(WriteFileAtomic(files.tls.ca, bundle, 0644));
  RETURN_IF_ERROR(InstallCertificate(files.tls, key_pem, resp.cert_pem(), ""));
  RETURN_IF_ERROR(WriteFileAtomic(files.controller, flags.controller + "\n", 0644));
  *enrolled_name = id.name;
  return absl::OkStatus();
}

}  // namespace

EnrolledFiles EnrolledFilesIn(const std::string& state_dir) {
  return {{Join(state_dir, "ca.crt"), Join(state_dir, "agent.crt"), Join(state_dir, "agent.key")},
          Join(state_dir, "controller")};
}

bool IsEnrolled(const std::string& state_dir) {
  EnrolledFiles f = EnrolledFilesIn(state_dir);
  return PathExists(f.tls.cert) && PathExists(f.tls.key) && PathExists(f.tls.ca);
}

std::string SavedControllerAddress(const std::string& state_dir) {
  auto data = ReadFile(EnrolledFilesIn(state_dir).controller, 4096);
  if (!data.ok()) return "";
  std::string s = *data;
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

absl::Status RecoverInterruptedRenewal(const tls::Files& files) {
  std::string pending = files.cert + ".new";
  if (!PathExists(pending)) return absl::OkStatus();
  auto key = ReadFile(files.key, 1 << 20);
  auto cert = ReadFile(files.cert, 1 << 20);
  auto fresh = ReadFile(pending, 1 << 20);
  if (key.ok() && cert.ok() && pki::CheckKeyMatchesCert(*cert, *key).ok()) {
    ::unlink(pending.c_str());  // the renewal never got as far as the key
    return absl::OkStatus();
  }
  if (key.ok() && fresh.ok() && pki::CheckKeyMatchesCert(*fresh, *key).ok()) {
    if (::rename(pending.c_str(), files.cert.c_str()) != 0) {
      return ErrnoStatus(errno, "rename " + pending);
    }
  }
  return absl::OkStatus();
}

absl::Status InstallCertificate(const tls::Files& files, const std::string& key_pem,
                                const std::string& cert_pem, const std::string& ca_pem) {
  RETURN_IF_ERROR(pki::CheckKeyMatchesCert(cert_pem, key_pem));
  std::string pending = files.cert + ".new";
  RETURN_IF_ERROR(WriteFileAtomic(pending, cert_pem, 0644));
  RETURN_IF_ERROR(WriteFileAtomic(files.key, key_pem, 0600));
  if (::rename(pending.c_str(), files.cert.c_str()) != 0) {
    return ErrnoStatus(errno, "rename " + pending);
  }
  if (!ca_pem.empty() && pki::CheckCertificatePem(ca_pem).ok()) {
    auto current = ReadFile(files.ca, 1 << 20);
    if (!current.ok() || *current != ca_pem)
      RETURN_IF_ERROR(WriteFileAtomic(files.ca, ca_pem, 0644));
  }
  return absl::OkStatus();
}

bool ResolveEnrolledFiles(const std::string& state_dir, std::string* controller, tls::Files* tls,
                          bool controller_given) {
  EnrolledFiles enrolled = EnrolledFilesIn(state_dir);
  bool any_given = !tls->ca.empty() || !tls->cert.empty() || !tls->key.empty();
  if (tls->ca.empty()) tls->ca = enrolled.tls.ca;
  if (tls->cert.empty()) tls->cert = enrolled.tls.cert;
  if (tls->key.empty()) tls->key = enrolled.tls.key;
  if (!any_given && !IsEnrolled(state_dir)) {
    std::cerr << "agent: no certificate: give --ca, --cert and --key, or enroll first with "
                 "`tachyon-agent enroll --controller HOST:PORT --token TOKEN --state-dir "
              << state_dir << "`\n";
    return false;
  }
  if (!controller_given) {
    std::string saved = SavedControllerAddress(state_dir);
    if (!saved.empty()) *controller = saved;
  }
  if (absl::Status st = RecoverInterruptedRenewal(*tls); !st.ok()) {
    std::cerr << "agent: recovering an interrupted certificate renewal: " << st.message() << "\n";
  }
  return true;
}

int EnrollMain(int argc, char** argv) {
  CLI::App app{
      "tachyon-agent enroll: make this host's key, and have the controller sign it with a "
      "one-time token"};
  EnrollFlags flags;
  app.add_option("--controller", flags.controller, "controller HOST:PORT")->required();
  app.add_option("--token", flags.token, "token from `tachyon token create`")->required();
  app.add_option("--state-dir", flags.state_dir, "the agent's state dir (receives the key)")
      ->required();
  app.add_option("--name", flags.name,
                 "this agent's name, for a token bound to none (a bound token names it)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 5;
  }
  std::string name;
  // Our own reference on gRPC around the channel's whole life: the channel's teardown ends on
  // gRPC's threads, and grpc_shutdown_blocking waits for it, so none of it (a TLS session, say)
  // is still in flight when the process exits. LeakSanitizer once caught one there.
  grpc_init();
  absl::Status st = Enroll(flags, &name);
  grpc_shutdown_blocking();
  if (!st.ok()) {
    std::cerr << "tachyon-agent enroll: " << st.message() << "\n";
    return absl::IsInvalidArgument(st) ? 5 : 1;
  }
  std::cout << "enrolled as agent '" << name << "'; start it with: tachyon-agent --state-dir "
            << flags.state_dir << "\n";
  return 0;
}

}  // namespace tachyon::agent
