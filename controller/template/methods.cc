// The Python methods of str, list and dict that playbooks call (`x.split(',')`, `d.get('k')`).

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status.h"
#include "controller/template/eval.h"

namespace tachyon::tmpl {
namespace {

bool IsPySpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

absl::StatusOr<std::string> StringArg(const std::optional<Value>& v, std::string_view what) {
  if (!v) return std::string();
  if (v->is_undefined()) return UndefinedError(v->message());
  if (!v->json().is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(what), " arg must be None or str, not ",
                                                   PythonTypeName(v->json())));
  }
  return v->json().get<std::string>();
}

std::string Strip(const std::string& s, const std::optional<std::string>& chars, bool left, bool right) {
  auto strip_char = [&](char c) {
    return chars ? chars->find(c) != std::string::npos : IsPySpace(c);
  };
  size_t b = 0, e = s.size();
  if (left) {
    while (b < e && strip_char(s[b])) ++b;
  }
  if (right) {
    while (e > b && strip_char(s[e - 1])) --e;
  }
  return s.substr(b, e - b);
}

Json SplitWhitespace(const std::string& s, int64_t maxsplit) {
  Json out = Json::array();
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && IsPySpace(s[i])) ++i;
    if (i >= s.size()) break;
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
      size_t e = s.size();
      while (e > i && IsPySpace(s[e - 1])) --e;
      out.push_back(s.substr(i, e - i));
      break;
    }
    size_t j = i;
    while (j < s.size() && !IsPySpace(s[j])) ++j;
    out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

std::string Capitalize(const std::string& s) {
  std::string out = absl::AsciiStrToLower(s);
  if (!out.empty()) out[0] = absl::ascii_toupper(out[0]);
  return out;
}

std::string Title(const std::string& s) {
  std::string out = s;
  bool prev_cased = false;
  for (char& c : out) {
    if (absl::ascii_isalpha(c)) {
      c = prev_cased ? absl::ascii_tolower(c) : absl::ascii_toupper(c);
      prev_cased = true;
    } else {
      prev_cased = false;
    }
  }
  return out;
}

