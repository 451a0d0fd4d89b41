#include "controller/template/value.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tachyon::tmpl {
namespace {

// Undefined errors carry this payload so IsUndefinedError() need not parse messages.
constexpr char kUndefinedPayload[] = "tachyon.tmpl/undefined";

void AppendReprString(std::string_view s, std::string* out) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = (has_single && !has_double) ? '"' : '\'';
  out->push_back(quote);
  for (char32_t c : DecodeUtf8(s)) {
    if (c == static_cast<char32_t>(quote) || c == U'\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else if (c == U'\n') {
      out->append("\\n");
    } else if (c == U'\r') {
      out->append("\\r");
    } else if (c == U'\t') {
      out->append("\\t");
    } else if (c < 0x20 || (c >= 0x7f && c <= 0xa0) || c == 0xad) {
      // Python escapes what str.isprintable() rejects; these are the common ones.
      out->append(absl::StrFormat("\\x%02x", static_cast<unsigned>(c)));
    } else {
      out->append(EncodeUtf8(std::u32string(1, c)));
    }
  }
  out->push_back(quote);
}

void AppendRepr(const Json& j, std::string* out) {
  switch (j.type()) {
    case Json::value_t::null:
      out->append("None");
      return;
    case Json::value_t::boolean:
      out->append(j.get<bool>() ? "True" : "False");
      return;
    case Json::value_t::number_integer:
      out->append(absl::StrCat(j.get<int64_t>()));
      return;
    case Json::value_t::number_unsigned:
      out->append(absl::StrCat(j.get<uint64_t>()));
      return;
    case Json::value_t::number_float:
      out->append(FloatRepr(j.get<double>()));
      return;
    case Json::value_t::string:
      AppendReprString(j.get_ref<const std::string&>(), out);
      return;
    case Json::value_t::array: {
      out->push_back('[');
      bool first = true;
      for (const auto& item : j) {
        if (!first) out->append(", ");
        first = false;
        AppendRepr(item, out);
      }
      out->push_back(']');
      return;
    }
    case Json::value_t::object: {
      out->push_back('{');
      bool first = true;
      for (const auto& [key, item] : j.items()) {
        if (!first) out->append(", ");
        first = false;
        AppendReprString(key, out);
        out->append(": ");
        AppendRepr(item, out);
      }
      out->push_back('}');
      return;
    }
    default:
      out->append("None");
  }
}

}  // namespace

absl::Status UndefinedError(std::string_view message) {
  absl::Status status = absl::InvalidArgumentError(std::string(message));
  status.SetPayload(kUndefinedPayload, absl::Cord("1"));
  return status;
}

bool IsUndefinedError(const absl::Status& status) {
  return status.GetPayload(kUndefinedPayload).has_value();
}

std::string PythonTypeName(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null:
      return "NoneType";
    case Json::value_t::boolean:
      return "bool";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "int";
    case Json::value_t::number_float:
      return "float";
    case Json::value_t::string:
      return "str";
    case Json::value_t::array:
      return "list";
    case Json::value_t::object:
      return "dict";
    default:
      return "object";
  }
}

std::string FloatRepr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  // Shortest digits that round-trip, as Python's repr() does.
  char buf[64];
  int precision = 1;
  for (; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*e", precision - 1, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  std::string s(buf);
  const bool negative = s[0] == '-';
  if (negative) s.erase(0, 1);
  const size_t e_pos = s.find('e');
  const int exponent = std::atoi(s.c_str() + e_pos + 1);
  std::string digits;
  for (size_t i = 0; i < e_pos; ++i) {
    if (s[i] != '.') digits.push_back(s[i]);
  }
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out = negative ? "-" : "";
  if (exponent < -4 || exponent >= 16) {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    out += absl::StrFormat("e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
  } else if (exponent < 0) {
    out += "0." + std::string(-exponent - 1, '0') + digits;
  } else {
    const size_t int_len = static_cast<size_t>(exponent) + 1;
    if (digits.size() <= int_len) {
      out += digits + std::string(int_len - digits.size(), '0') + ".0";
    } else {
      out += digits.substr(0, int_len) + "." + digits.substr(int_len);
    }
  }
  return out;
}

std::string ToText(const Json& j) {
  if (j.is_string()) return j.get<std::string>();
  std::string out;
  AppendRepr(j, &out);
  return out;
}

std::string Repr(const Json& j) {
  std::string out;
  AppendRepr(j, &out);
  return out;
}

bool Truthy(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null:
      return false;
    case Json::value_t::boolean:
      return j.get<bool>();
    case Json::value_t::number_integer:
      return j.get<int64_t>() != 0;
    case Json::value_t::number_unsigned:
      return j.get<uint64_t>() != 0;
    case Json::value_t::number_float:
      return j.get<double>() != 0.0;
    case Json::value_t::string:
      // json::empty() is false for every non-container, strings included.
      return !j.get_ref<const std::string&>().empty();
    case Json::value_t::array:
    case Json::value_t::object:
      return !j.empty();
    default:
      return false;
  }
}

