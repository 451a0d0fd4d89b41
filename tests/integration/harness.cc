#include "tests/integration/harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <set>
#include <sstream>

#include "gtest/gtest.h"

extern char** environ;

namespace tachyon::itest {
namespace {

constexpr int kOut = 0;
constexpr int kErr = 1;

int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

// Reads a /proc file whole ("" when it is gone).
std::string ReadProc(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// pid -> (ppid, pgid) for every process we can see.
std::map<pid_t, std::pair<pid_t, pid_t>> ProcessTable() {
  std::map<pid_t, std::pair<pid_t, pid_t>> table;
  DIR* d = ::opendir("/proc");
  if (!d) return table;
  while (struct dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    std::string stat = ReadProc(std::string("/proc/") + e->d_name + "/stat");
    // pid (comm) state ppid pgrp ...; comm may hold spaces and parens, so parse after the last ')'.
    size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 1));
    std::string state;
    long ppid = 0, pgrp = 0;
    rest >> state >> ppid >> pgrp;
    table[static_cast<pid_t>(pid)] = {static_cast<pid_t>(ppid), static_cast<pid_t>(pgrp)};
  }
  ::closedir(d);
  return table;
}

std::string Basename(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

LinePredicate Contains(std::vector<std::string> needles) {
  return [needles = std::move(needles)](const std::string& line) {
    for (const auto& n : needles) {
      if (line.find(n) == std::string::npos) return false;
    }
    return true;
  };
}

std::string ControllerBin() { return TACHYON_CONTROLLER_BIN; }
std::string AgentBin() { return TACHYON_AGENT_BIN; }
std::string CliBin() { return TACHYON_CLI_BIN; }

void WriteFile(const std::string& path, const std::string& content, int mode) {
  // Parent directories first (mkdir -p), private to the test.
  for (size_t slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    ::mkdir(path.substr(0, slash).c_str(), 0700);
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  ASSERT_GE(fd, 0) << path << ": " << std::strerror(errno);
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ASSERT_GT(n, 0) << path << ": " << std::strerror(errno);
    done += static_cast<size_t>(n);
  }
  ::close(fd);
}

std::string ReadFile(const std::string& path) { return ReadProc(path); }

bool ProcessAlive(pid_t pid) {
  // A zombie still answers kill(0); look at its state instead.
  std::string stat = ReadProc("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return false;
  size_t close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z' &&
         stat[close + 2] != 'X';
}

// ---------------------------------------------------------------------------------------------
// Process

std::unique_ptr<Process> Process::Start(Options options) {
  std::unique_ptr<Process> p(new Process());
  p->name_ = Basename(options.argv.at(0));
  if (options.argv.size() > 1) p->name_ += " " + options.argv[1];

  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << std::strerror(errno);
    return nullptr;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    size_t eq = kv.find('=');
    if (eq == std::string::npos) continue;
    env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : options.env) env[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<char*> argv;
  for (auto& a : options.argv) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(out[1]);
  ::close(err[1]);
  if (rc != 0) {
    ::close(out[0]);
    ::close(err[0]);
    ADD_FAILURE() << "spawning " << options.argv[0] << ": " << std::strerror(rc);
    return nullptr;
  }
  p->pid_ = pid;
  p->pidfd_ = PidfdOpen(pid);
  p->out_fd_ = out[0];
  p->err_fd_ = err[0];
  p->stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
  if (!options.stderr_log.empty()) {
    p->log_fd_ =
        ::open(options.stderr_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  }
  Process* raw = p.get();
  p->reader_ = std::thread([raw] { raw->ReaderLoop(); });
  return p;
}

void Process::ReaderLoop() {
  int fds[2] = {out_fd_, err_fd_};
  char buf[65536];
  while (true) {
    struct pollfd pfd[3];
    nfds_t n = 0;
    int index[3];
    for (int s = 0; s < 2; ++s) {
      if (fds[s] >= 0) {
        pfd[n] = {fds[s], POLLIN, 0};
        index[n++] = s;
      }
    }
    if (n == 0) break;
    pfd[n] = {stop_fd_, POLLIN, 0};
    index[n++] = -1;
    int r = ::poll(pfd, n, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;
    }
    bool stop = false;
    for (nfds_t i = 0; i < n; ++i) {
      if (pfd[i].revents == 0) continue;
      if (index[i] < 0) {
        stop = true;
        continue;
      }
      int s = index[i];
      ssize_t got = ::read(fds[s], buf, sizeof(buf));
      if (got < 0 && errno == EINTR) continue;
      std::lock_guard<std::mutex> lock(mu_);
      if (got <= 0) {
        if (!partial_[s].empty()) lines_[s].push_back(std::move(partial_[s]));
        partial_[s].clear();
        eof_[s] = true;
        ::close(fds[s]);
        fds[s] = -1;
      } else {
        if (s == kErr && log_fd_ >= 0) (void)!::write(log_fd_, buf, static_cast<size_t>(got));
        partial_[s].append(buf, static_cast<size_t>(got));
        size_t start = 0, nl;
        while ((nl = partial_[s].find('\n', start)) != std::string::npos) {
          lines_[s].push_back(partial_[s].substr(start, nl - start));
          start = nl + 1;
        }
        partial_[s].erase(0, start);
      }
      cv_.notify_all();
    }
    if (stop) break;
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (int s = 0; s < 2; ++s) {
    if (fds[s] >= 0) ::close(fds[s]);
    if (!partial_[s].empty()) lines_[s].push_back(std::move(partial_[s]));
    partial_[s].clear();
    eof_[s] = true;
  }
  cv_.notify_all();
}

std::optional<std::string> Process::WaitLine(int stream, const LinePredicate& pred, size_t* cursor,
                                             double timeout_seconds) {
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000));
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    auto& lines = lines_[stream];
    for (; *cursor < lines.size(); ++*cursor) {
      if (pred(lines[*cursor])) {
        std::string line = lines[*cursor];
        ++*cursor;
        return line;
      }
    }
    if (eof_[stream]) return std::nullopt;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
      // One last look: lines may have arrived with the timeout.
      for (; *cursor < lines.size(); ++*cursor) {
        if (pred(lines[*cursor])) {
          std::string line = lines[*cursor];
          ++*cursor;
          return line;
        }
      }
      return std::nullopt;
    }
  }
}

std::optional<std::string> Process::WaitStderr(const LinePredicate& pred, size_t* cursor,
                                               double timeout_seconds) {
  return WaitLine(kErr, pred, cursor, timeout_seconds);
}

std::optional<std::string> Process::WaitStdout(const LinePredicate& pred, size_t* cursor,
                                               double timeout_seconds) {
  return WaitLine(kOut, pred, cursor, timeout_seconds);
}

std::optional<std::string> Process::WaitStderr(const LinePredicate& pred, double timeout_seconds) {
  size_t cursor = 0;
  return WaitLine(kErr, pred, &cursor, timeout_seconds);
}

std::vector<std::string> Process::StderrLines() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lines_[kErr];
}

