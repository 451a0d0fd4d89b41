#include "agent/modules/args.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tachyon::modules {
namespace {

bool Present(const nlohmann::json& args, const std::string& name) {
  auto it = args.find(name);
  return it != args.end() && !it->is_null();
}

std::optional<bool> ToBool(const nlohmann::json& value) {
  if (value.is_boolean()) return value.get<bool>();
  if (value.is_number()) {
    double d = value.get<double>();
    if (d == 1.0) return true;
    if (d == 0.0) return false;
    return std::nullopt;
  }
  if (value.is_string()) {
    std::string s = absl::AsciiStrToLower(value.get<std::string>());
    if (s == "y" || s == "yes" || s == "on" || s == "1" || s == "true" || s == "t") return true;
    if (s == "n" || s == "no" || s == "off" || s == "0" || s == "false" || s == "f") return false;
  }
  return std::nullopt;
}

const char* PythonTypeName(const nlohmann::json& value) {
  if (value.is_object()) return "dict";
  if (value.is_array()) return "list";
  if (value.is_boolean()) return "bool";
  if (value.is_number_float()) return "float";
  if (value.is_number()) return "int";
  if (value.is_string()) return "str";
  return "NoneType";
}

}  // namespace

std::optional<std::string> ScalarToString(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "True" : "False";
  if (value.is_number_integer()) return value.dump();
  if (value.is_number_float()) return value.dump();
  return std::nullopt;
}

absl::Status CheckArgs(std::string_view module, const nlohmann::json& args,
                       const std::vector<ArgSpec>& spec) {
  if (!args.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("arguments for (", std::string(module), ") module must be a dictionary"));
  }
  std::vector<std::string> unsupported;
  for (const auto& [key, value] : args.items()) {
    auto it = std::find_if(spec.begin(), spec.end(),
                           [&key = key](const ArgSpec& s) { return s.name == key; });
    if (it == spec.end()) unsupported.push_back(key);
  }
  if (!unsupported.empty()) {
    std::sort(unsupported.begin(), unsupported.end());
    std::vector<std::string> supported;
    for (const ArgSpec& s : spec) supported.push_back(s.name);
    std::sort(supported.begin(), supported.end());
    return absl::InvalidArgumentError(
        absl::StrCat("Unsupported parameters for (", std::string(module),
                     ") module: ", absl::StrJoin(unsupported, ", "),
                     ". Supported parameters include: ", absl::StrJoin(supported, ", "), "."));
  }
  for (const ArgSpec& s : spec) {
    if (!Present(args, s.name)) continue;
    const nlohmann::json& value = args.at(s.name);
    bool ok = true;
    const char* want = "str";
    switch (s.type) {
      case ArgType::kStr:
        ok = ScalarToString(value).has_value();
        break;
      case ArgType::kBool:
        want = "bool";
        ok = ToBool(value).has_value();
        break;
      case ArgType::kList:
        want = "list";
        if (value.is_array()) {
          for (const auto& element : value) ok = ok && ScalarToString(element).has_value();
        } else {
          ok = false;
        }
        break;
    }
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("argument '", s.name, "' is of type <class '", PythonTypeName(value),
                       "'> and we were unable to convert to ", want, ": ", value.dump()));
    }
  }
  return absl::OkStatus();
}

std::optional<std::string> StrArg(const nlohmann::json& args, const std::string& name) {
  if (!Present(args, name)) return std::nullopt;
  return ScalarToString(args.at(name));
}

absl::StatusOr<bool> BoolArg(const nlohmann::json& args, const std::string& name,
                             bool default_value) {
  if (!Present(args, name)) return default_value;
  std::optional<bool> b = ToBool(args.at(name));
  if (!b) {
    return absl::InvalidArgumentError(
        absl::StrCat("argument '", name, "' is not a valid boolean: ", args.at(name).dump()));
  }
  return *b;
}

std::optional<std::vector<std::string>> ListArg(const nlohmann::json& args,
                                                const std::string& name) {
  if (!Present(args, name) || !args.at(name).is_array()) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& element : args.at(name)) out.push_back(ScalarToString(element).value_or(""));
  return out;
}

}  // namespace tachyon::modules
