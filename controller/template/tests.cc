// Jinja2's built-in tests and Ansible's (result tests, regex, version).

#include <algorithm>
#include <regex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "controller/template/eval.h"

namespace tachyon::tmpl {
namespace {

absl::StatusOr<Json> ResultDict(const Value& input, std::string_view test) {
  ASSIGN_OR_RETURN(Json j, RequireJson(input));
  if (!j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("The '", std::string(test), "' test expects a dictionary"));
  }
  return j;
}

Json GetOr(const Json& d, const char* key, Json def) {
  auto it = d.find(key);
  return it == d.end() ? def : *it;
}

// distutils.version.LooseVersion, which Ansible's `version` test uses by default.
Json LooseVersion(const std::string& v) {
  Json parts = Json::array();
  size_t i = 0;
  while (i < v.size()) {
    if (std::isdigit(static_cast<unsigned char>(v[i]))) {
      size_t j = i;
      while (j < v.size() && std::isdigit(static_cast<unsigned char>(v[j]))) ++j;
      parts.push_back(static_cast<int64_t>(std::strtoll(v.substr(i, j - i).c_str(), nullptr, 10)));
      i = j;
    } else if (std::isalpha(static_cast<unsigned char>(v[i]))) {
      size_t j = i;
      while (j < v.size() && std::isalpha(static_cast<unsigned char>(v[j]))) ++j;
      parts.push_back(absl::AsciiStrToLower(v.substr(i, j - i)));
      i = j;
    } else if (v[i] == '.') {
      ++i;
    } else {
      parts.push_back(v.substr(i, 1));
      ++i;
    }
  }
  return parts;
}

absl::StatusOr<bool> VersionCompare(const Json& value, const Json& version, const std::string& op,
                                    const std::optional<Value>& strict,
                                    const std::optional<Value>& version_type) {
  if ((strict && strict->is_json() && Truthy(strict->json())) ||
      (version_type && version_type->is_json() && !version_type->json().is_null() &&
       version_type->json() != "loose")) {
    return absl::UnimplementedError(
        "the version test supports only version_type='loose' in tachyon's template engine");
  }
  static const char* const kOps[][2] = {{"==", "eq"}, {"=", "eq"}, {"eq", "eq"}, {"<", "lt"},
                                        {"lt", "lt"}, {"<=", "le"}, {"le", "le"}, {">", "gt"},
                                        {"gt", "gt"}, {">=", "ge"}, {"ge", "ge"}, {"!=", "ne"},
                                        {"<>", "ne"}, {"ne", "ne"}};
  std::string canonical;
  for (const auto& pair : kOps) {
    if (op == pair[0]) canonical = pair[1];
  }
  if (canonical.empty()) return absl::InvalidArgumentError(absl::StrCat("Invalid operator type (", op, ")"));
  if (!value.is_string() && !IsNumber(value)) return absl::InvalidArgumentError("Version comparison failed: value must be a string");
  const std::string a = ToText(value), b = ToText(version);
  if (a.empty()) return absl::InvalidArgumentError("Version comparison failed: Input version value cannot be empty");
  if (b.empty()) return absl::InvalidArgumentError("Version comparison failed: Version parameter to compare against cannot be empty");
  ASSIGN_OR_RETURN(int c, Compare(LooseVersion(a), LooseVersion(b), "<"));
  if (canonical == "eq") return c == 0;
  if (canonical == "ne") return c != 0;
  if (canonical == "lt") return c < 0;
  if (canonical == "le") return c <= 0;
  if (canonical == "gt") return c > 0;
  return c >= 0;
}

absl::StatusOr<Value> RegexTest(const Json& value, const std::vector<std::optional<Value>>& a,
                                std::string match_type) {
  if (!value.is_string()) return Value(Json(false));
  std::string pattern;
  if (a[0]) {
    ASSIGN_OR_RETURN(Json p, RequireJson(*a[0]));
    pattern = ToText(p);
  }
  RegexOptions options;
  if (a[1] && a[1]->is_json()) options.ignorecase = Truthy(a[1]->json());
  if (a[2] && a[2]->is_json()) options.multiline = Truthy(a[2]->json());
  if (a.size() > 3 && a[3] && a[3]->is_json() && a[3]->json().is_string()) {
    match_type = a[3]->json().get<std::string>();
  }
  const std::string& s = value.get_ref<const std::string&>();
  ASSIGN_OR_RETURN(std::regex re, CompileRegex(pattern, options));
  RETURN_IF_ERROR(CheckRegexInput(re, s.size()));
  if (match_type == "match") {
    return Value(Json(std::regex_search(s, re, std::regex_constants::match_continuous)));
  }
  if (match_type == "fullmatch") return Value(Json(std::regex_match(s, re)));
  return Value(Json(std::regex_search(s, re)));
}

}  // namespace

