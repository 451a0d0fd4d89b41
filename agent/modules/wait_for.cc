// The wait_for module (ansible.builtin.wait_for): waits in Prepare (the shim is a process of
// its own, and its job timeout still applies) for a TCP port to accept or refuse connections,
// or for a file to appear (optionally with content matching search_regex) or go away. Path
// waits wake on inotify events of the parent directory, bounded by `sleep`; port waits poll
// every `sleep` seconds as Ansible does. state=drained (needs psutil-like connection tables)
// is refused.

#include <poll.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <regex>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/modules/args.h"
#include "agent/modules/file_util.h"
#include "agent/modules/module.h"
#include "agent/modules/net_util.h"
#include "agent/modules/py_regex.h"
#include "common/fs.h"

namespace tachyon::modules {
namespace {

// How much of a port's greeting, or of a file, search_regex looks at.
constexpr size_t kMaxSearchBytes = 16u << 20;

const std::vector<ArgSpec>& WaitForSpec() {
  static const auto* spec = new std::vector<ArgSpec>{
      {"host", ArgType::kStr},
      {"timeout", ArgType::kInt},
      {"connect_timeout", ArgType::kInt},
      {"delay", ArgType::kInt},
      {"port", ArgType::kInt},
      {"active_connection_states", ArgType::kList},
      {"path", ArgType::kPath},
      {"state", ArgType::kStr, false, {}, {"absent", "drained", "present", "started", "stopped"}},
      {"exclude_hosts", ArgType::kList},
      {"search_regex", ArgType::kStr},
      {"sleep", ArgType::kInt},
      {"msg", ArgType::kStr},
  };
  return *spec;
}

// Sleeps until `deadline`, or less when an inotify fd (may be -1) has events.
void Pause(int inotify_fd, absl::Time deadline) {
  int64_t ms = std::max<int64_t>(0, absl::ToInt64Milliseconds(deadline - absl::Now()));
  struct pollfd p = {inotify_fd, POLLIN, 0};
  poll(&p, inotify_fd >= 0 ? 1 : 0, static_cast<int>(std::min<int64_t>(ms, 1 << 30)));
  if (inotify_fd >= 0 && (p.revents & POLLIN)) {
    char buf[4096];
    while (read(inotify_fd, buf, sizeof(buf)) > 0) {
    }
  }
}

class WaitForModule : public InlineModule {
 public:
  std::string_view Name() const override { return "wait_for"; }

  absl::Status Validate(const nlohmann::json& args) const override {
    absl::StatusOr<nlohmann::json> a = ParseArgs(Name(), args, WaitForSpec());
    if (!a.ok()) return a.status();
    std::string state = StrArg(*a, "state").value_or("started");
    if (a->contains("port") && a->contains("path")) {
      return absl::InvalidArgumentError(
          "port and path parameter can not both be passed to wait_for");
    }
    if (a->contains("path") && state == "stopped") {
      return absl::InvalidArgumentError(
          "state=stopped should only be used for checking a port in the wait_for module");
    }
    if (state == "drained") {
      return absl::InvalidArgumentError("state=drained is not supported by tachyon's wait_for");
    }
    if (a->contains("exclude_hosts")) {
      return absl::InvalidArgumentError("exclude_hosts should only be with state=drained");
    }
    if (std::optional<std::string> re = StrArg(*a, "search_regex")) {
      absl::StatusOr<PyRegex> compiled = CompilePyRegex(*re, true);
      if (!compiled.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("Invalid regular expression: ", compiled.status().message()));
      }
    }
    return absl::OkStatus();
  }

  Prepared Prepare(const nlohmann::json& args, const std::string& cwd) const override {
    Prepared p;
    p.result = Run(ParseArgs(Name(), args, WaitForSpec()).value_or(nlohmann::json::object()));
    return p;
  }

