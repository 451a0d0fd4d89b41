#pragma once

// Fixtures for the integration tests: real tachyon-controller, tachyon-agent and tachyon
// binaries on 127.0.0.1 with a fresh PKI in a private temporary directory per test.
//
// Synchronisation is by events only: a process's stdout and stderr are drained by a reader
// thread into line buffers, and tests wait (with a bound) for a line that matches. Nothing
// here sleeps to let something happen.

#include <sys/types.h>

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "nlohmann/json.hpp"

namespace tachyon::itest {

using json = nlohmann::json;
using LinePredicate = std::function<bool(const std::string&)>;

// Generous bound for anything a test waits on.
inline constexpr int kWaitSeconds = 30;

// A predicate: the line contains every one of `needles`.
LinePredicate Contains(std::vector<std::string> needles);

// A child process with stdin on /dev/null and stdout/stderr captured line by line. The
// destructor stops it (SIGTERM, then SIGKILL) and reaps it.
class Process {
 public:
  struct Options {
    std::vector<std::string> argv;
    // Added to (or replacing in) the test's environment.
    std::map<std::string, std::string> env;
    // When set, every stderr line is also appended here (kept for post-mortems).
    std::string stderr_log;
  };

  // Starts the process. Aborts the test (via ADD_FAILURE + nullptr) when spawning fails.
  static std::unique_ptr<Process> Start(Options options);
  ~Process();

  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& name() const { return name_; }

  // Waits until a line of stderr (stdout) with index >= *cursor matches `pred`, at most
  // `timeout_seconds`. On a match returns the line and moves *cursor past it. Returns nullopt
  // on timeout, or when the stream ended without a match.
  std::optional<std::string> WaitStderr(const LinePredicate& pred, size_t* cursor,
                                        double timeout_seconds = kWaitSeconds);
  std::optional<std::string> WaitStdout(const LinePredicate& pred, size_t* cursor,
                                        double timeout_seconds = kWaitSeconds);
  // Same, searching from the first line.
  std::optional<std::string> WaitStderr(const LinePredicate& pred,
                                        double timeout_seconds = kWaitSeconds);

  // Snapshot of what was read so far.
  std::vector<std::string> StderrLines() const;
  std::vector<std::string> StdoutLines() const;
  std::string StdoutText() const;
  std::string StderrText() const;
  size_t StderrLineCount() const;

  void Signal(int sig);
  // Waits for the process to exit; returns its exit code (128+N for signal N), or nullopt
  // when it is still running after `timeout_seconds`.
  std::optional<int> WaitExit(double timeout_seconds = kWaitSeconds);
  // SIGTERM, up to `grace_seconds` for it to exit, then SIGKILL. Returns the exit code.
  int Stop(double grace_seconds = 10);
  bool exited() const { return exited_; }
  // Waits until both pipes reached EOF (everything the process wrote has been read).
  bool WaitOutputClosed(double timeout_seconds = kWaitSeconds);

 private:
  Process() = default;
  void ReaderLoop();
  std::optional<std::string> WaitLine(int stream, const LinePredicate& pred, size_t* cursor,
                                      double timeout_seconds);

  std::string name_;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  int stop_fd_ = -1;  // eventfd: tells the reader to give up on the pipes
  int log_fd_ = -1;
  bool exited_ = false;
  int exit_code_ = -1;
  std::thread reader_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string partial_[2];
  std::vector<std::string> lines_[2];
  bool eof_[2] = {false, false};
};

struct CliResult {
  int rc = -1;
  std::string out;
  std::string err;
  // stdout parsed as JSON lines (lines that do not parse are skipped).
  std::vector<json> JsonLines() const;
};

std::ostream& operator<<(std::ostream& os, const CliResult& r);

// A test cluster: temp dir, PKI, one controller, any number of agents, CLI helpers. The
// destructor stops every process it started, kills job shims (and their jobs) left under its
// temp dir, and removes the directory.
class Cluster {
 public:
  Cluster();
  ~Cluster();

  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  const std::string& dir() const { return dir_; }
  std::string pki_dir() const { return dir_ + "/pki"; }
  std::string ca() const { return pki_dir() + "/ca.crt"; }
  std::string admin_cert() const { return pki_dir() + "/admin.crt"; }
  std::string admin_key() const { return pki_dir() + "/admin.key"; }
  std::string AgentCert(const std::string& name) const;
  std::string AgentKey(const std::string& name) const;

