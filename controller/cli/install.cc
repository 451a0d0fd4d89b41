// `tachyon agents install`: see install.h. The remote side is two short POSIX sh scripts run
// through the system's ssh (a probe, then install/configure/enroll/start), so a host needs
// nothing but sshd, sh and dpkg; the enrollment token travels on ssh's stdin, never in a
// command line on this machine.

#include "controller/cli/install.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/fs.h"
#include "controller/rollout/inventory.h"
#include "controller/rollout/pattern.h"
#include "nlohmann/json.hpp"

namespace tachyon::cli {
namespace {

using nlohmann::json;

// A variable's value as text ("" when absent or null): inventory values may be numbers.
std::string VarString(const json& vars, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    auto it = vars.find(name);
    if (it == vars.end() || it->is_null()) continue;
    if (it->is_string()) return it->get<std::string>();
    if (it->is_number_integer()) return std::to_string(it->get<int64_t>());
    return it->dump();
  }
  return "";
}

// Shared by both scripts: who may install (root, passwordless sudo, or nobody in --prefix
// mode) and where things are.
constexpr char kScriptPrelude[] = R"SH(
set -u
if [ -n "$prefix" ]; then SUDO=""
elif [ "$(id -u)" = 0 ]; then SUDO=""
elif sudo -n true 2>/dev/null; then SUDO="sudo -n"
else echo "nosudo=$(id -un)"; exit 0; fi
if [ -n "$prefix" ]; then
  bin="$prefix/usr/bin/tachyon-agent"; etc="$prefix/etc/tachyon"; state="$prefix/var/lib/tachyon-agent"
else
  bin=/usr/bin/tachyon-agent; etc=/etc/tachyon; state=/var/lib/tachyon-agent
fi
# `tachyon-agent enroll` leaves the agent's key and certificate in its state directory.
enrolled() { $SUDO test -s "$state/agent.crt" -a -s "$state/agent.key"; }
)SH";

// Probe: can we get in, may we install, what is there already. Prints key=value lines.
constexpr char kProbeScript[] = R"SH(
if [ -n "$prefix" ]; then
  installed=$(cat "$prefix/.tachyon-agent-version" 2>/dev/null || true)
else
  installed=$(dpkg-query -W -f='${Version}' tachyon-agent 2>/dev/null || true)
fi
if enrolled; then echo enrolled=yes; else echo enrolled=no; fi
echo "installed=$installed"
if [ "$need_tmp" = 1 ]; then
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/tachyon-install.XXXXXX") || { echo "failed=mktemp"; exit 1; }
  echo "tmp=$tmp"
fi
echo probe=ok
)SH";

// Install, configure, enroll, start. The token is the first line of stdin. Prints step=NAME
// before each step and failed=NAME when one fails (its stderr says why).
constexpr char kInstallScript[] = R"SH(
IFS= read -r token || token=""
exec </dev/null
fail() { [ -n "$tmp" ] && rm -rf "$tmp"; echo "failed=$1"; exit 1; }
apt_install() {
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$1"
}
if [ -n "$pkg" ]; then
  echo step=install
  if [ -n "$prefix" ]; then
    mkdir -p "$prefix" && dpkg-deb -x "$pkg" "$prefix" &&
      dpkg-deb -f "$pkg" Version >"$prefix/.tachyon-agent-version" || fail install
  else
    apt_install "$pkg" || fail install
  fi
elif [ "$from_repo" = 1 ]; then
  echo step=install
  apt_install tachyon-agent || fail install
fi
[ -n "$tmp" ] && rm -rf "$tmp"
tmp=""
[ -x "$bin" ] || { echo "$bin is missing after the install" >&2; fail install; }

echo step=config
$SUDO mkdir -p "$etc" "$state" && $SUDO chmod 0700 "$state" &&
  printf '%s' "$config" | $SUDO tee "$etc/agent.yaml.new" >/dev/null &&
  $SUDO mv "$etc/agent.yaml.new" "$etc/agent.yaml" || fail config