namespace {

void AppendTuple(const Json& j, std::string* out) {
  out->push_back('(');
  for (size_t i = 0; i < j.size(); ++i) {
    if (i > 0) out->append(", ");
    AppendRepr(j[i], out);
  }
  if (j.size() == 1) out->push_back(',');
  out->push_back(')');
}

char32_t UpperCodePoint(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
  if ((c >= 0xe0 && c <= 0xfe && c != 0xf7)) return c - 0x20;
  if (c == 0xff) return 0x178;
  if (c >= 0x100 && c <= 0x17f && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x17f) {
    const bool pair_even = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e);
    if (pair_even ? (c % 2 == 0) : (c % 2 == 1)) return c - 1;
    return c;
  }
  if (c >= 0x3b1 && c <= 0x3c9 && c != 0x3c2) return c - 0x20;
  if (c >= 0x430 && c <= 0x44f) return c - 0x20;
  if (c >= 0x450 && c <= 0x45f) return c - 0x50;
  return c;
}

char32_t LowerCodePoint(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  if (c >= 0xc0 && c <= 0xde && c != 0xd7) return c + 0x20;
  if (c == 0x178) return 0xff;
  if (c >= 0x100 && c <= 0x17f && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x17f) {
    const bool pair_even = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e);
    if (pair_even ? (c % 2 == 1) : (c % 2 == 0)) return c + 1;
    return c;
  }
  if (c >= 0x391 && c <= 0x3a9 && c != 0x3a2) return c + 0x20;
  if (c >= 0x410 && c <= 0x42f) return c + 0x20;
  if (c >= 0x400 && c <= 0x40f) return c + 0x50;
  return c;
}

}  // namespace

std::string PyUpper(std::string_view s) {
  std::u32string cps = DecodeUtf8(s);
  for (auto& c : cps) c = UpperCodePoint(c);
  return EncodeUtf8(cps);
}

std::string PyLower(std::string_view s) {
  std::u32string cps = DecodeUtf8(s);
  for (auto& c : cps) c = LowerCodePoint(c);
  return EncodeUtf8(cps);
}

std::string ShapedToText(const Json& j, Value::Shape shape) {
  if (!j.is_array() || shape == Value::Shape::kPlain) return ToText(j);
  std::string out;
  if (shape == Value::Shape::kTuple) {
    AppendTuple(j, &out);
    return out;
  }
  out.push_back('[');
  for (size_t i = 0; i < j.size(); ++i) {
    if (i > 0) out.append(", ");
    if (j[i].is_array()) {
      AppendTuple(j[i], &out);
    } else {
      AppendRepr(j[i], &out);
    }
  }
  out.push_back(']');
  return out;
}

bool IsNumber(const Json& j) { return j.is_number() || j.is_boolean(); }
bool IsIntLike(const Json& j) { return j.is_number_integer() || j.is_boolean(); }

int64_t AsInt(const Json& j) {
  if (j.is_boolean()) return j.get<bool>() ? 1 : 0;
  if (j.is_number_unsigned()) return static_cast<int64_t>(j.get<uint64_t>());
  if (j.is_number_integer()) return j.get<int64_t>();
  if (j.is_number_float()) return static_cast<int64_t>(j.get<double>());
  return 0;
}

double AsDouble(const Json& j) {
  if (j.is_number_float()) return j.get<double>();
  return static_cast<double>(AsInt(j));
}

bool Equals(const Json& a, const Json& b) {
  if (IsNumber(a) && IsNumber(b)) {
    if (IsIntLike(a) && IsIntLike(b)) return AsInt(a) == AsInt(b);
    return AsDouble(a) == AsDouble(b);
  }
  if (a.type() != b.type()) return false;
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!Equals(a[i], b[i])) return false;
    }
    return true;
  }
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (const auto& [key, item] : a.items()) {
      auto it = b.find(key);
      if (it == b.end() || !Equals(item, *it)) return false;
    }
    return true;
  }
  return a == b;
}