  // Starts the controller, waits for its `listening on` line and reads the port file.
  // Returns false (with a test failure recorded) when it does not come up.
  bool StartController(std::vector<std::string> extra_flags = {});
  Process* controller() { return controller_.get(); }
  int port() const { return port_; }
  std::string address() const;
  // Stops the controller with SIGTERM and returns its exit code.
  int StopController();
  // Stops the controller and starts it again on the same port with the same state dir (a
  // restart in place: agents reconnect to it). False when it does not come back.
  bool RestartController(std::vector<std::string> extra_flags = {});

  // Issues a certificate for `name` (once) and starts its agent with the given groups, then
  // waits until the controller logs it connected.
  bool StartAgent(const std::string& name, std::vector<std::string> groups = {},
                  std::vector<std::string> extra_flags = {});
  // Starts web01..webNN (web01/web02 in group "web", the rest in "db").
  bool StartAgents(int n);
  Process* agent(const std::string& name);
  // SIGTERM to the agent; returns its exit code. The agent's state dir is kept.
  int StopAgent(const std::string& name);
  std::string AgentStateDir(const std::string& name) const;

  // Issues an agent certificate without starting anything.
  void IssueAgent(const std::string& name);

  // Runs the CLI (as the admin operator unless `env` says otherwise) to completion.
  CliResult Cli(std::vector<std::string> args, std::map<std::string, std::string> env = {},
                double timeout_seconds = 60);
  // Starts the CLI and returns it running (e.g. `events -f -o json`).
  std::unique_ptr<Process> StartCli(std::vector<std::string> args,
                                    std::map<std::string, std::string> env = {});
  // The environment that points the CLI at this controller as the admin operator.
  std::map<std::string, std::string> CliEnv() const;

  // `tachyon exec HOST -B SECONDS -P 0 -o json -- ARGV...`: checks the one `started` line
  // (host, started 1, finished 0, an Ansible-shaped id) and returns the job id ("" on failure).
  std::string StartAsync(const std::string& host, const std::vector<std::string>& argv,
                         int async_seconds);

  // Starts `tachyon events -f -o json --since SEQ` and returns it. Use WaitEvent on it.
  std::unique_ptr<Process> FollowEvents(uint64_t since = 0);
  // Highest event seq in the log now (0 when empty).
  uint64_t LastSeq();
  // All events in the log now, parsed.
  std::vector<json> AllEvents();

  // The controller's stderr cursor: lines before it have been looked at.
  size_t& controller_cursor() { return controller_cursor_; }

  // Kills jobs (shims and their process groups) that live under this cluster's temp dir.
  void KillLeftoverJobs();

 private:
  bool StartControllerOn(int port, std::vector<std::string> extra_flags);

  std::string dir_;
  std::unique_ptr<Process> controller_;
  size_t controller_cursor_ = 0;
  int port_ = 0;
  std::map<std::string, std::unique_ptr<Process>> agents_;
  std::vector<std::string> issued_;
};

// Waits on a `tachyon events -f -o json` process for an event matching `pred`; `cursor` as in
// Process::WaitStdout.
std::optional<json> WaitEvent(Process* follower, const std::function<bool(const json&)>& pred,
                              size_t* cursor, double timeout_seconds = kWaitSeconds);

// A named pipe in the test's dir, for jobs that must wait for the test or tell it something
// (no polling on either side). One Fifo per direction:
//  - kFromJob: the test holds the read end from construction (non-blocking), so a job's
//    `echo x > FIFO` never blocks; ReadLine waits for a line with poll(2).
//  - kToJob: Send opens a read-write end, so a job's `read x < FIFO` never blocks on open and
//    the data waits in the pipe for it.
class Fifo {
 public:
  enum Direction { kFromJob, kToJob };
  Fifo(std::string path, Direction direction);
  ~Fifo();
  const std::string& path() const { return path_; }
  // One line a job wrote (without the newline), waiting at most `timeout_seconds`.
  std::optional<std::string> ReadLine(double timeout_seconds = kWaitSeconds);
  // Writes `line` + "\n" for a job to read. The write end stays open until destruction.
  void Send(const std::string& line);

 private:
  std::string path_;
  int read_fd_ = -1;
  int write_fd_ = -1;
  std::string buffer_;
};

// Paths of the binaries under test.
std::string ControllerBin();
std::string AgentBin();
std::string CliBin();

// Small file helpers.
void WriteFile(const std::string& path, const std::string& content, int mode = 0644);
std::string ReadFile(const std::string& path);
bool ProcessAlive(pid_t pid);

}  // namespace tachyon::itest
