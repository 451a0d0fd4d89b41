#pragma once

// An AgentLink that records what the controller sent, for domain tests without a network.

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "controller/agent_link.h"

namespace tachyon::testing {

class FakeAgentLink : public controller::AgentLink {
 public:
  // Runs on every dispatch, outside the fake's lock (tests use it to complete jobs).
  std::function<void(const controller::DispatchRequest&)> on_dispatch;

  bool SendDispatch(const controller::DispatchRequest& request) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return false;
      dispatches_.push_back(request);
    }
    if (on_dispatch) on_dispatch(request);
    return true;
  }
  bool SendKill(const std::string& jid) override { return Record(&kills_, jid); }
  bool SendCleanup(const std::string& jid) override { return Record(&cleanups_, jid); }
  bool SendEventAck(uint64_t acked_seq) override {
    std::lock_guard<std::mutex> lock(mu_);
    acks_.push_back(acked_seq);
    return !closed_;
  }
  void Close(const std::string& reason) override {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    close_reason_ = reason;
  }

  std::vector<controller::DispatchRequest> dispatches() {
    std::lock_guard<std::mutex> lock(mu_);
    return dispatches_;
  }
  std::vector<std::string> kills() {
    std::lock_guard<std::mutex> lock(mu_);
    return kills_;
  }
  std::vector<std::string> cleanups() {
    std::lock_guard<std::mutex> lock(mu_);
    return cleanups_;
  }
  bool closed() {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_;
  }

 private:
  bool Record(std::vector<std::string>* into, const std::string& jid) {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return false;
    into->push_back(jid);
    return true;
  }

  std::mutex mu_;
  std::vector<controller::DispatchRequest> dispatches_;
  std::vector<std::string> kills_, cleanups_;
  std::vector<uint64_t> acks_;
  bool closed_ = false;
  std::string close_reason_;
};

}  // namespace tachyon::testing
