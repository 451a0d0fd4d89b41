#pragma once

// The agent end of the Connect stream, as the agent's link (agent/controller_link.cc) and the
// fleet simulator (agent/simulator.cc) both run it: one read and one write in flight, further
// writes queued in order, reading resumed after each message. gRPC edge: includes gRPC.

#include <grpcpp/grpcpp.h>

#include <deque>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "agent/outbox.h"
#include "tachyon/v1/agent.grpc.pb.h"

namespace tachyon::agent {

// The wire form of an outbox event.
v1::AgentMessage OutboxEventToProto(const OutboxEvent& e);

// The answer to a kill or cleanup request.
v1::AgentMessage ActionResultMessage(const std::string& jid, const absl::Status& st);

class AgentStreamReactor : public grpc::ClientBidiReactor<v1::AgentMessage, v1::ControllerMessage> {
 public:
  // Queues `message`; it is written at once when no write is in flight. Dropped once a write
  // failed: the stream is over, and what mattered (outbox events) is sent again on the next.
  void Enqueue(v1::AgentMessage message);

  void OnWriteDone(bool ok) override;
  // Hands each message to Handle(), then reads the next; a failed read leaves the status to
  // OnDone.
  void OnReadDone(bool ok) override;

 protected:
  // Starts the first read into the buffer that OnReadDone hands to Handle().
  void StartReading() { StartRead(&in_); }
  // One message from the controller, on a gRPC thread: must not block.
  virtual void Handle(const v1::ControllerMessage& msg) = 0;

 private:
  v1::ControllerMessage in_;
  absl::Mutex mu_;
  std::deque<v1::AgentMessage> queue_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace tachyon::agent
