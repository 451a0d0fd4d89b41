#include "common/enroll_token.h"

#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/pki.h"
#include "common/status.h"

namespace tachyon::enroll {
namespace {

bool IsBase64Url(const std::string& s) {
  for (char c : s) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok) return false;
  }
  return !s.empty();
}

}  // namespace

std::string FormatToken(const Token& token) {
  return absl::StrCat(token.id, ".", token.secret, ".", token.ca_pin);
}

absl::StatusOr<Token> ParseToken(const std::string& text) {
  std::vector<std::string> parts = absl::StrSplit(text, '.');
  if (text.size() > 256 || parts.size() != 3 || !IsBase64Url(parts[0]) || !IsBase64Url(parts[1]) ||
      !IsBase64Url(parts[2])) {
    return absl::InvalidArgumentError(
        "malformed enrollment token (expected ID.SECRET.CAPIN as printed by `tachyon token "
        "create`)");
  }
  return Token{parts[0], parts[1], parts[2]};
}

absl::StatusOr<std::string> CaPin(const std::string& ca_cert_pem) {
  ASSIGN_OR_RETURN(std::string hex, pki::FingerprintSha256(ca_cert_pem));
  return absl::WebSafeBase64Escape(absl::HexStringToBytes(hex));
}

absl::StatusOr<Token> NewToken(const std::string& ca_cert_pem) {
  Token t;
  ASSIGN_OR_RETURN(std::string id, pki::RandomBytes(16));
  ASSIGN_OR_RETURN(std::string secret, pki::RandomBytes(32));
  t.id = absl::WebSafeBase64Escape(id);
  t.secret = absl::WebSafeBase64Escape(secret);
  ASSIGN_OR_RETURN(t.ca_pin, CaPin(ca_cert_pem));
  return t;
}

}  // namespace tachyon::enroll
