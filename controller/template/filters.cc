// Jinja2's built-in filters, the Ansible filters fleets use, and the globals (range, lookup).

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <regex>

#include <openssl/evp.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status.h"
#include "controller/template/eval.h"
#include "controller/template/serialize.h"

namespace tachyon::tmpl {

absl::StatusOr<Json> RequireJson(const Value& v) {
  if (v.is_undefined()) return UndefinedError(v.message());
  if (v.is_namespace()) return v.namespace_attrs();
  if (!v.is_json()) return absl::InvalidArgumentError(absl::StrCat("a function (", v.message(), ") is not a value"));
  return v.json();
}

absl::Status BindArgs(const CallArgs& args, std::string_view what,
                      std::initializer_list<std::string_view> params,
                      std::vector<std::optional<Value>>* out) {
  out->assign(params.size(), std::nullopt);
  size_t positional = 0;
  for (size_t i = 0; i < args.values.size(); ++i) {
    if (args.names[i].empty()) {
      if (positional >= params.size()) {
        return absl::InvalidArgumentError(absl::StrCat(std::string(what), "() takes at most ", params.size(),
                                                       " argument(s) (", positional + 1, " given)"));
      }
      (*out)[positional++] = args.values[i];
      continue;
    }
    auto it = std::find(params.begin(), params.end(), args.names[i]);
    if (it == params.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(std::string(what), "() got an unexpected keyword argument '", args.names[i], "'"));
    }
    (*out)[static_cast<size_t>(it - params.begin())] = args.values[i];
  }
  return absl::OkStatus();
}

namespace {

using Args = std::vector<std::optional<Value>>;

absl::Status Fail(std::string message) { return absl::InvalidArgumentError(std::move(message)); }

// Iterating a value as Python does: dicts yield keys, strings characters.
absl::StatusOr<Json> Items(const Json& j) {
  if (j.is_array()) return j;
  Json out = Json::array();
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) out.push_back(k);
    return out;
  }
  if (j.is_string()) {
    for (char32_t c : DecodeUtf8(j.get<std::string>())) out.push_back(EncodeUtf8(std::u32string(1, c)));
    return out;
  }
  return Fail(absl::StrCat("'", PythonTypeName(j), "' object is not iterable"));
}

// Items() without a copy when the value already is a list.
absl::StatusOr<const Json*> ItemsRef(const Json& j, Json* storage) {
  if (j.is_array()) return &j;
  ASSIGN_OR_RETURN(*storage, Items(j));
  return storage;
}

bool Has(const Args& a, size_t i) { return i < a.size() && a[i].has_value(); }

// The engine walks values recursively (printing, comparing, converting), and yaml-cpp parses
// flow collections recursively, so parsed documents may not nest deeper than this.
constexpr int kMaxDocumentDepth = 500;

absl::Status CheckNesting(const std::string& text) {
  int depth = 0;
  char quote = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quote) {
      if (c == '\\') ++i;
      else if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDocumentDepth) {
        return absl::ResourceExhaustedError(absl::StrCat("document nests deeper than ", kMaxDocumentDepth, " levels"));
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Json> ArgJson(const Args& a, size_t i, Json def) {
  if (!Has(a, i)) return def;
  return RequireJson(*a[i]);
}

bool ArgBool(const Args& a, size_t i, bool def) {
  if (!Has(a, i) || !a[i]->is_json()) return def;
  return Truthy(a[i]->json());
}

// Jinja's make_attrgetter: "a.b.0" walks items (then attributes) one part at a time.
absl::StatusOr<Value> Attribute(Evaluator& ev, const Json& item, const Json& attribute) {
  if (IsIntLike(attribute)) return ev.GetItem(Value(item), Value(attribute));
  // Fast path: plain keys and indexes walk the JSON without copying it.
  const Json* node = &item;
  bool fast = true;
  for (absl::string_view part : absl::StrSplit(ToText(attribute), '.')) {
    const std::string key(part);
    // Jinja's attribute getter tries the item first, so a key named "items" wins here.
    if (node->is_object() && node->contains(key)) {
      node = &(*node)[key];
    } else if (node->is_array() && !key.empty() && std::all_of(key.begin(), key.end(), ::isdigit) &&
               std::strtoull(key.c_str(), nullptr, 10) < node->size()) {
      node = &(*node)[std::strtoull(key.c_str(), nullptr, 10)];
    } else {
      fast = false;
      break;
    }
  }
  if (fast) return Value(*node);
  Value cur(item);
  for (absl::string_view part : absl::StrSplit(ToText(attribute), '.')) {
    Json key(std::string{part});
    if (!part.empty() && std::all_of(part.begin(), part.end(), ::isdigit)) {
      key = static_cast<int64_t>(std::strtoll(std::string(part).c_str(), nullptr, 10));
    }
    ASSIGN_OR_RETURN(cur, ev.GetItem(cur, Value(key)));
  }
  return cur;
}

// Sort key for Jinja's case-insensitive filters.
Json Fold(const Json& j, bool case_sensitive) {
  if (!case_sensitive && j.is_string()) return absl::AsciiStrToLower(j.get<std::string>());
  return j;
}

absl::Status SortJson(std::vector<std::pair<Json, Json>>* keyed, bool reverse) {
  absl::Status error;
  std::stable_sort(keyed->begin(), keyed->end(), [&](const auto& x, const auto& y) {
    if (!error.ok()) return false;
    auto c = reverse ? Compare(y.first, x.first, "<") : Compare(x.first, y.first, "<");
    if (!c.ok()) {
      error = c.status();
      return false;
    }
    return *c < 0;
  });
  return error;
}

Json Unique(const Json& items, bool case_sensitive) {
  Json out = Json::array();
  std::vector<Json> seen;
  for (const auto& x : items) {
    Json key = Fold(x, case_sensitive);
    bool dup = false;
    for (const auto& s : seen) {
      if (Equals(s, key)) {
        dup = true;
        break;
      }
    }
    if (dup) continue;
    seen.push_back(key);
    out.push_back(x);
  }
  return out;
}

std::string Hex(const unsigned char* data, size_t n) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 15]);
  }
  return out;
}

absl::StatusOr<std::string> Digest(const std::string& algorithm, const std::string& data) {
  const EVP_MD* md = EVP_get_digestbyname(algorithm.c_str());
  if (md == nullptr) return Fail(absl::StrCat("unsupported hash type ", algorithm));
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out, &len, md, nullptr) != 1) {
    return absl::InternalError("digest failed");
  }
  return Hex(out, len);
}

// Jinja's do_title: capitalizes after spaces, dashes and opening brackets.
std::string JinjaTitle(const std::string& s) {
  std::string out;
  bool word_start = true;
  for (char c : s) {
    const bool sep = c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || absl::ascii_isspace(c);
    if (sep) {
      out.push_back(c);
      word_start = true;
    } else {
      out.push_back(word_start ? absl::ascii_toupper(c) : absl::ascii_tolower(c));  // ASCII; see below
      word_start = false;
    }
  }
  return out;
}

std::string ShellQuote(const std::string& s) {
  if (s.empty()) return "''";
  const bool safe = std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isalnum(c) || std::string_view("@%+=:,./-_").find(c) != std::string_view::npos;
  });
  if (safe) return s;
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\"'\"'";
    else out.push_back(c);
  }
  return out + "'";
}

// Python's int() of a string, which tolerates surrounding whitespace and underscores.
std::optional<int64_t> ParseInt(std::string s, int base) {
  s = std::string(absl::StripAsciiWhitespace(s));
  std::string digits;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_' && i > 0 && i + 1 < s.size()) continue;
    digits.push_back(s[i]);
  }
  if (digits.empty()) return std::nullopt;
  size_t start = (digits[0] == '-' || digits[0] == '+') ? 1 : 0;
  if ((base == 16 || base == 0) && digits.compare(start, 2, "0x") == 0) {
    digits.erase(start, 2);
    base = 16;
  } else if ((base == 8 || base == 0) && digits.compare(start, 2, "0o") == 0) {
    digits.erase(start, 2);
    base = 8;
  } else if ((base == 2 || base == 0) && digits.compare(start, 2, "0b") == 0) {
    digits.erase(start, 2);
    base = 2;
  }
  if (base == 0) base = 10;
  if (digits.size() <= start) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(digits.c_str(), &end, base);
  if (errno == ERANGE || *end != '\0') return std::nullopt;
  return static_cast<int64_t>(v);
}