absl::StatusOr<int> Compare(const Json& a, const Json& b, std::string_view op) {
  if (IsNumber(a) && IsNumber(b)) {
    if (IsIntLike(a) && IsIntLike(b)) {
      const int64_t x = AsInt(a), y = AsInt(b);
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    const double x = AsDouble(a), y = AsDouble(b);
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    // UTF-8 byte order is code point order, which is what Python compares.
    const int c = a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.is_array() && b.is_array()) {
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
      if (Equals(a[i], b[i])) continue;
      return Compare(a[i], b[i], op);
    }
    return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("'", std::string(op), "' not supported between instances of '", PythonTypeName(a),
                   "' and '", PythonTypeName(b), "'"));
}

std::u32string DecodeUtf8(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    int extra = 0;
    char32_t cp = c;
    if (c >= 0xf0) {
      extra = 3;
      cp = c & 0x07;
    } else if (c >= 0xe0) {
      extra = 2;
      cp = c & 0x0f;
    } else if (c >= 0xc0) {
      extra = 1;
      cp = c & 0x1f;
    }
    if (i + extra >= s.size()) {
      extra = 0;  // Truncated sequence: keep the byte rather than read past the end.
      cp = c;
    }
    for (int k = 1; k <= extra; ++k) {
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
    }
    out.push_back(cp);
    i += extra + 1;
  }
  return out;
}

std::string EncodeUtf8(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) {
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
      out.push_back(static_cast<char>(0xc0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3f)));
    } else if (c < 0x10000) {
      out.push_back(static_cast<char>(0xe0 | (c >> 12)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3f)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3f)));
    } else {
      out.push_back(static_cast<char>(0xf0 | ((c >> 18) & 0x07)));
      out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3f)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3f)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3f)));
    }
  }
  return out;
}

size_t CodePointLength(std::string_view s) {
  size_t n = 0;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xc0) != 0x80) ++n;
  }
  return n;
}

namespace {

// A recursive-descent reader for Python literals (what ast.literal_eval accepts).
class LiteralParser {
 public:
  explicit LiteralParser(std::string_view text) : s_(text) {}

  absl::StatusOr<Json> ParseAll() {
    auto v = ParseValue(0);
    if (!v.ok()) return v;
    SkipSpace();
    if (pos_ != s_.size()) return Fail();
    return v;
  }

 private:
  absl::Status Fail() { return absl::InvalidArgumentError("not a Python literal"); }

