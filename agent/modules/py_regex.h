#pragma once

// Python `re` patterns on std::regex (ECMAScript), close enough for what playbooks use in
// lineinfile and wait_for: `(?P<name>...)` groups become plain groups whose names are kept,
// `(?P=name)` a numbered backreference, `\A` and `\Z` anchors. Not supported (compile error or
// different meaning): inline flags like `(?i)`, lookbehind, possessive forms, `\Z` inside
// character classes. Python's `$` also matches before a final "\n"; callers search lines
// without their line ending to get the same effect.

#include <regex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tachyon::modules {

struct PyRegex {
  std::regex re;
  std::vector<std::string> group_names;  // [i] is group i+1's name, "" when unnamed
};

// `multiline`: Python's re.MULTILINE (^ and $ at every line).
absl::StatusOr<PyRegex> CompilePyRegex(const std::string& pattern, bool multiline = false);

// Python's match.expand(template): \1..\99, \g<1>, \g<name>, \n, \t, \\.
std::string ExpandPyTemplate(const std::smatch& m, const PyRegex& re, const std::string& tmpl);

// match.groups() (unmatched groups are null) and match.groupdict().
nlohmann::json MatchGroups(const std::smatch& m);
nlohmann::json MatchGroupDict(const std::smatch& m, const PyRegex& re);

}  // namespace tachyon::modules