std::optional<double> ParseFloat(const std::string& raw) {
  std::string s(absl::StripAsciiWhitespace(raw));
  if (s.empty()) return std::nullopt;
  std::string lower = absl::AsciiStrToLower(s);
  if (lower == "inf" || lower == "+inf" || lower == "infinity" || lower == "+infinity") return INFINITY;
  if (lower == "-inf" || lower == "-infinity") return -INFINITY;
  if (lower == "nan" || lower == "+nan" || lower == "-nan") return NAN;
  for (char c : s) {
    if (!(absl::ascii_isdigit(c) || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-' || c == '_')) {
      return std::nullopt;
    }
  }
  std::string digits;
  for (char c : s) {
    if (c != '_') digits.push_back(c);
  }
  char* end = nullptr;
  const double d = std::strtod(digits.c_str(), &end);
  if (*end != '\0') return std::nullopt;
  return d;
}

// Python's round(x, n) on a float: exact decimal rounding of the binary value, ties to even.
double PyRound(double x, int64_t precision) {
  if (!std::isfinite(x)) return x;
  if (precision > 300) return x;
  if (precision < 0) {
    const double scale = std::pow(10.0, static_cast<double>(-precision));
    return std::nearbyint(x / scale) * scale;
  }
  char buf[512];
  std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(precision), x);
  return std::strtod(buf, nullptr);
}

std::string PosixBasename(const std::string& p) {
  const size_t slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

std::string PosixDirname(const std::string& p) {
  const size_t slash = p.rfind('/');
  if (slash == std::string::npos) return "";
  std::string head = p.substr(0, slash + 1);
  // posixpath.dirname strips trailing slashes unless the head is all slashes.
  if (head.find_first_not_of('/') != std::string::npos) {
    while (!head.empty() && head.back() == '/') head.pop_back();
  }
  return head;
}

Json Flatten(const Json& list, int64_t levels, bool skip_nulls) {
  Json out = Json::array();
  for (const auto& e : list) {
    if (skip_nulls && (e.is_null() || e == "None" || e == "null")) continue;
    if (e.is_array()) {
      if (levels < 0) {
        for (auto& x : Flatten(e, -1, skip_nulls)) out.push_back(x);
      } else if (levels >= 1) {
        for (auto& x : Flatten(e, levels - 1, skip_nulls)) out.push_back(x);
      } else {
        out.push_back(e);
      }
    } else {
      out.push_back(e);
    }
  }
  return out;
}

Json Combine(const Json& a, const Json& b, bool recursive, const std::string& list_merge) {
  Json out = a;
  for (const auto& [k, v] : b.items()) {
    auto it = out.find(k);
    if (recursive && it != out.end() && it->is_object() && v.is_object()) {
      *it = Combine(*it, v, true, list_merge);
    } else if (it != out.end() && it->is_array() && v.is_array() && list_merge != "replace") {
      Json merged = Json::array();
      if (list_merge == "keep") {
        merged = *it;
      } else if (list_merge == "append" || list_merge == "append_rp") {
        merged = *it;
        for (const auto& x : v) merged.push_back(x);
      } else {  // prepend, prepend_rp
        merged = v;
        for (const auto& x : *it) merged.push_back(x);
      }
      *it = merged;
    } else {
      out[k] = v;
    }
  }
  return out;
}

// Ansible's `lookup`/`query` plugins that make sense on a controller without inventory access.
absl::StatusOr<Json> RunLookup(Evaluator& ev, const std::string& plugin, const CallArgs& args) {
  Json terms = Json::array();
  Json kwargs = Json::object();
  for (size_t i = 1; i < args.values.size(); ++i) {
    ASSIGN_OR_RETURN(Json v, RequireJson(args.values[i]));
    if (args.names[i].empty()) terms.push_back(v);
    else kwargs[args.names[i]] = v;
  }
  Json results = Json::array();
  if (plugin == "env") {
    for (const auto& t : terms) {
      const std::string name = ToText(t);
      std::optional<std::string> value;
      if (ev.ctx().get_env) {
        value = ev.ctx().get_env(name);
      } else if (const char* env = std::getenv(name.c_str())) {
        value = env;
      }
      results.push_back(value ? Json(*value) : kwargs.value("default", Json("")));
    }
    return results;
  }
  if (plugin == "vars") {
    for (const auto& t : terms) {
      const std::string name = ToText(t);
      const auto* vars = ev.ctx().vars;
      std::optional<nlohmann::json> found;
      if (const auto* ordered = ev.ctx().ordered_vars; ordered != nullptr && ordered->contains(name)) {
        found = ToPlain((*ordered)[name]);
      }
      if (!found && vars != nullptr && vars->is_object() && vars->contains(name)) found = (*vars)[name];
      if (!found && ev.ctx().resolve) found = ev.ctx().resolve(name);
      if (found) {
        results.push_back(ToOrdered(*found));
      } else if (kwargs.contains("default")) {
        results.push_back(kwargs["default"]);
      } else {
        return UndefinedError(absl::StrCat("No variable found with this name: ", name));
      }
    }
    return results;
  }
  if (plugin == "items") {
    return Flatten(terms, 1, false);
  }
  if (plugin == "list") return terms;
  if (plugin == "file" || plugin == "template") {
    if (!ev.ctx().read_file) {
      return absl::FailedPreconditionError(absl::StrCat("file access is not available here (lookup('", plugin, "'))"));
    }
    for (const auto& t : terms) {
      const std::string path = ToText(t);
      auto content = ev.ctx().read_file(path);
      if (!content.ok()) {
        return absl::NotFoundError(absl::StrCat("could not locate file in lookup: ", path));
      }
      std::string text = *content;
      if (plugin == "file") {
        // The file lookup strips trailing whitespace by default (rstrip=True).
        if (kwargs.value("rstrip", true)) {
          while (!text.empty() && absl::ascii_isspace(text.back())) text.pop_back();
        }
      } else {
        ASSIGN_OR_RETURN(text, ev.RenderNested(text, path));
      }
      results.push_back(text);
    }
    return results;
  }
  return absl::UnimplementedError(absl::StrCat("lookup plugin '", plugin, "' is not supported by tachyon (supported: env, vars, file, template, items, list)"));
}

absl::StatusOr<Value> Lookup(Evaluator& ev, CallArgs& args, bool query) {
  if (args.values.empty()) return Fail("lookup() needs a plugin name");
  ASSIGN_OR_RETURN(Json name, RequireJson(args.values[0]));
  std::string plugin = ToText(name);
  if (absl::StartsWith(plugin, "ansible.builtin.")) plugin = plugin.substr(16);
  bool wantlist = query;
  for (size_t i = 0; i < args.names.size(); ++i) {
    if (args.names[i] == "wantlist") {
      wantlist = args.values[i].is_json() && Truthy(args.values[i].json());
      args.values.erase(args.values.begin() + static_cast<long>(i));
      args.names.erase(args.names.begin() + static_cast<long>(i));
      break;
    }
  }
  ASSIGN_OR_RETURN(Json results, RunLookup(ev, plugin, args));
  if (wantlist) return Value(results);
  // lookup() joins string results with commas; a single non-string result is returned as is.
  bool all_strings = std::all_of(results.begin(), results.end(), [](const Json& j) { return j.is_string(); });
  if (all_strings) {
    std::vector<std::string> parts;
    for (const auto& r : results) parts.push_back(r.get<std::string>());
    return Value(Json(absl::StrJoin(parts, ",")));
  }
  if (results.size() == 1) return Value(results[0]);
  return Value(results);
}

absl::StatusOr<Value> Range(Evaluator& ev, CallArgs& args) {
  std::vector<int64_t> n;
  for (size_t i = 0; i < args.values.size(); ++i) {
    ASSIGN_OR_RETURN(Json v, RequireJson(args.values[i]));
    if (!IsIntLike(v)) {
      return Fail(absl::StrCat("'", PythonTypeName(v), "' object cannot be interpreted as an integer"));
    }
    n.push_back(AsInt(v));
  }
  if (n.empty() || n.size() > 3) return Fail(absl::StrCat("range expected 1 to 3 arguments, got ", n.size()));
  int64_t start = 0, stop = 0, step = 1;
  if (n.size() == 1) {
    stop = n[0];
  } else {
    start = n[0];
    stop = n[1];
    if (n.size() == 3) step = n[2];
  }
  if (step == 0) return Fail("range() arg 3 must not be zero");
  const double count = std::ceil((static_cast<double>(stop) - static_cast<double>(start)) / static_cast<double>(step));
  if (count > static_cast<double>(ev.ctx().limits.max_range)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "Range too big. The sandbox blocks ranges larger than MAX_RANGE (", ev.ctx().limits.max_range, ")."));
  }
  Json out = Json::array();
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.push_back(i);
  return Value(std::move(out));
}

