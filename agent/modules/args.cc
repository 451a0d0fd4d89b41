#include "agent/modules/args.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "agent/modules/os_util.h"

namespace tachyon::modules {
namespace {

bool Present(const nlohmann::json& args, const std::string& name) {
  auto it = args.find(name);
  return it != args.end() && !it->is_null();
}

bool IsInternal(const std::string& key) { return absl::StartsWith(key, "_ansible_"); }

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

std::optional<int64_t> ToInt(const nlohmann::json& value) {
  if (value.is_number_integer()) return value.get<int64_t>();
  if (value.is_number_float()) {
    double d = value.get<double>();
    if (d == static_cast<double>(static_cast<int64_t>(d))) return static_cast<int64_t>(d);
    return std::nullopt;
  }
  if (value.is_string()) {
    int64_t v;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(value.get<std::string>()), &v)) return v;
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

const ArgSpec* FindSpec(const std::vector<ArgSpec>& spec, const std::string& key) {
  for (const ArgSpec& s : spec) {
    if (s.name == key) return &s;
    if (std::find(s.aliases.begin(), s.aliases.end(), key) != s.aliases.end()) return &s;
  }
  return nullptr;
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
    if (!IsInternal(key) && FindSpec(spec, key) == nullptr) unsupported.push_back(key);
  }
  if (!unsupported.empty()) {
    std::sort(unsupported.begin(), unsupported.end());
    std::vector<std::string> supported;
    for (const ArgSpec& s : spec) {
      std::vector<std::string> aliases = s.aliases;
      std::sort(aliases.begin(), aliases.end());
      supported.push_back(
          aliases.empty() ? s.name : absl::StrCat(s.name, " (", absl::StrJoin(aliases, ", "), ")"));
    }
    std::sort(supported.begin(), supported.end());
    return absl::InvalidArgumentError(
        absl::StrCat("Unsupported parameters for (", std::string(module),
                     ") module: ", absl::StrJoin(unsupported, ", "),
                     ". Supported parameters include: ", absl::StrJoin(supported, ", "), "."));
  }
  for (const auto& [key, value] : args.items()) {
    if (IsInternal(key) || value.is_null()) continue;
    const ArgSpec& s = *FindSpec(spec, key);
    bool ok = true;
    const char* want = "str";
    switch (s.type) {
      case ArgType::kStr:
      case ArgType::kPath:
        ok = ScalarToString(value).has_value();
        break;
      case ArgType::kBool:
        want = "bool";
        ok = ToBool(value).has_value();
        break;
      case ArgType::kInt:
        want = "int";
        ok = ToInt(value).has_value();
        break;
      case ArgType::kDict:
        want = "dict";
        ok = value.is_object();
        break;
      case ArgType::kRaw:
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
          absl::StrCat("argument '", key, "' is of type <class '", PythonTypeName(value),
                       "'> and we were unable to convert to ", want, ": ", value.dump()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<nlohmann::json> ParseArgs(std::string_view module, const nlohmann::json& args,
                                         const std::vector<ArgSpec>& spec) {
  const nlohmann::json in = args.is_null() ? nlohmann::json::object() : args;
  absl::Status st = CheckArgs(module, in, spec);
  if (!st.ok()) return st;
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [key, value] : in.items()) {
    if (value.is_null()) continue;
    if (IsInternal(key)) {
      out[key] = value;
      continue;
    }
    const ArgSpec& s = *FindSpec(spec, key);
    if (out.contains(s.name)) {
      std::vector<std::string> names = {s.name};
      for (const std::string& a : s.aliases) {
        if (Present(in, a)) names.push_back(a);
      }
      if (!Present(in, s.name)) names.erase(names.begin());
      return absl::InvalidArgumentError(
          absl::StrCat("parameters are mutually exclusive: ", absl::StrJoin(names, "|")));
    }
    out[s.name] = value;
  }
  std::vector<std::string> missing;
  for (const ArgSpec& s : spec) {
    if (s.required && !out.contains(s.name)) missing.push_back(s.name);
  }
  if (!missing.empty()) {
    std::sort(missing.begin(), missing.end());
    return absl::InvalidArgumentError(
        absl::StrCat("missing required arguments: ", absl::StrJoin(missing, ", ")));
  }
  for (const ArgSpec& s : spec) {
    if (!out.contains(s.name)) continue;
    nlohmann::json& v = out[s.name];
    if (s.type == ArgType::kPath) v = ExpandUser(ExpandVars(*ScalarToString(v)));
    if (s.type == ArgType::kInt) v = *ToInt(v);
    if (s.type == ArgType::kBool) v = *ToBool(v);
    if (!s.choices.empty()) {
      std::string value = *ScalarToString(v);
      if (std::find(s.choices.begin(), s.choices.end(), value) == s.choices.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("value of ", s.name, " must be one of: ", absl::StrJoin(s.choices, ", "),
                         ", got: ", value));
      }
    }
  }
  return out;
}

absl::Status CheckMutuallyExclusive(const nlohmann::json& args,
                                    const std::vector<std::string>& names) {
  std::vector<std::string> given;
  for (const std::string& n : names) {
    if (Present(args, n)) given.push_back(n);
  }
  if (given.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameters are mutually exclusive: ", absl::StrJoin(names, "|")));
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

bool Flag(const nlohmann::json& args, const std::string& name, bool default_value) {
  if (!Present(args, name)) return default_value;
  return ToBool(args.at(name)).value_or(default_value);
}

int64_t IntArg(const nlohmann::json& args, const std::string& name, int64_t default_value) {
  if (!Present(args, name)) return default_value;
  return ToInt(args.at(name)).value_or(default_value);
}

std::optional<std::vector<std::string>> ListArg(const nlohmann::json& args,
                                                const std::string& name) {
  if (!Present(args, name) || !args.at(name).is_array()) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& element : args.at(name)) out.push_back(ScalarToString(element).value_or(""));
  return out;
}

std::optional<std::vector<std::string>> CommaListArg(const nlohmann::json& args,
                                                     const std::string& name) {
  if (!Present(args, name)) return std::nullopt;
  const nlohmann::json& v = args.at(name);
  if (v.is_array()) return ListArg(args, name);
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(ScalarToString(v).value_or(""), ',')) {
    std::string p(absl::StripAsciiWhitespace(part));
    if (!p.empty()) out.push_back(p);
  }
  return out;
}

bool CheckMode(const nlohmann::json& args) {
  return args.is_object() && Flag(args, "_ansible_check_mode");
}
bool DiffMode(const nlohmann::json& args) {
  return args.is_object() && Flag(args, "_ansible_diff");
}

}  // namespace tachyon::modules