std::vector<std::string> Process::StdoutLines() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lines_[kOut];
}

size_t Process::StderrLineCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lines_[kErr].size();
}

std::string Process::StdoutText() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string s;
  for (const auto& l : lines_[kOut]) s += l + "\n";
  return s + partial_[kOut];
}

std::string Process::StderrText() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string s;
  for (const auto& l : lines_[kErr]) s += l + "\n";
  return s + partial_[kErr];
}

void Process::Signal(int sig) {
  if (exited_) return;
  if (pidfd_ >= 0) {
    ::syscall(SYS_pidfd_send_signal, pidfd_, sig, nullptr, 0);
  } else {
    ::kill(pid_, sig);
  }
}

std::optional<int> Process::WaitExit(double timeout_seconds) {
  if (exited_) return exit_code_;
  if (pidfd_ >= 0) {
    struct pollfd p = {pidfd_, POLLIN, 0};
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000));
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      if (left < 0) left = 0;
      int r = ::poll(&p, 1, static_cast<int>(left));
      if (r > 0) break;
      if (r == 0) return std::nullopt;
      if (errno != EINTR) break;
    }
  }
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0) {
    if (errno != EINTR) return std::nullopt;
  }
  exited_ = true;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (pidfd_ >= 0) ::close(pidfd_);
  pidfd_ = -1;
  return exit_code_;
}

