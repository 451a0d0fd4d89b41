#include "common/tls.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "common/status.h"

namespace tachyon::tls {
namespace {

// PEM files are small; anything bigger is not what the user meant to pass.
constexpr size_t kMaxPemBytes = 1u << 20;

struct Pems {
  std::string ca;
  std::string cert;
  std::string key;
};

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* what) {
  if (path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("no ", what, " file given"));
  }
  absl::StatusOr<std::string> data = ReadFile(path, kMaxPemBytes);
  if (!data.ok()) {
    return absl::Status(data.status().code(),
                        absl::StrCat("cannot read the ", what, " file: ", data.status().message()));
  }
  return data;
}

// Reads and checks all three files up front: gRPC would otherwise accept garbage here and only
// fail each handshake later, with a message that names no file.
absl::StatusOr<Pems> Load(const Files& files) {
  Pems pems;
  ASSIGN_OR_RETURN(pems.ca, ReadPem(files.ca, "CA certificate"));
  ASSIGN_OR_RETURN(pems.cert, ReadPem(files.cert, "certificate"));
  ASSIGN_OR_RETURN(pems.key, ReadPem(files.key, "key"));
  if (absl::Status st = pki::CheckCertificatePem(pems.ca); !st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("CA certificate file ", files.ca, " is not a PEM certificate"));
  }
  if (absl::Status st = pki::CheckKeyMatchesCert(pems.cert, pems.key); !st.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("certificate ", files.cert, " and key ",
                                                   files.key, ": ", st.message()));
  }
  return pems;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(const Files& files) {
  ASSIGN_OR_RETURN(Pems pems, Load(files));
  // The handshake rejects a peer whose certificate does not chain to our CA (or is expired, or
  // lacks clientAuth usage). A peer with no certificate at all gets through the handshake so
  // that it can enroll; every service but EnrollService refuses it (PeerIdentity fails).
  grpc::SslServerCredentialsOptions options(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  std::string chain = pems.cert;
  if (!chain.empty() && chain.back() != '\n') chain.push_back('\n');
  chain += pems.ca;
  options.pem_root_certs = std::move(pems.ca);
  options.pem_key_cert_pairs.push_back({std::move(pems.key), std::move(chain)});
  std::shared_ptr<grpc::ServerCredentials> creds = grpc::SslServerCredentials(options);
  if (!creds) return absl::InternalError("grpc::SslServerCredentials failed");
  return creds;
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(const Files& files) {
  ASSIGN_OR_RETURN(Pems pems, Load(files));
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = std::move(pems.ca);
  options.pem_private_key = std::move(pems.key);
  options.pem_cert_chain = std::move(pems.cert);
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::SslCredentials(options);
  if (!creds) return absl::InternalError("grpc::SslCredentials failed");
  return creds;
}

absl::StatusOr<pki::Identity> PeerIdentity(const grpc::AuthContext& auth) {
  if (!auth.IsPeerAuthenticated()) {
    return absl::UnauthenticatedError("the peer presented no verified certificate");
  }
  std::vector<grpc::string_ref> pems = auth.FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (pems.size() != 1) {
    return absl::UnauthenticatedError("the peer's certificate is not available");
  }
  return pki::IdentityFromCertPem(std::string(pems[0].data(), pems[0].size()));
}

absl::StatusOr<std::string> PeerCertificatePem(const grpc::AuthContext& auth) {
  if (!auth.IsPeerAuthenticated()) {
    return absl::UnauthenticatedError("the peer presented no verified certificate");
  }
  std::vector<grpc::string_ref> pems = auth.FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (pems.size() != 1) {
    return absl::UnauthenticatedError("the peer's certificate is not available");
  }
  return std::string(pems[0].data(), pems[0].size());
}

absl::StatusOr<pki::Identity> PeerIdentity(const std::shared_ptr<const grpc::AuthContext>& auth) {
  if (!auth) return absl::UnauthenticatedError("the call has no authentication context");
  return PeerIdentity(*auth);
}

}  // namespace tachyon::tls
