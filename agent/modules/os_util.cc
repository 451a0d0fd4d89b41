#include "agent/modules/os_util.h"

#include <fcntl.h>
#include <glob.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/modules/result_util.h"

namespace tachyon::modules {

std::string ExpandVars(const std::string& s) {
  if (s.find('$') == std::string::npos) return s;
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] != '$') {
      out.push_back(s[i++]);
      continue;
    }
    size_t name_begin, name_end, next;
    if (i + 1 < s.size() && s[i + 1] == '{') {
      size_t close = s.find('}', i + 2);
      if (close == std::string::npos || close == i + 2) {
        out.push_back(s[i++]);
        continue;
      }
      name_begin = i + 2;
      name_end = close;
      next = close + 1;
    } else {
      size_t j = i + 1;
      while (j < s.size() &&
             (absl::ascii_isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) {
        ++j;
      }
      if (j == i + 1) {
        out.push_back(s[i++]);
        continue;
      }
      name_begin = i + 1;
      name_end = j;
      next = j;
    }
    std::string name = s.substr(name_begin, name_end - name_begin);
    const char* value = std::getenv(name.c_str());
    if (value != nullptr) {
      out.append(value);
    } else {
      out.append(s, i, next - i);
    }
    i = next;
  }
  return out;
}

std::string ExpandUser(const std::string& s) {
  if (s.empty() || s[0] != '~') return s;
  size_t slash = s.find('/');
  std::string user = s.substr(1, slash == std::string::npos ? std::string::npos : slash - 1);
  std::string home;
  if (user.empty()) {
    const char* h = std::getenv("HOME");
    if (h != nullptr) {
      home = h;
    } else {
      struct passwd* pw = getpwuid(getuid());
      if (pw == nullptr) return s;
      home = pw->pw_dir;
    }
  } else {
    struct passwd* pw = getpwnam(user.c_str());
    if (pw == nullptr) return s;
    home = pw->pw_dir;
  }
  while (home.size() > 1 && home.back() == '/') home.pop_back();
  return home + (slash == std::string::npos ? "" : s.substr(slash));
}

std::string OsErrorText(int err, const std::string& path) {
  return absl::StrCat("[Errno ", err, "] ", std::strerror(err), ": b'", path, "'");
}

std::string OsErrorTextStr(int err, const std::string& path) {
  return absl::StrCat("[Errno ", err, "] ", std::strerror(err), ": '", path, "'");
}

bool GlobMatches(const std::string& pattern) {
  glob_t g;
  int rc = glob(pattern.c_str(), 0, nullptr, &g);
  bool found = rc == 0 && g.gl_pathc > 0;
  globfree(&g);
  return found;
}

std::string ShellQuote(const std::string& s) {
  if (s.empty()) return "''";
  bool safe = true;
  for (char c : s) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
          std::strchr("@%+=:,./-_", c) != nullptr)) {
      safe = false;
      break;
    }
  }
  if (safe) return s;
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out.append("'\"'\"'");
    } else {
      out.push_back(c);
    }
  }
  out.push_back('\'');
  return out;
}

void AddOutputLines(nlohmann::json* r) {
  (*r)["stdout_lines"] = PythonSplitLines((*r)["stdout"].get<std::string>());
  (*r)["stderr_lines"] = PythonSplitLines((*r)["stderr"].get<std::string>());
}

CommandOutput RunCommand(const std::vector<std::string>& argv, absl::Duration timeout,
                         size_t max_output) {
  CommandOutput result;
  if (argv.empty()) {
    result.exec_errno = ENOENT;
    result.rc = 127;
    return result;
  }
  int out_pipe[2], err_pipe[2], exec_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    result.exec_errno = errno;
    return result;
  }
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    result.exec_errno = errno;
    close(out_pipe[0]);
    close(out_pipe[1]);
    return result;
  }
  if (pipe2(exec_pipe, O_CLOEXEC) != 0) {
    result.exec_errno = errno;
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) close(fd);
    return result;
  }
  std::vector<char*> cargv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    // Only async-signal-safe calls until exec. The shim blocks signals for its signalfd.
    setpgid(0, 0);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execvp(cargv[0], cargv.data());
    int e = errno;
    (void)!write(exec_pipe[1], &e, sizeof(e));
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  close(exec_pipe[1]);
  if (pid < 0) {
    result.exec_errno = errno;
    for (int fd : {out_pipe[0], err_pipe[0], exec_pipe[0]}) close(fd);
    return result;
  }
  absl::Time deadline = absl::Now() + timeout;
  int fds[2] = {out_pipe[0], err_pipe[0]};
  std::string* sinks[2] = {&result.stdout_data, &result.stderr_data};
  char buf[16384];
  while (fds[0] >= 0 || fds[1] >= 0) {
    struct pollfd p[2];
    int n = 0;
    int which[2];
    for (int i = 0; i < 2; ++i) {
      if (fds[i] < 0) continue;
      which[n] = i;
      p[n++] = {fds[i], POLLIN, 0};
    }
    int64_t left_ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (left_ms <= 0) {
      result.timed_out = true;
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      break;
    }
    int rc = poll(p, static_cast<nfds_t>(n), static_cast<int>(std::min<int64_t>(left_ms, 60000)));
    if (rc < 0 && errno != EINTR) break;
    for (int k = 0; k < n; ++k) {
      if (p[k].revents == 0) continue;
      int i = which[k];
      ssize_t got = read(fds[i], buf, sizeof(buf));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        close(fds[i]);
        fds[i] = -1;
        continue;
      }
      size_t room = max_output - std::min(max_output, sinks[i]->size());
      sinks[i]->append(buf, std::min(room, static_cast<size_t>(got)));
    }
  }
  for (int fd : fds) {
    if (fd >= 0) close(fd);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  int e = 0;
  if (read(exec_pipe[0], &e, sizeof(e)) == static_cast<ssize_t>(sizeof(e))) result.exec_errno = e;
  close(exec_pipe[0]);
  result.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  return result;
}

}  // namespace tachyon::modules
