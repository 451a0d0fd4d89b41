#include "controller/template/serialize.h"

#include <algorithm>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "yaml-cpp/yaml.h"

namespace tachyon::tmpl {
namespace {

void DumpString(const std::string& s, bool ensure_ascii, std::string* out) {
  out->push_back('"');
  for (char32_t c : DecodeUtf8(s)) {
    switch (c) {
      case U'"': out->append("\\\""); break;
      case U'\\': out->append("\\\\"); break;
      case U'\n': out->append("\\n"); break;
      case U'\r': out->append("\\r"); break;
      case U'\t': out->append("\\t"); break;
      case U'\b': out->append("\\b"); break;
      case U'\f': out->append("\\f"); break;
      default:
        if (c < 0x20 || (ensure_ascii && c > 0x7e && c != 0x7f)) {
          if (c >= 0x10000) {
            const char32_t v = c - 0x10000;
            out->append(absl::StrFormat("\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff)));
          } else {
            out->append(absl::StrFormat("\\u%04x", static_cast<unsigned>(c)));
          }
        } else {
          out->append(EncodeUtf8(std::u32string(1, c)));
        }
    }
  }
  out->push_back('"');
}

void Dump(const Json& j, const PyJsonOptions& o, int level, std::string* out) {
  auto newline = [&](int lvl) {
    if (o.indent < 0) return;
    out->push_back('\n');
    out->append(static_cast<size_t>(o.indent * lvl), ' ');
  };
  switch (j.type()) {
    case Json::value_t::null: out->append("null"); return;
    case Json::value_t::boolean: out->append(j.get<bool>() ? "true" : "false"); return;
    case Json::value_t::number_float: {
      const double d = j.get<double>();
      if (std::isnan(d)) out->append("NaN");
      else if (std::isinf(d)) out->append(d > 0 ? "Infinity" : "-Infinity");
      else out->append(FloatRepr(d));
      return;
    }
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      out->append(Repr(j));
      return;
    case Json::value_t::string: DumpString(j.get_ref<const std::string&>(), o.ensure_ascii, out); return;
    case Json::value_t::array: {
      if (j.empty()) {
        out->append("[]");
        return;
      }
      out->push_back('[');
      for (size_t i = 0; i < j.size(); ++i) {
        if (i > 0) out->append(o.item_separator);
        newline(level + 1);
        Dump(j[i], o, level + 1, out);
      }
      newline(level);
      out->push_back(']');
      return;
    }
    case Json::value_t::object: {
      if (j.empty()) {
        out->append("{}");
        return;
      }
      std::vector<std::string> keys;
      for (const auto& [k, v] : j.items()) keys.push_back(k);
      if (o.sort_keys) std::sort(keys.begin(), keys.end());
      out->push_back('{');
      for (size_t i = 0; i < keys.size(); ++i) {
        if (i > 0) out->append(o.item_separator);
        newline(level + 1);
        DumpString(keys[i], o.ensure_ascii, out);
        out->append(o.key_separator);
        Dump(j[keys[i]], o, level + 1, out);
      }
      newline(level);
      out->push_back('}');
      return;
    }
    default: out->append("null");
  }
}

// ---- YAML ----------------------------------------------------------------------------------

const std::regex& BoolRe() {
  static const std::regex re("yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF");
  return re;
}
const std::regex& NullRe() {
  static const std::regex re("~|null|Null|NULL|");
  return re;
}
const std::regex& IntRe() {
  static const std::regex re(
      "[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+");
  return re;
}
const std::regex& FloatRe() {
  static const std::regex re(
      "[-+]?(?:[0-9][0-9_]*)\\.[0-9_]*(?:[eE][-+][0-9]+)?|\\.[0-9_]+(?:[eE][-+][0-9]+)?|"
      "[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\\.[0-9_]*|[-+]?\\.(?:inf|Inf|INF)|\\.(?:nan|NaN|NAN)");
  return re;
}

bool ResolvesToNonString(const std::string& s) {
  return std::regex_match(s, BoolRe()) || std::regex_match(s, NullRe()) ||
         std::regex_match(s, IntRe()) || std::regex_match(s, FloatRe());
}

bool IsScalar(const Json& j) { return !j.is_array() && !j.is_object(); }

// How PyYAML would write a string: plain, 'single' or "double" quoted.
std::string YamlString(const std::string& s, bool flow) {
  bool plain = !s.empty() && !ResolvesToNonString(s);
  bool needs_double = false;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) needs_double = true;
  }
  if (plain) {
    const char first = s.front();
    if (std::string_view("#,[]{}&*!|>'\"%@`").find(first) != std::string_view::npos) plain = false;
    if ((first == '-' || first == '?' || first == ':') && (s.size() == 1 || s[1] == ' ')) plain = false;
    if (s.front() == ' ' || s.back() == ' ') plain = false;
    if (s.find(": ") != std::string::npos || s.find(" #") != std::string::npos || s.back() == ':') plain = false;
    if (flow && s.find_first_of(",[]{}") != std::string::npos) plain = false;
    if (s.rfind("---", 0) == 0 || s.rfind("...", 0) == 0) plain = false;
    if (needs_double) plain = false;
  }
  if (plain) return s;
  if (!needs_double) {
    std::string out = "'";
    for (char c : s) {
      if (c == '\'') out += "''";
      else out.push_back(c);
    }
    return out + "'";
  }
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          out += absl::StrFormat("\\x%02X", static_cast<unsigned char>(c));
        } else {
          out.push_back(c);
        }
    }
  }
  return out + "\"";
}