absl::StatusOr<Value> StringMethod(const std::string& s, const std::string& name, CallArgs& args) {
  std::vector<std::optional<Value>> a;
  auto bind = [&](std::initializer_list<std::string_view> params) {
    return BindArgs(args, name, params, &a);
  };
  auto str_arg = [&](size_t i) -> absl::StatusOr<std::string> { return StringArg(a[i], name); };
  auto int_arg = [&](size_t i, int64_t def) -> int64_t {
    return a[i] && a[i]->is_json() && IsIntLike(a[i]->json()) ? AsInt(a[i]->json()) : def;
  };
  if (name == "lower" || name == "upper" || name == "title" || name == "capitalize" ||
      name == "swapcase") {
    RETURN_IF_ERROR(bind({}));
    if (name == "lower") return Value(Json(PyLower(s)));
    if (name == "upper") return Value(Json(PyUpper(s)));
    if (name == "title") return Value(Json(Title(s)));
    if (name == "capitalize") return Value(Json(Capitalize(s)));
    std::string out = s;
    for (char& c : out) c = absl::ascii_isupper(c) ? absl::ascii_tolower(c) : absl::ascii_toupper(c);
    return Value(Json(out));
  }
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    RETURN_IF_ERROR(bind({"chars"}));
    std::optional<std::string> chars;
    if (a[0] && !(a[0]->is_json() && a[0]->json().is_null())) {
      ASSIGN_OR_RETURN(chars, str_arg(0));
    }
    return Value(Json(Strip(s, chars, name != "rstrip", name != "lstrip")));
  }
  if (name == "split" || name == "rsplit") {
    RETURN_IF_ERROR(bind({"sep", "maxsplit"}));
    const int64_t maxsplit = int_arg(1, -1);
    if (!a[0] || (a[0]->is_json() && a[0]->json().is_null())) {
      if (name == "rsplit" && maxsplit >= 0) {
        return absl::UnimplementedError("rsplit() with maxsplit and no separator is not supported");
      }
      return Value(SplitWhitespace(s, maxsplit));
    }
    ASSIGN_OR_RETURN(std::string sep, str_arg(0));
    if (sep.empty()) return absl::InvalidArgumentError("empty separator");
    std::vector<std::string> parts = absl::StrSplit(s, sep);
    if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) > maxsplit + 1) {
      const size_t keep = static_cast<size_t>(maxsplit);
      std::vector<std::string> merged;
      if (name == "split") {
        merged.assign(parts.begin(), parts.begin() + keep);
        merged.push_back(absl::StrJoin(parts.begin() + keep, parts.end(), sep));
      } else {
        merged.push_back(absl::StrJoin(parts.begin(), parts.end() - keep, sep));
        merged.insert(merged.end(), parts.end() - keep, parts.end());
      }
      parts = std::move(merged);
    }
    return Value(Json(parts));
  }
  if (name == "splitlines") {
    RETURN_IF_ERROR(bind({"keepends"}));
    Json out = Json::array();
    size_t start = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '\n' || s[i] == '\r') {
        size_t end = i;
        if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
        out.push_back(s.substr(start, (a[0] && a[0]->is_json() && Truthy(a[0]->json())) ? i + 1 - start : end - start));
        start = i + 1;
      }
    }
    if (start < s.size()) out.push_back(s.substr(start));
    return Value(std::move(out));
  }
  if (name == "startswith" || name == "endswith") {
    RETURN_IF_ERROR(bind({"prefix"}));
    if (!a[0]) return absl::InvalidArgumentError(absl::StrCat(name, "() takes at least 1 argument (0 given)"));
    ASSIGN_OR_RETURN(Json p, RequireJson(*a[0]));
    std::vector<std::string> options;
    if (p.is_array()) {
      for (const auto& x : p) {
        if (!x.is_string()) return absl::InvalidArgumentError("tuple for startswith must only contain str");
        options.push_back(x.get<std::string>());
      }
    } else if (p.is_string()) {
      options.push_back(p.get<std::string>());
    } else {
      return absl::InvalidArgumentError(absl::StrCat(name, " first arg must be str or a tuple of str, not ",
                                                     PythonTypeName(p)));
    }
    for (const auto& o : options) {
      if (name == "startswith" ? absl::StartsWith(s, o) : absl::EndsWith(s, o)) return Value(Json(true));
    }
    return Value(Json(false));
  }
  if (name == "replace") {
    RETURN_IF_ERROR(bind({"old", "new", "count"}));
    ASSIGN_OR_RETURN(std::string from, str_arg(0));
    ASSIGN_OR_RETURN(std::string to, str_arg(1));
    int64_t count = int_arg(2, -1);
    std::string out;
    if (from.empty()) {
      // Python inserts `to` between every character (and at both ends).
      std::u32string cps = DecodeUtf8(s);
      for (size_t i = 0; i <= cps.size(); ++i) {
        if (count < 0 || static_cast<int64_t>(i) < count) out += to;
        if (i < cps.size()) out += EncodeUtf8(cps.substr(i, 1));
      }
      return Value(Json(out));
    }
    size_t pos = 0;
    while (count != 0) {
      const size_t hit = s.find(from, pos);
      if (hit == std::string::npos) break;
      out.append(s, pos, hit - pos);
      out += to;
      pos = hit + from.size();
      if (count > 0) --count;
    }
    out.append(s, pos, std::string::npos);
    return Value(Json(out));
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
    RETURN_IF_ERROR(bind({"sub"}));
    ASSIGN_OR_RETURN(std::string sub, str_arg(0));
    if (name == "count") {
      if (sub.empty()) return Value(Json(static_cast<int64_t>(CodePointLength(s) + 1)));
      int64_t n = 0;
      for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
      return Value(Json(n));
    }
    const size_t hit = (name == "find" || name == "index") ? s.find(sub) : s.rfind(sub);
    if (hit == std::string::npos) {
      if (name == "index" || name == "rindex") return absl::InvalidArgumentError("substring not found");
      return Value(Json(-1));
    }
    return Value(Json(static_cast<int64_t>(CodePointLength(s.substr(0, hit)))));
  }
  if (name == "join") {
    RETURN_IF_ERROR(bind({"iterable"}));
    if (!a[0]) return absl::InvalidArgumentError("join() takes exactly one argument (0 given)");
    ASSIGN_OR_RETURN(Json items, RequireJson(*a[0]));
    std::string out;
    bool first = true;
    auto add = [&](const Json& x) -> absl::Status {
      if (!x.is_string()) {
        return absl::InvalidArgumentError(absl::StrCat("sequence item: expected str instance, ",
                                                       PythonTypeName(x), " found"));
      }
      if (!first) out += s;
      first = false;
      out += x.get<std::string>();
      return absl::OkStatus();
    };
    if (items.is_object()) {
      for (const auto& [k, v] : items.items()) RETURN_IF_ERROR(add(Json(k)));
    } else if (items.is_array()) {
      for (const auto& x : items) RETURN_IF_ERROR(add(x));
    } else if (items.is_string()) {
      for (char32_t c : DecodeUtf8(items.get<std::string>())) RETURN_IF_ERROR(add(Json(EncodeUtf8(std::u32string(1, c)))));
    } else {
      return absl::InvalidArgumentError("can only join an iterable");
    }
    return Value(Json(out));
  }
  if (name == "format") {
    for (const auto& v : args.values) {
      if (v.is_undefined()) return UndefinedError(v.message());
    }
    ASSIGN_OR_RETURN(std::string out, StrFormat(s, args));
    return Value(Json(out));
  }
  if (name == "isdigit" || name == "isalpha" || name == "isalnum" || name == "isspace" ||
      name == "islower" || name == "isupper") {
    RETURN_IF_ERROR(bind({}));
    if (s.empty()) return Value(Json(false));
    bool ok = true, cased = false;
    for (char c : s) {
      if (name == "isdigit") ok &= absl::ascii_isdigit(c);
      if (name == "isalpha") ok &= absl::ascii_isalpha(c);
      if (name == "isalnum") ok &= absl::ascii_isalnum(c);
      if (name == "isspace") ok &= IsPySpace(c);
      if (name == "islower") {
        ok &= !absl::ascii_isupper(c);
        cased |= absl::ascii_islower(c);
      }
      if (name == "isupper") {
        ok &= !absl::ascii_islower(c);
        cased |= absl::ascii_isupper(c);
      }
    }
    if (name == "islower" || name == "isupper") ok &= cased;
    return Value(Json(ok));
  }
  if (name == "center" || name == "ljust" || name == "rjust" || name == "zfill") {
    RETURN_IF_ERROR(bind({"width", "fillchar"}));
    const int64_t width = std::min<int64_t>(int_arg(0, 0), 1 << 20);
    std::string fill = " ";
    if (name != "zfill" && a[1]) {
      ASSIGN_OR_RETURN(fill, str_arg(1));
    }
    const int64_t len = static_cast<int64_t>(CodePointLength(s));
    if (width <= len) return Value(Json(s));
    const size_t pad = static_cast<size_t>(width - len);
    std::string pads;
    for (size_t i = 0; i < pad; ++i) pads += fill;
    if (name == "ljust") return Value(Json(s + pads));
    if (name == "rjust") return Value(Json(pads + s));
    if (name == "zfill") {
      std::string z(pad, '0');
      if (!s.empty() && (s[0] == '-' || s[0] == '+')) return Value(Json(s.substr(0, 1) + z + s.substr(1)));
      return Value(Json(z + s));
    }
    // Python's center puts the odd pad on the right unless the width and length are both odd.
    const size_t left = pad / 2 + (pad & static_cast<size_t>(width) & 1);
    std::string l, r;
    for (size_t i = 0; i < left; ++i) l += fill;
    for (size_t i = left; i < pad; ++i) r += fill;
    return Value(Json(l + s + r));
  }
  return absl::InternalError("unknown str method");
}

