// Python's arithmetic, containment, slicing and string formatting on JSON values.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status.h"
#include "controller/template/eval.h"

namespace tachyon::tmpl {
namespace {

absl::Status TypeError(std::string_view op, const Json& a, const Json& b) {
  return absl::InvalidArgumentError(absl::StrCat("unsupported operand type(s) for ", std::string(op), ": '",
                                                 PythonTypeName(a), "' and '", PythonTypeName(b), "'"));
}

absl::Status Overflow() {
  return absl::OutOfRangeError("integer overflow: tachyon's integers are 64-bit");
}

double PyFmod(double a, double b) {
  double m = std::fmod(a, b);
  if (m != 0 && ((m < 0) != (b < 0))) m += b;
  return m;
}

absl::StatusOr<Json> Repeat(const Json& seq, int64_t n, size_t max_bytes) {
  if (n < 0) n = 0;
  if (seq.is_string()) {
    const std::string& s = seq.get_ref<const std::string&>();
    if (!s.empty() && static_cast<uint64_t>(n) > max_bytes / s.size()) {
      return absl::ResourceExhaustedError("string repetition exceeds the output limit");
    }
    std::string out;
    out.reserve(s.size() * static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) out += s;
    return Json(out);
  }
  if (!seq.empty() && static_cast<uint64_t>(n) > (max_bytes / 8) / seq.size()) {
    return absl::ResourceExhaustedError("list repetition exceeds the output limit");
  }
  Json out = Json::array();
  for (int64_t i = 0; i < n; ++i) {
    for (const auto& item : seq) out.push_back(item);
  }
  return out;
}

struct Spec {
  char fill = ' ';
  char align = 0;  // '<', '>', '^', '='
  char sign = '-';
  bool alternate = false;
  bool zero = false;
  int width = -1;
  bool grouping = false;
  int precision = -1;
  char type = 0;
};

absl::StatusOr<Spec> ParseSpec(std::string_view s) {
  Spec spec;
  size_t i = 0;
  auto is_align = [](char c) { return c == '<' || c == '>' || c == '^' || c == '='; };
  if (s.size() >= 2 && is_align(s[1])) {
    spec.fill = s[0];
    spec.align = s[1];
    i = 2;
  } else if (!s.empty() && is_align(s[0])) {
    spec.align = s[0];
    i = 1;
  }
  if (i < s.size() && (s[i] == '+' || s[i] == '-' || s[i] == ' ')) spec.sign = s[i++];
  if (i < s.size() && s[i] == '#') {
    spec.alternate = true;
    ++i;
  }
  if (i < s.size() && s[i] == '0') {
    spec.zero = true;
    ++i;
  }
  if (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    spec.width = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      spec.width = spec.width * 10 + (s[i++] - '0');
      if (spec.width > 100000) return absl::InvalidArgumentError("format width too large");
    }
  }
  if (i < s.size() && s[i] == ',') {
    spec.grouping = true;
    ++i;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    spec.precision = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      spec.precision = spec.precision * 10 + (s[i++] - '0');
      if (spec.precision > 1000) return absl::InvalidArgumentError("format precision too large");
    }
  }
  if (i < s.size()) spec.type = s[i++];
  if (i != s.size()) return absl::InvalidArgumentError("Invalid format specifier");
  return spec;
}

std::string Group(std::string digits) {
  std::string out;
  int count = 0;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (count > 0 && count % 3 == 0) out.push_back(',');
    out.push_back(*it);
    ++count;
  }
  return std::string(out.rbegin(), out.rend());
}

std::string Pad(const std::string& body, const std::string& sign, const Spec& spec, char default_align) {
  const size_t len = CodePointLength(body) + sign.size();
  if (spec.width < 0 || len >= static_cast<size_t>(spec.width)) return sign + body;
  const size_t pad = static_cast<size_t>(spec.width) - len;
  char align = spec.align ? spec.align : default_align;
  char fill = spec.fill;
  if (spec.zero && !spec.align) {
    align = '=';
    fill = '0';
  }
  switch (align) {
    case '<':
      return sign + body + std::string(pad, fill);
    case '^':
      return std::string(pad / 2, fill) + sign + body + std::string(pad - pad / 2, fill);
    case '=':
      return sign + std::string(pad, fill) + body;
    default:
      return std::string(pad, fill) + sign + body;
  }
}