if [ "$enroll" = 1 ]; then
  echo step=enroll
  $SUDO "$bin" enroll --controller "$controller" --token "$token" --state-dir "$state" \
    >&2 || fail enroll
fi

echo step=start
if [ -n "$prefix" ]; then
  mkdir -p "$prefix/run" "$prefix/var/log" || fail start
  pidfile="$prefix/run/tachyon-agent.pid"
  if [ -f "$pidfile" ]; then
    old=$(cat "$pidfile")
    if [ -n "$old" ] && kill "$old" 2>/dev/null; then
      n=0
      while kill -0 "$old" 2>/dev/null && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
    fi
  fi
  # Its own session, every descriptor away from this ssh session, so that ssh returns.
  if command -v setsid >/dev/null; then
    setsid "$bin" --config "$etc/agent.yaml" >>"$prefix/var/log/tachyon-agent.log" 2>&1 </dev/null &
  else
    nohup "$bin" --config "$etc/agent.yaml" >>"$prefix/var/log/tachyon-agent.log" 2>&1 </dev/null &
  fi
  echo $! >"$pidfile"
elif [ -d /run/systemd/system ]; then
  $SUDO systemctl enable tachyon-agent.service >/dev/null 2>&1
  $SUDO systemctl restart tachyon-agent.service || fail start
else
  echo "no systemd on this host: start '$bin --config $etc/agent.yaml' with its init system" >&2
  fail start
fi
echo done=yes
)SH";

std::string Assign(const std::string& name, const std::string& value) {
  return absl::StrCat(name, "=", ShellQuote(value), "\n");
}

std::map<std::string, std::string> KeyValues(const std::string& out) {
  std::map<std::string, std::string> kv;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    size_t eq = line.find('=');
    if (eq == absl::string_view::npos) continue;
    kv[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
  }
  return kv;
}

// The last few lines of a failed step's stderr, for the report.
std::string Tail(const std::string& err, size_t max_lines = 3) {
  std::vector<std::string> lines;
  for (absl::string_view l : absl::StrSplit(err, '\n', absl::SkipWhitespace())) {
    lines.emplace_back(absl::StripAsciiWhitespace(l));
  }
  if (lines.size() > max_lines) lines.erase(lines.begin(), lines.end() - max_lines);
  return absl::StrJoin(lines, " | ");
}

struct HostOutcome {
  std::string status;  // ok | changed | failed | unreachable
  std::string msg;
  json details = json::object();
};

class Installer {
 public:
  Installer(const InstallOptions& options, std::string controller, const InstallHooks& hooks,
            std::string package_version)
      : options_(options),
        controller_(std::move(controller)),
        hooks_(hooks),
        package_version_(std::move(package_version)) {}

  HostOutcome Install(const InstallHost& host, const std::map<std::string, KnownAgent>& known);

 private:
  CommandResult Ssh(const InstallHost& host, const std::string& script, const std::string& input,
                    absl::Duration timeout) const {
    return RunCommand(SshArgv(host.ssh, "sh -c " + ShellQuote(script)), input, timeout);
  }
  std::string HostPrefix(const InstallHost& host) const {
    return options_.prefix.empty() ? "" : absl::StrCat(options_.prefix, "/", host.name);
  }
  absl::StatusOr<bool> WaitConnected(const std::string& name) const;

  const InstallOptions& options_;
  const std::string controller_;
  const InstallHooks& hooks_;
  const std::string package_version_;
};

absl::StatusOr<bool> Installer::WaitConnected(const std::string& name) const {
  const absl::Time deadline = absl::Now() + absl::Seconds(options_.connect_timeout);
  while (true) {
    auto agents = hooks_.list_agents();
    if (!agents.ok()) return agents.status();
    auto it = agents->find(name);
    if (it != agents->end() && it->second.connected) return true;
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(500));
  }
}

