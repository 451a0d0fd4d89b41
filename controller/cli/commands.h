#pragma once

// The `tachyon` commands that talk to the controller. Each returns the process exit code
// (CONTRACT.md: 0 ok, 1 error, 2 failed, 3 unreachable, 5 bad options).

#include <string>
#include <vector>

#include "controller/cli/output.h"

namespace tachyon::cli {

struct Connection {
  std::string controller;
  std::string ca, cert, key;
};

// Fills empty fields from TACHYON_* variables, then ~/.config/tachyon/cli.yaml. Returns an
// empty string or a user-facing error.
std::string ResolveConnection(Connection* conn);

struct ExecOptions {
  std::string pattern;
  std::string module = "command";
  std::string args;
  std::vector<std::string> argv;
  int async_seconds = 0;
  int poll_seconds = -1;
  int forks = 5;
};

int RunAgentsList(const Connection& conn, Format format);
// `tachyon agents revoke NAME`: closes its stream at once and refuses it from then on.
int RunAgentsRevoke(const Connection& conn, Format format, const std::string& name);
struct TokenOptions {
  std::string name;
  std::string ttl = "1h";
  int uses = 1;
  bool replace = false;
};
// `tachyon token create`: prints the token (`-o json`: {"token": ..., "id": ..., "expires": ...}).
int RunTokenCreate(const Connection& conn, Format format, const TokenOptions& options);
int RunExec(const Connection& conn, Format format, const ExecOptions& options);
int RunJobStatus(const Connection& conn, Format format, const std::string& jid);
int RunJobKill(const Connection& conn, Format format, const std::string& jid);
// Output of a finished job (from its result), or live output of a running one (-f follows it
// until the job finishes).
int RunJobLogs(const Connection& conn, Format format, const std::string& jid, bool follow);
int RunJobCleanup(const Connection& conn, Format format, const std::string& jid);
struct RunOptions {
  std::string playbook;
  std::vector<std::string> inventories;
  int forks = 5;
  std::string limit;
  std::vector<std::string> extra_vars;
  bool check = false;
  bool diff = false;
  std::vector<std::string> tags, skip_tags;
  int verbosity = 0;
  bool detach = false;
};

// `tachyon run`: uploads the playbook's directory and follows the rollout (run.cc). Exit codes
// as ansible-playbook's; 4 when the playbook or inventory does not parse.
int RunPlaybook(const Connection& conn, Format format, const RunOptions& options);
int RunRolloutList(const Connection& conn, Format format);
int RunRolloutShow(const Connection& conn, Format format, const std::string& id);
// Follows a rollout from its start (the whole story so far, then live) until it ends.
int RunRolloutWatch(const Connection& conn, Format format, const std::string& id);
// `action` is pause, resume or abort (`kill`: also kill the rollout's running jobs).
int RunRolloutAction(const Connection& conn, Format format, const std::string& id,
                     const std::string& action, bool kill);

int RunEvents(const Connection& conn, Format format, uint64_t since, bool follow,
              const std::string& rollout, const std::string& host);

}  // namespace tachyon::cli