absl::StatusOr<Value> RegexSearch(const std::string& s, const std::string& pattern, const CallArgs& args) {
  RegexOptions options;
  std::vector<std::string> groups;
  for (size_t i = 2; i < args.values.size(); ++i) {
    ASSIGN_OR_RETURN(Json v, RequireJson(args.values[i]));
    if (args.names[i] == "ignorecase") options.ignorecase = Truthy(v);
    else if (args.names[i] == "multiline") options.multiline = Truthy(v);
    else if (args.names[i].empty() && v.is_string()) groups.push_back(v.get<std::string>());
    else return Fail(absl::StrCat("regex_search() got an unexpected argument"));
  }
  // Group arguments are checked before matching, as Ansible does: '\\1' or '\\g<1>'.
  std::vector<size_t> indexes;
  for (const auto& g : groups) {
    std::string idx;
    if (absl::StartsWith(g, "\\g<") && absl::EndsWith(g, ">")) {
      idx = g.substr(3, g.size() - 4);
    } else if (absl::StartsWith(g, "\\")) {
      size_t k = 1;
      while (k < g.size() && absl::ascii_isdigit(g[k])) ++k;
      idx = g.substr(1, k - 1);
    } else {
      return Fail("Unknown argument");
    }
    auto n = ParseInt(idx, 10);
    if (!n) {
      const auto names = NamedGroups(pattern);
      auto it = names.find(idx);
      if (it == names.end()) return Fail(absl::StrCat("no such group: ", idx));
      n = it->second;
    }
    if (*n < 0) return Fail(absl::StrCat("no such group: ", idx));
    indexes.push_back(static_cast<size_t>(*n));
  }
  ASSIGN_OR_RETURN(std::regex re, CompileRegex(pattern, options));
  RETURN_IF_ERROR(CheckRegexInput(re, s.size()));
  std::smatch m;
  if (!std::regex_search(s, m, re)) return Value(Json(nullptr));
  if (indexes.empty()) return Value(Json(m.str(0)));
  Json out = Json::array();
  for (size_t n : indexes) {
    if (n >= m.size()) return Fail("no such group");
    out.push_back(m[n].matched ? Json(m.str(n)) : Json(nullptr));
  }
  return Value(std::move(out));
}

}  // namespace

absl::Status TooManyArgs(std::string_view what) {
  return Fail(absl::StrCat(std::string(what), "() got too many arguments"));
}

std::optional<Value> Global(Evaluator& ev, std::string_view name) {
  Evaluator* e = &ev;
  if (name == "range") {
    return Value::Callable("range", [e](CallArgs& args) { return Range(*e, args); });
  }
  if (name == "lookup" || name == "query" || name == "q") {
    const bool query = name != "lookup";
    return Value::Callable(std::string(name), [e, query](CallArgs& args) { return Lookup(*e, args, query); });
  }
  if (name == "dict") {
    return Value::Callable("dict", [](CallArgs& args) -> absl::StatusOr<Value> {
      Json out = Json::object();
      for (size_t i = 0; i < args.values.size(); ++i) {
        ASSIGN_OR_RETURN(Json v, RequireJson(args.values[i]));
        if (!args.names[i].empty()) {
          out[args.names[i]] = v;
        } else if (v.is_object()) {
          for (const auto& [k, x] : v.items()) out[k] = x;
        } else if (v.is_array()) {
          for (const auto& pair : v) {
            if (!pair.is_array() || pair.size() != 2) return Fail("dictionary update sequence element has wrong length");
            out[pair[0].is_string() ? pair[0].get<std::string>() : ToText(pair[0])] = pair[1];
          }
        } else {
          return Fail(absl::StrCat("'", PythonTypeName(v), "' object is not iterable"));
        }
      }
      return Value(std::move(out));
    });
  }
  if (name == "namespace") {
    return Value::Callable("namespace", [](CallArgs& args) -> absl::StatusOr<Value> {
      Json attrs = Json::object();
      for (size_t i = 0; i < args.values.size(); ++i) {
        ASSIGN_OR_RETURN(Json v, RequireJson(args.values[i]));
        if (!args.names[i].empty()) attrs[args.names[i]] = v;
        else if (v.is_object()) attrs.update(v);
      }
      return Value::Namespace(std::move(attrs));
    });
  }
  return std::nullopt;
}

namespace {

// The filters Ansible itself ships: only these resolve as `ansible.builtin.<name>`; Jinja's
// built-ins (sort, map, join, ...) do not.
bool IsAnsibleBuiltinFilter(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      "b64decode", "b64encode", "basename", "bool", "checksum", "combinations", "combine",
      "comment", "dict2items", "difference", "dirname", "expanduser", "expandvars", "extract",
      "fileglob", "flatten", "from_json", "from_yaml", "from_yaml_all", "hash", "human_readable",
      "human_to_bytes", "intersect", "items2dict", "log", "mandatory", "md5", "password_hash",
      "path_join", "permutations", "pow", "product", "quote", "random", "realpath",
      "regex_escape", "regex_findall", "regex_replace", "regex_search", "rekey_on_member",
      "relpath", "root", "sha1", "shuffle", "split", "splitext", "strftime", "subelements",
      "symmetric_difference", "ternary", "to_datetime", "to_json", "to_nice_json",
      "to_nice_yaml", "to_uuid", "to_yaml", "type_debug", "union", "unique", "unvault",
      "urldecode", "urlsplit", "vault", "win_basename", "win_dirname", "win_splitdrive", "zip",
      "zip_longest", "min", "max"};
  return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames);
}

absl::StatusOr<Value> ApplyFilterImpl(Evaluator& ev, const std::string& name,
                                      const std::string& qualified, const Value& input,
                                      CallArgs& args);

}  // namespace

absl::StatusOr<Value> ApplyFilter(Evaluator& ev, const std::string& qualified, const Value& input,
                                  CallArgs& args) {
  std::string name = qualified;
  if (absl::StartsWith(name, "ansible.builtin.")) {
    name = name.substr(16);
    if (!IsAnsibleBuiltinFilter(name)) {
      return absl::NotFoundError(absl::StrCat("Could not load \"", qualified, "\": '", qualified, "'"));
    }
  }
  ASSIGN_OR_RETURN(Value result, ApplyFilterImpl(ev, name, qualified, input, args));
  using Shape = Value::Shape;
  if (name == "dictsort" || name == "items" || name == "zip" || name == "zip_longest" ||
      name == "groupby") {
    result.set_shape(Shape::kTupleList);
  } else if (name == "splitext") {
    result.set_shape(Shape::kTuple);
  } else if (input.shape() == Shape::kTupleList) {
    if (name == "first" || name == "last") result.set_shape(Shape::kTuple);
    if (name == "list" || name == "sort" || name == "reverse" || name == "unique" ||
        name == "select" || name == "reject" || name == "selectattr" || name == "rejectattr") {
      result.set_shape(Shape::kTupleList);
    }
  } else if (input.shape() == Shape::kTuple && name == "list") {
    result.set_shape(Shape::kPlain);
  }
  // Ansible matches C.STRING_TYPE_FILTERS by the name as written, so `ansible.builtin.to_json`
  // output is literal_eval'd like any other text.
  if (qualified == name && (name == "string" || name == "to_json" || name == "to_nice_json" ||
                            name == "to_yaml" || name == "to_nice_yaml")) {
    result.set_native_text(true);
  }
  return result;
}