absl::StatusOr<Value> ApplyTest(Evaluator& ev, const std::string& qualified, const Value& input,
                                CallArgs& args) {
  std::string name = qualified;
  if (absl::StartsWith(name, "ansible.builtin.")) name = name.substr(16);
  std::vector<std::optional<Value>> a;
  auto bind = [&](std::initializer_list<std::string_view> params) {
    return BindArgs(args, name, params, &a);
  };
  auto result = [](bool b) { return Value(Json(b)); };
  if (name == "defined" || name == "undefined") {
    RETURN_IF_ERROR(bind({}));
    return result(input.is_undefined() == (name == "undefined"));
  }
  if (input.is_undefined()) {
    // Type checks are isinstance() calls and never touch the Undefined; every other test uses
    // the value and fails as Ansible's StrictUndefined does.
    static constexpr std::string_view kTypeChecks[] = {"none", "boolean", "true", "false", "integer",
                                                      "float", "number", "string", "mapping",
                                                      "callable", "sameas"};
    if (std::find(std::begin(kTypeChecks), std::end(kTypeChecks), name) != std::end(kTypeChecks)) {
      return result(false);
    }
    if (input.is_lenient() && (name == "sequence" || name == "iterable")) return result(true);
    return UndefinedError(input.message());
  }
  if (name == "callable") return result(input.is_callable());
  if (!input.is_json()) return result(false);
  const Json& v = input.json();
  if (name == "none") return result(v.is_null());
  if (name == "boolean") return result(v.is_boolean());
  if (name == "false") return result(v.is_boolean() && !v.get<bool>());
  if (name == "true") return result(v.is_boolean() && v.get<bool>());
  if (name == "integer") return result(v.is_number_integer());
  if (name == "float") return result(v.is_number_float());
  if (name == "number") return result(IsNumber(v));
  if (name == "string") return result(v.is_string());
  if (name == "mapping") return result(v.is_object());
  if (name == "sequence" || name == "iterable") return result(v.is_array() || v.is_object() || v.is_string());
  if (name == "lower") return result(v.is_string() && absl::AsciiStrToLower(v.get<std::string>()) == v.get<std::string>());
  if (name == "upper") return result(v.is_string() && absl::AsciiStrToUpper(v.get<std::string>()) == v.get<std::string>());
  if (name == "odd" || name == "even") {
    if (!IsIntLike(v)) return absl::InvalidArgumentError(absl::StrCat("the '", name, "' test needs an integer"));
    const int64_t n = AsInt(v);
    return result(((n % 2) != 0) == (name == "odd"));
  }
  if (name == "divisibleby") {
    RETURN_IF_ERROR(bind({"num"}));
    if (!a[0]) return absl::InvalidArgumentError("divisibleby() missing 1 required positional argument: 'num'");
    ASSIGN_OR_RETURN(Json num, RequireJson(*a[0]));
    ASSIGN_OR_RETURN(Json rem, BinaryOp("%", v, num, ev.ctx().limits.max_output_bytes));
    return result(AsDouble(rem) == 0);
  }
  static const char* const kCompare[][2] = {
      {"==", "=="}, {"eq", "=="}, {"equalto", "=="}, {"!=", "!="}, {"ne", "!="}, {"<", "<"},
      {"lt", "<"}, {"lessthan", "<"}, {"<=", "<="}, {"le", "<="}, {">", ">"}, {"gt", ">"},
      {"greaterthan", ">"}, {">=", ">="}, {"ge", ">="}};
  for (const auto& pair : kCompare) {
    if (name != pair[0]) continue;
    RETURN_IF_ERROR(bind({"other"}));
    if (!a[0]) return absl::InvalidArgumentError(absl::StrCat(name, "() missing 1 required positional argument"));
    ASSIGN_OR_RETURN(Json other, RequireJson(*a[0]));
    const std::string op = pair[1];
    if (op == "==") return result(Equals(v, other));
    if (op == "!=") return result(!Equals(v, other));
    ASSIGN_OR_RETURN(int c, Compare(v, other, op));
    return result(op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0);
  }
  if (name == "sameas") {
    RETURN_IF_ERROR(bind({"other"}));
    if (!a[0]) return absl::InvalidArgumentError("sameas() missing 1 required positional argument");
    ASSIGN_OR_RETURN(Json other, RequireJson(*a[0]));
    // Identity only holds for singletons (None, True, False) in a value model without objects.
    return result((v.is_null() || v.is_boolean()) && v.type() == other.type() && v == other);
  }
  if (name == "in") {
    RETURN_IF_ERROR(bind({"seq"}));
    if (!a[0]) return absl::InvalidArgumentError("in() missing 1 required positional argument");
    ASSIGN_OR_RETURN(Json seq, RequireJson(*a[0]));
    ASSIGN_OR_RETURN(bool in, Contains(seq, v));
    return result(in);
  }
  if (name == "contains") {
    RETURN_IF_ERROR(bind({"value"}));
    if (!a[0]) return absl::InvalidArgumentError("contains() missing 1 required positional argument");
    ASSIGN_OR_RETURN(Json item, RequireJson(*a[0]));
    ASSIGN_OR_RETURN(bool in, Contains(v, item));
    return result(in);
  }
  if (name == "match" || name == "search" || name == "regex") {
    if (name == "regex") {
      RETURN_IF_ERROR(bind({"pattern", "ignorecase", "multiline", "match_type"}));
    } else {
      RETURN_IF_ERROR(bind({"pattern", "ignorecase", "multiline"}));
    }
    return RegexTest(v, a, name == "regex" ? "search" : name);
  }
  if (name == "version" || name == "version_compare") {
    RETURN_IF_ERROR(bind({"version", "operator", "strict", "version_type"}));
    if (!a[0]) return absl::InvalidArgumentError("version() missing 1 required positional argument: 'version'");
    ASSIGN_OR_RETURN(Json version, RequireJson(*a[0]));
    std::string op = "eq";
    if (a[1]) {
      ASSIGN_OR_RETURN(Json o, RequireJson(*a[1]));
      op = ToText(o);
    }
    ASSIGN_OR_RETURN(bool r, VersionCompare(v, version, op, a[2], a[3]));
    return result(r);
  }
  if (name == "failed" || name == "failure") {
    ASSIGN_OR_RETURN(Json d, ResultDict(input, "failed"));
    return Value(GetOr(d, "failed", false));
  }
  if (name == "succeeded" || name == "success" || name == "successful") {
    ASSIGN_OR_RETURN(Json d, ResultDict(input, "failed"));
    return result(!Truthy(GetOr(d, "failed", false)));
  }
  if (name == "unreachable") {
    ASSIGN_OR_RETURN(Json d, ResultDict(input, "unreachable"));
    return Value(GetOr(d, "unreachable", false));
  }
  if (name == "reachable") {
    ASSIGN_OR_RETURN(Json d, ResultDict(input, "unreachable"));
    return result(!Truthy(GetOr(d, "unreachable", false)));
  }
  if (name == "changed" || name == "change") {
    ASSIGN_OR_RETURN(Json d, ResultDict(input, "changed"));
    if (d.contains("changed")) return Value(d["changed"]);
    if (d.contains("results") && d["results"].is_array() && !d["results"].empty() &&
        d["results"][0].is_object()) {
      for (const auto& r : d["results"]) {
        if (r.is_object() && Truthy(GetOr(r, "changed", false))) return result(true);
      }
    }
    return result(false);
  }
  if (name == "skipped" || name == "skip") {
    ASSIGN_OR_RETURN(Json d, ResultDict(input, "skipped"));
    return Value(GetOr(d, "skipped", false));
  }
  if (name == "finished" || name == "started") {
    ASSIGN_OR_RETURN(Json d, ResultDict(input, name));
    // 0/1 in async results; a result without the key counts as done (Ansible warns).
    if (!d.contains(name)) return result(true);
    return result(Equals(d[name], Json(1)));
  }
  if (name == "truthy" || name == "falsy") {
    RETURN_IF_ERROR(bind({"convert_bool"}));
    bool t = Truthy(v);
    if (a[0] && a[0]->is_json() && Truthy(a[0]->json())) {
      // ansible's boolean(): strings like "yes"/"no" count as their meaning.
      if (v.is_string()) {
        const std::string s = absl::AsciiStrToLower(v.get<std::string>());
        if (s == "yes" || s == "on" || s == "1" || s == "true" || s == "y" || s == "t") t = true;
        else if (s == "no" || s == "off" || s == "0" || s == "false" || s == "n" || s == "f" || s.empty()) t = false;
      }
    }
    return result(name == "truthy" ? t : !t);
  }
  if (name == "any" || name == "all") {
    if (!v.is_array()) return absl::InvalidArgumentError(absl::StrCat("the '", name, "' test expects a list"));
    bool r = name == "all";
    for (const auto& x : v) {
      if (name == "any" && Truthy(x)) r = true;
      if (name == "all" && !Truthy(x)) r = false;
    }
    return result(r);
  }
  if (name == "subset" || name == "superset" || name == "issubset" || name == "issuperset") {
    RETURN_IF_ERROR(bind({"other"}));
    if (!a[0]) return absl::InvalidArgumentError(absl::StrCat(name, "() missing 1 required positional argument"));
    ASSIGN_OR_RETURN(Json other, RequireJson(*a[0]));
    const bool sub = name == "subset" || name == "issubset";
    const Json& small = sub ? v : other;
    const Json& big = sub ? other : v;
    for (const auto& x : small) {
      ASSIGN_OR_RETURN(bool in, Contains(big, x));
      if (!in) return result(false);
    }
    return result(true);
  }
  return absl::NotFoundError(absl::StrCat("No test named '", qualified, "'."));
}

}  // namespace tachyon::tmpl