absl::StatusOr<std::string> FormatValue(const Json& v, const Spec& spec) {
  char type = spec.type;
  if (v.is_string() || (!IsNumber(v) && (type == 0 || type == 's'))) {
    if (type != 0 && type != 's') {
      return absl::InvalidArgumentError(absl::StrCat("Unknown format code '", std::string(1, type),
                                                     "' for object of type 'str'"));
    }
    std::string s = ToText(v);
    if (spec.precision >= 0) {
      std::u32string cps = DecodeUtf8(s);
      if (cps.size() > static_cast<size_t>(spec.precision)) s = EncodeUtf8(cps.substr(0, spec.precision));
    }
    return Pad(s, "", spec, '<');
  }
  if (!IsNumber(v)) return absl::InvalidArgumentError("format requires a number");
  const bool is_int = IsIntLike(v);
  if (type == 0 && is_int) type = 'd';
  if (type == 's') return absl::InvalidArgumentError("Unknown format code 's' for object of type 'int'");
  std::string sign;
  std::string body;
  if (type == 'd' || type == 'x' || type == 'X' || type == 'o' || type == 'b' || type == 'n') {
    if (!is_int) {
      return absl::InvalidArgumentError(absl::StrCat("Unknown format code '", std::string(1, type),
                                                     "' for object of type 'float'"));
    }
    const int64_t n = AsInt(v);
    const uint64_t mag = n < 0 ? 0 - static_cast<uint64_t>(n) : static_cast<uint64_t>(n);
    if (type == 'x') body = absl::StrFormat("%x", mag);
    else if (type == 'X') body = absl::StrFormat("%X", mag);
    else if (type == 'o') body = absl::StrFormat("%o", mag);
    else if (type == 'b') {
      for (uint64_t m = mag; m; m >>= 1) body.insert(body.begin(), static_cast<char>('0' + (m & 1)));
      if (body.empty()) body = "0";
    } else {
      body = absl::StrCat(mag);
    }
    if (spec.grouping) body = Group(body);
    if (spec.alternate && type != 'd' && type != 'n') body = std::string("0") + (type == 'X' ? 'X' : type) + body;
    sign = n < 0 ? "-" : (spec.sign == '+' ? "+" : (spec.sign == ' ' ? " " : ""));
    return Pad(body, sign, spec, '>');
  }
  const double d = AsDouble(v);
  const int precision = spec.precision < 0 ? 6 : spec.precision;
  const double mag = std::fabs(d);
  if (type == 0) {
    body = spec.precision < 0 ? FloatRepr(mag) : absl::StrFormat("%.*g", std::max(precision, 1), mag);
    if (spec.precision >= 0 && body.find_first_of(".e") == std::string::npos && !std::isinf(mag)) body += ".0";
  } else if (type == 'f' || type == 'F') {
    body = absl::StrFormat("%.*f", precision, mag);
  } else if (type == 'e' || type == 'E') {
    body = type == 'e' ? absl::StrFormat("%.*e", precision, mag) : absl::StrFormat("%.*E", precision, mag);
  } else if (type == 'g' || type == 'G') {
    body = type == 'g' ? absl::StrFormat("%.*g", std::max(precision, 1), mag)
                       : absl::StrFormat("%.*G", std::max(precision, 1), mag);
  } else if (type == '%') {
    body = absl::StrFormat("%.*f%%", precision, mag * 100);
  } else {
    return absl::InvalidArgumentError(absl::StrCat("Unknown format code '", std::string(1, type),
                                                   "' for object of type '", PythonTypeName(v), "'"));
  }
  if (spec.grouping) {
    const size_t dot = body.find_first_of(".e%");
    body = Group(body.substr(0, dot)) + (dot == std::string::npos ? "" : body.substr(dot));
  }
  sign = std::signbit(d) ? "-" : (spec.sign == '+' ? "+" : (spec.sign == ' ' ? " " : ""));
  return Pad(body, sign, spec, '>');
}

}  // namespace

absl::StatusOr<Json> Negate(const Json& a) {
  if (IsIntLike(a)) {
    const int64_t v = AsInt(a);
    if (v == std::numeric_limits<int64_t>::min()) return Overflow();
    return Json(-v);
  }
  if (a.is_number_float()) return Json(-a.get<double>());
  return absl::InvalidArgumentError(absl::StrCat("bad operand type for unary -: '", PythonTypeName(a), "'"));
}

