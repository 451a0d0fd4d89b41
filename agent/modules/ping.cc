// The ping module: proves the job path works end to end without starting a process.

#include <memory>
#include <string>

#include "agent/modules/args.h"
#include "agent/modules/module.h"

namespace tachyon::modules {
namespace {

class PingModule : public Module {
 public:
  std::string_view Name() const override { return "ping"; }

  absl::Status Validate(const nlohmann::json& args) const override {
    return CheckArgs(Name(), args.is_null() ? nlohmann::json::object() : args,
                     {{"data", ArgType::kStr}});
  }

  Prepared Prepare(const nlohmann::json& args, const std::string& cwd) const override {
    Prepared p;
    std::string data = StrArg(args, "data").value_or("pong");
    if (data == "crash") {
      // Ansible's ping raises Exception("boom"); the executor reports it as a module failure.
      p.result = {{"failed", true},
                  {"changed", false},
                  {"msg", "MODULE FAILURE\nSee stdout/stderr for the exact error"},
                  {"module_stdout", ""},
                  {"module_stderr", "Exception: boom\n"},
                  {"rc", 1}};
      return p;
    }
    p.result = {{"ping", data}, {"changed", false}, {"failed", false}};
    return p;
  }

  nlohmann::json Finish(const Prepared& prepared, const ProcessOutcome& outcome) const override {
    return prepared.result;  // never runs a process
  }
};

}  // namespace

std::unique_ptr<Module> MakePingModule() { return std::make_unique<PingModule>(); }

}  // namespace tachyon::modules