std::string YamlScalar(const Json& j, bool flow) {
  switch (j.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return j.get<bool>() ? "true" : "false";
    case Json::value_t::number_float: {
      const double d = j.get<double>();
      if (std::isnan(d)) return ".nan";
      if (std::isinf(d)) return d > 0 ? ".inf" : "-.inf";
      std::string r = FloatRepr(d);
      if (r.find('.') == std::string::npos && r.find('e') != std::string::npos) {
        r.replace(r.find('e'), 1, ".0e");
      }
      return r;
    }
    case Json::value_t::string: return YamlString(j.get<std::string>(), flow);
    default: return Repr(j);
  }
}

std::vector<std::string> SortedKeys(const Json& j) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  return keys;
}

// PyYAML with default_flow_style=None writes a collection inline when every child is a plain
// (unquoted) scalar.
bool UseFlow(const Json& j, const PyYamlOptions& o) {
  if (j.empty()) return true;
  if (!o.flow_leaves) return false;
  for (const auto& item : j) {
    if (!IsScalar(item)) return false;
  }
  return true;
}

std::string Flow(const Json& j) {
  if (j.is_array()) {
    std::string out = "[";
    for (size_t i = 0; i < j.size(); ++i) out += (i ? ", " : "") + (IsScalar(j[i]) ? YamlScalar(j[i], true) : Flow(j[i]));
    return out + "]";
  }
  std::string out = "{";
  bool first = true;
  for (const auto& k : SortedKeys(j)) {
    out += (first ? "" : ", ") + YamlString(k, true) + ": " +
           (IsScalar(j[k]) ? YamlScalar(j[k], true) : Flow(j[k]));
    first = false;
  }
  return out + "}";
}

void Block(const Json& j, const PyYamlOptions& o, int indent, bool inline_first, std::string* out) {
  // `inline_first`: the first line continues a "- " already written.
  bool first = true;
  auto prefix = [&]() {
    if (first && inline_first) return std::string();
    return std::string(static_cast<size_t>(indent), ' ');
  };
  if (j.is_array()) {
    for (const auto& item : j) {
      *out += prefix() + "-";
      first = false;
      if (IsScalar(item)) {
        *out += " " + YamlScalar(item, false) + "\n";
      } else if (UseFlow(item, o)) {
        *out += " " + Flow(item) + "\n";
      } else {
        *out += std::string(static_cast<size_t>(std::max(1, o.indent - 1)), ' ');
        Block(item, o, indent + o.indent, true, out);
      }
    }
    return;
  }
  for (const auto& k : SortedKeys(j)) {
    const Json& v = j[k];
    *out += prefix() + YamlString(k, false) + ":";
    first = false;
    if (IsScalar(v)) {
      *out += " " + YamlScalar(v, false) + "\n";
    } else if (UseFlow(v, o)) {
      *out += " " + Flow(v) + "\n";
    } else {
      *out += "\n";
      // PyYAML does not indent a sequence under a mapping key.
      Block(v, o, v.is_array() ? indent : indent + o.indent, false, out);
    }
  }
}

