#pragma once

// Argument checking shared by modules, with the messages Ansible's AnsibleModule produces.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tachyon::modules {

enum class ArgType { kStr, kBool, kList };

struct ArgSpec {
  std::string name;
  ArgType type;
};

// Refuses keys not in `spec` ("Unsupported parameters for (command) module: foo. Supported
// parameters include: a, b.") and values that cannot be converted to their type.
// A null value counts as absent, as in Ansible.
absl::Status CheckArgs(std::string_view module, const nlohmann::json& args,
                       const std::vector<ArgSpec>& spec);

// A string argument, converted the way Ansible's type='str' converts scalars; nullopt if absent.
std::optional<std::string> StrArg(const nlohmann::json& args, const std::string& name);
// A boolean argument with Ansible's accepted spellings ("yes", "no", "on", 1, ...).
absl::StatusOr<bool> BoolArg(const nlohmann::json& args, const std::string& name,
                             bool default_value);
// A list of strings (elements converted as StrArg does); nullopt if absent.
std::optional<std::vector<std::string>> ListArg(const nlohmann::json& args,
                                                const std::string& name);

// Python's str() of a JSON scalar: "True", "5", "abc"; nullopt for objects and arrays.
std::optional<std::string> ScalarToString(const nlohmann::json& value);

}  // namespace tachyon::modules