absl::StatusOr<Json> BinaryOp(std::string_view op, const Json& a, const Json& b, size_t max_bytes) {
  const bool nums = IsNumber(a) && IsNumber(b);
  const bool ints = IsIntLike(a) && IsIntLike(b);
  if (op == "+") {
    if (ints) {
      int64_t r;
      if (__builtin_add_overflow(AsInt(a), AsInt(b), &r)) return Overflow();
      return Json(r);
    }
    if (nums) return Json(AsDouble(a) + AsDouble(b));
    if (a.is_string() && b.is_string()) {
      if (a.get_ref<const std::string&>().size() + b.get_ref<const std::string&>().size() > max_bytes) {
        return absl::ResourceExhaustedError("string exceeds the output limit");
      }
      return Json(a.get<std::string>() + b.get<std::string>());
    }
    if (a.is_array() && b.is_array()) {
      Json out = a;
      for (const auto& item : b) out.push_back(item);
      return out;
    }
    if (a.is_string() || a.is_array()) {
      return absl::InvalidArgumentError(absl::StrCat("can only concatenate ", PythonTypeName(a),
                                                     " (not \"", PythonTypeName(b), "\") to ",
                                                     PythonTypeName(a)));
    }
    return TypeError("+", a, b);
  }
  if (op == "-") {
    if (ints) {
      int64_t r;
      if (__builtin_sub_overflow(AsInt(a), AsInt(b), &r)) return Overflow();
      return Json(r);
    }
    if (nums) return Json(AsDouble(a) - AsDouble(b));
    return TypeError("-", a, b);
  }
  if (op == "*") {
    if (ints) {
      int64_t r;
      if (__builtin_mul_overflow(AsInt(a), AsInt(b), &r)) return Overflow();
      return Json(r);
    }
    if (nums) return Json(AsDouble(a) * AsDouble(b));
    if ((a.is_string() || a.is_array()) && IsIntLike(b)) return Repeat(a, AsInt(b), max_bytes);
    if ((b.is_string() || b.is_array()) && IsIntLike(a)) return Repeat(b, AsInt(a), max_bytes);
    if (a.is_string() || b.is_string() || a.is_array() || b.is_array()) {
      return absl::InvalidArgumentError(absl::StrCat("can't multiply sequence by non-int of type '",
                                                     PythonTypeName(IsNumber(a) ? a : b), "'"));
    }
    return TypeError("*", a, b);
  }
  if (op == "/") {
    if (!nums) return TypeError("/", a, b);
    if (AsDouble(b) == 0) return absl::InvalidArgumentError("division by zero");
    return Json(AsDouble(a) / AsDouble(b));
  }
  if (op == "//") {
    if (!nums) return TypeError("//", a, b);
    if (ints) {
      const int64_t x = AsInt(a), y = AsInt(b);
      if (y == 0) return absl::InvalidArgumentError("integer division or modulo by zero");
      if (x == std::numeric_limits<int64_t>::min() && y == -1) return Overflow();
      int64_t q = x / y;
      if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
      return Json(q);
    }
    if (AsDouble(b) == 0) return absl::InvalidArgumentError("float floor division by zero");
    return Json(std::floor(AsDouble(a) / AsDouble(b)));
  }
  if (op == "%") {
    if (a.is_string()) {
      ASSIGN_OR_RETURN(std::string s, PercentFormat(a.get<std::string>(), b));
      return Json(s);
    }
    if (!nums) return TypeError("%", a, b);
    if (ints) {
      const int64_t x = AsInt(a), y = AsInt(b);
      if (y == 0) return absl::InvalidArgumentError("integer division or modulo by zero");
      if (y == -1) return Json(0);
      int64_t m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) m += y;
      return Json(m);
    }
    if (AsDouble(b) == 0) return absl::InvalidArgumentError("float modulo");
    return Json(PyFmod(AsDouble(a), AsDouble(b)));
  }
  if (op == "**") {
    if (!nums) return TypeError("** or pow()", a, b);
    if (ints && AsInt(b) >= 0) {
      int64_t base = AsInt(a), exp = AsInt(b), r = 1;
      while (exp > 0) {
        if (exp & 1) {
          if (__builtin_mul_overflow(r, base, &r)) return Overflow();
        }
        exp >>= 1;
        if (exp > 0 && __builtin_mul_overflow(base, base, &base)) return Overflow();
      }
      return Json(r);
    }
    if (AsDouble(a) == 0 && AsDouble(b) < 0) {
      return absl::InvalidArgumentError("0.0 cannot be raised to a negative power");
    }
    return Json(std::pow(AsDouble(a), AsDouble(b)));
  }
  return absl::InternalError(absl::StrCat("unknown operator ", std::string(op)));
}