int Process::Stop(double grace_seconds) {
  if (exited_) return exit_code_;
  Signal(SIGTERM);
  if (auto rc = WaitExit(grace_seconds)) return *rc;
  ADD_FAILURE() << name_ << " (pid " << pid_ << ") ignored SIGTERM for " << grace_seconds
                << " s; killing it";
  Signal(SIGKILL);
  return WaitExit(kWaitSeconds).value_or(-1);
}

bool Process::WaitOutputClosed(double timeout_seconds) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000)),
                      [this] { return eof_[kOut] && eof_[kErr]; });
}

Process::~Process() {
  if (!exited_) {
    Signal(SIGTERM);
    if (!WaitExit(10)) {
      Signal(SIGKILL);
      WaitExit(kWaitSeconds);
    }
  }
  // Give the pipes a moment to reach EOF (all output read), then stop the reader regardless:
  // a grandchild could hold them open.
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(2), [this] { return eof_[kOut] && eof_[kErr]; });
  }
  uint64_t one = 1;
  (void)!::write(stop_fd_, &one, sizeof(one));
  if (reader_.joinable()) reader_.join();
  ::close(stop_fd_);
  if (log_fd_ >= 0) ::close(log_fd_);
}

// ---------------------------------------------------------------------------------------------
// CliResult

std::vector<json> CliResult::JsonLines() const {
  std::vector<json> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    json j = json::parse(line, nullptr, false);
    if (!j.is_discarded()) lines.push_back(std::move(j));
  }
  return lines;
}

std::ostream& operator<<(std::ostream& os, const CliResult& r) {
  return os << "rc=" << r.rc << "\n--- stdout ---\n" << r.out << "--- stderr ---\n" << r.err;
}

// ---------------------------------------------------------------------------------------------
// Cluster

Cluster::Cluster() {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/tachyon-it-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
    return;
  }
  dir_ = templ;
  CliResult r = Cli({"pki", "init", "--dir", pki_dir()});
  EXPECT_EQ(r.rc, 0) << r;
}

Cluster::~Cluster() {
  for (auto& [name, agent] : agents_) {
    if (agent) agent->Stop();
  }
  KillLeftoverJobs();
  if (controller_) controller_->Stop();
  if (::testing::Test::HasFailure()) {
    // Post-mortem: the daemons' last words.
    auto dump = [](const std::string& title, Process* p) {
      if (!p) return;
      auto lines = p->StderrLines();
      size_t from = lines.size() > 60 ? lines.size() - 60 : 0;
      std::cout << "----- " << title << " stderr (last " << lines.size() - from
                << " lines) -----\n";
      for (size_t i = from; i < lines.size(); ++i) std::cout << lines[i] << "\n";
    };
    dump("controller", controller_.get());
    for (auto& [name, agent] : agents_) dump("agent " + name, agent.get());
  }
  agents_.clear();
  controller_.reset();
  if (!dir_.empty() && std::getenv("TACHYON_IT_KEEP") == nullptr) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    if (ec) std::filesystem::remove_all(dir_, ec);
  }
}

std::string Cluster::AgentCert(const std::string& name) const {
  return pki_dir() + "/agents/" + name + ".crt";
}
std::string Cluster::AgentKey(const std::string& name) const {
  return pki_dir() + "/agents/" + name + ".key";
}
std::string Cluster::AgentStateDir(const std::string& name) const {
  return dir_ + "/agent-" + name;
}
std::string Cluster::address() const { return "127.0.0.1:" + std::to_string(port_); }

