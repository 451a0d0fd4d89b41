// The package managers: apt, dnf, yum, and `package`, which picks whichever of them the host
// has (apt-get, then dnf, then yum). Installed state is queried first (dpkg-query / rpm -q) so
// that `changed` is honest and check mode can answer without acting; the install or removal
// is the job's process (so the job timeout and kill apply to it).
//
// Every package job holds the host-wide "package" lock (Module::HostLock) from before the
// query until its result is written: two package jobs on one host never overlap.

#include <stdlib.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "agent/modules/args.h"
#include "agent/modules/module.h"
#include "agent/modules/os_util.h"
#include "agent/modules/result_util.h"

namespace tachyon::modules {
namespace {

enum class Manager { kAuto, kApt, kDnf, kYum };

const char* ModuleName(Manager m) {
  switch (m) {
    case Manager::kApt:
      return "apt";
    case Manager::kDnf:
      return "dnf";
    case Manager::kYum:
      return "yum";
    case Manager::kAuto:
      break;
  }
  return "package";
}

std::vector<ArgSpec> PackageSpec(Manager m) {
  std::vector<ArgSpec> spec = {
      {"name", ArgType::kRaw, false, {"pkg", "package"}},
      {"state", ArgType::kStr, false, {}, {"absent", "installed", "latest", "present", "removed"}},
  };
  if (m == Manager::kAuto) spec.push_back({"use", ArgType::kStr});
  if (m == Manager::kApt) {
    for (ArgSpec s : std::vector<ArgSpec>{
             {"update_cache", ArgType::kBool, false, {"update-cache"}},
             {"cache_valid_time", ArgType::kInt},
             {"purge", ArgType::kBool},
             {"autoremove", ArgType::kBool},
             {"install_recommends", ArgType::kBool, false, {"install-recommends"}}}) {
      spec.push_back(std::move(s));
    }
  }
  if (m == Manager::kDnf || m == Manager::kYum) {
    for (ArgSpec s : std::vector<ArgSpec>{{"update_cache", ArgType::kBool, false, {"expire-cache"}},
                                          {"enablerepo", ArgType::kRaw},
                                          {"disablerepo", ArgType::kRaw},
                                          {"disable_gpg_check", ArgType::kBool},
                                          {"autoremove", ArgType::kBool}}) {
      spec.push_back(std::move(s));
    }
  }
  return spec;
}

bool OnPath(const std::string& program) {
  return RunCommand({"sh", "-c", "command -v \"$0\" >/dev/null", program}).rc == 0;
}

// What `package` uses on this host.
Manager Detect() {
  if (OnPath("apt-get")) return Manager::kApt;
  if (OnPath("dnf")) return Manager::kDnf;
  if (OnPath("yum")) return Manager::kYum;
  return Manager::kAuto;
}

// The package name without a version or architecture constraint ("nginx=1.2" -> "nginx").
std::string PackageBaseName(const std::string& spec, Manager m) {
  size_t cut = spec.find_first_of(m == Manager::kApt ? "=" : "<>=");
  std::string name = spec.substr(0, cut);
  return std::string(absl::StripTrailingAsciiWhitespace(name));
}

bool Installed(const std::string& name, Manager m) {
  if (m == Manager::kApt) {
    CommandOutput out = RunCommand({"dpkg-query", "-W", "-f=${Status}", name});
    return out.rc == 0 && absl::StrContains(out.stdout_data, "install ok installed");
  }
  return RunCommand({"rpm", "-q", name}).rc == 0;
}

// Whether an installed package has a newer version available.
bool Upgradable(const std::string& name, Manager m) {
  if (m == Manager::kApt) {
    CommandOutput out = RunCommand({"apt-get", "-s", "-q", "install", name});
    return absl::StrContains(out.stdout_data, "\nInst ") ||
           absl::StartsWith(out.stdout_data, "Inst ");
  }
  // check-update exits 100 when updates are available.
  return RunCommand({m == Manager::kDnf ? "dnf" : "yum", "-q", "check-update", name}).rc == 100;
}

class PackageModule : public Module {
 public:
  explicit PackageModule(Manager m) : manager_(m) {}