HostOutcome Installer::Install(const InstallHost& host,
                               const std::map<std::string, KnownAgent>& known) {
  HostOutcome o;
  auto known_it = known.find(host.name);
  const bool revoked = known_it != known.end() && known_it->second.revoked;
  if (known_it != known.end() && known_it->second.connected && !revoked && !options_.reenroll) {
    o.status = "ok";
    o.msg = "already enrolled and connected";
    return o;
  }
  const absl::Duration step_timeout = absl::Seconds(options_.command_timeout);
  const std::string prefix = HostPrefix(host);
  const std::string vars = absl::StrCat(Assign("prefix", prefix),
                                        Assign("need_tmp", options_.package.empty() ? "0" : "1"));

  // 1. Probe.
  CommandResult probe = Ssh(host, vars + kScriptPrelude + kProbeScript, "", step_timeout);
  if (!probe.started) return {"failed", probe.start_error};
  if (probe.timed_out) return {"unreachable", "ssh: no answer within the step timeout"};
  if (probe.exit_code == 255) return {"unreachable", SshErrorLine(probe.err)};
  auto kv = KeyValues(probe.out);
  if (kv.count("nosudo")) {
    return {"failed", absl::StrCat("no sudo: ", kv["nosudo"],
                                   " may not run sudo without a password (tachyon-agent is "
                                   "installed as root: use ansible_user=root or NOPASSWD sudo)")};
  }
  if (probe.exit_code != 0 || kv["probe"] != "ok") {
    return {"failed", absl::StrCat("probe failed (exit ", probe.exit_code,
                                   "): ", Tail(probe.err + probe.out))};
  }
  const bool enrolled = kv["enrolled"] == "yes";
  const std::string installed = kv["installed"];
  const std::string tmp = kv["tmp"];
  o.details["installed_before"] = installed;
  o.details["enrolled_before"] = enrolled;

  // 2. Copy the package unless that very version is there already.
  std::string remote_pkg;
  bool need_install =
      installed.empty() ||
      (!options_.package.empty() && (package_version_.empty() || installed != package_version_));
  if (!options_.package.empty() && need_install) {
    remote_pkg = tmp + "/tachyon-agent.deb";
    CommandResult cp =
        RunCommand(ScpArgv(host.ssh, options_.package, remote_pkg), "", step_timeout);
    if (!cp.started) return {"failed", cp.start_error};
    if (cp.exit_code != 0 || cp.timed_out) {
      return {"failed", absl::StrCat("copying the package failed: ",
                                     cp.timed_out ? "timed out" : SshErrorLine(cp.err))};
    }
  }

  // 3. A fresh single-use token, bound to this host's name, only when it will be used.
  // A revoked agent's certificate is refused for good: it needs a new key.
  const bool enroll = !enrolled || options_.reenroll || revoked;
  std::string token;
  if (enroll) {
    bool replace = known_it != known.end();
    auto t = hooks_.create_token(host.name, replace);
    if (!t.ok()) return {"failed", absl::StrCat("token: ", t.status().message())};
    token = *t;
  }

  // 4. Install, configure, enroll, start.
  const std::string state_dir =
      prefix.empty() ? "/var/lib/tachyon-agent" : prefix + "/var/lib/tachyon-agent";
  std::string script =
      absl::StrCat(vars, Assign("pkg", remote_pkg),
                   Assign("from_repo", options_.package.empty() && installed.empty() ? "1" : "0"),
                   Assign("tmp", tmp), Assign("controller", controller_),
                   Assign("config", AgentConfigYaml(host, controller_, state_dir)),
                   Assign("enroll", enroll ? "1" : "0"), kScriptPrelude, kInstallScript);
  CommandResult run = Ssh(host, script, token + "\n", step_timeout);
  if (!run.started) return {"failed", run.start_error};
  kv = KeyValues(run.out);
  if (run.exit_code == 255 && kv.empty()) return {"unreachable", SshErrorLine(run.err)};
  if (run.timed_out || kv["done"] != "yes") {
    std::string step = kv.count("failed") ? kv["failed"] : kv["step"];
    std::string why = run.timed_out ? "timed out" : Tail(run.err);
    std::string what = step == "install"  ? "package error"
                       : step == "enroll" ? "enrollment failed"
                       : step == "start"  ? "starting tachyon-agent failed"
                       : step == "config" ? "writing agent.yaml failed"
                                          : "install failed";
    return {"failed", absl::StrCat(what, ": ", why.empty() ? "no message" : why)};
  }

  // 5. Connected?
  auto connected = WaitConnected(host.name);
  if (!connected.ok())
    return {"failed", absl::StrCat("controller: ", connected.status().message())};
  if (!*connected) {
    return {"failed", absl::StrCat("installed and started, but not connected within ",
                                   options_.connect_timeout, " s (",
                                   prefix.empty() ? "journalctl -u tachyon-agent"
                                                  : prefix + "/var/log/tachyon-agent.log",
                                   " on the host says why; --reenroll gives it a new key)")};
  }
  std::vector<std::string> did;
  if (!remote_pkg.empty() || (options_.package.empty() && installed.empty())) {
    did.push_back(
        absl::StrCat("installed tachyon-agent ", package_version_.empty() ? "" : package_version_));
  }
  if (enroll) did.push_back("enrolled");
  did.push_back("started, connected");
  o.status = "changed";
  o.msg = absl::StrJoin(did, ", ");
  return o;
}

}  // namespace