bool Cluster::RestartController(std::vector<std::string> extra_flags) {
  StopController();
  return StartControllerOn(port_, std::move(extra_flags));
}

bool Cluster::StartController(std::vector<std::string> extra_flags) {
  return StartControllerOn(0, std::move(extra_flags));
}

bool Cluster::StartControllerOn(int port, std::vector<std::string> extra_flags) {
  std::vector<std::string> argv = {ControllerBin(),
                                   "--listen",
                                   "127.0.0.1:" + std::to_string(port),
                                   "--state-dir",
                                   dir_ + "/controller",
                                   "--ca",
                                   ca(),
                                   "--cert",
                                   pki_dir() + "/controller.crt",
                                   "--key",
                                   pki_dir() + "/controller.key",
                                   "--port-file",
                                   dir_ + "/controller.port"};
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  controller_ = Process::Start({argv, {}, dir_ + "/controller.log"});
  if (!controller_) return false;
  controller_cursor_ = 0;
  auto line = controller_->WaitStderr(Contains({"listening on 127.0.0.1:"}), &controller_cursor_);
  if (!line) {
    ADD_FAILURE() << "controller did not start:\n" << controller_->StderrText();
    return false;
  }
  // The port is in the log line itself ("listening on 127.0.0.1:PORT (mTLS)"): the port file is
  // written just after that line, so reading it here could race.
  size_t at = line->find("listening on 127.0.0.1:") + std::strlen("listening on 127.0.0.1:");
  port_ = std::atoi(line->c_str() + at);
  if (port_ <= 0) {
    ADD_FAILURE() << "no port in: " << *line;
    return false;
  }
  return true;
}

int Cluster::StopController() {
  if (!controller_) return -1;
  return controller_->Stop();
}

void Cluster::IssueAgent(const std::string& name) {
  for (const auto& n : issued_) {
    if (n == name) return;
  }
  CliResult r = Cli({"pki", "issue", "agent", name, "--dir", pki_dir()});
  EXPECT_EQ(r.rc, 0) << r;
  issued_.push_back(name);
}

bool Cluster::StartAgent(const std::string& name, std::vector<std::string> groups,
                         std::vector<std::string> extra_flags) {
  IssueAgent(name);
  size_t from = controller_->StderrLineCount();
  std::vector<std::string> argv = {
      AgentBin(), "--controller",  address(), "--state-dir",  AgentStateDir(name), "--ca", ca(),
      "--cert",   AgentCert(name), "--key",   AgentKey(name), "--kill-grace",      "1"};
  for (const auto& g : groups) {
    argv.push_back("--group");
    argv.push_back(g);
  }
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  auto& slot = agents_[name];
  if (slot && !slot->exited()) {
    ADD_FAILURE() << "agent " << name << " is already running";
    return false;
  }
  slot = Process::Start({argv, {}, dir_ + "/agent-" + name + ".log"});
  if (!slot) return false;
  if (!controller_->WaitStderr(Contains({"agent '" + name + "' connected"}), &from)) {
    ADD_FAILURE() << "agent " << name << " did not connect:\n" << slot->StderrText();
    return false;
  }
  return true;
}

bool Cluster::StartAgents(int n) {
  size_t from = controller_->StderrLineCount();
  std::vector<std::string> names;
  for (int i = 1; i <= n; ++i) {
    char name[16];
    std::snprintf(name, sizeof(name), "web%02d", i);
    names.push_back(name);
    IssueAgent(name);
    std::vector<std::string> argv = {
        AgentBin(),     "--controller", address(), "--state-dir",   AgentStateDir(name),
        "--ca",         ca(),           "--cert",  AgentCert(name), "--key",
        AgentKey(name), "--kill-grace", "1",       "--group",       i <= 2 ? "web" : "db"};
    agents_[name] = Process::Start({argv, {}, dir_ + "/agent-" + std::string(name) + ".log"});
    if (!agents_[name]) return false;
  }
  for (const auto& name : names) {
    size_t cursor = from;
    if (!controller_->WaitStderr(Contains({"agent '" + name + "' connected"}), &cursor)) {
      ADD_FAILURE() << "agent " << name << " did not connect:\n" << agents_[name]->StderrText();
      return false;
    }
  }
  return true;
}

