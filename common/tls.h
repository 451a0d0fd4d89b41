#pragma once

// mTLS for every gRPC edge: PEM files -> gRPC credentials, and the verified peer's identity.
// This is the only piece of common/ that includes gRPC headers (target tachyon_tls), so domain
// code that only needs pki::Identity never pays for them.

#include <grpcpp/security/auth_context.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/pki.h"

namespace tachyon::tls {

// Paths of the PEM files: the CA that peers must chain to, our certificate and its key.
struct Files {
  std::string ca;
  std::string cert;
  std::string key;
};

// Server credentials that request a client certificate and verify any that is presented (chain
// to `files.ca`, validity period, clientAuth usage) during the handshake; no plaintext. A client
// without a certificate completes the handshake with no identity (PeerIdentity is
// Unauthenticated): only EnrollService serves it, every other service refuses it. The CA
// certificates are sent after our own, so that an enrolling agent can pin the CA by fingerprint.
// Fails with a message naming the file when one is missing, unreadable or not the right PEM,
// or when the key does not match the certificate.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(const Files& files);

// Channel credentials presenting our certificate and verifying the server's against `files.ca`
// (and its name against the target host, as gRPC does by default).
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(const Files& files);

// The identity of the peer of a server call, from the SAN URI of the certificate the handshake
// verified. Never taken from a message. Unauthenticated when there is no verified certificate.
absl::StatusOr<pki::Identity> PeerIdentity(const grpc::AuthContext& auth);
// For grpc::CallbackServerContext::auth_context(); a null context is Unauthenticated.
absl::StatusOr<pki::Identity> PeerIdentity(const std::shared_ptr<const grpc::AuthContext>& auth);

// The PEM of the verified peer certificate (for serial and validity checks); Unauthenticated
// when there is none.
absl::StatusOr<std::string> PeerCertificatePem(const grpc::AuthContext& auth);

}  // namespace tachyon::tls
