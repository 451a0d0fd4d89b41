#include "tests/integration/tcp_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace tachyon::itest {
namespace {

constexpr size_t kBufferLimit = 256 * 1024;

sockaddr_in Loopback(int port) {
  sockaddr_in addr;
  std::memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

// Closes with a reset rather than a FIN: the peer sees the connection break.
void Reset(int fd) {
  if (fd < 0) return;
  struct linger lg = {1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  ::close(fd);
}

}  // namespace

struct TcpProxy::Pipe {
  int client = -1;
  int upstream = -1;
  bool connecting = true;
  bool dead = false;
  std::string up;    // client -> upstream, not yet written
  std::string down;  // upstream -> client, not yet written

  ~Pipe() {
    Reset(client);
    Reset(upstream);
  }
};

TcpProxy::TcpProxy(int target_port) : target_port_(target_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return;
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr = Loopback(0);
  socklen_t len = sizeof(addr);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
    return;
  }
  port_ = ntohs(addr.sin_port);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  thread_ = std::thread([this] { Loop(); });
}

TcpProxy::~TcpProxy() {
  if (thread_.joinable()) {
    Run(Command::kQuit);
    thread_.join();
  }
  pipes_.clear();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void TcpProxy::Drop() { Run(Command::kDrop); }
void TcpProxy::Stall(bool stalled) { Run(stalled ? Command::kStall : Command::kUnstall); }
void TcpProxy::StallReplies(bool stalled) {
  Run(stalled ? Command::kStallReplies : Command::kUnstallReplies);
}

uint64_t TcpProxy::accepted() {
  std::lock_guard<std::mutex> lock(mu_);
  return accepted_;
}
uint64_t TcpProxy::bytes_up() {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_up_;
}
uint64_t TcpProxy::bytes_down() {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_down_;
}

void TcpProxy::Run(Command command) {
  if (!thread_.joinable()) return;
  std::unique_lock<std::mutex> lock(mu_);
  commands_.push_back(command);
  uint64_t ticket = ++commands_sent_;
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof(one));
  cv_.wait(lock, [&] { return commands_done_ >= ticket; });
}

void TcpProxy::CloseAll() { pipes_.clear(); }

void TcpProxy::Accept() {
  while (true) {
    int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (client < 0) return;  // EAGAIN: no more for now (other errors: try on the next wake)
    int one = 1;
    ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto pipe = std::make_unique<Pipe>();
    pipe->client = client;
    pipe->upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (pipe->upstream < 0) continue;  // the Pipe's destructor resets the client
    ::setsockopt(pipe->upstream, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_in addr = Loopback(target_port_);
    int rc = ::connect(pipe->upstream, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    if (rc == 0) {
      pipe->connecting = false;
    } else if (errno != EINPROGRESS) {
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++accepted_;
    }
    pipes_.push_back(std::move(pipe));
  }
}

void TcpProxy::Loop() {
  std::vector<pollfd> fds;
  char buf[64 * 1024];
  bool quit = false;
  while (!quit) {
    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    for (const auto& p : pipes_) {
      short client_events = 0, upstream_events = 0;
      if (p->connecting) {
        upstream_events = POLLOUT;
      } else if (!stalled_) {
        if (p->up.size() < kBufferLimit) client_events |= POLLIN;
        if (!p->up.empty()) upstream_events |= POLLOUT;
        if (!replies_stalled_) {
          if (p->down.size() < kBufferLimit) upstream_events |= POLLIN;
          if (!p->down.empty()) client_events |= POLLOUT;
        }
      }
      fds.push_back({p->client, client_events, 0});
      fds.push_back({p->upstream, upstream_events, 0});
    }
    int n = ::poll(fds.data(), fds.size(), -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }

    for (size_t i = 0; i < pipes_.size(); ++i) {
      Pipe& p = *pipes_[i];
      short cre = fds[2 + 2 * i].revents;
      short ure = fds[3 + 2 * i].revents;
      if ((cre | ure) & (POLLERR | POLLNVAL)) {
        p.dead = true;
        continue;
      }
      if (p.connecting) {
        if (ure & (POLLOUT | POLLHUP)) {
          int err = 0;
          socklen_t len = sizeof(err);
          ::getsockopt(p.upstream, SOL_SOCKET, SO_ERROR, &err, &len);
          if (err != 0) {
            p.dead = true;
          } else {
            p.connecting = false;
          }
        }
        continue;
      }
      if ((cre | ure) & POLLHUP) {
        // Both directions are gone (reset or closed): nothing more can move.
        p.dead = true;
        continue;
      }
      auto pump_in = [&](int fd, short re, std::string* into) {
        if (!(re & POLLIN)) return;
        ssize_t got = ::recv(fd, buf, sizeof(buf), 0);
        if (got > 0) {
          into->append(buf, static_cast<size_t>(got));
        } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
          p.dead = true;
        }
      };
      auto pump_out = [&](int fd, short re, std::string* from, uint64_t* counter) {
        if (!(re & POLLOUT) || from->empty()) return;
        ssize_t put = ::send(fd, from->data(), from->size(), MSG_NOSIGNAL);
        if (put > 0) {
          from->erase(0, static_cast<size_t>(put));
          std::lock_guard<std::mutex> lock(mu_);
          *counter += static_cast<uint64_t>(put);
        } else if (put < 0 && errno != EAGAIN && errno != EINTR) {
          p.dead = true;
        }
      };
      // Only act on what was asked for: a stalled direction is not touched.
      if (fds[2 + 2 * i].events & POLLIN) pump_in(p.client, cre, &p.up);
      if (fds[3 + 2 * i].events & POLLIN) pump_in(p.upstream, ure, &p.down);
      if (p.dead) continue;
      pump_out(p.upstream, ure, &p.up, &bytes_up_);
      pump_out(p.client, cre, &p.down, &bytes_down_);
    }
    for (size_t i = 0; i < pipes_.size();) {
      if (pipes_[i]->dead) {
        pipes_.erase(pipes_.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;
      }
    }

    if (fds[1].revents & POLLIN) Accept();

    if (fds[0].revents & POLLIN) {
      uint64_t count = 0;
      (void)!::read(wake_fd_, &count, sizeof(count));
      std::vector<Command> commands;
      {
        std::lock_guard<std::mutex> lock(mu_);
        commands.swap(commands_);
      }
      for (Command c : commands) {
        switch (c) {
          case Command::kDrop:
            CloseAll();
            break;
          case Command::kStall:
            stalled_ = true;
            break;
          case Command::kUnstall:
            stalled_ = false;
            break;
          case Command::kStallReplies:
            replies_stalled_ = true;
            break;
          case Command::kUnstallReplies:
            replies_stalled_ = false;
            break;
          case Command::kQuit:
            quit = true;
            break;
          case Command::kNone:
            break;
        }
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        commands_done_ += commands.size();
      }
      cv_.notify_all();
    }
  }
  CloseAll();
}

}  // namespace tachyon::itest
