#include "controller/rollout/kv_args.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/module_names.h"

namespace tachyon::rollout {
namespace {

// The k=v options that free-form modules take out of their command line (Ansible's parse_kv).
const std::set<std::string>& RawParamOptions() {
  static const auto* kSet = new std::set<std::string>{
      "creates", "removes",           "chdir",           "executable", "warn",
      "stdin",   "stdin_add_newline", "strip_empty_ends"};
  return *kSet;
}

std::string Unquote(const std::string& s) {
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front()) {
    return s.substr(1, s.size() - 2);
  }
  return s;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> SplitArgs(const std::string& args) {
  std::vector<std::string> out;
  std::string cur;
  char quote = 0;
  bool in_token = false;
  for (size_t i = 0; i < args.size(); ++i) {
    char c = args[i];
    if (quote) {
      cur.push_back(c);
      if (c == '\\' && i + 1 < args.size()) {
        cur.push_back(args[++i]);
      } else if (c == quote) {
        quote = 0;
      }
      continue;
    }
    if (c == '"' || c == '\'') {
      quote = c;
      cur.push_back(c);
      in_token = true;
    } else if (c == ' ' || c == '\t' || c == '\n') {
      if (in_token) {
        out.push_back(cur);
        cur.clear();
        in_token = false;
      }
    } else {
      cur.push_back(c);
      in_token = true;
    }
  }
  if (quote) {
    return absl::InvalidArgumentError(absl::StrCat("unbalanced quotes in arguments: ", args));
  }
  if (in_token) out.push_back(cur);
  return out;
}

absl::StatusOr<nlohmann::json> ParseModuleArgs(const std::string& module, const std::string& args) {
  nlohmann::json out = nlohmann::json::object();
  std::string trimmed(absl::StripAsciiWhitespace(args));
  if (trimmed.empty()) return out;
  if (trimmed.front() == '{') {
    auto j = nlohmann::json::parse(trimmed, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      return absl::InvalidArgumentError(
          "module arguments start with '{' but are not a JSON object");
    }
    return j;
  }
  auto tokens = SplitArgs(trimmed);
  if (!tokens.ok()) return tokens.status();
  const bool free_form = IsFreeFormModule(module);
  std::vector<std::string> raw;
  for (const auto& tok : *tokens) {
    auto eq = tok.find('=');
    bool is_kv = eq != std::string::npos && eq > 0 && tok[0] != '"' && tok[0] != '\'';
    if (is_kv) {
      std::string key = tok.substr(0, eq);
      if (!free_form || RawParamOptions().count(key)) {
        out[key] = Unquote(tok.substr(eq + 1));
        continue;
      }
    }
    if (!free_form) {
      return absl::InvalidArgumentError(
          absl::StrCat("module '", module, "' takes key=value arguments; '", tok, "' is not one"));
    }
    raw.push_back(tok);
  }
  if (!raw.empty()) out["_raw_params"] = absl::StrJoin(raw, " ");
  return out;
}

}  // namespace tachyon::rollout