  std::string_view Name() const override { return ModuleName(manager_); }
  std::string HostLock(const nlohmann::json& args) const override { return "package"; }

  absl::Status Validate(const nlohmann::json& args) const override {
    absl::StatusOr<nlohmann::json> a = ParseArgs(Name(), args, PackageSpec(manager_));
    if (!a.ok()) return a.status();
    if (a->contains("name")) {
      const nlohmann::json& n = (*a)["name"];
      bool ok = ScalarToString(n).has_value() || n.is_array();
      if (n.is_array()) {
        for (const auto& e : n) ok = ok && e.is_string();
      }
      if (!ok) {
        return absl::InvalidArgumentError(absl::StrCat("argument 'name' is of type ", n.type_name(),
                                                       " and we were unable to convert to list"));
      }
    } else if (manager_ == Manager::kAuto || !Flag(*a, "update_cache")) {
      return absl::InvalidArgumentError("missing required arguments: name");
    }
    return absl::OkStatus();
  }

  Prepared Prepare(const nlohmann::json& args, const std::string& cwd) const override {
    Prepared p;
    nlohmann::json a =
        ParseArgs(Name(), args, PackageSpec(manager_)).value_or(nlohmann::json::object());
    Manager m = manager_ == Manager::kAuto ? Detect() : manager_;
    nlohmann::json& r = p.result;
    if (m == Manager::kAuto) {
      r = {{"failed", true},
           {"changed", false},
           {"msg", "Could not find a package manager (apt-get, dnf, yum) on this host"}};
      return p;
    }
    r = {{"changed", false}};
    const bool check = CheckMode(a);
    std::vector<std::string> names = CommaListArg(a, "name").value_or(std::vector<std::string>{});
    std::string state = StrArg(a, "state").value_or("present");
    const bool remove = state == "absent" || state == "removed";

    if (m == Manager::kApt) {
      setenv("DEBIAN_FRONTEND", "noninteractive", 1);
      r["cache_updated"] = false;
      r["cache_update_time"] = 0;
      if (Flag(a, "update_cache") && !check) {
        CommandOutput out = RunCommand({"apt-get", "update", "-q"});
        if (out.rc != 0) {
          r["failed"] = true;
          r["msg"] = absl::StrCat("Failed to update apt cache: ",
                                  out.stderr_data.empty() ? "unknown reason" : out.stderr_data);
          return p;
        }
        r["cache_updated"] = true;
        r["cache_update_time"] = absl::ToUnixSeconds(absl::Now());
        r["changed"] = names.empty();
      }
    }

    std::vector<std::string> todo;
    for (const std::string& spec : names) {
      std::string base = PackageBaseName(spec, m);
      bool installed = Installed(base, m);
      if (remove ? installed : (!installed || (state == "latest" && Upgradable(base, m)))) {
        todo.push_back(remove ? base : spec);
      }
    }
    if (todo.empty()) {
      if (m != Manager::kApt) {
        r["msg"] = "Nothing to do";
        r["rc"] = 0;
        r["results"] = nlohmann::json::array();
      }
      return p;
    }
    r["changed"] = true;
    r["_todo"] = todo;
    r["_remove"] = remove;
    r["_manager"] = ModuleName(m);
    if (check) {
      if (m != Manager::kApt) {
        r["msg"] = "Check mode: No changes made, but would have if not in check mode";
        r["results"] = Results(todo, remove);
        r["rc"] = 0;
      }
      r.erase("_todo");
      r.erase("_remove");
      r.erase("_manager");
      return p;
    }
    ExecPlan exec;
    if (m == Manager::kApt) {
      exec.argv = {"apt-get",
                   "-q",
                   "-y",
                   "-o",
                   "Dpkg::Options::=--force-confdef",
                   "-o",
                   "Dpkg::Options::=--force-confold"};
      if (remove) {
        if (Flag(a, "autoremove")) exec.argv.push_back("--auto-remove");
        exec.argv.push_back(Flag(a, "purge") ? "purge" : "remove");
      } else {
        if (a.contains("install_recommends")) {
          exec.argv.push_back(Flag(a, "install_recommends") ? "--install-recommends"
                                                            : "--no-install-recommends");
        }
        exec.argv.push_back("install");
      }
    } else {
      exec.argv = {m == Manager::kDnf ? "dnf" : "yum", "-y"};
      if (Flag(a, "disable_gpg_check")) exec.argv.push_back("--nogpgcheck");
      if (Flag(a, "update_cache")) exec.argv.push_back("--refresh");
      for (const char* key : {"enablerepo", "disablerepo"}) {
        for (const std::string& repo : CommaListArg(a, key).value_or(std::vector<std::string>{})) {
          exec.argv.push_back(absl::StrCat("--", key, "=", repo));
        }
      }
      exec.argv.push_back(remove ? "remove" : "install");
    }
    exec.argv.insert(exec.argv.end(), todo.begin(), todo.end());
    r["_cmd"] = absl::StrJoin(exec.argv, " ");
    p.exec = std::move(exec);
    return p;
  }

