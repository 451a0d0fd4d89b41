#include "common/callback_poller.h"

#include <grpc/grpc.h>
#include <grpc/support/time.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/version_info.h>

namespace tachyon {

namespace {
// gRPC 1.51's poller naps (see the header); from 1.60 the callback queue is the EventEngine's.
constexpr bool kNeeded = GRPC_CPP_VERSION_MAJOR == 1 && GRPC_CPP_VERSION_MINOR < 60;

// CompletionQueue::CallbackAlternativeCQ and ReleaseCallbackAlternativeCQ are public functions
// of the library (exported, stable through 1.5x) but private members of the class, for gRPC's
// own Server and Channel. An explicit instantiation may name a private member (C++17
// [temp.explicit]/14), which is how these two pointers reach us without patching gRPC.
using AcquireFn = grpc::CompletionQueue* (*)();
using ReleaseFn = void (*)(grpc::CompletionQueue*);
AcquireFn g_acquire = nullptr;
ReleaseFn g_release = nullptr;

template <AcquireFn kAcquire, ReleaseFn kRelease>
struct AlternativeCqAccess {
  static inline const bool kSet = (g_acquire = kAcquire, g_release = kRelease, true);
};
template struct AlternativeCqAccess<&grpc::CompletionQueue::CallbackAlternativeCQ,
                                    &grpc::CompletionQueue::ReleaseCallbackAlternativeCQ>;
}  // namespace

CallbackPoller::CallbackPoller() {
  if (!kNeeded || g_acquire == nullptr || g_release == nullptr) return;
  grpc_init();  // balanced in the destructor; a no-op beyond a ref when gRPC is already up
  cq_ = g_acquire();
  thread_ = std::thread([this] { Run(); });
}

CallbackPoller::~CallbackPoller() {
  if (cq_ == nullptr) return;
  stop_ = true;
  thread_.join();
  g_release(cq_);
  grpc_shutdown();
}

void CallbackPoller::Run() {
  grpc_completion_queue* cq = cq_->cq();
  while (!stop_.load(std::memory_order_relaxed)) {
    grpc_event ev = grpc_completion_queue_next(
        cq, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(1000, GPR_TIMESPAN)),
        nullptr);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) return;
    if (ev.type == GRPC_QUEUE_TIMEOUT) continue;  // no nap: straight back to polling
    // What gRPC's own threads do with an event of this queue: run the reactor's callback here.
    auto* functor = static_cast<grpc_completion_queue_functor*>(ev.tag);
    functor->functor_run(functor, ev.success);
  }
}

}  // namespace tachyon
