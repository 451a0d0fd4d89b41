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

// kPath is a string that ParseArgs expands like Ansible's type='path' (~ and $VARS).
// kRaw accepts any JSON value. kInt accepts integers and strings of digits.
enum class ArgType { kStr, kBool, kList, kInt, kDict, kPath, kRaw };

struct ArgSpec {
  std::string name;
  ArgType type;
  bool required = false;
  std::vector<std::string> aliases = {};
  std::vector<std::string> choices = {};  // for kStr: the allowed values
};

// Refuses keys not in `spec` ("Unsupported parameters for (command) module: foo. Supported
// parameters include: a, b.") and values that cannot be converted to their type.
// A null value counts as absent, as in Ansible. Keys starting with "_ansible_" are the
// executor's (check mode, diff, ...) and pass unchecked, as Ansible's internal keys do.
absl::Status CheckArgs(std::string_view module, const nlohmann::json& args,
                       const std::vector<ArgSpec>& spec);

// CheckArgs, then what AnsibleModule does next: aliases renamed to their canonical name
// (both given: "parameters are mutually exclusive"), null values dropped, "missing required
// arguments: a, b", "value of state must be one of: a, b, got: c", and kPath values expanded.
absl::StatusOr<nlohmann::json> ParseArgs(std::string_view module, const nlohmann::json& args,
                                         const std::vector<ArgSpec>& spec);

// "parameters are mutually exclusive: a|b" when more than one of `names` is present.
absl::Status CheckMutuallyExclusive(const nlohmann::json& args,
                                    const std::vector<std::string>& names);

// A string argument, converted the way Ansible's type='str' converts scalars; nullopt if absent.
std::optional<std::string> StrArg(const nlohmann::json& args, const std::string& name);
// A boolean argument with Ansible's accepted spellings ("yes", "no", "on", 1, ...).
absl::StatusOr<bool> BoolArg(const nlohmann::json& args, const std::string& name,
                             bool default_value);
// A boolean of arguments ParseArgs already accepted.
bool Flag(const nlohmann::json& args, const std::string& name, bool default_value = false);
// An integer argument (ParseArgs checked it converts); `default_value` if absent.
int64_t IntArg(const nlohmann::json& args, const std::string& name, int64_t default_value);
// A list of strings (elements converted as StrArg does); nullopt if absent.
std::optional<std::vector<std::string>> ListArg(const nlohmann::json& args,
                                                const std::string& name);
// Ansible's type='list' with a string: "a,b" is ["a", "b"]; a list stays a list.
std::optional<std::vector<std::string>> CommaListArg(const nlohmann::json& args,
                                                     const std::string& name);

// Python's str() of a JSON scalar: "True", "5", "abc"; nullopt for objects and arrays.
std::optional<std::string> ScalarToString(const nlohmann::json& value);

// Ansible's _ansible_check_mode and _ansible_diff, passed by the executor.
bool CheckMode(const nlohmann::json& args);
bool DiffMode(const nlohmann::json& args);

}  // namespace tachyon::modules
