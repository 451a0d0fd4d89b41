#include "controller/template/template.h"

#include <list>
#include <regex>
#include <mutex>
#include <unordered_map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "controller/template/eval.h"
#include "controller/template/parser.h"

namespace tachyon::tmpl {
namespace {

// A small LRU of parsed templates. Playbooks evaluate the same few hundred expressions for
// every host, so parsing once matters more than the memory this holds.
class ParseCache {
 public:
  static ParseCache& Get() {
    static ParseCache* cache = new ParseCache();
    return *cache;
  }

  absl::StatusOr<std::shared_ptr<const Node>> Parse(const std::string& source, std::string_view name,
                                                    const LexerOptions& options, ParseKind kind) {
    std::string key = absl::StrCat(static_cast<int>(kind), options.trim_blocks ? "1" : "0",
                                   options.raw_strings_in_variables ? "1" : "0", std::string(name), "\x1f", source);
    if (source.size() <= kMaxCachedSource) {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = index_.find(key);
      if (it != index_.end()) {
        lru_.splice(lru_.begin(), lru_, it->second);
        return it->second->second;
      }
    }
    auto parsed = kind == ParseKind::kTemplate
                      ? ParseTemplate(source, name, options)
                      : ParseExpression(source, name, options, kind == ParseKind::kExpression);
    if (!parsed.ok()) return parsed.status();
    std::shared_ptr<const Node> node(std::move(*parsed));
    if (source.size() <= kMaxCachedSource) {
      std::lock_guard<std::mutex> lock(mu_);
      if (index_.find(key) == index_.end()) {
        lru_.emplace_front(key, node);
        index_[key] = lru_.begin();
        if (lru_.size() > kCapacity) {
          index_.erase(lru_.back().first);
          lru_.pop_back();
        }
      }
    }
    return node;
  }