absl::StatusOr<Value> DictMethod(const Json& d, const std::string& name, CallArgs& args) {
  std::vector<std::optional<Value>> a;
  if (name == "keys" || name == "values" || name == "items") {
    RETURN_IF_ERROR(BindArgs(args, name, {}, &a));
    Json out = Json::array();
    for (const auto& [k, v] : d.items()) {
      if (name == "keys") out.push_back(k);
      else if (name == "values") out.push_back(v);
      else out.push_back(Json::array({k, v}));
    }
    return Value::Shaped(std::move(out), name == "items" ? Value::Shape::kTupleList : Value::Shape::kPlain);
  }
  if (name == "get") {
    RETURN_IF_ERROR(BindArgs(args, name, {"key", "default"}, &a));
    if (!a[0]) return absl::InvalidArgumentError("get expected at least 1 argument, got 0");
    ASSIGN_OR_RETURN(Json key, RequireJson(*a[0]));
    if (key.is_string()) {
      auto it = d.find(key.get<std::string>());
      if (it != d.end()) return Value(*it);
    }
    return a[1] ? *a[1] : Value(Json(nullptr));
  }
  if (name == "copy") return Value(d);
  return absl::UnimplementedError(absl::StrCat(
      "dict.", name, "() changes a value in place, which tachyon's template engine does not support"));
}

