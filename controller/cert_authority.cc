#include "controller/cert_authority.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/enroll_token.h"
#include "common/log.h"
#include "common/pki.h"
#include "common/status.h"

namespace tachyon::controller {
namespace {

constexpr int64_t kMaxUses = 100000;
constexpr absl::Duration kMaxTtl = absl::Hours(24 * 365);

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// Constant-time comparison of two hex digests, so that timing says nothing about the secret.
bool DigestsEqual(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

absl::Status Refused(const std::string& why) { return absl::PermissionDeniedError(why); }

}  // namespace

absl::StatusOr<CertAuthority::NewToken> CertAuthority::CreateToken(const TokenRequest& request) {
  if (!request.name.empty() && !pki::IsValidName(request.name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid agent name \"", request.name,
        "\": use 1-128 characters from [A-Za-z0-9._-], starting with a letter or digit"));
  }
  if (request.name == "localhost") {
    return absl::InvalidArgumentError("\"localhost\" is the controller's own host, not an agent");
  }
  if (request.ttl <= absl::ZeroDuration() || request.ttl > kMaxTtl) {
    return absl::InvalidArgumentError("--ttl must be positive and at most 8760h");
  }
  if (request.uses < 1 || request.uses > kMaxUses) {
    return absl::InvalidArgumentError(absl::StrCat("--uses must be between 1 and ", kMaxUses));
  }
  if (!can_sign()) {
    return absl::FailedPreconditionError(
        "this controller has no CA key (--ca-key), so it cannot enroll agents");
  }
  ASSIGN_OR_RETURN(enroll::Token token,
                   enroll::NewToken(options_.server_ca_pem.empty() ? options_.ca_cert_pem
                                                                   : options_.server_ca_pem));
  store::TokenRecord record;
  record.id = token.id;
  record.secret_sha256 = pki::Sha256Hex(token.secret);
  record.name = request.name;
  record.replace = request.replace;
  record.uses_left = request.uses;
  record.created = absl::Now();
  record.expires = record.created + request.ttl;
  RETURN_IF_ERROR(store_->CreateToken(record));
  TLOG(Info) << "enrollment token " << token.id << " created"
             << (request.name.empty() ? std::string() : " for '" + request.name + "'") << ", "
             << request.uses << " use(s), expires " << Rfc3339(record.expires)
             << (request.replace ? ", may replace an existing agent" : "");
  return NewToken{enroll::FormatToken(token), token.id, record.expires};
}

absl::StatusOr<CertAuthority::Issued> CertAuthority::Enroll(const std::string& token_text,
                                                            const std::string& requested_name,
                                                            const std::string& csr_pem) {
  if (!can_sign()) {
    return absl::FailedPreconditionError("this controller has no CA key; it cannot enroll agents");
  }
  auto token = enroll::ParseToken(token_text);
  if (!token.ok()) return Refused("enrollment refused: malformed token");
  ASSIGN_OR_RETURN(auto record, store_->GetToken(token->id));
  if (!record || !DigestsEqual(record->secret_sha256, pki::Sha256Hex(token->secret))) {
    return Refused("enrollment refused: unknown token");
  }
  absl::Time now = absl::Now();
  if (record->expires <= now) return Refused("enrollment refused: the token has expired");
  if (record->uses_left <= 0) return Refused("enrollment refused: the token was already used");
  std::string name = record->name;
  if (name.empty()) {
    name = requested_name;
  } else if (!requested_name.empty() && requested_name != name) {
    return Refused(absl::StrCat("enrollment refused: the token is bound to another name than '",
                                requested_name, "'"));
  }
  if (name.empty()) {
    return absl::InvalidArgumentError(
        "this token is bound to no name: give the agent's name (tachyon-agent enroll --name)");
  }
  if (!pki::IsValidName(name) || name == "localhost") {
    return absl::InvalidArgumentError(absl::StrCat("invalid agent name \"", name, "\""));
  }
  // A name that exists (seen connected, issued a certificate, or revoked) belongs to someone:
  // taking it over with a new key needs a token made with --replace (Salt's "denied" keys).
  if (!record->replace) {
    ASSIGN_OR_RETURN(auto agent, store_->GetAgent(name));
    ASSIGN_OR_RETURN(auto issued, store_->LatestIssuedCert(name));
    ASSIGN_OR_RETURN(auto revoked, store_->GetRevocation(name));
    if (agent || issued || revoked) {
      return Refused(absl::StrCat("enrollment refused: agent '", name,
                                  "' already exists; re-enrolling it with a new key needs a token "
                                  "made with `tachyon token create --name ",
                                  name, " --replace`"));
    }
  }
  // Check the CSR before the use is taken, so that a broken request does not burn the token.
  RETURN_IF_ERROR(pki::PublicKeyFromCsrPem(csr_pem).status());
  ASSIGN_OR_RETURN(bool used, store_->UseToken(record->id, now));
  if (!used) return Refused("enrollment refused: the token was already used or has expired");
  ASSIGN_OR_RETURN(Issued issued, Sign(name, csr_pem, "enroll"));
  TLOG(Info) << "enrolled agent '" << name << "' with token " << record->id;
  return issued;
}

absl::StatusOr<CertAuthority::Issued> CertAuthority::Renew(const std::string& name,
                                                           const std::string& csr_pem) {
  if (!can_sign()) {
    return absl::FailedPreconditionError("this controller has no CA key; it cannot renew");
  }
  ASSIGN_OR_RETURN(Issued issued, Sign(name, csr_pem, "renew"));
  TLOG(Info) << "renewed the certificate of agent '" << name << "'";
  return issued;
}

absl::StatusOr<CertAuthority::Issued> CertAuthority::Sign(const std::string& name,
                                                          const std::string& csr_pem,
                                                          const char* via) {
  // Only the public key is taken from the request: name, SANs, CA:FALSE, clientAuth-only usage
  // and lifetime are ours.
  ASSIGN_OR_RETURN(std::string public_key, pki::PublicKeyFromCsrPem(csr_pem));
  absl::Time now = absl::Now();
  absl::Duration lifetime = options_.agent_cert_lifetime;
  // Backdated for peers whose clocks run a little behind, but never by a large share of a short
  // lifetime (tests use seconds).
  absl::Duration backdate = std::min(absl::Minutes(5), lifetime / 10);
  pki::Validity validity{now - backdate, now + lifetime};
  ASSIGN_OR_RETURN(std::string cert,
                   pki::SignCertificate(options_.ca_cert_pem, options_.ca_key_pem, public_key,
                                        pki::Role::kAgent, name, validity, {}));
  ASSIGN_OR_RETURN(pki::CertInfo info, pki::ReadCertInfo(cert));
  RETURN_IF_ERROR(store_->RecordIssuedCert({info.serial_hex, name, now, info.not_after, via}));
  return Issued{name, cert, options_.ca_bundle_pem};
}

absl::Status CertAuthority::Revoke(const std::string& name) {
  if (!pki::IsValidName(name)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid agent name \"", name, "\""));
  }
  RETURN_IF_ERROR(store_->RevokeAgent(name, absl::Now()));
  TLOG(Warning) << "security: agent '" << name << "' revoked";
  return absl::OkStatus();
}

absl::Status CertAuthority::CheckAgent(const std::string& name, const std::string& cert_pem) {
  ASSIGN_OR_RETURN(auto revoked, store_->GetRevocation(name));
  if (!revoked) return absl::OkStatus();
  ASSIGN_OR_RETURN(pki::CertInfo info, pki::ReadCertInfo(cert_pem));
  ASSIGN_OR_RETURN(auto issued, store_->GetIssuedCert(info.serial_hex));
  if (issued && issued->name == name && issued->issued > *revoked) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat("agent '", name, "' was revoked at ", Rfc3339(*revoked),
                   "; re-enroll it with a token made with --replace"));
}

absl::StatusOr<std::set<std::string>> CertAuthority::RevokedNames() {
  std::set<std::string> names;
  ASSIGN_OR_RETURN(auto revocations, store_->ListRevocations());
  for (const auto& [name, when] : revocations) {
    ASSIGN_OR_RETURN(auto latest, store_->LatestIssuedCert(name));
    if (!latest || latest->issued <= when) names.insert(name);
  }
  return names;
}

}  // namespace tachyon::controller
