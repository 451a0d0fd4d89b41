#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "controller/template/ast.h"
#include "controller/template/lexer.h"

namespace tachyon::tmpl {

// Parses template source into a kTemplate node. Syntax errors name the template, the line and
// the column: "template error in <name> at line L, column C: <what>".
absl::StatusOr<NodePtr> ParseTemplate(std::string_view source, std::string_view name,
                                      const LexerOptions& options);

// Parses a bare expression. Trailing tokens are a syntax error. A conditional is parsed as
// the test of `{% if %}`, where a top-level inline if-expression is not allowed.
absl::StatusOr<NodePtr> ParseExpression(std::string_view source, std::string_view name,
                                        const LexerOptions& options, bool with_condexpr = true);

// Deepest nesting the parser accepts, so hostile input cannot exhaust the stack.
inline constexpr int kMaxParseDepth = 200;

}  // namespace tachyon::tmpl
