#pragma once

// What several modules need from the OS the way Python/Ansible do it: path expansion,
// OSError texts, glob tests, shell quoting, and running a short helper command to completion
// (dpkg-query, systemctl show, a validate command) from inside the shim.

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace tachyon::modules {

// Python's os.path.expandvars: $NAME and ${NAME} of variables that exist; the rest stays.
std::string ExpandVars(const std::string& s);
// Python's os.path.expanduser: "~" and "~/x" use $HOME, "~user/x" the password database.
std::string ExpandUser(const std::string& s);

// Python's OSError text for a bytes path: "[Errno 2] No such file or directory: b'/x'".
std::string OsErrorText(int err, const std::string& path);
// The same for a str path: "[Errno 2] No such file or directory: '/x'".
std::string OsErrorTextStr(int err, const std::string& path);

// True if the glob pattern matches at least one path.
bool GlobMatches(const std::string& pattern);

// shlex.quote: words of safe characters stay as they are, anything else is single-quoted.
std::string ShellQuote(const std::string& s);

// Adds stdout_lines/stderr_lines from the result's stdout/stderr strings.
void AddOutputLines(nlohmann::json* result);

struct CommandOutput {
  int rc = -1;         // exit code, -signal, or 127 when it could not be started
  int exec_errno = 0;  // nonzero: execvp failed with this errno
  std::string stdout_data;
  std::string stderr_data;
  bool timed_out = false;
};

// Runs argv (looked up in PATH; never a shell) with stdin from /dev/null, collects at most
// `max_output` bytes of each stream (the rest is read and dropped), and kills it after
// `timeout`. For short helper commands of a module; the job's main process is an ExecPlan.
CommandOutput RunCommand(const std::vector<std::string>& argv,
                         absl::Duration timeout = absl::Minutes(5), size_t max_output = 4u << 20);

}  // namespace tachyon::modules