Process* Cluster::agent(const std::string& name) {
  auto it = agents_.find(name);
  return it == agents_.end() ? nullptr : it->second.get();
}

int Cluster::StopAgent(const std::string& name) {
  Process* p = agent(name);
  if (!p) return -1;
  return p->Stop();
}

std::map<std::string, std::string> Cluster::CliEnv() const {
  return {{"TACHYON_CONTROLLER", address()},
          {"TACHYON_CA", ca()},
          {"TACHYON_CERT", admin_cert()},
          {"TACHYON_KEY", admin_key()},
          // Never pick up a developer's ~/.config/tachyon/cli.yaml.
          {"HOME", dir_}};
}

CliResult Cluster::Cli(std::vector<std::string> args, std::map<std::string, std::string> env,
                       double timeout_seconds) {
  CliResult result;
  auto p = StartCli(std::move(args), std::move(env));
  if (!p) return result;
  auto rc = p->WaitExit(timeout_seconds);
  if (!rc) {
    ADD_FAILURE() << "CLI did not finish in " << timeout_seconds << " s";
    p->Signal(SIGKILL);
    rc = p->WaitExit();
  }
  if (!p->WaitOutputClosed()) ADD_FAILURE() << "CLI output still open after it exited";
  result.rc = rc.value_or(-1);
  result.out = p->StdoutText();
  result.err = p->StderrText();
  return result;
}

std::unique_ptr<Process> Cluster::StartCli(std::vector<std::string> args,
                                           std::map<std::string, std::string> env) {
  std::map<std::string, std::string> full = CliEnv();
  for (auto& [k, v] : env) full[k] = v;
  std::vector<std::string> argv = {CliBin()};
  argv.insert(argv.end(), args.begin(), args.end());
  return Process::Start({argv, full, ""});
}

std::string Cluster::StartAsync(const std::string& host, const std::vector<std::string>& argv,
                                int async_seconds) {
  std::vector<std::string> args = {"exec", host,   "-B", std::to_string(async_seconds), "-P", "0",
                                   "-o",   "json", "--"};
  args.insert(args.end(), argv.begin(), argv.end());
  CliResult r = Cli(args);
  EXPECT_EQ(r.rc, 0) << r;
  auto lines = r.JsonLines();
  EXPECT_EQ(lines.size(), 1u) << r;
  if (lines.size() != 1) return "";
  EXPECT_EQ(lines[0].value("status", ""), "started") << r;
  EXPECT_EQ(lines[0].value("host", ""), host) << r;
  EXPECT_EQ(lines[0].value("started", -1), 1) << r;
  EXPECT_EQ(lines[0].value("finished", -1), 0) << r;
  std::string jid = lines[0].value("ansible_job_id", "");
  EXPECT_TRUE(std::regex_match(jid, std::regex(R"(^j\d+\.\d+$)"))) << r;
  return jid;
}

std::unique_ptr<Process> Cluster::FollowEvents(uint64_t since) {
  return StartCli({"events", "-f", "-o", "json", "--since", std::to_string(since)});
}

std::vector<json> Cluster::AllEvents() {
  CliResult r = Cli({"events", "-o", "json"});
  EXPECT_EQ(r.rc, 0) << r;
  return r.JsonLines();
}

uint64_t Cluster::LastSeq() {
  uint64_t last = 0;
  for (const auto& e : AllEvents()) last = std::max(last, e.value("seq", uint64_t{0}));
  return last;
}

