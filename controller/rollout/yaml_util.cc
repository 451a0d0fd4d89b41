#include "controller/rollout/yaml_util.h"

#include <cmath>
#include <limits>
#include <regex>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/parser.h"

namespace tachyon::rollout {

namespace {

using nlohmann::json;

// PyYAML's implicit resolvers (yaml/resolver.py), which is what Ansible's loader uses.
const std::regex& BoolRe() {
  static const std::regex re(
      "^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$");
  return re;
}
const std::regex& IntRe() {
  static const std::regex re(
      "^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+"
      "|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$");
  return re;
}
const std::regex& FloatRe() {
  static const std::regex re(
      "^(?:[-+]?(?:[0-9][0-9_]*)\\.[0-9_]*(?:[eE][-+][0-9]+)?|\\.[0-9_]+(?:[eE][-+][0-9]+)?"
      "|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\\.[0-9_]*|[-+]?\\.(?:inf|Inf|INF)|\\.(?:nan|NaN|NAN))$");
  return re;
}

std::string StripUnderscores(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c != '_') out.push_back(c);
  }
  return out;
}

// Splits off a sign; returns +1/-1.
int TakeSign(std::string* s) {
  if (!s->empty() && ((*s)[0] == '-' || (*s)[0] == '+')) {
    int sign = (*s)[0] == '-' ? -1 : 1;
    s->erase(0, 1);
    return sign;
  }
  return 1;
}

json ResolveInt(const std::string& text) {
  std::string s = StripUnderscores(text);
  int sign = TakeSign(&s);
  // Values beyond int64 stay strings rather than silently wrapping.
  try {
    long long v = 0;
    if (s.rfind("0b", 0) == 0) {
      v = std::stoll(s.substr(2), nullptr, 2);
    } else if (s.rfind("0x", 0) == 0) {
      v = std::stoll(s.substr(2), nullptr, 16);
    } else if (s.find(':') != std::string::npos) {
      // Sexagesimal: 1:30 == 90.
      size_t start = 0;
      while (true) {
        size_t colon = s.find(':', start);
        v = v * 60 + std::stoll(s.substr(start, colon - start));
        if (colon == std::string::npos) break;
        start = colon + 1;
      }
    } else if (s.size() > 1 && s[0] == '0') {
      v = std::stoll(s, nullptr, 8);
    } else {
      v = std::stoll(s, nullptr, 10);
    }
    return json(sign * v);
  } catch (const std::exception&) {
    return json(text);
  }
}

json ResolveFloat(const std::string& text) {
  std::string s = StripUnderscores(text);
  int sign = TakeSign(&s);
  if (s == ".inf" || s == ".Inf" || s == ".INF") {
    return json(sign * std::numeric_limits<double>::infinity());
  }
  if (s == ".nan" || s == ".NaN" || s == ".NAN") return json(std::nan(""));
  try {
    if (s.find(':') != std::string::npos) {
      double v = 0;
      size_t start = 0;
      while (true) {
        size_t colon = s.find(':', start);
        v = v * 60 + std::stod(s.substr(start, colon - start));
        if (colon == std::string::npos) break;
        start = colon + 1;
      }
      return json(sign * v);
    }
    return json(sign * std::stod(s));
  } catch (const std::exception&) {
    return json(text);
  }
}

// Parser events are not needed to count documents.
class DocumentCounter : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

absl::StatusOr<json> Convert(const YAML::Node& node, const std::string& file, int depth) {
  if (depth > 200) return ErrorAt(PosOf(file, node), "YAML nesting is too deep");
  const std::string& tag = node.Tag();
  if (tag == "!vault") {
    return ErrorAt(PosOf(file, node), "vault-encrypted values (!vault) are not supported");
  }
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return json(nullptr);
    case YAML::NodeType::Scalar: {
      if (tag == "?") return ResolvePlainScalar(node.Scalar());
      if (tag == "tag:yaml.org,2002:int" || tag == "tag:yaml.org,2002:float" ||
          tag == "tag:yaml.org,2002:bool" || tag == "tag:yaml.org,2002:null") {
        return ResolvePlainScalar(node.Scalar());
      }
      return json(node.Scalar());
    }
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const auto& item : node) {
        auto v = Convert(item, file, depth + 1);
        if (!v.ok()) return v.status();
        out.push_back(std::move(*v));
      }
      return out;
    }
    case YAML::NodeType::Map: {
      json out = json::object();
      json merged = json::object();  // from `<<`, overridden by explicit keys
      for (const auto& kv : node) {
        const YAML::Node& key = kv.first;
        if (key.IsScalar() && IsPlainScalar(key) && key.Scalar() == "<<") {
          auto v = Convert(kv.second, file, depth + 1);
          if (!v.ok()) return v.status();
          std::vector<json> sources;
          if (v->is_object()) {
            sources.push_back(*v);
          } else if (v->is_array()) {
            for (const auto& e : *v) sources.push_back(e);
          }
          // In a merge list, earlier mappings win.
          for (auto it = sources.rbegin(); it != sources.rend(); ++it) {
            if (!it->is_object()) {
              return ErrorAt(PosOf(file, kv.second), "merge key '<<' needs a mapping");
            }
            for (auto& [k, val] : it->items()) merged[k] = val;
          }
          continue;
        }
        std::string key_text;
        if (key.IsScalar()) {
          key_text = key.Scalar();
        } else if (key.IsNull()) {
          key_text = "null";
        } else {
          return ErrorAt(PosOf(file, key), "mapping keys must be scalars");
        }
        auto v = Convert(kv.second, file, depth + 1);
        if (!v.ok()) return v.status();
        // Duplicate keys: the last one wins, as in Ansible (which only warns).
        out[key_text] = std::move(*v);
      }
      for (auto& [k, val] : merged.items()) {
        if (!out.contains(k)) out[k] = val;
      }
      return out;
    }
  }
  return json(nullptr);
}

}  // namespace

