#include "controller/cli/ssh.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

extern char** environ;

namespace tachyon::cli {
namespace {

constexpr size_t kMaxCapture = 1u << 20;

void CommonOptions(const SshTarget& t, std::vector<std::string>* argv) {
  // Never prompt: a host that wants a password or an unknown host key with
  // StrictHostKeyChecking=ask fails at once, and says so, instead of hanging the run.
  argv->insert(argv->end(), {"-o", "BatchMode=yes", "-o",
                             absl::StrCat("ConnectTimeout=", t.connect_timeout_seconds)});
  // Host-key checking is left to the operator's ssh configuration (and -o options).
  if (!t.identity.empty()) argv->insert(argv->end(), {"-i", t.identity});
  for (const std::string& o : t.options) argv->insert(argv->end(), {"-o", o});
}

void SetCloexecPipe(int fds[2]) {
  if (pipe2(fds, O_CLOEXEC) != 0) {
    fds[0] = fds[1] = -1;
  }
}

}  // namespace

std::vector<std::string> SshArgv(const SshTarget& t, const std::string& remote_command) {
  std::vector<std::string> argv = {"ssh"};
  CommonOptions(t, &argv);
  if (t.port > 0) argv.insert(argv.end(), {"-p", std::to_string(t.port)});
  if (!t.user.empty()) argv.insert(argv.end(), {"-l", t.user});
  argv.insert(argv.end(), {"-T", "--", t.host, remote_command});
  return argv;
}

std::vector<std::string> ScpArgv(const SshTarget& t, const std::string& local,
                                 const std::string& remote) {
  std::vector<std::string> argv = {"scp", "-q"};
  CommonOptions(t, &argv);
  if (t.port > 0) argv.insert(argv.end(), {"-P", std::to_string(t.port)});
  std::string host = absl::StrContains(t.host, ':') ? absl::StrCat("[", t.host, "]") : t.host;
  std::string dest = absl::StrCat(t.user.empty() ? "" : t.user + "@", host, ":", remote);
  argv.insert(argv.end(), {"--", local, dest});
  return argv;
}

std::string ShellQuote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& input,
                         absl::Duration timeout) {
  CommandResult r;
  if (argv.empty()) {
    r.start_error = "empty command";
    return r;
  }
  int in[2], out[2], err[2];
  SetCloexecPipe(in);
  SetCloexecPipe(out);
  SetCloexecPipe(err);
  auto close_all = [&] {
    for (int* p : {in, out, err}) {
      for (int i = 0; i < 2; ++i) {
        if (p[i] >= 0) close(p[i]);
        p[i] = -1;
      }
    }
  };
  if (in[0] < 0 || out[0] < 0 || err[0] < 0) {
    r.start_error = absl::StrCat("pipe: ", std::strerror(errno));
    close_all();
    return r;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group, so that a deadline kills ssh and whatever it started.
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> cargv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, cargv[0], &actions, &attr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  in[0] = out[1] = err[1] = -1;
  if (rc != 0) {
    r.start_error = absl::StrCat("cannot run ", argv[0], ": ", std::strerror(rc));
    close_all();
    return r;
  }
  r.started = true;
  fcntl(in[1], F_SETFL, O_NONBLOCK);
  size_t written = 0;
  if (input.empty()) {
    close(in[1]);
    in[1] = -1;
  }
  const absl::Time deadline = absl::Now() + timeout;
  char buf[16384];
  while (out[0] >= 0 || err[0] >= 0) {
    struct pollfd fds[3];
    int n = 0;
    int idx_out = -1, idx_err = -1, idx_in = -1;
    if (out[0] >= 0) fds[idx_out = n++] = {out[0], POLLIN, 0};
    if (err[0] >= 0) fds[idx_err = n++] = {err[0], POLLIN, 0};
    if (in[1] >= 0) fds[idx_in = n++] = {in[1], POLLOUT, 0};
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      r.timed_out = true;
      kill(-pid, SIGKILL);
      break;
    }
    int ready = poll(fds, n, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      kill(-pid, SIGKILL);
      break;
    }
    if (idx_in >= 0 && fds[idx_in].revents != 0) {
      ssize_t w = write(in[1], input.data() + written, input.size() - written);
      if (w > 0) written += static_cast<size_t>(w);
      if (w < 0 && errno != EAGAIN && errno != EINTR) written = input.size();  // EPIPE
      if (written >= input.size()) {
        close(in[1]);
        in[1] = -1;
      }
    }
    for (auto [idx, fd, sink] :
         {std::tuple{idx_out, &out[0], &r.out}, std::tuple{idx_err, &err[0], &r.err}}) {
      if (idx < 0 || fds[idx].revents == 0) continue;
      ssize_t got = read(*fd, buf, sizeof buf);
      if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (got <= 0) {
        close(*fd);
        *fd = -1;
        continue;
      }
      if (sink->size() < kMaxCapture) {
        sink->append(buf, std::min(static_cast<size_t>(got), kMaxCapture - sink->size()));
      }
    }
  }
  close_all();
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string SshErrorLine(const std::string& err) {
  std::vector<std::string> lines = absl::StrSplit(err, '\n', absl::SkipWhitespace());
  // ssh prints warnings ("Warning: Permanently added ...") before the error itself.
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    std::string line(absl::StripAsciiWhitespace(*it));
    if (!absl::StartsWith(line, "Warning:")) return line;
  }
  return "ssh failed without a message";
}

}  // namespace tachyon::cli
