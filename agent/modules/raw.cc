// The raw module (ansible.builtin.raw): the free-form string through `/bin/sh -c` (or
// `executable -c`), with no module machinery around it. Check mode skips it, as Ansible does.

#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "agent/modules/args.h"
#include "agent/modules/module.h"
#include "agent/modules/result_util.h"

namespace tachyon::modules {
namespace {

const std::vector<ArgSpec>& RawSpec() {
  static const auto* spec = new std::vector<ArgSpec>{
      {"_raw_params", ArgType::kStr},
      {"executable", ArgType::kStr},
  };
  return *spec;
}

class RawModule : public Module {
 public:
  std::string_view Name() const override { return "raw"; }

  absl::Status Validate(const nlohmann::json& args) const override {
    absl::StatusOr<nlohmann::json> a = ParseArgs(Name(), args, RawSpec());
    if (!a.ok()) return a.status();
    std::string raw = StrArg(*a, "_raw_params").value_or("");
    if (absl::StripAsciiWhitespace(raw).empty()) {
      return absl::InvalidArgumentError("no command given");
    }
    return absl::OkStatus();
  }

  Prepared Prepare(const nlohmann::json& args, const std::string& cwd) const override {
    Prepared p;
    nlohmann::json a = ParseArgs(Name(), args, RawSpec()).value_or(nlohmann::json::object());
    if (CheckMode(a)) {
      p.result = {{"changed", false}, {"skipped", true}};
      return p;
    }
    std::string executable = StrArg(a, "executable").value_or("/bin/sh");
    p.exec = ExecPlan{{executable, "-c", StrArg(a, "_raw_params").value_or("")}, std::nullopt};
    return p;
  }

  nlohmann::json Finish(const Prepared& prepared, const ProcessOutcome& outcome) const override {
    return LowLevelExecuteResult(outcome);
  }
};

}  // namespace

std::unique_ptr<Module> MakeRawModule() { return std::make_unique<RawModule>(); }

}  // namespace tachyon::modules