absl::StatusOr<std::vector<InstallHost>> ResolveInstallHosts(const InstallOptions& options) {
  auto inv = rollout::Inventory::Load(options.inventories);
  if (!inv.ok()) return inv.status();
  rollout::Universe u = (*inv)->GetUniverse();
  rollout::HostUniverse universe;
  universe.hosts = u.hosts;
  universe.groups = u.groups;
  // The implicit localhost is the controller's own executor: never an agent to install.
  auto names = rollout::MatchPattern(options.pattern, universe);
  if (!names.ok()) return names.status();
  std::vector<InstallHost> hosts;
  for (const std::string& name : *names) {
    auto vars = (*inv)->HostVars(name);
    if (!vars.ok()) return vars.status();
    InstallHost h;
    h.name = name;
    h.ssh.host = VarString(*vars, {"ansible_host", "ansible_ssh_host"});
    if (h.ssh.host.empty()) h.ssh.host = name;
    std::string port = VarString(*vars, {"ansible_port", "ansible_ssh_port"});
    if (!port.empty() &&
        (!absl::SimpleAtoi(port, &h.ssh.port) || h.ssh.port <= 0 || h.ssh.port > 65535)) {
      return absl::InvalidArgumentError(
          absl::StrCat("host ", name, ": ansible_port '", port, "' is not a port number"));
    }
    h.ssh.user = VarString(*vars, {"ansible_user", "ansible_ssh_user"});
    h.ssh.identity = options.ssh_key.empty() ? VarString(*vars, {"ansible_ssh_private_key_file"})
                                             : options.ssh_key;
    h.ssh.options = options.ssh_options;
    for (const std::string& g : (*inv)->GroupNamesOf(name)) {
      if (g != "ungrouped") h.groups.push_back(g);
    }
    hosts.push_back(std::move(h));
  }
  return hosts;
}

std::string AgentConfigYaml(const InstallHost& host, const std::string& controller,
                            const std::string& state_dir) {
  // JSON strings are valid YAML scalars: names and addresses are quoted whatever they hold.
  std::string yaml = absl::StrCat(
      "# Written by `tachyon agents install` for ", host.name,
      ". Every key is a tachyon-agent flag.\n", "controller: ", json(controller).dump(), "\n",
      "state-dir: ", json(state_dir).dump(), "\n", "log-format: text\n");
  if (!host.groups.empty()) {
    yaml += "group:\n";
    for (const std::string& g : host.groups) absl::StrAppend(&yaml, "  - ", json(g).dump(), "\n");
  }
  return yaml;
}

