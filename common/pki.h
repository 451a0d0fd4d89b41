#pragma once

// tachyon's PKI: a private CA that lives with the controller, and the leaf certificates it
// issues. Identity and role are carried in the leaf's SAN URI (tachyon://agent/NAME,
// tachyon://operator/NAME, tachyon://controller/controller); the controller trusts nothing else.
// All keys are EC P-256. Only OpenSSL 3 EVP-level APIs are used.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tachyon::pki {

enum class Role { kAgent, kOperator, kController };

// Who a certificate belongs to, as read from its SAN URI.
struct Identity {
  Role role;
  std::string name;
};

// "agent", "operator", "controller": the role segment of the SAN URI.
const char* RoleName(Role role);

// [A-Za-z0-9][A-Za-z0-9._-]{0,127}. Names become file names and URI path segments, so nothing
// that could escape a directory or a URI is allowed.
bool IsValidName(std::string_view name);

// The SAN URI for an identity, e.g. "tachyon://agent/web1".
std::string IdentityUri(Role role, const std::string& name);

struct InitOptions {
  std::string dir;
  // Extra SANs of the controller certificate; IPv4/IPv6 literals become IP SANs, the rest DNS.
  std::vector<std::string> sans = {"127.0.0.1", "localhost"};
  // Validity of the controller and admin certificates. The CA itself is valid for
  // max(days, kCaMinDays) so that it never expires before what it signed.
  int days = 825;
};

inline constexpr int kMaxDays = 36500;
inline constexpr int kCaMinDays = 3650;

// Creates DIR (0700) and DIR/ca.crt ca.key controller.crt controller.key admin.crt admin.key.
// Refuses (AlreadyExists) when DIR already holds a CA certificate or key.
absl::Status Init(const InitOptions& options);

// Issues a leaf for an agent (DIR/agents/NAME.crt/.key) or an operator
// (DIR/operators/NAME.crt/.key), signed by DIR/ca.crt + DIR/ca.key. Refuses (AlreadyExists) to
// overwrite an existing certificate or key for that name.
absl::Status Issue(const std::string& dir, Role role, const std::string& name, int days);

// A further controller certificate, for rotating the controller's own certificate under the
// same CA: DIR/controllers/NAME.crt/.key, SAN URI tachyon://controller/controller plus `sans`
// (IP literals or DNS names). Refuses (AlreadyExists) to overwrite.
absl::Status IssueController(const std::string& dir, const std::string& name,
                             const std::vector<std::string>& sans, int days);

// Path helpers so that the CLI, tests and the controller agree on the layout.
std::string IssuedCertPath(const std::string& dir, Role role, const std::string& name);
std::string IssuedKeyPath(const std::string& dir, Role role, const std::string& name);

// --- Lower level: for tests, and for signing CSRs at enrollment. ---

struct Validity {
  absl::Time not_before;
  absl::Time not_after;
};

// A fresh EC P-256 private key as PKCS#8 PEM ("BEGIN PRIVATE KEY").
absl::StatusOr<std::string> MakeKeyPem();

// The SubjectPublicKeyInfo PEM ("BEGIN PUBLIC KEY") of a private or public key PEM.
absl::StatusOr<std::string> PublicKeyPem(const std::string& key_pem);

// Signs a leaf certificate for `subject_key_pem` (a private or a public key PEM) with the given
// CA. `extra_sans` (IP literals or DNS names) are only allowed for the controller role.
absl::StatusOr<std::string> SignCertificate(const std::string& ca_cert_pem,
                                            const std::string& ca_key_pem,
                                            const std::string& subject_key_pem, Role role,
                                            const std::string& name, Validity validity,
                                            const std::vector<std::string>& extra_sans);

// Makes a self-signed CA (key PEM, cert PEM) with the given common name. Tests use it to build a
// foreign CA; Init uses it for the real one.
struct CaPems {
  std::string cert_pem;
  std::string key_pem;
};
absl::StatusOr<CaPems> MakeCa(const std::string& common_name, Validity validity);

// The identity in a certificate's SAN URI. Fails when there is no tachyon:// URI, more than one,
// or it is malformed. Does not verify the certificate: callers only trust it after the TLS
// handshake (or an explicit verification) has done so.
absl::StatusOr<Identity> IdentityFromCertPem(const std::string& cert_pem);

// Lowercase hex SHA-256 of the certificate's DER encoding.
absl::StatusOr<std::string> FingerprintSha256(const std::string& cert_pem);

// Verifies `cert_pem` against the single trusted `ca_cert_pem` at the current time, as a TLS
// handshake would (chain, signature, validity period). The error message says why it failed.
absl::Status VerifyCertificate(const std::string& ca_cert_pem, const std::string& cert_pem);

// Checks that `cert_pem` is a PEM certificate and `key_pem` the private key that matches it, so
// that a daemon fails at startup with a clear message instead of at its first handshake.
absl::Status CheckKeyMatchesCert(const std::string& cert_pem, const std::string& key_pem);

// Checks that `pem` holds at least one PEM certificate.
absl::Status CheckCertificatePem(const std::string& pem);

// --- Enrollment and renewal (CSRs, certificate facts, digests). ---

// A PKCS#10 request for `key_pem`, signed with it (proof of possession). `extensions` are
// OpenSSL config-style (name, value) pairs such as {"subjectAltName", "URI:tachyon://agent/x"};
// tachyon's own agents send none, and the controller ignores whatever a request asks for.
absl::StatusOr<std::string> MakeCsrPem(
    const std::string& key_pem, const std::string& common_name,
    const std::vector<std::pair<std::string, std::string>>& extensions = {});

// The public key (SubjectPublicKeyInfo PEM) of a CSR, after checking the CSR's self-signature
// and that the key is EC P-256. Nothing else of the request is used.
absl::StatusOr<std::string> PublicKeyFromCsrPem(const std::string& csr_pem);

// What a certificate says, for renewal timing, revocation checks and tests.
struct CertInfo {
  std::string serial_hex;  // lowercase hex, no leading zeros
  absl::Time not_before;
  absl::Time not_after;
  bool is_ca = false;             // basicConstraints CA:TRUE
  bool server_auth = false;       // extendedKeyUsage serverAuth (or no EKU at all)
  bool client_auth = false;       // extendedKeyUsage clientAuth (or no EKU at all)
  std::vector<std::string> sans;  // "URI:...", "DNS:...", "IP:..."
};
absl::StatusOr<CertInfo> ReadCertInfo(const std::string& cert_pem);

// Every PEM certificate in `pem` (a bundle), each re-encoded as PEM.
absl::StatusOr<std::vector<std::string>> SplitCertificates(const std::string& pem);

// Lowercase hex SHA-256 of arbitrary bytes.
std::string Sha256Hex(std::string_view data);

// `n` bytes from the CSPRNG.
absl::StatusOr<std::string> RandomBytes(size_t n);

}  // namespace tachyon::pki
