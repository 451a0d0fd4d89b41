// The list of modules the agent can run. Adding a module: write modules/NAME.cc with a
// MakeNameModule() factory, declare it in module.h, and add it here.

#include <map>
#include <memory>
#include <string>

#include "agent/modules/module.h"

namespace tachyon::modules {
namespace {

using Registry = std::map<std::string, std::unique_ptr<Module>, std::less<>>;

const Registry& GetRegistry() {
  static const Registry* registry = [] {
    auto* r = new Registry;
    for (auto make :
         {&MakeCommandModule, &MakeShellModule, &MakePingModule, &MakeRawModule, &MakeScriptModule,
          &MakeCopyModule, &MakeFileModule, &MakeStatModule, &MakeLineInFileModule,
          &MakeSetupModule, &MakeWaitForModule, &MakePackageModule, &MakeAptModule, &MakeDnfModule,
          &MakeYumModule, &MakeServiceModule, &MakeSystemdModule, &MakeSystemdServiceModule,
          &MakeUriModule}) {
      std::unique_ptr<Module> m = make();
      std::string name(m->Name());
      (*r)[name] = std::move(m);
    }
    return r;
  }();
  return *registry;
}

}  // namespace

const Module* FindModule(std::string_view name) {
  const Registry& r = GetRegistry();
  auto it = r.find(name);
  return it == r.end() ? nullptr : it->second.get();
}

std::vector<std::string> ModuleNames() {
  std::vector<std::string> names;
  for (const auto& [name, module] : GetRegistry()) names.push_back(name);
  return names;
}

}  // namespace tachyon::modules
