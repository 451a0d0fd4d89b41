#pragma once

// The enrollment token's text form: `ID.SECRET.CAPIN`, each part base64url without padding.
// ID names the token's record on the controller, SECRET is checked against the stored SHA-256,
// and CAPIN is the SHA-256 of the CA certificate (DER) that the agent pins before it sends the
// token anywhere. Shared by the controller (which makes tokens) and the agent (which uses them).

#include <string>

#include "absl/status/statusor.h"

namespace tachyon::enroll {

struct Token {
  std::string id;      // 16 random bytes, base64url
  std::string secret;  // 32 random bytes, base64url
  std::string ca_pin;  // SHA-256 of the CA certificate's DER, base64url
};

std::string FormatToken(const Token& token);
// InvalidArgument for anything that is not three non-empty base64url parts of sane size.
absl::StatusOr<Token> ParseToken(const std::string& text);

// The pin of a CA certificate (base64url SHA-256 of its DER).
absl::StatusOr<std::string> CaPin(const std::string& ca_cert_pem);

// A fresh token (random id and secret) pinned to `ca_cert_pem`.
absl::StatusOr<Token> NewToken(const std::string& ca_cert_pem);

}  // namespace tachyon::enroll