void Cluster::KillLeftoverJobs() {
  if (dir_.empty()) return;
  // Shims are `tachyon-agent __shim DIR/agent-NAME/jobs/JID`: their command line names our
  // temp dir. Their jobs are their children (each in its own process group).
  auto table = ProcessTable();
  std::set<pid_t> doomed;
  for (const auto& [pid, ids] : table) {
    if (pid == ::getpid()) continue;
    std::string cmdline = ReadProc("/proc/" + std::to_string(pid) + "/cmdline");
    if (cmdline.find("__shim") != std::string::npos && cmdline.find(dir_) != std::string::npos) {
      doomed.insert(pid);
    }
  }
  // Every descendant of a shim.
  bool grew = true;
  while (grew) {
    grew = false;
    for (const auto& [pid, ids] : table) {
      if (doomed.count(ids.first) && !doomed.count(pid)) {
        doomed.insert(pid);
        grew = true;
      }
    }
  }
  std::vector<int> pidfds;
  for (pid_t pid : doomed) {
    int pidfd = PidfdOpen(pid);
    if (pidfd >= 0) pidfds.push_back(pidfd);
    auto it = table.find(pid);
    if (it != table.end() && it->second.second == pid) ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
  }
  // Wait until each is dead (a pidfd turns readable when its process exits), so that nothing
  // writes into the directory while it is removed.
  for (int pidfd : pidfds) {
    struct pollfd p = {pidfd, POLLIN, 0};
    while (::poll(&p, 1, kWaitSeconds * 1000) < 0 && errno == EINTR) {
    }
    ::close(pidfd);
  }
}

Fifo::Fifo(std::string path, Direction direction) : path_(std::move(path)) {
  if (::mkfifo(path_.c_str(), 0600) != 0) {
    ADD_FAILURE() << "mkfifo " << path_ << ": " << std::strerror(errno);
    return;
  }
  if (direction == kFromJob) {
    read_fd_ = ::open(path_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (read_fd_ < 0) ADD_FAILURE() << "open " << path_ << ": " << std::strerror(errno);
  }
}

Fifo::~Fifo() {
  if (read_fd_ >= 0) ::close(read_fd_);
  if (write_fd_ >= 0) ::close(write_fd_);
}

std::optional<std::string> Fifo::ReadLine(double timeout_seconds) {
  if (read_fd_ < 0) {
    ADD_FAILURE() << path_ << " is not open for reading";
    return std::nullopt;
  }
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000));
  while (true) {
    size_t nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0 || read_fd_ < 0) return std::nullopt;
    struct pollfd p = {read_fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return std::nullopt;
    char buf[4096];
    ssize_t n = ::read(read_fd_, buf, sizeof(buf));
    if (n > 0) {
      buffer_.append(buf, static_cast<size_t>(n));
    } else if (n == 0) {
      // The writer closed (POLLHUP) before a full line: reopen so that poll blocks again
      // until the next writer rather than reporting the hang-up forever.
      ::close(read_fd_);
      read_fd_ = ::open(path_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    } else if (errno != EAGAIN && errno != EINTR) {
      return std::nullopt;
    }
  }
}

void Fifo::Send(const std::string& line) {
  if (write_fd_ < 0) write_fd_ = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(write_fd_, 0) << path_ << ": " << std::strerror(errno);
  std::string data = line + "\n";
  ASSERT_EQ(::write(write_fd_, data.data(), data.size()), static_cast<ssize_t>(data.size()));
}

std::optional<json> WaitEvent(Process* follower, const std::function<bool(const json&)>& pred,
                              size_t* cursor, double timeout_seconds) {
  std::optional<json> found;
  auto line = follower->WaitStdout(
      [&](const std::string& l) {
        json j = json::parse(l, nullptr, false);
        if (j.is_discarded() || !pred(j)) return false;
        found = std::move(j);
        return true;
      },
      cursor, timeout_seconds);
  if (!line) return std::nullopt;
  return found;
}

}  // namespace tachyon::itest