absl::StatusOr<bool> Contains(const Json& container, const Json& item) {
  if (container.is_string()) {
    if (!item.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat("'in <string>' requires string as left operand, not ",
                                                     PythonTypeName(item)));
    }
    return container.get_ref<const std::string&>().find(item.get_ref<const std::string&>()) != std::string::npos;
  }
  if (container.is_array()) {
    for (const auto& x : container) {
      if (Equals(x, item)) return true;
    }
    return false;
  }
  if (container.is_object()) {
    if (item.is_array() || item.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat("unhashable type: '", PythonTypeName(item), "'"));
    }
    return item.is_string() && container.contains(item.get<std::string>());
  }
  return absl::InvalidArgumentError(absl::StrCat("argument of type '", PythonTypeName(container),
                                                 "' is not iterable"));
}

absl::StatusOr<std::string> PercentFormat(const std::string& format, const Json& args) {
  std::string out;
  size_t next_arg = 0;
  const bool mapping = args.is_object();
  const bool positional = args.is_array();
  auto take = [&]() -> absl::StatusOr<Json> {
    if (!positional) {
      if (next_arg++ > 0) return absl::InvalidArgumentError("not enough arguments for format string");
      return args;
    }
    if (next_arg >= args.size()) return absl::InvalidArgumentError("not enough arguments for format string");
    return args[next_arg++];
  };
  bool used_mapping = false;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      out.push_back(format[i]);
      continue;
    }
    if (++i >= format.size()) return absl::InvalidArgumentError("incomplete format");
    std::optional<Json> value;
    if (format[i] == '(') {
      const size_t close = format.find(')', i);
      if (close == std::string::npos) return absl::InvalidArgumentError("incomplete format key");
      if (!mapping) return absl::InvalidArgumentError("format requires a mapping");
      const std::string key = format.substr(i + 1, close - i - 1);
      if (!args.contains(key)) return absl::InvalidArgumentError(Repr(Json(key)));
      value = args[key];
      used_mapping = true;
      i = close + 1;
    }
    Spec spec;
    for (; i < format.size() && std::string_view("-+ #0").find(format[i]) != std::string_view::npos; ++i) {
      switch (format[i]) {
        case '-': spec.align = '<'; break;
        case '+': spec.sign = '+'; break;
        case ' ': if (spec.sign != '+') spec.sign = ' '; break;
        case '#': spec.alternate = true; break;
        case '0': spec.zero = true; break;
      }
    }
    while (i < format.size() && std::isdigit(static_cast<unsigned char>(format[i]))) {
      spec.width = std::max(spec.width, 0) * 10 + (format[i++] - '0');
      if (spec.width > 100000) return absl::InvalidArgumentError("format width too large");
    }
    if (i < format.size() && format[i] == '.') {
      spec.precision = 0;
      for (++i; i < format.size() && std::isdigit(static_cast<unsigned char>(format[i])); ++i) {
        spec.precision = spec.precision * 10 + (format[i] - '0');
        if (spec.precision > 1000) return absl::InvalidArgumentError("format precision too large");
      }
    }
    if (i >= format.size()) return absl::InvalidArgumentError("incomplete format");
    const char conv = format[i];
    if (conv == '%') {
      out.push_back('%');
      continue;
    }
    if (!value) {
      ASSIGN_OR_RETURN(Json v, take());
      value = std::move(v);
    }
    if (spec.align == '<') spec.zero = false;
    std::string piece;
    switch (conv) {
      case 's':
      case 'r':
      case 'a': {
        Spec s = spec;
        s.zero = false;
        if (!s.align) s.align = '>';
        std::string text = conv == 's' ? ToText(*value) : Repr(*value);
        if (spec.precision >= 0) {
          std::u32string cps = DecodeUtf8(text);
          if (cps.size() > static_cast<size_t>(spec.precision)) text = EncodeUtf8(cps.substr(0, spec.precision));
        }
        s.precision = -1;
        ASSIGN_OR_RETURN(piece, FormatValue(Json(text), s));
        break;
      }
      case 'd':
      case 'i':
      case 'u':
      case 'x':
      case 'X':
      case 'o': {
        if (!IsNumber(*value)) {
          return absl::InvalidArgumentError(absl::StrCat("%", std::string(1, conv),
                                                         " format: a number is required, not ",
                                                         PythonTypeName(*value)));
        }
        Spec s = spec;
        s.type = (conv == 'i' || conv == 'u') ? 'd' : conv;
        const Json as_int(value->is_number_float() ? static_cast<int64_t>(value->get<double>()) : AsInt(*value));
        ASSIGN_OR_RETURN(piece, FormatValue(as_int, s));
        break;
      }
      case 'f':
      case 'F':
      case 'e':
      case 'E':
      case 'g':
      case 'G': {
        if (!IsNumber(*value)) {
          return absl::InvalidArgumentError(absl::StrCat("must be real number, not ", PythonTypeName(*value)));
        }
        Spec s = spec;
        s.type = conv;
        ASSIGN_OR_RETURN(piece, FormatValue(Json(AsDouble(*value)), s));
        break;
      }
      case 'c': {
        piece = value->is_string() ? value->get<std::string>()
                                   : EncodeUtf8(std::u32string(1, static_cast<char32_t>(AsInt(*value))));
        break;
      }
      default:
        return absl::InvalidArgumentError(absl::StrFormat("unsupported format character '%c' (0x%x)", conv,
                                                          static_cast<unsigned char>(conv)));
    }
    out += piece;
  }
  if (positional && next_arg < args.size()) {
    return absl::InvalidArgumentError("not all arguments converted during string formatting");
  }
  if (!positional && !mapping && !used_mapping && next_arg == 0) {
    return absl::InvalidArgumentError("not all arguments converted during string formatting");
  }
  return out;
}

