#pragma once

// A poller for gRPC's callback API that never naps.
//
// gRPC 1.51 (Debian 12) runs every callback-API reactor from one process-wide completion queue,
// served by a few "nexting" threads (CompletionQueue::CallbackAlternativeCQ). Each waits for an
// event with a 1 s deadline and, when none came, sleeps 100 ms before waiting again. After a
// second of quiet, all of them nap at once, and a message that arrives then is read up to 100 ms
// late: a controller stored the completion of 1 s jobs 50-80 ms after the agent sent it, and an
// idle agent read its next dispatch as late (bench/README.md, "Profiling and what it changed").
//
// CallbackPoller adds one thread that serves the same queue the same way, minus the nap, so some
// thread is always polling. It takes the queue from CallbackAlternativeCQ() (an exported
// function, but a private member of the class: callback_poller.cc says how it is reached) and
// runs each event's grpc_completion_queue_functor, the tag type of every event on that queue,
// as gRPC's own threads do. Build one per process after
// gRPC is initialised (a server or channel exists) and destroy it before they go; destruction
// takes up to a second (the wait's deadline). Newer gRPC versions poll through the EventEngine
// instead, where that queue must not be created; there this class does nothing.
//
// This header includes no gRPC headers; callback_poller.cc does (library tachyon_tls).

#include <atomic>
#include <thread>

namespace grpc {
class CompletionQueue;
}  // namespace grpc

namespace tachyon {

class CallbackPoller {
 public:
  CallbackPoller();
  ~CallbackPoller();
  CallbackPoller(const CallbackPoller&) = delete;
  CallbackPoller& operator=(const CallbackPoller&) = delete;

  // Asks the thread to stop without waiting for it; the destructor waits.
  void Stop() { stop_ = true; }

 private:
  void Run();

  grpc::CompletionQueue* cq_ = nullptr;  // shared with gRPC's nexting threads; we hold a ref
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace tachyon