absl::StatusOr<Value> ListMethod(const Json& l, const std::string& name, CallArgs& args) {
  std::vector<std::optional<Value>> a;
  if (name == "index" || name == "count") {
    RETURN_IF_ERROR(BindArgs(args, name, {"value"}, &a));
    if (!a[0]) return absl::InvalidArgumentError(absl::StrCat(name, "() takes exactly one argument (0 given)"));
    ASSIGN_OR_RETURN(Json x, RequireJson(*a[0]));
    int64_t n = 0;
    for (size_t i = 0; i < l.size(); ++i) {
      if (!Equals(l[i], x)) continue;
      if (name == "index") return Value(Json(static_cast<int64_t>(i)));
      ++n;
    }
    if (name == "index") return absl::InvalidArgumentError(absl::StrCat(Repr(x), " is not in list"));
    return Value(Json(n));
  }
  if (name == "copy") return Value(l);
  return absl::UnimplementedError(absl::StrCat(
      "list.", name, "() changes a value in place, which tachyon's template engine does not support"));
}

}  // namespace

std::optional<Value> BindMethod(const Json& obj, const std::string& name) {
  static constexpr std::string_view kStr[] = {
      "lower", "upper", "title", "capitalize", "swapcase", "strip", "lstrip", "rstrip", "split",
      "rsplit", "splitlines", "startswith", "endswith", "replace", "find", "rfind", "index",
      "rindex", "count", "join", "format", "isdigit", "isalpha", "isalnum", "isspace", "islower",
      "isupper", "center", "ljust", "rjust", "zfill"};
  static constexpr std::string_view kDict[] = {"keys", "values", "items", "get", "copy", "update",
                                              "pop", "setdefault", "clear", "popitem"};
  static constexpr std::string_view kList[] = {"index", "count", "copy", "append", "extend",
                                              "insert", "pop", "remove", "sort", "reverse", "clear"};
  auto has = [&](auto& table) { return std::find(std::begin(table), std::end(table), name) != std::end(table); };
  if (obj.is_string() && has(kStr)) {
    std::string s = obj.get<std::string>();
    return Value::Callable(name, [s, name](CallArgs& args) { return StringMethod(s, name, args); });
  }
  if (obj.is_object() && has(kDict)) {
    return Value::Callable(name, [obj, name](CallArgs& args) { return DictMethod(obj, name, args); });
  }
  if (obj.is_array() && has(kList)) {
    return Value::Callable(name, [obj, name](CallArgs& args) { return ListMethod(obj, name, args); });
  }
  return std::nullopt;
}

}  // namespace tachyon::tmpl
