#pragma once

// The controller's side of enrollment, renewal and revocation (issue 8), as plain domain code:
// tokens (only a hash of the secret is stored), signing agent CSRs with the CA, and the
// revocation check every agent stream passes at its start. The gRPC edges (enroll_service,
// agent_service, control_service) call it; it never sees a gRPC type.

#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controller/store/store.h"

namespace tachyon::controller {

struct CertAuthorityOptions {
  // Every CA certificate the controller trusts (what an enrolled agent stores as ca.crt).
  std::string ca_bundle_pem;
  // The CA that signs (the bundle's certificate that matches ca_key_pem). Empty key: this
  // controller cannot sign, so enrollment and renewal are refused (revocation still works).
  std::string ca_cert_pem;
  std::string ca_key_pem;
  // The CA that signed the controller's own serving certificate: tokens pin it, because an
  // enrolling agent checks the controller's certificate against it (during a CA rotation this
  // is the old CA while the new one already signs). Empty: ca_cert_pem.
  std::string server_ca_pem;
  // Lifetime of the agent certificates it signs. Agents renew at two thirds of it.
  absl::Duration agent_cert_lifetime = absl::Hours(24 * 30);
};

class CertAuthority {
 public:
  using Options = CertAuthorityOptions;
  CertAuthority(store::Store* store, Options options)
      : store_(store), options_(std::move(options)) {}

  bool can_sign() const { return !options_.ca_key_pem.empty(); }

  struct TokenRequest {
    std::string name;  // bound name, or empty
    absl::Duration ttl = absl::Hours(1);
    int64_t uses = 1;
    bool replace = false;
  };
  struct NewToken {
    std::string token;  // the text to hand to `tachyon-agent enroll --token`
    std::string id;
    absl::Time expires;
  };
  absl::StatusOr<NewToken> CreateToken(const TokenRequest& request);

  struct Issued {
    std::string name;
    std::string cert_pem;
    std::string ca_pem;  // the trusted bundle
  };
  // Checks the token (secret, expiry, uses, bound name, existing name without --replace), takes
  // one use and signs the CSR's public key for the token's name. PermissionDenied on refusal.
  absl::StatusOr<Issued> Enroll(const std::string& token, const std::string& requested_name,
                                const std::string& csr_pem);
  // Signs the CSR's public key for `name`, the identity of an authenticated, unrevoked stream.
  absl::StatusOr<Issued> Renew(const std::string& name, const std::string& csr_pem);

  // Refuses every certificate of `name` issued before now.
  absl::Status Revoke(const std::string& name);
  // PermissionDenied when `name` is revoked and `cert_pem` was not issued by this controller
  // after the revocation (i.e. a re-enrollment with --replace).
  absl::Status CheckAgent(const std::string& name, const std::string& cert_pem);
  // Names revoked and not re-enrolled since (for `tachyon agents ls`).
  absl::StatusOr<std::set<std::string>> RevokedNames();

 private:
  absl::StatusOr<Issued> Sign(const std::string& name, const std::string& csr_pem, const char* via);

  store::Store* store_;
  const Options options_;
};

}  // namespace tachyon::controller
