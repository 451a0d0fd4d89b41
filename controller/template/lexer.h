#pragma once

// Splits template source into tokens: raw text between tags, tag delimiters, and the
// expression tokens inside tags. Whitespace control (`-`, trim_blocks) and `{% raw %}` are
// resolved here, as Jinja's own lexer does, so the parser only sees meaningful text.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tachyon::tmpl {

enum class TokenType {
  kData,           // literal template text
  kVariableBegin,  // {{
  kVariableEnd,    // }}
  kBlockBegin,     // {%
  kBlockEnd,       // %}
  kName,
  kString,
  kInteger,
  kFloat,
  kOperator,
  kEof,
};

struct Token {
  TokenType type;
  std::string value;  // text, name, decoded string, number text or operator
  int line;
  int column;
};

struct LexerOptions {
  // Remove the first newline after a block or comment tag (Ansible turns this on).
  bool trim_blocks = false;
  // Ansible doubles backslashes in string literals inside {{ }} before Jinja sees them, so
  // there escapes are not processed: '\n' stays a backslash and an n.
  bool raw_strings_in_variables = false;
};

absl::StatusOr<std::vector<Token>> Tokenize(std::string_view source, std::string_view name,
                                            const LexerOptions& options);

}  // namespace tachyon::tmpl
