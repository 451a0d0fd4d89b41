#include "agent/modules/net_util.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace tachyon::modules {
namespace {

int PollMs(absl::Time deadline) {
  int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
  return static_cast<int>(std::clamp<int64_t>(ms, 0, 1 << 30));
}

}  // namespace

absl::StatusOr<int> ConnectTcp(const std::string& host, int port, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  struct addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  struct addrinfo* res = nullptr;
  std::string service = absl::StrCat(port);
  int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0) {
    return absl::UnavailableError(absl::StrCat("cannot resolve ", host, ": ", gai_strerror(rc)));
  }
  std::string last = "no address";
  int connected = -1;
  for (struct addrinfo* ai = res; ai != nullptr && connected < 0; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) {
      last = std::strerror(errno);
      continue;
    }
    int err = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        struct pollfd p = {fd, POLLOUT, 0};
        int n = poll(&p, 1, PollMs(deadline));
        socklen_t len = sizeof(err);
        if (n == 1) {
          getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        } else {
          err = ETIMEDOUT;
        }
      }
    }
    if (err != 0) {
      last = std::strerror(err);
      close(fd);
      continue;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    connected = fd;
  }
  freeaddrinfo(res);
  if (connected < 0) {
    return absl::UnavailableError(absl::StrCat("connect to ", host, ":", port, ": ", last));
  }
  return connected;
}

bool WaitReadable(int fd, absl::Time deadline) {
  while (true) {
    struct pollfd p = {fd, POLLIN, 0};
    int n = poll(&p, 1, PollMs(deadline));
    if (n < 0 && errno == EINTR) continue;
    return n == 1;
  }
}

}  // namespace tachyon::modules