namespace {

absl::StatusOr<Value> ApplyFilterImpl(Evaluator& ev, const std::string& name,
                                      const std::string& qualified, const Value& input,
                                      CallArgs& args) {
  Args a;
  auto bind = [&](std::initializer_list<std::string_view> params) { return BindArgs(args, name, params, &a); };
  const size_t max_bytes = ev.ctx().limits.max_output_bytes;

  // Filters that accept Undefined.
  if (name == "default" || name == "d") {
    RETURN_IF_ERROR(bind({"default_value", "boolean"}));
    const Value fallback = Has(a, 0) ? *a[0] : Value(Json(""));
    if (input.is_undefined()) return fallback;
    if (ArgBool(a, 1, false)) {
      ASSIGN_OR_RETURN(bool t, ev.IsTrue(input));
      if (!t) return fallback;
    }
    return input;
  }
  if (name == "mandatory") {
    RETURN_IF_ERROR(bind({"msg"}));
    if (input.is_undefined()) {
      if (Has(a, 0)) {
        ASSIGN_OR_RETURN(Json msg, RequireJson(*a[0]));
        return UndefinedError(ToText(msg));
      }
      return UndefinedError(absl::StrCat("Mandatory variable ", input.message().substr(0, input.message().find(" is undefined")), " not defined."));
    }
    return input;
  }
  if (name == "string") {
    RETURN_IF_ERROR(bind({}));
    ASSIGN_OR_RETURN(std::string s, ev.OutputText(input));
    if (input.is_json() && input.json().is_null()) s = "None";
    if (input.is_undefined()) return UndefinedError(input.message());
    return Value(Json(s));
  }

  // By reference: filters read their input, and copying a large result list per filter adds up.
  if (input.is_undefined()) return UndefinedError(input.message());
  if (input.is_callable()) return Fail(absl::StrCat("a function (", input.message(), ") is not a value"));
  const Json& v = input.is_namespace() ? input.namespace_attrs() : input.json();

  if (name == "int") {
    RETURN_IF_ERROR(bind({"default", "base"}));
    ASSIGN_OR_RETURN(Json def, ArgJson(a, 0, Json(0)));
    ASSIGN_OR_RETURN(Json base, ArgJson(a, 1, Json(10)));
    if (IsIntLike(v)) return Value(Json(AsInt(v)));
    if (v.is_number_float()) {
      const double d = v.get<double>();
      if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) return Value(def);
      return Value(Json(static_cast<int64_t>(d)));
    }
    if (v.is_string()) {
      if (auto n = ParseInt(v.get<std::string>(), static_cast<int>(AsInt(base)))) return Value(Json(*n));
      if (auto d = ParseFloat(v.get<std::string>())) {
        if (std::isfinite(*d) && std::fabs(*d) < 9.2e18) return Value(Json(static_cast<int64_t>(*d)));
      }
    }
    return Value(def);
  }
  if (name == "float") {
    RETURN_IF_ERROR(bind({"default"}));
    ASSIGN_OR_RETURN(Json def, ArgJson(a, 0, Json(0.0)));
    if (IsNumber(v)) return Value(Json(AsDouble(v)));
    if (v.is_string()) {
      if (auto d = ParseFloat(v.get<std::string>())) return Value(Json(*d));
    }
    return Value(def);
  }
  if (name == "bool") {
    RETURN_IF_ERROR(bind({}));
    if (v.is_boolean() || v.is_null()) return Value(v);  // Ansible's to_bool passes None through.
    if (v.is_string()) {
      const std::string s = absl::AsciiStrToLower(v.get<std::string>());
      return Value(Json(s == "yes" || s == "on" || s == "1" || s == "true"));
    }
    if (IsNumber(v)) return Value(Json(AsDouble(v) == 1.0));
    return Value(Json(false));
  }
  if (name == "length" || name == "count") {
    RETURN_IF_ERROR(bind({}));
    if (v.is_string()) return Value(Json(static_cast<int64_t>(CodePointLength(v.get<std::string>()))));
    if (v.is_array() || v.is_object()) return Value(Json(static_cast<int64_t>(v.size())));
    return Fail(absl::StrCat("object of type '", PythonTypeName(v), "' has no len()"));
  }
  if (name == "list") {
    RETURN_IF_ERROR(bind({}));
    ASSIGN_OR_RETURN(Json items, Items(v));
    return Value(std::move(items));
  }
  if (name == "join") {
    RETURN_IF_ERROR(bind({"d", "attribute"}));
    ASSIGN_OR_RETURN(Json sep, ArgJson(a, 0, Json("")));
    Json storage;
    ASSIGN_OR_RETURN(const Json* items_ptr, ItemsRef(v, &storage));
    const Json& items = *items_ptr;
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
      Json item = items[i];
      if (Has(a, 1)) {
        ASSIGN_OR_RETURN(Json attr, RequireJson(*a[1]));
        ASSIGN_OR_RETURN(Value got, Attribute(ev, item, attr));
        ASSIGN_OR_RETURN(item, RequireJson(got));
      }
      if (i > 0) out += ToText(sep);
      out += ToText(item);
      RETURN_IF_ERROR(ev.CheckSize(out.size()));
    }
    return Value(Json(out));
  }
  if (name == "first" || name == "last") {
    RETURN_IF_ERROR(bind({}));
    ASSIGN_OR_RETURN(Json items, Items(v));
    if (items.empty()) return Value::Undefined(absl::StrCat("No ", name, " item, sequence was empty."));
    return Value(name == "first" ? items.front() : items.back());
  }
  if (name == "min" || name == "max") {
    RETURN_IF_ERROR(bind({"case_sensitive", "attribute"}));
    ASSIGN_OR_RETURN(Json items, Items(v));
    if (items.empty()) return Value::Undefined("No aggregated item, sequence was empty.");
    const bool cs = ArgBool(a, 0, false);
    Json best;
    Json best_key;
    bool have = false;
    for (const auto& item : items) {
      Json key = item;
      if (Has(a, 1)) {
        ASSIGN_OR_RETURN(Json attr, RequireJson(*a[1]));
        ASSIGN_OR_RETURN(Value got, Attribute(ev, item, attr));
        ASSIGN_OR_RETURN(key, RequireJson(got));
      }
      key = Fold(key, cs);
      if (have) {
        ASSIGN_OR_RETURN(int c, Compare(key, best_key, "<"));
        if (!(name == "min" ? c < 0 : c > 0)) continue;
      }
      best = item;
      best_key = key;
      have = true;
    }
    return Value(best);
  }
  if (name == "sum") {
    RETURN_IF_ERROR(bind({"attribute", "start"}));
    ASSIGN_OR_RETURN(Json total, ArgJson(a, 1, Json(0)));
    Json storage;
    ASSIGN_OR_RETURN(const Json* items_ptr, ItemsRef(v, &storage));
    const Json& items = *items_ptr;
    for (const auto& item : items) {
      Json x = item;
      if (Has(a, 0)) {
        ASSIGN_OR_RETURN(Json attr, RequireJson(*a[0]));
        ASSIGN_OR_RETURN(Value got, Attribute(ev, item, attr));
        ASSIGN_OR_RETURN(x, RequireJson(got));
      }
      ASSIGN_OR_RETURN(total, BinaryOp("+", total, x, max_bytes));
    }
    return Value(total);
  }
  if (name == "unique") {
    RETURN_IF_ERROR(bind({"case_sensitive", "attribute"}));
    if (Has(a, 1)) return absl::UnimplementedError("unique(attribute=...) is not supported");
    ASSIGN_OR_RETURN(Json items, Items(v));
    // Ansible passes bool(None) == False to Jinja's unique: case-insensitive by default.
    return Value(Unique(items, ArgBool(a, 0, false)));
  }
  if (name == "sort") {
    RETURN_IF_ERROR(bind({"reverse", "case_sensitive", "attribute"}));
    ASSIGN_OR_RETURN(Json items, Items(v));
    const bool cs = ArgBool(a, 1, false);
    std::vector<std::pair<Json, Json>> keyed;
    std::vector<std::string> attrs;
    if (Has(a, 2)) {
      ASSIGN_OR_RETURN(Json attr, RequireJson(*a[2]));
      if (attr.is_string()) {
        for (auto part : absl::StrSplit(attr.get<std::string>(), ',')) attrs.emplace_back(absl::StripAsciiWhitespace(part));
      } else {
        attrs.push_back(ToText(attr));
      }
    }
    for (const auto& item : items) {
      Json key;
      if (attrs.empty()) {
        key = Fold(item, cs);
      } else {
        Json parts = Json::array();
        for (const auto& attr : attrs) {
          ASSIGN_OR_RETURN(Value got, Attribute(ev, item, Json(attr)));
          ASSIGN_OR_RETURN(Json k, RequireJson(got));
          parts.push_back(Fold(k, cs));
        }
        key = attrs.size() == 1 ? parts[0] : parts;
      }
      keyed.emplace_back(key, item);
    }
    RETURN_IF_ERROR(SortJson(&keyed, ArgBool(a, 0, false)));
    Json out = Json::array();
    for (auto& [k, item] : keyed) out.push_back(item);
    return Value(std::move(out));
  }
  if (name == "reverse") {
    RETURN_IF_ERROR(bind({}));
    if (v.is_string()) {
      std::u32string s = DecodeUtf8(v.get<std::string>());
      std::reverse(s.begin(), s.end());
      return Value(Json(EncodeUtf8(s)));
    }
    ASSIGN_OR_RETURN(Json items, Items(v));
    std::reverse(items.begin(), items.end());
    return Value(std::move(items));
  }
  if (name == "map") {
    Json storage;
    ASSIGN_OR_RETURN(const Json* items_ptr, ItemsRef(v, &storage));
    const Json& items = *items_ptr;
    Json out = Json::array();
    // map(attribute='x', default=...) or map('filter', args...).
    std::optional<Json> attribute;
    std::optional<Value> def;
    CallArgs rest;
    for (size_t i = 0; i < args.values.size(); ++i) {
      if (args.names[i] == "attribute") {
        ASSIGN_OR_RETURN(Json at, RequireJson(args.values[i]));
        attribute = at;
      } else if (args.names[i] == "default") {
        def = args.values[i];
      } else {
        rest.values.push_back(args.values[i]);
        rest.names.push_back(args.names[i]);
      }
    }
    if (attribute) {
      for (const auto& item : items) {
        ASSIGN_OR_RETURN(Value got, Attribute(ev, item, *attribute));
        if (got.is_undefined() && def) got = *def;
        ASSIGN_OR_RETURN(Json j, RequireJson(got));
        out.push_back(j);
      }
      return Value(std::move(out));
    }
    if (rest.values.empty()) return Fail("map requires a filter argument");
    ASSIGN_OR_RETURN(Json filter, RequireJson(rest.values[0]));
    rest.values.erase(rest.values.begin());
    rest.names.erase(rest.names.begin());
    for (const auto& item : items) {
      CallArgs copy = rest;
      ASSIGN_OR_RETURN(Value r, ApplyFilter(ev, ToText(filter), Value(item), copy));
      ASSIGN_OR_RETURN(Json j, RequireJson(r));
      out.push_back(j);
    }
    return Value(std::move(out));
  }
  if (name == "select" || name == "reject" || name == "selectattr" || name == "rejectattr") {
    Json storage;
    ASSIGN_OR_RETURN(const Json* items_ptr, ItemsRef(v, &storage));
    const Json& items = *items_ptr;
    const bool attr_mode = name == "selectattr" || name == "rejectattr";
    const bool keep_when = name == "select" || name == "selectattr";
    CallArgs rest = args;
    Json attribute;
    if (attr_mode) {
      if (rest.values.empty()) return Fail(absl::StrCat(name, "() missing the attribute argument"));
      ASSIGN_OR_RETURN(attribute, RequireJson(rest.values[0]));
      rest.values.erase(rest.values.begin());
      rest.names.erase(rest.names.begin());
    }
    std::optional<std::string> test;
    if (!rest.values.empty()) {
      ASSIGN_OR_RETURN(Json t, RequireJson(rest.values[0]));
      test = ToText(t);
      rest.values.erase(rest.values.begin());
      rest.names.erase(rest.names.begin());
    }
    Json out = Json::array();
    for (const auto& item : items) {
      Value subject(item);
      if (attr_mode) {
        ASSIGN_OR_RETURN(subject, Attribute(ev, item, attribute));
      }
      bool t;
      if (test) {
        CallArgs copy = rest;
        ASSIGN_OR_RETURN(Value r, ApplyTest(ev, *test, subject, copy));
        ASSIGN_OR_RETURN(t, ev.IsTrue(r));
      } else {
        ASSIGN_OR_RETURN(t, ev.IsTrue(subject));
      }
      if (t == keep_when) out.push_back(item);
    }
    return Value(std::move(out));
  }
  if (name == "groupby") {
    RETURN_IF_ERROR(bind({"attribute", "default", "case_sensitive"}));
    if (!Has(a, 0)) return Fail("groupby() missing 1 required positional argument: 'attribute'");
    ASSIGN_OR_RETURN(Json attr, RequireJson(*a[0]));
    ASSIGN_OR_RETURN(Json items, Items(v));
    const bool cs = ArgBool(a, 2, false);
    std::vector<std::pair<Json, Json>> keyed;
    for (const auto& item : items) {
      ASSIGN_OR_RETURN(Value got, Attribute(ev, item, attr));
      if (got.is_undefined() && Has(a, 1)) got = *a[1];
      ASSIGN_OR_RETURN(Json key, RequireJson(got));
      keyed.emplace_back(Fold(key, cs), Json::array({key, item}));
    }
    RETURN_IF_ERROR(SortJson(&keyed, false));
    Json out = Json::array();
    for (auto& [key, pair] : keyed) {
      if (!out.empty() && Equals(Fold(out.back()[0], cs), key)) {
        out.back()[1].push_back(pair[1]);
      } else {
        out.push_back(Json::array({pair[0], Json::array({pair[1]})}));
      }
    }
    return Value(std::move(out));
  }
  if (name == "batch" || name == "slice") {
    RETURN_IF_ERROR(bind({name == "batch" ? "linecount" : "slices", "fill_with"}));
    ASSIGN_OR_RETURN(Json n_json, ArgJson(a, 0, Json(nullptr)));
    if (!IsIntLike(n_json) || AsInt(n_json) <= 0) return Fail(absl::StrCat(name, "() needs a positive count"));
    const int64_t n = std::min<int64_t>(AsInt(n_json), 1 << 20);
    ASSIGN_OR_RETURN(Json items, Items(v));
    Json out = Json::array();
    if (name == "batch") {
      Json tmp = Json::array();
      for (const auto& item : items) {
        if (static_cast<int64_t>(tmp.size()) == n) {
          out.push_back(tmp);
          tmp = Json::array();
        }
        tmp.push_back(item);
      }
      if (!tmp.empty()) {
        if (Has(a, 1)) {
          ASSIGN_OR_RETURN(Json fill, RequireJson(*a[1]));
          while (static_cast<int64_t>(tmp.size()) < n) tmp.push_back(fill);
        }
        out.push_back(tmp);
      }
      return Value(std::move(out));
    }
    const int64_t len = static_cast<int64_t>(items.size());
    const int64_t per = len / n, extra = len % n;
    int64_t offset = 0;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t start = offset + i * per;
      if (i < extra) ++offset;
      const int64_t end = offset + (i + 1) * per;
      Json part = Json::array();
      for (int64_t k = start; k < end; ++k) part.push_back(items[static_cast<size_t>(k)]);
      if (Has(a, 1) && i >= extra) {
        ASSIGN_OR_RETURN(Json fill, RequireJson(*a[1]));
        part.push_back(fill);
      }
      out.push_back(part);
    }
    return Value(std::move(out));
  }
  if (name == "dictsort") {
    RETURN_IF_ERROR(bind({"case_sensitive", "by", "reverse"}));
    if (!v.is_object()) return Fail("dictsort expects a dictionary");
    ASSIGN_OR_RETURN(Json by, ArgJson(a, 1, Json("key")));
    const bool by_value = by == "value";
    if (!by_value && by != "key") return Fail("You can only sort by either \"key\" or \"value\"");
    std::vector<std::pair<Json, Json>> keyed;
    for (const auto& [k, x] : v.items()) {
      keyed.emplace_back(Fold(by_value ? x : Json(k), ArgBool(a, 0, false)), Json::array({k, x}));
    }
    RETURN_IF_ERROR(SortJson(&keyed, ArgBool(a, 2, false)));
    Json out = Json::array();
    for (auto& [k, pair] : keyed) out.push_back(pair);
    return Value(std::move(out));
  }
  if (name == "items") {
    RETURN_IF_ERROR(bind({}));
    if (!v.is_object()) return Fail(absl::StrCat("Can only get item pairs from a mapping."));
    Json out = Json::array();
    for (const auto& [k, x] : v.items()) out.push_back(Json::array({k, x}));
    return Value(std::move(out));
  }
  if (name == "dict2items") {
    RETURN_IF_ERROR(bind({"key_name", "value_name"}));
    if (!v.is_object()) {
      return Fail(absl::StrCat("dict2items requires a dictionary, got ", PythonTypeName(v), " instead."));
    }
    ASSIGN_OR_RETURN(Json key_name, ArgJson(a, 0, Json("key")));
    ASSIGN_OR_RETURN(Json value_name, ArgJson(a, 1, Json("value")));
    Json out = Json::array();
    for (const auto& [k, x] : v.items()) {
      Json entry = Json::object();
      entry[ToText(key_name)] = k;
      entry[ToText(value_name)] = x;
      out.push_back(entry);
    }
    return Value(std::move(out));
  }
  if (name == "items2dict") {
    RETURN_IF_ERROR(bind({"key_name", "value_name"}));
    if (!v.is_array()) {
      return Fail(absl::StrCat("items2dict requires a list, got ", PythonTypeName(v), " instead."));
    }
    ASSIGN_OR_RETURN(Json key_name, ArgJson(a, 0, Json("key")));
    ASSIGN_OR_RETURN(Json value_name, ArgJson(a, 1, Json("value")));
    Json out = Json::object();
    for (const auto& item : v) {
      if (!item.is_object()) {
        return Fail(absl::StrCat("items2dict requires a list of dictionaries, got ", PythonTypeName(item), " instead."));
      }
      const std::string kn = ToText(key_name), vn = ToText(value_name);
      if (!item.contains(kn) || !item.contains(vn)) {
        return Fail(absl::StrCat("items2dict requires each dictionary in the list to contain the keys '", kn,
                                 "' and '", vn, "', got ", Repr(item), " instead."));
      }
      out[item[kn].is_string() ? item[kn].get<std::string>() : ToText(item[kn])] = item[vn];
    }
    return Value(std::move(out));
  }
  if (name == "combine") {
    Json out = v;
    bool recursive = false;
    std::string list_merge = "replace";
    std::vector<Json> dicts{v};
    for (size_t i = 0; i < args.values.size(); ++i) {
      ASSIGN_OR_RETURN(Json x, RequireJson(args.values[i]));
      if (args.names[i] == "recursive") {
        recursive = Truthy(x);
      } else if (args.names[i] == "list_merge") {
        list_merge = ToText(x);
      } else if (!args.names[i].empty()) {
        return Fail(absl::StrCat("'", args.names[i], "' is an invalid keyword argument for combine()"));
      } else if (x.is_array()) {
        for (const auto& d : Flatten(x, -1, false)) dicts.push_back(d);
      } else {
        dicts.push_back(x);
      }
    }
    Json result = Json::object();
    for (const auto& d : dicts) {
      if (!d.is_object()) {
        return Fail(absl::StrCat("combine expects dictionaries, got ", Repr(d)));
      }
      result = Combine(result, d, recursive, list_merge);
    }
    return Value(std::move(result));
  }
  if (name == "flatten") {
    RETURN_IF_ERROR(bind({"levels", "skip_nulls"}));
    if (!v.is_array()) return Fail("flatten expects a list");
    ASSIGN_OR_RETURN(Json levels, ArgJson(a, 0, Json(nullptr)));
    return Value(Flatten(v, levels.is_null() ? -1 : AsInt(levels), ArgBool(a, 1, true)));
  }
  if (name == "zip" || name == "zip_longest") {
    std::vector<Json> lists;
    ASSIGN_OR_RETURN(Json first, Items(v));
    lists.push_back(first);
    Json fill = nullptr;
    for (size_t i = 0; i < args.values.size(); ++i) {
      ASSIGN_OR_RETURN(Json x, RequireJson(args.values[i]));
      if (args.names[i] == "fillvalue") {
        fill = x;
        continue;
      }
      ASSIGN_OR_RETURN(Json items, Items(x));
      lists.push_back(items);
    }
    size_t n = name == "zip" ? SIZE_MAX : 0;
    for (const auto& l : lists) n = name == "zip" ? std::min(n, l.size()) : std::max(n, l.size());
    Json out = Json::array();
    for (size_t i = 0; i < n; ++i) {
      Json row = Json::array();
      for (const auto& l : lists) row.push_back(i < l.size() ? l[i] : fill);
      out.push_back(row);
    }
    return Value(std::move(out));
  }
  if (name == "difference" || name == "intersect" || name == "union" || name == "symmetric_difference") {
    RETURN_IF_ERROR(bind({"b"}));
    if (!Has(a, 0)) return Fail(absl::StrCat(name, "() missing 1 required positional argument: 'b'"));
    ASSIGN_OR_RETURN(Json other, RequireJson(*a[0]));
    ASSIGN_OR_RETURN(Json la, Items(v));
    ASSIGN_OR_RETURN(Json lb, Items(other));
    auto in = [](const Json& list, const Json& x) {
      for (const auto& y : list) {
        if (Equals(x, y)) return true;
      }
      return false;
    };
    Json out = Json::array();
    if (name == "union") {
      Json both = la;
      for (const auto& x : lb) both.push_back(x);
      return Value(Unique(both, true));
    }
    if (name == "intersect" || name == "difference") {
      for (const auto& x : la) {
        if (in(lb, x) == (name == "intersect")) out.push_back(x);
      }
      return Value(Unique(out, true));
    }
    Json isect = Json::array();
    for (const auto& x : la) {
      if (in(lb, x)) isect.push_back(x);
    }
    Json both = la;
    for (const auto& x : lb) both.push_back(x);
    for (const auto& x : Unique(both, true)) {
      if (!in(isect, x)) out.push_back(x);
    }
    return Value(std::move(out));
  }
  if (name == "ternary") {
    RETURN_IF_ERROR(bind({"true_val", "false_val", "none_val"}));
    if (v.is_null() && Has(a, 2)) {
      ASSIGN_OR_RETURN(Json none_val, RequireJson(*a[2]));
      if (!none_val.is_null()) return *a[2];
    }
    if (Truthy(v)) return Has(a, 0) ? *a[0] : Value(Json(true));
    return Has(a, 1) ? *a[1] : Value(Json(false));
  }
  if (name == "regex_replace" || name == "regex_findall" || name == "regex_search") {
    if (!v.is_string() && !IsNumber(v)) {
      return Fail(absl::StrCat(name, " expects a string, got ", PythonTypeName(v)));
    }
    const std::string s = ToText(v);
    if (name == "regex_search") {
      if (args.values.empty()) return Fail("regex_search() missing 1 required positional argument: 'regex'");
      ASSIGN_OR_RETURN(Json pattern, RequireJson(args.values[0]));
      CallArgs shifted;
      shifted.values.push_back(Value(Json(nullptr)));
      shifted.names.push_back("");
      for (size_t i = 0; i < args.values.size(); ++i) {
        shifted.values.push_back(args.values[i]);
        shifted.names.push_back(args.names[i]);
      }
      return RegexSearch(s, ToText(pattern), shifted);
    }
    if (name == "regex_replace") {
      RETURN_IF_ERROR(bind({"pattern", "replacement", "ignorecase", "multiline"}));
    } else {
      RETURN_IF_ERROR(bind({"regex", "multiline", "ignorecase"}));
    }
    ASSIGN_OR_RETURN(Json pattern, ArgJson(a, 0, Json("")));
    RegexOptions options;
    if (name == "regex_replace") {
      options.ignorecase = ArgBool(a, 2, false);
      options.multiline = ArgBool(a, 3, false);
    } else {
      options.multiline = ArgBool(a, 1, false);
      options.ignorecase = ArgBool(a, 2, false);
    }
    ASSIGN_OR_RETURN(std::regex re, CompileRegex(ToText(pattern), options));
    RETURN_IF_ERROR(CheckRegexInput(re, s.size()));
    if (name == "regex_replace") {
      ASSIGN_OR_RETURN(Json repl, ArgJson(a, 1, Json("")));
      ASSIGN_OR_RETURN(const std::string fmt, PythonReplacement(ToText(repl), NamedGroups(ToText(pattern))));
      std::string out;
      auto begin = std::sregex_iterator(s.begin(), s.end(), re);
      size_t last = 0;
      for (auto it = begin; it != std::sregex_iterator(); ++it) {
        const auto& m = *it;
        out.append(s, last, static_cast<size_t>(m.position(0)) - last);
        out += m.format(fmt);
        RETURN_IF_ERROR(ev.CheckSize(out.size()));
        last = static_cast<size_t>(m.position(0) + m.length(0));
      }
      out.append(s, last, std::string::npos);
      return Value(Json(out));
    }
    Json out = Json::array();
    for (auto it = std::sregex_iterator(s.begin(), s.end(), re); it != std::sregex_iterator(); ++it) {
      const auto& m = *it;
      if (m.size() == 1) {
        out.push_back(m.str(0));
      } else if (m.size() == 2) {
        out.push_back(m.str(1));
      } else {
        Json row = Json::array();
        for (size_t g = 1; g < m.size(); ++g) row.push_back(m.str(g));
        out.push_back(row);
      }
    }
    return Value(std::move(out));
  }
  if (name == "regex_escape") {
    RETURN_IF_ERROR(bind({"re_type"}));
    std::string out;
    for (char c : ToText(v)) {
      if (!absl::ascii_isalnum(c) && c != '_' && static_cast<unsigned char>(c) < 0x80) out.push_back('\\');
      out.push_back(c);
    }
    return Value(Json(out));
  }
  if (name == "to_json" || name == "to_nice_json" || name == "tojson") {
    RETURN_IF_ERROR(bind({"indent", "sort_keys", "ensure_ascii"}));
    PyJsonOptions o;
    if (name == "to_nice_json") {
      o.indent = 4;
      o.sort_keys = true;
      o.item_separator = ",";
    }
    if (name == "tojson") o.sort_keys = true;
    ASSIGN_OR_RETURN(Json indent, ArgJson(a, 0, Json(nullptr)));
    if (!indent.is_null()) {
      o.indent = static_cast<int>(std::clamp<int64_t>(AsInt(indent), 0, 64));
      o.item_separator = ",";
    }
    o.sort_keys = ArgBool(a, 1, o.sort_keys);
    o.ensure_ascii = ArgBool(a, 2, true);
    std::string out = PyJsonDumps(v, o);
    if (name == "tojson") {
      // Jinja's htmlsafe_json_dumps.
      std::string safe;
      for (char c : out) {
        if (c == '<') safe += "\\u003c";
        else if (c == '>') safe += "\\u003e";
        else if (c == '&') safe += "\\u0026";
        else if (c == '\'') safe += "\\u0027";
        else safe.push_back(c);
      }
      out = safe;
    }
    return Value(Json(out));
  }
  if (name == "from_json") {
    RETURN_IF_ERROR(bind({}));
    if (!v.is_string()) return Fail(absl::StrCat("the JSON object must be str, bytes or bytearray, not ", PythonTypeName(v)));
    RETURN_IF_ERROR(CheckNesting(v.get<std::string>()));
    Json parsed = Json::parse(v.get<std::string>(), nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) return Fail("Expecting value: the string is not valid JSON");
    return Value(std::move(parsed));
  }
  if (name == "to_yaml" || name == "to_nice_yaml") {
    RETURN_IF_ERROR(bind({"indent", "default_flow_style"}));
    PyYamlOptions o;
    if (name == "to_nice_yaml") {
      o.flow_leaves = false;
      o.indent = 4;
    }
    ASSIGN_OR_RETURN(Json indent, ArgJson(a, 0, Json(nullptr)));
    if (IsIntLike(indent)) o.indent = static_cast<int>(std::clamp<int64_t>(AsInt(indent), 2, 9));
    if (Has(a, 1)) {
      ASSIGN_OR_RETURN(Json dfs, RequireJson(*a[1]));
      if (dfs.is_boolean()) {
        if (dfs.get<bool>()) return absl::UnimplementedError("default_flow_style=True is not supported");
        o.flow_leaves = false;
      }
    }
    return Value(Json(PyYamlDump(v, o)));
  }
  if (name == "from_yaml") {
    RETURN_IF_ERROR(bind({}));
    if (!v.is_string()) return Value(v);
    RETURN_IF_ERROR(CheckNesting(v.get<std::string>()));
    ASSIGN_OR_RETURN(Json parsed, YamlToJson(v.get<std::string>()));
    return Value(std::move(parsed));
  }
  if (name == "basename" || name == "dirname") {
    RETURN_IF_ERROR(bind({}));
    if (!v.is_string()) return Fail(absl::StrCat("expected str, bytes or os.PathLike object, not ", PythonTypeName(v)));
    const std::string p = v.get<std::string>();
    return Value(Json(name == "basename" ? PosixBasename(p) : PosixDirname(p)));
  }
  if (name == "b64encode") {
    RETURN_IF_ERROR(bind({"encoding"}));
    return Value(Json(absl::Base64Escape(ToText(v))));
  }
  if (name == "b64decode") {
    RETURN_IF_ERROR(bind({"encoding"}));
    std::string out;
    if (!absl::Base64Unescape(ToText(v), &out)) return Fail("Incorrect padding");
    return Value(Json(out));
  }
  if (name == "hash" || name == "checksum" || name == "md5" || name == "sha1") {
    RETURN_IF_ERROR(bind({"hashtype"}));
    std::string algorithm = name == "md5" ? "md5" : "sha1";
    if (name == "hash" && Has(a, 0)) {
      ASSIGN_OR_RETURN(Json h, RequireJson(*a[0]));
      algorithm = ToText(h);
    }
    ASSIGN_OR_RETURN(std::string digest, Digest(algorithm, ToText(v)));
    return Value(Json(digest));
  }
  if (name == "quote") {
    RETURN_IF_ERROR(bind({}));
    return Value(Json(ShellQuote(v.is_null() ? "" : ToText(v))));
  }
  if (name == "format") {
    Json fmt_args = Json::array();
    Json kwargs = Json::object();
    for (size_t i = 0; i < args.values.size(); ++i) {
      ASSIGN_OR_RETURN(Json x, RequireJson(args.values[i]));
      if (args.names[i].empty()) fmt_args.push_back(x);
      else kwargs[args.names[i]] = x;
    }
    if (!kwargs.empty() && !fmt_args.empty()) return Fail("can't handle positional and keyword arguments at the same time");
    ASSIGN_OR_RETURN(std::string out, PercentFormat(ToText(v), kwargs.empty() ? fmt_args : kwargs));
    return Value(Json(out));
  }
  if (name == "truncate") {
    RETURN_IF_ERROR(bind({"length", "killwords", "end", "leeway"}));
    ASSIGN_OR_RETURN(Json length_j, ArgJson(a, 0, Json(255)));
    ASSIGN_OR_RETURN(Json end_j, ArgJson(a, 2, Json("...")));
    ASSIGN_OR_RETURN(Json leeway_j, ArgJson(a, 3, Json(5)));
    const std::u32string s = DecodeUtf8(ToText(v));
    const std::u32string end = DecodeUtf8(ToText(end_j));
    const int64_t length = AsInt(length_j), leeway = AsInt(leeway_j);
    if (length < static_cast<int64_t>(end.size())) return Fail("expected length >= " + std::to_string(end.size()) + ", got " + std::to_string(length));
    if (leeway < 0) return Fail("expected leeway >= 0, got " + std::to_string(leeway));
    if (static_cast<int64_t>(s.size()) <= length + leeway) return Value(Json(EncodeUtf8(s)));
    std::u32string head = s.substr(0, static_cast<size_t>(length) - end.size());
    if (!ArgBool(a, 1, false)) {
      const size_t space = head.rfind(U' ');
      if (space != std::u32string::npos) head = head.substr(0, space);
    }
    return Value(Json(EncodeUtf8(head + end)));
  }
  if (name == "title") {
    RETURN_IF_ERROR(bind({}));
    return Value(Json(JinjaTitle(ToText(v))));
  }
  if (name == "capitalize" || name == "lower" || name == "upper") {
    RETURN_IF_ERROR(bind({}));
    auto method = BindMethod(Json(ToText(v)), name);
    CallArgs none;
    return method->function()(none);
  }
  if (name == "replace") {
    RETURN_IF_ERROR(bind({"old", "new", "count"}));
    auto method = BindMethod(Json(ToText(v)), "replace");
    CallArgs pass;
    for (size_t i = 0; i < 3; ++i) {
      if (!Has(a, i)) break;
      if (i == 2) {
        ASSIGN_OR_RETURN(Json c, RequireJson(*a[i]));
        if (c.is_null()) break;
      }
      pass.values.push_back(*a[i]);
      pass.names.push_back("");
    }
    return method->function()(pass);
  }
  if (name == "trim") {
    RETURN_IF_ERROR(bind({"chars"}));
    auto method = BindMethod(Json(ToText(v)), "strip");
    CallArgs pass;
    if (Has(a, 0)) {
      pass.values.push_back(*a[0]);
      pass.names.push_back("");
    }
    return method->function()(pass);
  }
  if (name == "split") {
    RETURN_IF_ERROR(bind({"sep", "maxsplit"}));
    if (!v.is_string()) return Fail(absl::StrCat("split expects a string, got ", PythonTypeName(v)));
    auto method = BindMethod(v, "split");
    CallArgs pass;
    for (size_t i = 0; i < 2 && Has(a, i); ++i) {
      pass.values.push_back(*a[i]);
      pass.names.push_back("");
    }
    return method->function()(pass);
  }
  if (name == "center") {
    RETURN_IF_ERROR(bind({"width"}));
    auto method = BindMethod(Json(ToText(v)), "center");
    CallArgs pass;
    pass.values.push_back(Has(a, 0) ? *a[0] : Value(Json(80)));
    pass.names.push_back("");
    return method->function()(pass);
  }
  if (name == "wordcount") {
    RETURN_IF_ERROR(bind({}));
    int64_t n = 0;
    bool in_word = false;
    for (char c : ToText(v)) {
      const bool word = absl::ascii_isalnum(c) || c == '_' || static_cast<unsigned char>(c) >= 0x80;
      if (word && !in_word) ++n;
      in_word = word;
    }
    return Value(Json(n));
  }
  if (name == "indent") {
    RETURN_IF_ERROR(bind({"width", "first", "blank"}));
    ASSIGN_OR_RETURN(Json width, ArgJson(a, 0, Json(4)));
    const std::string pad = width.is_string() ? width.get<std::string>()
                                              : std::string(static_cast<size_t>(std::clamp<int64_t>(AsInt(width), 0, 1000)), ' ');
    const std::string s = ToText(v);
    std::vector<std::string> lines = absl::StrSplit(s, '\n');
    std::string out;
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i > 0) out += "\n";
      const bool blank = absl::StripAsciiWhitespace(lines[i]).empty();
      if ((i > 0 || ArgBool(a, 1, false)) && (!blank || ArgBool(a, 2, false))) out += pad;
      out += lines[i];
      RETURN_IF_ERROR(ev.CheckSize(out.size()));
    }
    return Value(Json(out));
  }
  if (name == "round") {
    RETURN_IF_ERROR(bind({"precision", "method"}));
    ASSIGN_OR_RETURN(Json precision, ArgJson(a, 0, Json(0)));
    ASSIGN_OR_RETURN(Json method, ArgJson(a, 1, Json("common")));
    if (!IsNumber(v)) return Fail(absl::StrCat("type ", PythonTypeName(v), " doesn't define __round__ method"));
    const std::string m = ToText(method);
    if (m != "common" && m != "ceil" && m != "floor") return Fail("method must be common, ceil or floor");
    const int64_t p = AsInt(precision);
    if (m == "common") {
      if (IsIntLike(v)) return Value(Json(AsInt(v)));
      return Value(Json(PyRound(v.get<double>(), p)));
    }
    const double scale = std::pow(10.0, static_cast<double>(p));
    const double x = AsDouble(v) * scale;
    return Value(Json((m == "ceil" ? std::ceil(x) : std::floor(x)) / scale));
  }
  if (name == "abs") {
    RETURN_IF_ERROR(bind({}));
    if (IsIntLike(v)) {
      const int64_t n = AsInt(v);
      if (n == INT64_MIN) return absl::OutOfRangeError("integer overflow: tachyon's integers are 64-bit");
      return Value(Json(n < 0 ? -n : n));
    }
    if (v.is_number_float()) return Value(Json(std::fabs(v.get<double>())));
    return Fail(absl::StrCat("bad operand type for abs(): '", PythonTypeName(v), "'"));
  }
  if (name == "pow" || name == "log" || name == "root") {
    RETURN_IF_ERROR(bind({"x"}));
    if (!IsNumber(v)) return Fail(absl::StrCat(name, "() can only be used on numbers"));
    if (name == "pow") {
      ASSIGN_OR_RETURN(Json x, ArgJson(a, 0, Json(nullptr)));
      if (!IsNumber(x)) return Fail("pow() can only be used on numbers");
      return Value(Json(std::pow(AsDouble(v), AsDouble(x))));
    }
    if (name == "log") {
      ASSIGN_OR_RETURN(Json base, ArgJson(a, 0, Json(nullptr)));
      if (AsDouble(v) <= 0) return Fail("math domain error");
      if (base.is_null()) return Value(Json(std::log(AsDouble(v))));
      if (AsDouble(base) == 10) return Value(Json(std::log10(AsDouble(v))));
      return Value(Json(std::log(AsDouble(v)) / std::log(AsDouble(base))));
    }
    ASSIGN_OR_RETURN(Json base, ArgJson(a, 0, Json(2)));
    if (AsDouble(base) == 2) return Value(Json(std::sqrt(AsDouble(v))));
    return Value(Json(std::pow(AsDouble(v), 1.0 / AsDouble(base))));
  }
  if (name == "attr") {
    RETURN_IF_ERROR(bind({"name"}));
    ASSIGN_OR_RETURN(Json attr, ArgJson(a, 0, Json("")));
    // Jinja's attr() uses getattr() only: dict keys are not attributes.
    if (auto method = BindMethod(v, ToText(attr))) return *method;
    return Value::Undefined(absl::StrCat("'", PythonTypeName(v), " object' has no attribute ", Repr(Json(ToText(attr)))));
  }
  if (name == "extract") {
    RETURN_IF_ERROR(bind({"container", "morekeys"}));
    if (!Has(a, 0)) return Fail("extract() missing 1 required positional argument: 'container'");
    ASSIGN_OR_RETURN(Value cur, ev.GetItem(*a[0], input));
    if (Has(a, 1)) {
      ASSIGN_OR_RETURN(Json more, RequireJson(*a[1]));
      if (!more.is_array()) more = Json::array({more});
      for (const auto& k : more) {
        ASSIGN_OR_RETURN(cur, ev.GetItem(cur, Value(k)));
      }
    }
    return cur;
  }
  if (name == "escape" || name == "e" || name == "forceescape") {
    RETURN_IF_ERROR(bind({}));
    std::string out;
    for (char c : v.is_null() ? std::string("None") : ToText(v)) {
      switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&#34;"; break;
        case '\'': out += "&#39;"; break;
        default: out.push_back(c);
      }
    }
    return Value(Json(out));
  }
  if (name == "safe") return Value(v);
  if (name == "type_debug") {
    RETURN_IF_ERROR(bind({}));
    return Value(Json(PythonTypeName(v)));
  }
  if (name == "splitext") {
    RETURN_IF_ERROR(bind({}));
    const std::string p = ToText(v);
    const std::string base = PosixBasename(p);
    const size_t dot = base.rfind('.');
    if (dot == std::string::npos || base.find_first_not_of('.') > dot) return Value(Json::array({p, ""}));
    const size_t cut = p.size() - (base.size() - dot);
    return Value(Json::array({p.substr(0, cut), p.substr(cut)}));
  }
  if (name == "path_join") {
    RETURN_IF_ERROR(bind({}));
    ASSIGN_OR_RETURN(Json parts, Items(v.is_string() ? Json::array({v}) : v));
    std::string out;
    for (const auto& part : parts) {
      const std::string s = ToText(part);
      if (absl::StartsWith(s, "/")) out = s;
      else if (out.empty() || absl::EndsWith(out, "/")) out += s;
      else out += "/" + s;
    }
    return Value(Json(out));
  }
  if (name == "random" || name == "shuffle" || name == "password_hash" || name == "to_uuid" ||
      name == "strftime" || name == "to_datetime" || name == "vault" || name == "unvault") {
    return absl::UnimplementedError(absl::StrCat("the '", name, "' filter is not supported by tachyon's template engine"));
  }
  return absl::NotFoundError(absl::StrCat("No filter named '", qualified, "'."));
}

}  // namespace

}  // namespace tachyon::tmpl