  nlohmann::json Finish(const Prepared& prepared, const ProcessOutcome& outcome) const override {
    nlohmann::json r = prepared.result;
    std::vector<std::string> todo = r["_todo"].get<std::vector<std::string>>();
    bool remove = r["_remove"].get<bool>();
    bool apt = r["_manager"] == "apt";
    std::string cmd = r["_cmd"].get<std::string>();
    for (const char* key : {"_todo", "_remove", "_manager", "_cmd"}) r.erase(key);
    std::string out = SanitizeUtf8(outcome.stdout_data, outcome.stdout_truncated);
    std::string err = SanitizeUtf8(outcome.stderr_data, outcome.stderr_truncated);
    int rc = outcome.exec_errno != 0 ? outcome.exec_errno : outcome.ReturnCode();
    if (apt) {
      r["stdout"] = out;
      r["stderr"] = err;
      AddOutputLines(&r);
    } else {
      r["rc"] = rc;
      r["msg"] = "";
      r["results"] = Results(todo, remove);
    }
    if (rc != 0) {
      r["failed"] = true;
      r["changed"] = false;
      r["rc"] = rc;
      if (outcome.exec_errno != 0)
        err = OsErrorText(outcome.exec_errno, cmd.substr(0, cmd.find(' ')));
      r["msg"] = apt && remove
                     ? absl::StrCat("'apt-get remove ", absl::StrJoin(todo, " "), "' failed: ", err)
                     : absl::StrCat("'", cmd, "' failed: ", err);
      if (!apt) {
        r["stdout"] = out;
        r["stderr"] = err;
        r["results"] = nlohmann::json::array();
      }
    }
    return r;
  }

 private:
  static nlohmann::json Results(const std::vector<std::string>& todo, bool remove) {
    nlohmann::json results = nlohmann::json::array();
    for (const std::string& name : todo) {
      results.push_back(absl::StrCat(remove ? "Removed: " : "Installed: ", name));
    }
    return results;
  }

  Manager manager_;
};

}  // namespace

std::unique_ptr<Module> MakePackageModule() {
  return std::make_unique<PackageModule>(Manager::kAuto);
}
std::unique_ptr<Module> MakeAptModule() { return std::make_unique<PackageModule>(Manager::kApt); }
std::unique_ptr<Module> MakeDnfModule() { return std::make_unique<PackageModule>(Manager::kDnf); }
std::unique_ptr<Module> MakeYumModule() { return std::make_unique<PackageModule>(Manager::kYum); }

}  // namespace tachyon::modules
