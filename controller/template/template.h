#pragma once

// tachyon's Jinja2 engine, with Ansible 2.14's value semantics.
//
//   tmpl::Context ctx;
//   ctx.vars = &host_vars;                       // a JSON object
//   auto v = tmpl::RenderValue("{{ groups['web'] | length }}", ctx);   // task arguments
//   auto ok = tmpl::EvalCondition("result.rc != 0", ctx);              // when:/until:
//   auto text = tmpl::RenderText(file_body, ctx, "templates/app.conf.j2");  // template module
//
// Parsed templates are cached by source text, so evaluating the same expression for every host
// parses it once. All entry points are thread-safe.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tachyon::tmpl {

// Bounds that keep a hostile template from exhausting memory or stack. Exceeding one is an
// error (kResourceExhausted), never a crash.
struct Limits {
  size_t max_output_bytes = 16 << 20;  // rendered text, and any single string built
  int max_call_depth = 64;             // nested macro calls, includes and variable templating
  int64_t max_range = 100000;          // length of range(), as Jinja's sandbox
  int64_t max_loop_iterations = 1000000;  // all for-loop iterations of one render
};

struct Context {
  // The variables: a JSON object. Not owned; must outlive the call.
  const nlohmann::json* vars = nullptr;
  // The same as an insertion-ordered object, consulted first. Prefer it when the variables come
  // from YAML: Ansible keeps mapping order, which `dict2items`, `| list` and `for k in d` show.
  const nlohmann::ordered_json* ordered_vars = nullptr;
  // Names not found in `vars` are asked here (hostvars, lazily computed facts). Optional.
  std::function<std::optional<nlohmann::json>(std::string_view name)> resolve;
  // Reads a file for `{% include %}`, lookup('file') and lookup('template'). Without it those
  // fail with "file access is not available here". The path is passed as written.
  std::function<absl::StatusOr<std::string>(std::string_view path)> read_file;
  // Reads the environment for lookup('env'). Defaults to getenv(3) when unset.
  std::function<std::optional<std::string>(std::string_view name)> get_env;
  // Ansible templates variable values that are themselves templates ("{{ other }}") when they
  // are used. Turn on for play/host vars; registered results must stay off (they are "unsafe").
  bool template_variable_values = false;
  Limits limits;
};

// A task argument: non-template strings come back unchanged. Otherwise Ansible 2.14's default
// (jinja2_native=False) rules apply: the result is text, except that "{{ var }}" naming a
// number or bool returns it as is, and text that reads as a Python list/dict literal or
// True/False is converted back (so "{{ [1, 2] }}" is a list but "{{ 1 + 1 }}" is the string "2").
absl::StatusOr<nlohmann::json> RenderValue(const std::string& text, const Context& ctx);

// A whole template file, as the template module renders it: always text, trailing newlines of
// the source kept, no literal conversion.
absl::StatusOr<std::string> RenderText(const std::string& source, const Context& ctx,
                                       std::string_view template_name = "<template>");

// Plain Jinja2 text rendering (Environment(trim_blocks=False), no Ansible newline handling),
// for callers that want Jinja itself.
absl::StatusOr<std::string> RenderJinja(const std::string& source, const Context& ctx,
                                        std::string_view template_name = "<template>");

// A bare expression (`until: job.finished`), evaluated to its native value.
absl::StatusOr<nlohmann::json> EvalExpression(const std::string& expr, const Context& ctx);

// A conditional as Ansible 2.14 evaluates `when:`/`until:`/`failed_when:`: an inline template
// is rendered first, then the text is evaluated as `{% if <expr> %}` and its truthiness taken.
absl::StatusOr<bool> EvalCondition(const std::string& expr, const Context& ctx);

// Renders every string (and dict key) in a JSON value, as Ansible does for task arguments.
absl::StatusOr<nlohmann::json> RenderDeep(const nlohmann::json& value, const Context& ctx);

// True if `text` contains a Jinja start delimiter ({{, {% or {#).
bool IsPossiblyTemplate(std::string_view text);

// True if the error is an undefined variable/attribute (Ansible's AnsibleUndefinedVariable).
bool IsUndefinedVariableError(const absl::Status& status);

}  // namespace tachyon::tmpl
