#pragma once

// Walks the AST. One Evaluator serves one render call; it owns the scope stack, the output
// budget and the recursion depth, which is how the Limits are enforced.

#include <map>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/template/ast.h"
#include "controller/template/lexer.h"
#include "controller/template/template.h"
#include "controller/template/value.h"

namespace tachyon::tmpl {

struct EvalOptions {
  bool ansible = true;        // Ansible finalize (None renders as ''), filters, lookups
  bool convert_data = true;   // macro/set-block results go through Ansible's literal check
  LexerOptions lexer;         // for includes
};

class Evaluator {
 public:
  Evaluator(const Context& ctx, const EvalOptions& options) : ctx_(ctx), options_(options) {}

  // Renders statements into `out`.
  absl::Status Render(const std::vector<NodePtr>& body, std::string* out);
  // Renders a whole template, counting its top-level output pieces for SingleNativeText().
  absl::Status RenderRoot(const std::vector<NodePtr>& body, std::string* out);
  // True when the output was exactly one value from to_json/to_yaml/string/...: Ansible then
  // keeps the text even if it looks like a list or dict.
  bool SingleNativeText() const { return root_pieces_ == 1 && root_native_; }
  absl::StatusOr<Value> Eval(const Node& node);

  absl::StatusOr<Value> CallValue(const Value& callee, CallArgs& args);
  absl::StatusOr<Value> GetAttr(const Value& obj, const std::string& name);
  absl::StatusOr<Value> GetItem(const Value& obj, const Value& key);
  absl::StatusOr<bool> IsTrue(const Value& v);
  // Text of a value in output position: None is '' in Ansible, Undefined is an error.
  absl::StatusOr<std::string> OutputText(const Value& v);

  // Applies Ansible's ansible_eval_concat rule to rendered text.
  Value ConcatResult(std::string text) const;

  const Context& ctx() const { return ctx_; }
  const EvalOptions& options() const { return options_; }
  absl::Status CheckSize(size_t bytes) const;
  absl::Status EnterCall();
  void LeaveCall() { --call_depth_; }

  // Renders another template source with the current scope (include, lookup('template')).
  absl::StatusOr<std::string> RenderNested(const std::string& source, std::string_view name);

 private:
  using Frame = std::map<std::string, Value, std::less<>>;

  absl::StatusOr<Value> Lookup(const std::string& name);
  absl::Status RenderNode(const Node& node, std::string* out);
  absl::Status RenderFor(const Node& node, std::string* out);
  absl::StatusOr<Value> EvalCompare(const Node& node);
  absl::StatusOr<Value> EvalCall(const Node& node);
  absl::StatusOr<CallArgs> EvalArgs(const Node& node, size_t first);
  absl::StatusOr<Value> CallMacro(const Node& macro, CallArgs& args, const Value* caller);
  absl::StatusOr<Value> MakeMacro(const Node& node);
  absl::Status Assign(const std::vector<std::string>& targets, const Value& value);
  absl::Status Append(std::string* out, std::string_view text) const;

  const Context& ctx_;
  EvalOptions options_;
  void CountRootPiece(const std::string* out, bool native) {
    if (out != root_out_) return;
    ++root_pieces_;
    root_native_ = native;
  }

  std::vector<Frame> frames_{Frame{}};
  std::string* root_out_ = nullptr;
  int root_pieces_ = 0;
  bool root_native_ = false;
  std::unordered_map<std::string, Value> var_cache_;
  int call_depth_ = 0;
  int64_t loop_iterations_ = 0;
};

// Defined in ops.cc: Python arithmetic on JSON values.
absl::StatusOr<Json> BinaryOp(std::string_view op, const Json& a, const Json& b, size_t max_bytes);
absl::StatusOr<Json> Negate(const Json& a);
absl::StatusOr<bool> Contains(const Json& container, const Json& item);
absl::StatusOr<std::string> PercentFormat(const std::string& format, const Json& args);
absl::StatusOr<std::string> StrFormat(const std::string& format, const CallArgs& args);
absl::StatusOr<Json> Slice(const Json& obj, const Json& start, const Json& stop, const Json& step);

// Defined in methods.cc: Python methods of str, list and dict (`'a,b'.split(',')`).
std::optional<Value> BindMethod(const Json& obj, const std::string& name);

// Defined in filters.cc and tests.cc.
absl::StatusOr<Value> ApplyFilter(Evaluator& ev, const std::string& name, const Value& input,
                                  CallArgs& args);
// Tests return a value, not a bool: Ansible's `failed` returns the result's own `failed` field.
absl::StatusOr<Value> ApplyTest(Evaluator& ev, const std::string& name, const Value& input,
                                CallArgs& args);

// Defined in regex.cc: Python `re` patterns on std::regex (ECMAScript), with Python's flags.
struct RegexOptions {
  bool ignorecase = false;
  bool multiline = false;
};
absl::StatusOr<std::regex> CompileRegex(const std::string& pattern, const RegexOptions& options);
// Python's `(?P<name>...)` groups of a pattern, by name, numbered as Python numbers them.
std::map<std::string, int> NamedGroups(const std::string& pattern);
// Converts a Python replacement string (\\1, \\g<1>, \\g<name>) to std::regex's format ($1).
absl::StatusOr<std::string> PythonReplacement(const std::string& repl,
                                              const std::map<std::string, int>& names);
// Bounds on the text a regex runs over. Patterns with back-references need std::regex's
// backtracking executor, which recurses once per input character, so their bound is small.
inline constexpr size_t kMaxRegexInput = 64 * 1024;
inline constexpr size_t kMaxBacktrackingRegexInput = 4 * 1024;
absl::Status CheckRegexInput(const std::regex& re, size_t length);
// Globals: range, lookup, query/q, dict, namespace.
std::optional<Value> Global(Evaluator& ev, std::string_view name);

// Helpers shared by filters, tests and methods.
absl::Status TooManyArgs(std::string_view what);
// Binds positional and keyword args to `params` in order; missing ones stay nullopt.
absl::Status BindArgs(const CallArgs& args, std::string_view what,
                      std::initializer_list<std::string_view> params,
                      std::vector<std::optional<Value>>* out);
absl::StatusOr<Json> RequireJson(const Value& v);

}  // namespace tachyon::tmpl

namespace tachyon::tmpl {
enum class ParseKind { kTemplate, kExpression, kCondition };
// Defined in template.cc: parse with a process-wide cache keyed by source and options.
absl::StatusOr<std::shared_ptr<const Node>> ParseCached(const std::string& source,
                                                        std::string_view name,
                                                        const LexerOptions& options,
                                                        ParseKind kind);
}  // namespace tachyon::tmpl
