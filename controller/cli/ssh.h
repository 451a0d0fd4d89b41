#pragma once

// The system's ssh and scp, as `tachyon agents install` uses them: argv in batch mode (no
// password or passphrase prompts), with the operator's own ssh configuration and host-key
// policy left in charge, and a bounded runner for child processes. No gRPC here.

#include <string>
#include <vector>

#include "absl/time/time.h"

namespace tachyon::cli {

// Where and how to reach one host: what Ansible's ansible_host, ansible_port, ansible_user and
// ansible_ssh_private_key_file say.
struct SshTarget {
  std::string host;
  int port = 0;                      // 0: ssh's own default (or its config's Port)
  std::string user;                  // empty: ssh's own default
  std::string identity;              // -i KEY; empty: ssh's defaults and agent
  std::vector<std::string> options;  // extra `-o OPTION=VALUE`
  int connect_timeout_seconds = 10;
};

// `ssh -o BatchMode=yes ... HOST -- COMMAND` (COMMAND goes to the remote user's shell).
std::vector<std::string> SshArgv(const SshTarget& target, const std::string& remote_command);
// `scp -o BatchMode=yes ... LOCAL [USER@]HOST:REMOTE` (IPv6 addresses bracketed).
std::vector<std::string> ScpArgv(const SshTarget& target, const std::string& local,
                                 const std::string& remote);

// POSIX shell single quoting: the result is one word whatever `text` holds.
std::string ShellQuote(const std::string& text);

struct CommandResult {
  bool started = false;
  std::string start_error;  // why the program could not be started
  int exit_code = -1;       // 128+N when killed by signal N
  bool timed_out = false;   // killed at the deadline
  std::string out, err;     // at most kMaxCapture bytes each
};

// Runs `argv` (PATH lookup) in its own process group with `input` on its stdin, captures stdout
// and stderr, and kills the group at `timeout`. Always reaps the child.
CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& input,
                         absl::Duration timeout);

// ssh's own explanation of a failure (exit code 255): its last stderr line, e.g.
// "ssh: connect to host 10.0.0.5 port 22: Connection refused" or
// "root@10.0.0.5: Permission denied (publickey)."
std::string SshErrorLine(const std::string& err);

}  // namespace tachyon::cli
