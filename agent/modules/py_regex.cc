#include "agent/modules/py_regex.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tachyon::modules {

absl::StatusOr<PyRegex> CompilePyRegex(const std::string& pattern, bool multiline) {
  PyRegex out;
  std::string translated;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      char n = pattern[i + 1];
      if (!in_class && n == 'A') {
        translated += '^';
      } else if (!in_class && n == 'Z') {
        translated += '$';
      } else {
        translated += c;
        translated += n;
      }
      ++i;
      continue;
    }
    if (in_class) {
      if (c == ']') in_class = false;
      translated += c;
      continue;
    }
    if (c == '[') {
      in_class = true;
      translated += c;
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') translated += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') translated += pattern[++i];
      continue;
    }
    if (c == '(') {
      if (pattern.compare(i, 4, "(?P<") == 0) {
        size_t close = pattern.find('>', i + 4);
        if (close == std::string::npos) return absl::InvalidArgumentError("unterminated name");
        out.group_names.push_back(pattern.substr(i + 4, close - i - 4));
        translated += '(';
        i = close;
        continue;
      }
      if (pattern.compare(i, 4, "(?P=") == 0) {
        size_t close = pattern.find(')', i + 4);
        if (close == std::string::npos) return absl::InvalidArgumentError("unterminated name");
        std::string name = pattern.substr(i + 4, close - i - 4);
        auto it = std::find(out.group_names.begin(), out.group_names.end(), name);
        if (it == out.group_names.end()) {
          return absl::InvalidArgumentError(absl::StrCat("unknown group name '", name, "'"));
        }
        absl::StrAppend(&translated, "\\", it - out.group_names.begin() + 1);
        i = close;
        continue;
      }
      if (i + 1 >= pattern.size() || pattern[i + 1] != '?') out.group_names.push_back("");
    }
    translated += c;
  }
  try {
    auto flags = std::regex::ECMAScript;
    if (multiline) flags |= std::regex::multiline;
    out.re = std::regex(translated, flags);
  } catch (const std::regex_error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid regular expression '", pattern, "': ", e.what()));
  }
  return out;
}

std::string ExpandPyTemplate(const std::smatch& m, const PyRegex& re, const std::string& tmpl) {
  std::string out;
  for (size_t i = 0; i < tmpl.size(); ++i) {
    char c = tmpl[i];
    if (c != '\\' || i + 1 >= tmpl.size()) {
      out += c;
      continue;
    }
    char n = tmpl[i + 1];
    if (absl::ascii_isdigit(static_cast<unsigned char>(n))) {
      size_t len =
          (i + 2 < tmpl.size() && absl::ascii_isdigit(static_cast<unsigned char>(tmpl[i + 2]))) ? 2
                                                                                                : 1;
      int group = 0;
      (void)absl::SimpleAtoi(tmpl.substr(i + 1, len), &group);
      if (group < static_cast<int>(m.size())) out += m[static_cast<size_t>(group)].str();
      i += len;
    } else if (n == 'g' && i + 2 < tmpl.size() && tmpl[i + 2] == '<') {
      size_t close = tmpl.find('>', i + 3);
      if (close == std::string::npos) {
        out += c;
        continue;
      }
      std::string name = tmpl.substr(i + 3, close - i - 3);
      int group = -1;
      if (!absl::SimpleAtoi(name, &group)) {
        auto it = std::find(re.group_names.begin(), re.group_names.end(), name);
        if (it != re.group_names.end()) group = static_cast<int>(it - re.group_names.begin()) + 1;
      }
      if (group >= 0 && group < static_cast<int>(m.size())) {
        out += m[static_cast<size_t>(group)].str();
      }
      i = close;
    } else if (n == 'n') {
      out += '\n';
      ++i;
    } else if (n == 't') {
      out += '\t';
      ++i;
    } else if (n == '\\') {
      out += '\\';
      ++i;
    } else {
      out += c;
    }
  }
  return out;
}

nlohmann::json MatchGroups(const std::smatch& m) {
  nlohmann::json groups = nlohmann::json::array();
  for (size_t i = 1; i < m.size(); ++i) {
    groups.push_back(m[i].matched ? nlohmann::json(m[i].str()) : nlohmann::json(nullptr));
  }
  return groups;
}

nlohmann::json MatchGroupDict(const std::smatch& m, const PyRegex& re) {
  nlohmann::json dict = nlohmann::json::object();
  for (size_t i = 0; i < re.group_names.size() && i + 1 < m.size(); ++i) {
    if (re.group_names[i].empty()) continue;
    dict[re.group_names[i]] =
        m[i + 1].matched ? nlohmann::json(m[i + 1].str()) : nlohmann::json(nullptr);
  }
  return dict;
}

}  // namespace tachyon::modules