 private:
  static constexpr size_t kCapacity = 4096;
  static constexpr size_t kMaxCachedSource = 64 * 1024;
  using Entry = std::pair<std::string, std::shared_ptr<const Node>>;
  std::mutex mu_;
  std::list<Entry> lru_;
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

// Task arguments (convert_data) get Ansible's backslash doubling inside {{ }}; the template
// module passes escape_backslashes=False, so template files keep Jinja's escapes.
EvalOptions AnsibleOptions(bool convert_data) {
  EvalOptions o;
  o.ansible = true;
  o.convert_data = convert_data;
  o.lexer.trim_blocks = true;
  o.lexer.raw_strings_in_variables = convert_data;
  return o;
}

// Ansible's Templar.SINGLE_VAR: "{{ name }}" naming a bool or number returns it untouched.
std::optional<std::string> SingleVarName(std::string_view text) {
  if (!absl::StartsWith(std::string(text), "{{") || !absl::EndsWith(std::string(text), "}}") || text.size() < 4) return std::nullopt;
  std::string_view inner = text.substr(2, text.size() - 4);
  while (!inner.empty() && std::isspace(static_cast<unsigned char>(inner.front()))) inner.remove_prefix(1);
  while (!inner.empty() && std::isspace(static_cast<unsigned char>(inner.back()))) inner.remove_suffix(1);
  for (char c : inner) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return std::nullopt;
  }
  return std::string(inner);
}

size_t TrailingNewlines(std::string_view s) {
  size_t n = 0;
  while (n < s.size() && s[s.size() - 1 - n] == '\n') ++n;
  return n;
}

absl::StatusOr<std::string> RenderWith(const std::string& source, const Context& ctx,
                                       std::string_view name, const EvalOptions& options,
                                       bool* single_native_text) {
  ASSIGN_OR_RETURN(auto root, ParseCached(source, name, options.lexer, ParseKind::kTemplate));
  Evaluator ev(ctx, options);
  std::string out;
  RETURN_IF_ERROR(ev.RenderRoot(root->body, &out));
  if (single_native_text != nullptr) *single_native_text = ev.SingleNativeText();
  return out;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const Node>> ParseCached(const std::string& source, std::string_view name,
                                                        const LexerOptions& options, ParseKind kind) {
  return ParseCache::Get().Parse(source, name, options, kind);
}

bool IsPossiblyTemplate(std::string_view text) {
  return text.find("{{") != std::string_view::npos || text.find("{%") != std::string_view::npos ||
         text.find("{#") != std::string_view::npos;
}

bool IsUndefinedVariableError(const absl::Status& status) { return IsUndefinedError(status); }

static absl::StatusOr<nlohmann::json> RenderValueImpl(const std::string& text, const Context& ctx) {
  if (!IsPossiblyTemplate(text)) return nlohmann::json(text);
  if (auto var = SingleVarName(text)) {
    std::optional<nlohmann::json> found;
    if (ctx.ordered_vars != nullptr && ctx.ordered_vars->is_object()) {
      auto it = ctx.ordered_vars->find(*var);
      if (it != ctx.ordered_vars->end()) found = ToPlain(*it);
    }
    if (!found && ctx.vars != nullptr && ctx.vars->is_object()) {
      auto it = ctx.vars->find(*var);
      if (it != ctx.vars->end()) found = *it;
    }
    if (found && (found->is_boolean() || found->is_number() || found->is_null())) return *found;
  }
  const EvalOptions options = AnsibleOptions(/*convert_data=*/true);
  bool native_text = false;
  ASSIGN_OR_RETURN(std::string out, RenderWith(text, ctx, "<template>", options, &native_text));
  Evaluator ev(ctx, options);
  Value v = native_text ? Value(Json(std::move(out))) : ev.ConcatResult(std::move(out));
  if (v.json().is_string()) {
    // Jinja drops one trailing newline; Ansible puts back as many as the source had.
    std::string s = v.json().get<std::string>();
    const size_t want = TrailingNewlines(text), have = TrailingNewlines(s);
    if (want > have) s.append(want - have, '\n');
    return nlohmann::json(std::move(s));
  }
  return ToPlain(v.json());
}

static absl::StatusOr<std::string> RenderTextImpl(const std::string& source, const Context& ctx,
                                       std::string_view template_name) {
  ASSIGN_OR_RETURN(std::string out,
                   RenderWith(source, ctx, template_name, AnsibleOptions(/*convert_data=*/false), nullptr));
  const size_t want = TrailingNewlines(source), have = TrailingNewlines(out);
  if (want > have) out.append(want - have, '\n');
  return out;
}

static absl::StatusOr<std::string> RenderJinjaImpl(const std::string& source, const Context& ctx,
                                        std::string_view template_name) {
  EvalOptions options;
  options.ansible = false;
  options.convert_data = false;
  return RenderWith(source, ctx, template_name, options, nullptr);
}

static absl::StatusOr<nlohmann::json> EvalExpressionImpl(const std::string& expr, const Context& ctx) {
  const EvalOptions options = AnsibleOptions(/*convert_data=*/true);
  ASSIGN_OR_RETURN(auto root, ParseCached(expr, "<expression>", options.lexer, ParseKind::kExpression));
  Evaluator ev(ctx, options);
  ASSIGN_OR_RETURN(Value v, ev.Eval(*root));
  ASSIGN_OR_RETURN(Json j, RequireJson(v));
  return ToPlain(j);
}

static absl::StatusOr<bool> EvalConditionImpl(const std::string& expr, const Context& ctx) {
  std::string conditional = expr;
  if (IsPossiblyTemplate(expr)) {
    // Ansible renders an inline template first; a non-string or empty result is used as is.
    ASSIGN_OR_RETURN(nlohmann::json first, RenderValue(expr, ctx));
    if (!first.is_string() || first.get<std::string>().empty()) {
      return Truthy(ToOrdered(first));
    }
    conditional = first.get<std::string>();
  }
  const EvalOptions options = AnsibleOptions(/*convert_data=*/true);
  ASSIGN_OR_RETURN(auto root, ParseCached(conditional, "<conditional>", options.lexer, ParseKind::kCondition));
  Evaluator ev(ctx, options);
  ASSIGN_OR_RETURN(Value v, ev.Eval(*root));
  return ev.IsTrue(v);
}

namespace {

// No exception may leave the engine: nlohmann, yaml-cpp and std::regex throw on inputs we could
// not rule out up front (e.g. std::regex's error_complexity on a pathological match).
template <typename F>
auto Guarded(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::regex_error& e) {
    return absl::ResourceExhaustedError(absl::StrCat("regular expression too complex: ", e.what()));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("template engine error: ", e.what()));
  }
}

}  // namespace

absl::StatusOr<nlohmann::json> RenderValue(const std::string& text, const Context& ctx) {
  return Guarded([&] { return RenderValueImpl(text, ctx); });
}

absl::StatusOr<std::string> RenderText(const std::string& source, const Context& ctx,
                                       std::string_view template_name) {
  return Guarded([&] { return RenderTextImpl(source, ctx, template_name); });
}

absl::StatusOr<std::string> RenderJinja(const std::string& source, const Context& ctx,
                                        std::string_view template_name) {
  return Guarded([&] { return RenderJinjaImpl(source, ctx, template_name); });
}

absl::StatusOr<nlohmann::json> EvalExpression(const std::string& expr, const Context& ctx) {
  return Guarded([&] { return EvalExpressionImpl(expr, ctx); });
}

absl::StatusOr<bool> EvalCondition(const std::string& expr, const Context& ctx) {
  return Guarded([&] { return EvalConditionImpl(expr, ctx); });
}

absl::StatusOr<nlohmann::json> RenderDeep(const nlohmann::json& value, const Context& ctx) {
  if (value.is_string()) return RenderValue(value.get<std::string>(), ctx);
  if (value.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& item : value) {
      ASSIGN_OR_RETURN(nlohmann::json r, RenderDeep(item, ctx));
      out.push_back(std::move(r));
    }
    return out;
  }
  if (value.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [k, item] : value.items()) {
      ASSIGN_OR_RETURN(nlohmann::json r, RenderDeep(item, ctx));
      // Ansible templates values, not keys, in task arguments.
      out[k] = std::move(r);
    }
    return out;
  }
  return value;
}

}  // namespace tachyon::tmpl
