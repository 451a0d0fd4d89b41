#pragma once

// `tachyon agents install PATTERN -i INVENTORY`: puts tachyon-agent on hosts that are reached
// over SSH today. For each host the pattern matches (in parallel, -f at a time): ask the
// controller whether it is already connected (then it is `ok` and left alone); otherwise ssh in,
// copy and install the package, write /etc/tachyon/agent.yaml, enroll with a fresh single-use
// token bound to the host's inventory name, start the service and wait until the agent is
// connected. The controller is reached through InstallHooks, so this file has no gRPC.

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/cli/commands.h"
#include "controller/cli/output.h"
#include "controller/cli/ssh.h"

namespace tachyon::cli {

struct InstallOptions {
  std::string pattern;
  std::vector<std::string> inventories;
  // The tachyon-agent .deb to copy; empty: `apt-get install tachyon-agent` from the host's
  // own repositories.
  std::string package;
  std::string ssh_key;                   // -i for ssh/scp; else ansible_ssh_private_key_file
  std::vector<std::string> ssh_options;  // extra ssh -o options
  int forks = 5;
  // Where agents dial the controller (HOST:PORT, a name in its certificate); empty: the
  // address this CLI uses.
  std::string agent_controller;
  // Tests and non-root installs: extract the package into PREFIX/<host>/ with dpkg-deb -x
  // (nothing is installed system-wide, no sudo) and start the agent from there with its
  // config PREFIX/<host>/etc/tachyon/agent.yaml instead of through systemd.
  std::string prefix;
  bool reenroll = false;      // enroll again even where the host already has a certificate
  int connect_timeout = 60;   // seconds to wait for a started agent to connect
  int command_timeout = 600;  // seconds for one remote step (apt-get can be slow)
};

// What the controller knows about one agent.
struct KnownAgent {
  bool connected = false;
  bool revoked = false;
};

struct InstallHooks {
  // Every agent the controller knows, by name.
  std::function<absl::StatusOr<std::map<std::string, KnownAgent>>()> list_agents;
  // A fresh single-use enrollment token bound to `name`; `replace` lets it re-enroll a name
  // the controller already knows (a new key).
  std::function<absl::StatusOr<std::string>(const std::string& name, bool replace)> create_token;
};

// The hooks over the controller's ControlService (install_rpc.cc).
InstallHooks ControllerInstallHooks(const Connection& conn);

// One host's plan, resolved from the inventory.
struct InstallHost {
  std::string name;  // inventory name = agent name
  SshTarget ssh;
  std::vector<std::string> groups;  // the host's groups (not all/ungrouped), for --group
};

// The hosts `pattern` matches in the inventories, with their connection variables. An
// InvalidArgument/FailedPrecondition status names the inventory problem.
absl::StatusOr<std::vector<InstallHost>> ResolveInstallHosts(const InstallOptions& options);

// The agent.yaml written on a host.
std::string AgentConfigYaml(const InstallHost& host, const std::string& controller,
                            const std::string& state_dir);

// Runs the install and prints one line per host as it finishes, then a recap. Exit code as
// ansible-playbook's: 0 every host ok/changed, 2 some failed, 3 some unreachable (none
// failed), 4 the inventory does not parse, 5 bad options, 1 the controller is unreachable.
int RunAgentsInstall(const InstallOptions& options, const std::string& cli_controller,
                     Format format, const InstallHooks& hooks);

}  // namespace tachyon::cli