int RunAgentsInstall(const InstallOptions& options, const std::string& cli_controller,
                     Format format, const InstallHooks& hooks) {
  if (options.forks < 1) {
    std::cerr << "tachyon agents install: -f must be at least 1\n";
    return 5;
  }
  if (!options.package.empty() && !IsRegularFile(options.package)) {
    std::cerr << "tachyon agents install: --package " << options.package << ": no such file\n";
    return 5;
  }
  if (!options.prefix.empty() && options.package.empty()) {
    std::cerr << "tachyon agents install: --prefix needs --package (the .deb to extract)\n";
    return 5;
  }
  if (!options.prefix.empty() && options.prefix[0] != '/') {
    std::cerr << "tachyon agents install: --prefix must be an absolute path\n";
    return 5;
  }
  auto hosts = ResolveInstallHosts(options);
  if (!hosts.ok()) {
    std::cerr << "tachyon agents install: " << hosts.status().message() << "\n";
    return absl::IsInvalidArgument(hosts.status()) || absl::IsFailedPrecondition(hosts.status())
               ? 4
               : 1;
  }
  if (hosts->empty()) {
    std::cerr << "tachyon agents install: no hosts matched '" << options.pattern << "'\n";
    return 0;
  }
  std::string package_version;
  if (!options.package.empty()) {
    CommandResult v =
        RunCommand({"dpkg-deb", "-f", options.package, "Version"}, "", absl::Seconds(30));
    if (v.started && v.exit_code == 0) {
      package_version = std::string(absl::StripAsciiWhitespace(v.out));
    } else {
      std::cerr << "tachyon agents install: " << options.package
                << " is not a Debian package: " << (v.started ? Tail(v.err) : v.start_error)
                << "\n";
      return 5;
    }
  }
  auto known = hooks.list_agents();
  if (!known.ok()) {
    std::cerr << "tachyon agents install: controller: " << known.status().message() << "\n";
    return 1;
  }
  const std::string controller =
      options.agent_controller.empty() ? cli_controller : options.agent_controller;
  Installer installer(options, controller, hooks, package_version);

  std::mutex mu;
  std::map<std::string, HostOutcome> outcomes;
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next++; i < hosts->size(); i = next++) {
      const InstallHost& h = (*hosts)[i];
      HostOutcome o = installer.Install(h, *known);
      std::lock_guard<std::mutex> lock(mu);
      if (format == Format::kJson) {
        json line = {{"host", h.name}, {"status", o.status}, {"msg", o.msg}};
        for (auto& [k, v] : o.details.items()) line[k] = v;
        std::cout << line.dump() << std::endl;
      } else {
        std::cout << o.status << ": [" << h.name << "] => " << o.msg << std::endl;
      }
      outcomes[h.name] = std::move(o);
    }
  };
  std::vector<std::thread> threads;
  size_t n = std::min(hosts->size(), static_cast<size_t>(options.forks));
  for (size_t i = 0; i < n; ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();

  bool any_failed = false, any_unreachable = false;
  if (format == Format::kText) std::cout << "\n" << Banner("INSTALL RECAP") << "\n";
  json recap = json::object();
  for (const InstallHost& h : *hosts) {
    const HostOutcome& o = outcomes[h.name];
    any_failed |= o.status == "failed";
    any_unreachable |= o.status == "unreachable";
    if (format == Format::kText) {
      std::printf("%-26s : ok=%d    changed=%d    unreachable=%d    failed=%d\n", h.name.c_str(),
                  o.status == "ok", o.status == "changed", o.status == "unreachable",
                  o.status == "failed");
    } else {
      recap[h.name] = o.status;
    }
  }
  int rc = ExitCodeFor(any_failed, any_unreachable);
  if (format == Format::kJson) {
    std::cout << json({{"type", "recap"}, {"hosts", recap}, {"rc", rc}}).dump() << std::endl;
  }
  return rc;
}

}  // namespace tachyon::cli