Json ScalarFromYaml(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str") return s;  // quoted
  if (std::regex_match(s, NullRe())) return nullptr;
  if (std::regex_match(s, BoolRe())) {
    const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
    return c == 'y' || c == 't' || (c == 'o' && s.size() == 2 && std::tolower(static_cast<unsigned char>(s[1])) == 'n');
  }
  if (std::regex_match(s, IntRe()) && s.find(':') == std::string::npos) {
    std::string digits;
    for (char c : s) {
      if (c != '_') digits.push_back(c);
    }
    int base = 10;
    size_t start = (digits[0] == '-' || digits[0] == '+') ? 1 : 0;
    std::string body = digits.substr(start);
    if (body.rfind("0x", 0) == 0) {
      base = 16;
      body = body.substr(2);
    } else if (body.rfind("0b", 0) == 0) {
      base = 2;
      body = body.substr(2);
    } else if (body.size() > 1 && body[0] == '0') {
      base = 8;
    }
    errno = 0;
    const long long v = std::strtoll(body.c_str(), nullptr, base);
    if (errno != ERANGE) return static_cast<int64_t>(digits[0] == '-' ? -v : v);
  }
  if (std::regex_match(s, FloatRe()) && s.find(':') == std::string::npos) {
    std::string digits;
    for (char c : s) {
      if (c != '_') digits.push_back(c);
    }
    if (digits.find("inf") != std::string::npos || digits.find("Inf") != std::string::npos || digits.find("INF") != std::string::npos) {
      return digits[0] == '-' ? -INFINITY : INFINITY;
    }
    if (digits.find("nan") != std::string::npos || digits.find("NaN") != std::string::npos || digits.find("NAN") != std::string::npos) {
      return NAN;
    }
    return std::strtod(digits.c_str(), nullptr);
  }
  return s;
}

absl::StatusOr<Json> FromYaml(const YAML::Node& node, int depth) {
  if (depth > 200) return absl::InvalidArgumentError("YAML nested too deeply");
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return Json(nullptr);
    case YAML::NodeType::Scalar:
      return ScalarFromYaml(node);
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const auto& item : node) {
        auto v = FromYaml(item, depth + 1);
        if (!v.ok()) return v;
        out.push_back(std::move(*v));
      }
      return out;
    }
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (const auto& kv : node) {
        auto k = FromYaml(kv.first, depth + 1);
        if (!k.ok()) return k;
        auto v = FromYaml(kv.second, depth + 1);
        if (!v.ok()) return v;
        out[k->is_string() ? k->get<std::string>() : ToText(*k)] = std::move(*v);
      }
      return out;
    }
  }
  return Json(nullptr);
}

}  // namespace

std::string PyJsonDumps(const Json& j, const PyJsonOptions& options) {
  std::string out;
  Dump(j, options, 0, &out);
  return out;
}

std::string PyYamlDump(const Json& j, const PyYamlOptions& options) {
  if (IsScalar(j)) {
    // Ansible's dumper writes no "..." document end after a root scalar.
    return YamlScalar(j, false) + "\n";
  }
  if (UseFlow(j, options)) return Flow(j) + "\n";
  std::string out;
  Block(j, options, 0, false, &out);
  return out;
}

absl::StatusOr<Json> YamlToJson(const std::string& text) {
  try {
    YAML::Node node = YAML::Load(text);
    return FromYaml(node, 0);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("YAML parse error at line ", e.mark.line + 1,
                                                   ", column ", e.mark.column + 1, ": ", e.msg));
  }
}

}  // namespace tachyon::tmpl
