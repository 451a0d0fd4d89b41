// The service and systemd modules (ansible.builtin.service, ansible.builtin.systemd and its
// name ansible.builtin.systemd_service), for systemd hosts: everything goes through
// `systemctl` with an argv (never a shell). `systemctl show NAME` decides whether anything
// has to change, so `changed` is honest and check mode answers without acting. The result
// is Ansible's: {changed, name, state?, enabled?, status: {systemctl show properties}}.

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/modules/args.h"
#include "agent/modules/module.h"
#include "agent/modules/os_util.h"
#include "agent/modules/result_util.h"

namespace tachyon::modules {
namespace {

std::vector<ArgSpec> ServiceSpec(bool systemd) {
  std::vector<ArgSpec> spec = {
      {"name", ArgType::kStr, false,
       systemd ? std::vector<std::string>{"service", "unit"} : std::vector<std::string>{}},
      {"state", ArgType::kStr, false, {}, {"reloaded", "restarted", "started", "stopped"}},
      {"enabled", ArgType::kBool},
  };
  std::vector<ArgSpec> extra =
      systemd
          ? std::vector<ArgSpec>{{"daemon_reload", ArgType::kBool, false, {"daemon-reload"}},
                                 {"daemon_reexec", ArgType::kBool, false, {"daemon-reexec"}},
                                 {"force", ArgType::kBool},
                                 {"masked", ArgType::kBool},
                                 {"no_block", ArgType::kBool},
                                 {"scope", ArgType::kStr, false, {}, {"system", "user", "global"}}}
          : std::vector<ArgSpec>{{"arguments", ArgType::kStr, false, {"args"}},
                                 {"pattern", ArgType::kStr},
                                 {"runlevel", ArgType::kStr},
                                 {"sleep", ArgType::kInt},
                                 {"use", ArgType::kStr}};
  spec.insert(spec.end(), extra.begin(), extra.end());
  return spec;
}

// `systemctl show` output as a dict (Ansible's parse_systemctl_show, single-line values).
nlohmann::json ParseShow(const std::string& text) {
  nlohmann::json props = nlohmann::json::object();
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    size_t eq = line.find('=');
    if (eq == absl::string_view::npos) continue;
    props[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
  }
  return props;
}

class ServiceModule : public InlineModule {
 public:
  explicit ServiceModule(std::string name) : name_(std::move(name)) {}

  std::string_view Name() const override { return name_; }

  absl::Status Validate(const nlohmann::json& args) const override {
    absl::StatusOr<nlohmann::json> a = ParseArgs(Name(), args, ServiceSpec(systemd()));
    if (!a.ok()) return a.status();
    bool reload = Flag(*a, "daemon_reload") || Flag(*a, "daemon_reexec");
    if (!a->contains("name") && !reload) {
      return absl::InvalidArgumentError("missing required arguments: name");
    }
    if (a->contains("name") && !a->contains("state") && !a->contains("enabled") &&
        !a->contains("masked") && !reload) {
      return absl::InvalidArgumentError(
          systemd() ? "one of the following is required: state, enabled, masked, daemon_reload"
                    : "one of the following is required: state, enabled");
    }
    return absl::OkStatus();
  }

  Prepared Prepare(const nlohmann::json& args, const std::string& cwd) const override {
    Prepared p;
    p.result =
        Run(ParseArgs(Name(), args, ServiceSpec(systemd())).value_or(nlohmann::json::object()));
    return p;
  }

 private:
  bool systemd() const { return name_ != "service"; }

  static nlohmann::json Run(const nlohmann::json& a) {
    const bool check = CheckMode(a);
    std::vector<std::string> base = {"systemctl"};
    std::string scope = StrArg(a, "scope").value_or("system");
    if (scope != "system") base.push_back("--" + scope);
    auto systemctl = [&](std::vector<std::string> words) {
      std::vector<std::string> argv = base;
      argv.insert(argv.end(), words.begin(), words.end());
      return RunCommand(argv);
    };
    nlohmann::json r = {{"changed", false}};
    auto fail = [&](const std::string& msg) {
      r["failed"] = true;
      r["msg"] = msg;
      return r;
    };
    for (const char* op : {"daemon_reexec", "daemon_reload"}) {
      if (!Flag(a, op) || check) continue;
      std::string verb = op == std::string("daemon_reload") ? "daemon-reload" : "daemon-reexec";
      CommandOutput out = systemctl({verb});
      if (out.rc != 0)
        return fail(absl::StrCat("failure ", out.rc, " during ", verb, ": ", out.stderr_data));
    }
    std::optional<std::string> name = StrArg(a, "name");
    if (!name) return r;
    r["name"] = *name;
    CommandOutput show = systemctl({"show", *name});
    if (show.exec_errno != 0) return fail(OsErrorText(show.exec_errno, "systemctl"));
    if (show.rc != 0) {
      return fail(absl::StrCat("failure ", show.rc, " running systemctl show for '", *name,
                               "': ", show.stderr_data));
    }
    nlohmann::json status = ParseShow(show.stdout_data);
    r["status"] = status;
    bool found = status.value("LoadState", "") != "not-found";
    std::string active = status.value("ActiveState", "");
    bool running = active == "active" || active == "activating" || active == "reloading";

    std::vector<std::vector<std::string>> actions;
    if (a.contains("enabled")) {
      bool want = Flag(a, "enabled");
      r["enabled"] = want;
      if (!found)
        return fail(absl::StrCat("Could not find the requested service ", *name, ": host"));
      CommandOutput is = systemctl({"is-enabled", *name});
      std::string word(absl::StripAsciiWhitespace(is.stdout_data));
      bool enabled = is.rc == 0 && word != "static" && word != "indirect";
      if (enabled != want) actions.push_back({want ? "enable" : "disable", *name});
    }
    if (std::optional<std::string> state = StrArg(a, "state")) {
      r["state"] = *state;
      if (!found)
        return fail(absl::StrCat("Could not find the requested service ", *name, ": host"));
      std::string verb;
      if (*state == "started" && !running) verb = "start";
      if (*state == "stopped" && running) verb = "stop";
      if (*state == "restarted") verb = "restart";
      if (*state == "reloaded") verb = running ? "reload" : "start";
      if (!verb.empty()) actions.push_back({verb, *name});
    }
    if (actions.empty()) return r;
    r["changed"] = true;
    if (check) return r;
    for (std::vector<std::string>& action : actions) {
      std::string verb = action[0];
      if (Flag(a, "no_block")) action.insert(action.begin(), "--no-block");
      CommandOutput out = systemctl(action);
      if (out.rc != 0 || out.exec_errno != 0) {
        r["changed"] = false;
        return fail(absl::StrCat("Unable to ", verb, " service ", *name, ": ",
                                 out.exec_errno != 0 ? OsErrorText(out.exec_errno, "systemctl")
                                                     : SanitizeUtf8(out.stderr_data)));
      }
    }
    return r;
  }

  std::string name_;
};

}  // namespace

std::unique_ptr<Module> MakeServiceModule() { return std::make_unique<ServiceModule>("service"); }
std::unique_ptr<Module> MakeSystemdModule() { return std::make_unique<ServiceModule>("systemd"); }
std::unique_ptr<Module> MakeSystemdServiceModule() {
  return std::make_unique<ServiceModule>("systemd_service");
}

}  // namespace tachyon::modules