  void SkipSpace() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' ||
                                s_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool Eat(char c) {
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  absl::StatusOr<Json> ParseValue(int depth) {
    if (depth > 100) return Fail();
    SkipSpace();
    if (pos_ >= s_.size()) return Fail();
    const char c = s_[pos_];
    if (c == '[' || c == '(') {
      const char close = c == '[' ? ']' : ')';
      ++pos_;
      Json arr = Json::array();
      bool saw_comma = false;
      while (!Eat(close)) {
        auto item = ParseValue(depth + 1);
        if (!item.ok()) return item;
        arr.push_back(std::move(*item));
        if (Eat(',')) {
          saw_comma = true;
          continue;
        }
        if (!Eat(close)) return Fail();
        break;
      }
      // "(1)" is just 1 in Python.
      if (c == '(' && arr.size() == 1 && !saw_comma) return arr[0];
      return arr;
    }
    if (c == '{') {
      ++pos_;
      Json obj = Json::object();
      while (!Eat('}')) {
        auto key = ParseValue(depth + 1);
        if (!key.ok()) return key;
        if (!Eat(':')) return Fail();  // Sets cannot be represented; keep the text.
        auto item = ParseValue(depth + 1);
        if (!item.ok()) return item;
        // Python dict keys may be any hashable; JSON keys are strings. Ansible's JSON output
        // turns them into strings too.
        obj[key->is_string() ? key->get<std::string>() : ToText(*key)] = std::move(*item);
        if (Eat(',')) continue;
        if (!Eat('}')) return Fail();
        break;
      }
      return obj;
    }
    if (c == '\'' || c == '"') {
      std::string out;
      while (pos_ < s_.size() && (s_[pos_] == '\'' || s_[pos_] == '"')) {
        auto part = ParseString();
        if (!part.ok()) return part.status();
        out += *part;
        SkipSpace();
      }
      return Json(out);
    }
    if (c == '-' || c == '+') {
      ++pos_;
      auto v = ParseValue(depth + 1);
      if (!v.ok()) return v;
      if (v->is_number_integer()) return c == '-' ? Json(-v->get<int64_t>()) : *v;
      if (v->is_number_float()) return c == '-' ? Json(-v->get<double>()) : *v;
      return Fail();
    }
    if ((c >= '0' && c <= '9') || c == '.') return ParseNumber();
    size_t end = pos_;
    while (end < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[end])) || s_[end] == '_')) {
      ++end;
    }
    const std::string_view word = s_.substr(pos_, end - pos_);
    pos_ = end;
    if (word == "True" || word == "true") return Json(true);
    if (word == "False" || word == "false") return Json(false);
    if (word == "None" || word == "null") return Json(nullptr);
    return Fail();
  }

  absl::StatusOr<Json> ParseNumber() {
    const size_t start = pos_;
    bool is_float = false;
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (std::isdigit(static_cast<unsigned char>(c)) || c == '_') {
        ++pos_;
      } else if (c == '.' || c == 'e' || c == 'E') {
        is_float = true;
        ++pos_;
        if ((c == 'e' || c == 'E') && pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) {
          ++pos_;
        }
      } else {
        break;
      }
    }
    std::string text;
    for (size_t i = start; i < pos_; ++i) {
      if (s_[i] != '_') text.push_back(s_[i]);
    }
    if (text.empty() || text == ".") return Fail();
    if (is_float) return Json(std::strtod(text.c_str(), nullptr));
    if (text.size() > 1 && text[0] == '0' && text.find_first_not_of('0') != std::string::npos) {
      return Fail();  // Python 3 rejects leading zeros.
    }
    errno = 0;
    const long long v = std::strtoll(text.c_str(), nullptr, 10);
    if (errno == ERANGE) return Fail();
    return Json(static_cast<int64_t>(v));
  }

  absl::StatusOr<std::string> ParseString() {
    const char quote = s_[pos_++];
    std::string out;
    while (pos_ < s_.size() && s_[pos_] != quote) {
      char c = s_[pos_++];
      if (c == '\n') return Fail();
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) return Fail();
      c = s_[pos_++];
      switch (c) {
        case 'n': out.push_back('\n'); break;
        case 't': out.push_back('\t'); break;
        case 'r': out.push_back('\r'); break;
        case '0': out.push_back('\0'); break;
        case 'a': out.push_back('\a'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'v': out.push_back('\v'); break;
        case '\n': break;
        case 'x':
        case 'u':
        case 'U': {
          const size_t n = c == 'x' ? 2 : (c == 'u' ? 4 : 8);
          if (pos_ + n > s_.size()) return Fail();
          const std::string hex(s_.substr(pos_, n));
          pos_ += n;
          char* end = nullptr;
          const unsigned long cp = std::strtoul(hex.c_str(), &end, 16);
          if (end != hex.c_str() + n) return Fail();
          out += EncodeUtf8(std::u32string(1, static_cast<char32_t>(cp)));
          break;
        }
        case '\\': case '\'': case '"':
          out.push_back(c);
          break;
        default:
          out.push_back('\\');
          out.push_back(c);
      }
    }
    if (pos_ >= s_.size()) return Fail();
    ++pos_;
    return out;
  }

  std::string_view s_;
  size_t pos_ = 0;
};

}  // namespace

absl::StatusOr<Json> LiteralEval(std::string_view text) { return LiteralParser(text).ParseAll(); }

Json ToOrdered(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::object: {
      Json out = Json::object();
      for (const auto& [key, item] : j.items()) out[key] = ToOrdered(item);
      return out;
    }
    case nlohmann::json::value_t::array: {
      Json out = Json::array();
      for (const auto& item : j) out.push_back(ToOrdered(item));
      return out;
    }
    case nlohmann::json::value_t::string:
      return j.get<std::string>();
    case nlohmann::json::value_t::boolean:
      return j.get<bool>();
    case nlohmann::json::value_t::number_integer:
      return j.get<int64_t>();
    case nlohmann::json::value_t::number_unsigned:
      return static_cast<int64_t>(j.get<uint64_t>());
    case nlohmann::json::value_t::number_float:
      return j.get<double>();
    default:
      return nullptr;
  }
}

nlohmann::json ToPlain(const Json& j) {
  switch (j.type()) {
    case Json::value_t::object: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& [k, v] : j.items()) out[k] = ToPlain(v);
      return out;
    }
    case Json::value_t::array: {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& v : j) out.push_back(ToPlain(v));
      return out;
    }
    case Json::value_t::string: return j.get<std::string>();
    case Json::value_t::boolean: return j.get<bool>();
    case Json::value_t::number_integer: return j.get<int64_t>();
    case Json::value_t::number_unsigned: return j.get<uint64_t>();
    case Json::value_t::number_float: return j.get<double>();
    default: return nullptr;
  }
}

}  // namespace tachyon::tmpl
