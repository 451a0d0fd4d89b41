#pragma once

// A small TCP proxy for the integration tests: listens on 127.0.0.1 (a free port) and forwards
// every accepted connection to 127.0.0.1:TARGET. A test can cut every connection at once
// (Drop) or hold traffic (Stall) to simulate a network that breaks or hangs mid-stream.
//
// One thread multiplexes everything with poll(2); commands reach it through an eventfd and
// return once the thread has carried them out. Nothing sleeps.

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace tachyon::itest {

class TcpProxy {
 public:
  // Starts listening and forwarding to 127.0.0.1:target_port. Check ok() afterwards.
  explicit TcpProxy(int target_port);
  ~TcpProxy();

  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  bool ok() const { return listen_fd_ >= 0; }
  int port() const { return port_; }

  // Resets (RST) every open connection, dropping whatever bytes the proxy held for them. New
  // connections are accepted as before.
  void Drop();
  // While stalled, no byte moves in either direction: connections stay open (and new ones
  // are accepted and connected upstream) but nothing is read or written.
  void Stall(bool stalled);
  // Holds only the upstream -> client direction (e.g. the controller's acks), while the
  // client's bytes still go through.
  void StallReplies(bool stalled);

  // Connections accepted so far.
  uint64_t accepted();
  // Bytes forwarded client -> upstream and upstream -> client so far.
  uint64_t bytes_up();
  uint64_t bytes_down();

 private:
  struct Pipe;  // one proxied connection
  enum class Command { kNone, kDrop, kStall, kUnstall, kStallReplies, kUnstallReplies, kQuit };

  void Run(Command command);  // hands a command to the thread and waits until it is done
  void Loop();
  void Accept();
  void CloseAll();

  int target_port_ = 0;
  int port_ = 0;
  int listen_fd_ = -1;
  int wake_fd_ = -1;
  std::thread thread_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Command> commands_;  // guarded by mu_
  uint64_t commands_done_ = 0;     // guarded by mu_
  uint64_t commands_sent_ = 0;     // guarded by mu_
  uint64_t accepted_ = 0;          // guarded by mu_
  uint64_t bytes_up_ = 0;          // guarded by mu_
  uint64_t bytes_down_ = 0;        // guarded by mu_

  // Thread-only state.
  std::vector<std::unique_ptr<Pipe>> pipes_;
  bool stalled_ = false;
  bool replies_stalled_ = false;
};

}  // namespace tachyon::itest