absl::StatusOr<std::string> StrFormat(const std::string& format, const CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < format.size(); ++i) {
    const char c = format[i];
    if (c == '}') {
      if (i + 1 < format.size() && format[i + 1] == '}') {
        out.push_back('}');
        ++i;
        continue;
      }
      return absl::InvalidArgumentError("Single '}' encountered in format string");
    }
    if (c != '{') {
      out.push_back(c);
      continue;
    }
    if (i + 1 < format.size() && format[i + 1] == '{') {
      out.push_back('{');
      ++i;
      continue;
    }
    const size_t close = format.find('}', i);
    if (close == std::string::npos) return absl::InvalidArgumentError("Single '{' encountered in format string");
    std::string field = format.substr(i + 1, close - i - 1);
    i = close;
    std::string spec_text;
    char conversion = 0;
    if (size_t colon = field.find(':'); colon != std::string::npos) {
      spec_text = field.substr(colon + 1);
      field = field.substr(0, colon);
    }
    if (size_t bang = field.find('!'); bang != std::string::npos) {
      if (bang + 1 < field.size()) conversion = field[bang + 1];
      field = field.substr(0, bang);
    }
    // "{0[1]}" and "{0.name}": the accessors after the argument name.
    std::string accessors;
    if (size_t cut = field.find_first_of(".["); cut != std::string::npos) {
      accessors = field.substr(cut);
      field = field.substr(0, cut);
    }
    const Json* value = nullptr;
    if (field.empty() || std::isdigit(static_cast<unsigned char>(field[0]))) {
      const size_t index = field.empty() ? auto_index++ : static_cast<size_t>(std::atoi(field.c_str()));
      size_t seen = 0;
      for (size_t k = 0; k < args.values.size(); ++k) {
        if (!args.names[k].empty()) continue;
        if (seen++ == index) {
          if (!args.values[k].is_json()) return UndefinedError(args.values[k].message());
          value = &args.values[k].json();
          break;
        }
      }
      if (value == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat("Replacement index ", index, " out of range for positional args tuple"));
      }
    } else {
      for (size_t k = 0; k < args.values.size(); ++k) {
        if (args.names[k] == field) {
          if (!args.values[k].is_json()) return UndefinedError(args.values[k].message());
          value = &args.values[k].json();
        }
      }
      if (value == nullptr) return absl::InvalidArgumentError(Repr(Json(field)));
    }
    for (size_t k = 0; k < accessors.size();) {
      std::string key;
      const bool index = accessors[k] == '[';
      const size_t end = index ? accessors.find(']', k) : accessors.find_first_of(".[", k + 1);
      if (index && end == std::string::npos) return absl::InvalidArgumentError("Missing ']' in format string");
      key = accessors.substr(k + 1, (end == std::string::npos ? accessors.size() : end) - k - 1);
      k = end == std::string::npos ? accessors.size() : end + (index ? 1 : 0);
      if (value->is_array() && index && !key.empty() && std::all_of(key.begin(), key.end(), ::isdigit)) {
        const size_t i = static_cast<size_t>(std::atoll(key.c_str()));
        if (i >= value->size()) return absl::InvalidArgumentError("list index out of range");
        value = &(*value)[i];
      } else if (!index) {
        // Python's getattr(): a dict's keys are not attributes.
        return absl::InvalidArgumentError(absl::StrCat("'", PythonTypeName(*value),
                                                       "' object has no attribute ", Repr(Json(key))));
      } else if (value->is_object() && value->contains(key)) {
        value = &(*value)[key];
      } else {
        return absl::InvalidArgumentError(absl::StrCat(Repr(Json(key)), " not found in format field"));
      }
    }
    ASSIGN_OR_RETURN(Spec spec, ParseSpec(spec_text));
    if (conversion == 'r' || conversion == 's') {
      ASSIGN_OR_RETURN(std::string piece, FormatValue(Json(conversion == 'r' ? Repr(*value) : ToText(*value)), spec));
      out += piece;
    } else {
      ASSIGN_OR_RETURN(std::string piece, FormatValue(*value, spec));
      out += piece;
    }
  }
  return out;
}

