// The setup module (ansible.builtin.setup): agent/facts.cc's facts under Ansible's names.
// gather_subset is accepted but every subset yields the same cheap set; `filter` keeps the
// facts whose names match one of its fnmatch patterns.

#include <fnmatch.h>

#include <memory>
#include <string>

#include "agent/facts.h"
#include "agent/modules/args.h"
#include "agent/modules/module.h"

namespace tachyon::modules {
namespace {

const std::vector<ArgSpec>& SetupSpec() {
  static const auto* spec = new std::vector<ArgSpec>{
      {"gather_subset", ArgType::kRaw},
      {"gather_timeout", ArgType::kInt},
      {"filter", ArgType::kRaw},
      {"fact_path", ArgType::kPath},
  };
  return *spec;
}

class SetupModule : public InlineModule {
 public:
  std::string_view Name() const override { return "setup"; }

  absl::Status Validate(const nlohmann::json& args) const override {
    return ParseArgs(Name(), args, SetupSpec()).status();
  }

  Prepared Prepare(const nlohmann::json& args, const std::string& cwd) const override {
    nlohmann::json a = ParseArgs(Name(), args, SetupSpec()).value_or(nlohmann::json::object());
    nlohmann::json facts = agent::AnsibleFacts(agent::GatherFacts());
    facts["gather_subset"] =
        CommaListArg(a, "gather_subset").value_or(std::vector<std::string>{"all"});
    facts["module_setup"] = true;
    std::vector<std::string> filters =
        CommaListArg(a, "filter").value_or(std::vector<std::string>{});
    if (!filters.empty()) {
      nlohmann::json kept = nlohmann::json::object();
      for (const auto& [key, value] : facts.items()) {
        for (const std::string& pattern : filters) {
          if (fnmatch(pattern.c_str(), key.c_str(), 0) == 0) {
            kept[key] = value;
            break;
          }
        }
      }
      facts = std::move(kept);
    }
    Prepared p;
    p.result = {{"ansible_facts", std::move(facts)}, {"changed", false}};
    return p;
  }
};

}  // namespace

std::unique_ptr<Module> MakeSetupModule() { return std::make_unique<SetupModule>(); }

}  // namespace tachyon::modules
