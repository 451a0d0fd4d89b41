#pragma once

// Python's json.dumps and PyYAML's yaml.dump output formats, which to_json/to_nice_json and
// to_yaml/to_nice_yaml reproduce byte for byte for ordinary data.

#include <string>

#include "absl/status/statusor.h"
#include "controller/template/value.h"

namespace tachyon::tmpl {

struct PyJsonOptions {
  int indent = -1;  // -1: single line
  bool sort_keys = false;
  bool ensure_ascii = true;
  std::string item_separator = ", ";
  std::string key_separator = ": ";
};
std::string PyJsonDumps(const Json& j, const PyJsonOptions& options);

struct PyYamlOptions {
  bool flow_leaves = true;  // default_flow_style=None: collections of scalars inline
  int indent = 2;
};
std::string PyYamlDump(const Json& j, const PyYamlOptions& options);

// YAML text to JSON with YAML 1.1 scalar resolution (yes/no are booleans), as PyYAML reads it.
absl::StatusOr<Json> YamlToJson(const std::string& text);

}  // namespace tachyon::tmpl