absl::StatusOr<Json> Slice(const Json& obj, const Json& start, const Json& stop, const Json& step) {
  auto bound = [](const Json& j, const char* what) -> absl::Status {
    if (!j.is_null() && !IsIntLike(j)) {
      return absl::InvalidArgumentError(absl::StrCat("slice indices must be integers or None (", what, ")"));
    }
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(bound(start, "start"));
  RETURN_IF_ERROR(bound(stop, "stop"));
  RETURN_IF_ERROR(bound(step, "step"));
  const int64_t st = step.is_null() ? 1 : AsInt(step);
  if (st == 0) return absl::InvalidArgumentError("slice step cannot be zero");
  std::u32string chars;
  int64_t n;
  if (obj.is_string()) {
    chars = DecodeUtf8(obj.get_ref<const std::string&>());
    n = static_cast<int64_t>(chars.size());
  } else if (obj.is_array()) {
    n = static_cast<int64_t>(obj.size());
  } else {
    return absl::InvalidArgumentError(absl::StrCat("'", PythonTypeName(obj), "' object is not subscriptable"));
  }
  auto clamp = [&](const Json& j, int64_t def) {
    if (j.is_null()) return def;
    int64_t v = AsInt(j);
    if (v < 0) v += n;
    if (st > 0) return std::clamp<int64_t>(v, 0, n);
    return std::clamp<int64_t>(v, -1, n - 1);
  };
  const int64_t lo = clamp(start, st > 0 ? 0 : n - 1);
  const int64_t hi = clamp(stop, st > 0 ? n : -1);
  std::vector<int64_t> idx;
  if (st > 0) {
    for (int64_t i = lo; i < hi; i += st) idx.push_back(i);
  } else {
    for (int64_t i = lo; i > hi; i += st) idx.push_back(i);
  }
  if (obj.is_string()) {
    std::u32string out;
    for (int64_t i : idx) out.push_back(chars[static_cast<size_t>(i)]);
    return Json(EncodeUtf8(out));
  }
  Json out = Json::array();
  for (int64_t i : idx) out.push_back(obj[static_cast<size_t>(i)]);
  return out;
}

}  // namespace tachyon::tmpl
