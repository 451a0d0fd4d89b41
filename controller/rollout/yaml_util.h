#pragma once

// YAML -> JSON the way Ansible sees YAML (PyYAML, YAML 1.1 implicit typing), with source
// positions. Every user-facing error in the rollout loaders names FILE:LINE:COLUMN, so the
// loaders walk YAML::Node trees (which carry marks) and convert leaves with YamlToJson.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "yaml-cpp/yaml.h"

namespace tachyon::rollout {

// A position in a user file; line and column are 1-based (yaml-cpp's marks are 0-based).
struct SourcePos {
  std::string file;
  int line = 0;
  int column = 0;

  // "FILE:LINE:COLUMN"
  std::string ToString() const;
};

SourcePos PosOf(const std::string& file, const YAML::Node& node);
SourcePos PosOf(const std::string& file, const YAML::Mark& mark);

// InvalidArgument("FILE:LINE:COL: message").
absl::Status ErrorAt(const SourcePos& pos, const std::string& message);

// Parses one YAML document. An empty document is a Null node. Parser exceptions become
// "FILE:LINE:COL: message". `name` is used in messages only.
absl::StatusOr<YAML::Node> ParseYaml(const std::string& text, const std::string& name);
absl::StatusOr<YAML::Node> LoadYamlFile(const std::string& path);

// Converts a YAML tree to JSON with PyYAML's YAML 1.1 implicit typing of plain scalars
// (yes/no/on/off are booleans, 010 is octal, 1:30 is sexagesimal, ~ is null), quoted scalars
// staying strings, and `<<` merge keys applied. `!unsafe` is accepted as a plain string tag;
// `!vault` is rejected with the node's position.
absl::StatusOr<nlohmann::json> YamlToJson(const YAML::Node& node, const std::string& file);

// The JSON value of a plain (unquoted) scalar under YAML 1.1 rules.
nlohmann::json ResolvePlainScalar(const std::string& text);

// True for a scalar written without quotes and without an explicit tag.
bool IsPlainScalar(const YAML::Node& node);

// Loads a vars file (YAML or JSON, which is YAML) into a JSON object. An empty file is {};
// anything but a mapping is an error with position.
absl::StatusOr<nlohmann::json> LoadVarsFile(const std::string& path);

}  // namespace tachyon::rollout