 private:
  static nlohmann::json Run(const nlohmann::json& a) {
    const absl::Time start = absl::Now();
    const std::string host = StrArg(a, "host").value_or("127.0.0.1");
    const int64_t timeout = IntArg(a, "timeout", 300);
    const int64_t connect_timeout = IntArg(a, "connect_timeout", 5);
    const absl::Duration sleep = absl::Seconds(std::max<int64_t>(0, IntArg(a, "sleep", 1)));
    std::string state = StrArg(a, "state").value_or("started");
    std::optional<std::string> path = StrArg(a, "path");
    const bool has_port = a.contains("port");
    const int port = static_cast<int>(IntArg(a, "port", 0));
    std::optional<std::string> search = StrArg(a, "search_regex");
    std::optional<PyRegex> re;
    if (search) re = *CompilePyRegex(*search, true);
    if (state == "present") state = "started";
    if (state == "absent") state = "stopped";

    Pause(-1, start + absl::Seconds(IntArg(a, "delay", 0)));
    const absl::Time end = absl::Now() + absl::Seconds(timeout);
    auto elapsed = [&] { return absl::ToInt64Seconds(absl::Now() - start); };
    nlohmann::json groups = nlohmann::json::array();
    nlohmann::json groupdict = nlohmann::json::object();

    // Path waits wake on changes in the parent directory.
    int inotify_fd = -1;
    if (path) {
      inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
      std::string dir = DirName(*path).empty() ? "." : DirName(*path);
      if (inotify_fd >= 0 && inotify_add_watch(inotify_fd, dir.c_str(),
                                               IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM |
                                                   IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB) < 0) {
        close(inotify_fd);
        inotify_fd = -1;
      }
    }
    std::unique_ptr<int, void (*)(int*)> closer(&inotify_fd, [](int* fd) {
      if (*fd >= 0) close(*fd);
    });

    bool done = false;
    if (!path && !has_port) {
      // Nothing to watch: Ansible just sleeps for the timeout.
      Pause(-1, end);
      done = true;
    }
    while (!done && absl::Now() < end) {
      if (state == "stopped") {
        if (path) {
          done = !PathExists(*path);
        } else {
          absl::StatusOr<int> fd = ConnectTcp(host, port, absl::Seconds(connect_timeout));
          done = !fd.ok();
          if (fd.ok()) {
            shutdown(*fd, SHUT_RDWR);
            close(*fd);
          }
        }
      } else if (path) {
        if (PathExists(*path)) {
          if (!re) {
            done = true;
          } else if (absl::StatusOr<std::string> data = ReadWholeFile(*path, kMaxSearchBytes);
                     data.ok()) {
            std::smatch m;
            if (std::regex_search(*data, m, re->re)) {
              groups = MatchGroups(m);
              groupdict = MatchGroupDict(m, *re);
              done = true;
            }
          }
        }
      } else {
        absl::Duration left = end - absl::Now();
        absl::StatusOr<int> fd =
            ConnectTcp(host, port, std::min(absl::Seconds(connect_timeout), left));
        if (fd.ok()) {
          done = !re || SearchSocket(*fd, *re, end, &groups, &groupdict);
          shutdown(*fd, SHUT_RDWR);
          close(*fd);
        }
      }
      if (!done) Pause(inotify_fd, std::min(end, absl::Now() + sleep));
    }
    if (!done) {
      std::string msg;
      std::string where = path ? *path : absl::StrCat(host, ":", port);
      if (state == "stopped") {
        msg = path ? absl::StrCat("Timeout when waiting for ", *path, " to be absent.")
                   : absl::StrCat("Timeout when waiting for ", where, " to stop.");
      } else if (search) {
        msg = absl::StrCat("Timeout when waiting for search string ", *search, " in ", where);
      } else {
        msg = path ? absl::StrCat("Timeout when waiting for file ", *path)
                   : absl::StrCat("Timeout when waiting for ", where);
      }
      return {{"failed", true},
              {"changed", false},
              {"elapsed", elapsed()},
              {"msg", StrArg(a, "msg").value_or(msg)}};
    }
    nlohmann::json r = {
        {"changed", false},
        {"elapsed", elapsed()},
        {"state", state == "stopped" && path ? "absent" : StrArg(a, "state").value_or("started")},
        {"port", has_port ? nlohmann::json(port) : nlohmann::json(nullptr)},
        {"path", path ? nlohmann::json(*path) : nlohmann::json(nullptr)},
        {"search_regex", search ? nlohmann::json(*search) : nlohmann::json(nullptr)},
        {"match_groups", groups},
        {"match_groupdict", groupdict}};
    if (path) AddPathInfo(*path, &r);  // Ansible's exit_json adds the file's info for `path`
    return r;
  }

  // Reads what the peer sends until search_regex matches, the peer closes, or `end`.
  static bool SearchSocket(int fd, const PyRegex& re, absl::Time end, nlohmann::json* groups,
                           nlohmann::json* groupdict) {
    std::string data;
    char buf[4096];
    while (data.size() < kMaxSearchBytes && WaitReadable(fd, end)) {
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) return false;
      data.append(buf, static_cast<size_t>(n));
      std::smatch m;
      if (std::regex_search(data, m, re.re)) {
        *groups = MatchGroups(m);
        *groupdict = MatchGroupDict(m, re);
        return true;
      }
    }
    return false;
  }
};

}  // namespace

std::unique_ptr<Module> MakeWaitForModule() { return std::make_unique<WaitForModule>(); }

}  // namespace tachyon::modules