std::string SourcePos::ToString() const { return absl::StrCat(file, ":", line, ":", column); }

SourcePos PosOf(const std::string& file, const YAML::Mark& mark) {
  SourcePos pos;
  pos.file = file;
  // yaml-cpp uses -1 for "no mark" (nodes built in memory).
  // A node without a mark (an empty document) is reported at the start of the file.
  pos.line = mark.line >= 0 ? mark.line + 1 : 1;
  pos.column = mark.column >= 0 ? mark.column + 1 : 1;
  return pos;
}

SourcePos PosOf(const std::string& file, const YAML::Node& node) {
  if (!node.IsDefined()) return PosOf(file, YAML::Mark::null_mark());
  return PosOf(file, node.Mark());
}

absl::Status ErrorAt(const SourcePos& pos, const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat(pos.ToString(), ": ", message));
}

absl::StatusOr<YAML::Node> ParseYaml(const std::string& text, const std::string& name) {
  try {
    // Count documents ourselves, stopping at two: yaml-cpp 0.7's LoadAll loops forever
    // (allocating) on some invalid input such as ",a]" (jbeder/yaml-cpp#1040, fixed in 0.8.x).
    {
      std::istringstream in(text);
      YAML::Parser parser(in);
      DocumentCounter counter;
      int docs = 0;
      while (docs < 2 && parser.HandleNextDocument(counter)) ++docs;
      if (docs > 1) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, ":1:1: expected a single YAML document in the stream"));
      }
    }
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return ErrorAt(PosOf(name, e.mark), e.msg);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(name, ":1:1: ", e.what()));
  }
}

absl::StatusOr<YAML::Node> LoadYamlFile(const std::string& path) {
  auto text = ReadFile(path, 16u << 20);
  if (!text.ok()) return text.status();
  return ParseYaml(*text, path);
}

bool IsPlainScalar(const YAML::Node& node) { return node.IsScalar() && node.Tag() == "?"; }

json ResolvePlainScalar(const std::string& text) {
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") {
    return json(nullptr);
  }
  // Cheap filter: every typed scalar starts with one of these.
  char c = text[0];
  bool maybe_typed = (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'y' ||
                     c == 'Y' || c == 'n' || c == 'N' || c == 't' || c == 'T' || c == 'f' ||
                     c == 'F' || c == 'o' || c == 'O';
  if (!maybe_typed || text.size() > 64) return json(text);
  if (std::regex_match(text, BoolRe())) {
    return json(c == 'y' || c == 'Y' || c == 't' || c == 'T' || text == "on" || text == "On" ||
                text == "ON");
  }
  if (std::regex_match(text, IntRe())) return ResolveInt(text);
  if (std::regex_match(text, FloatRe())) return ResolveFloat(text);
  return json(text);
}

absl::StatusOr<json> YamlToJson(const YAML::Node& node, const std::string& file) {
  try {
    return Convert(node, file, 0);
  } catch (const YAML::Exception& e) {
    return ErrorAt(PosOf(file, e.mark), e.msg);
  }
}

absl::StatusOr<json> LoadVarsFile(const std::string& path) {
  auto node = LoadYamlFile(path);
  if (!node.ok()) return node.status();
  if (node->IsNull()) return json::object();
  if (!node->IsMap()) {
    return ErrorAt(PosOf(path, *node), "a vars file must contain a mapping of variable names");
  }
  return YamlToJson(*node, path);
}

}  // namespace tachyon::rollout
