#pragma once

// What the controller's domain code sees of one connected agent: a way to send it work.
// The gRPC stream (agent_service.cc) implements it; tests use a fake; the embedded localhost
// executor could implement it too. Plain structs only, so domain code never includes gRPC.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace tachyon::controller {

struct DispatchRequest {
  std::string jid;
  std::string module;
  std::string args_json = "{}";
  int64_t timeout_seconds = 0;
  std::map<std::string, std::string> env;
  std::string cwd;
  std::string rollout_id;
  std::string rollout_key;  // the job's place in its rollout (store::JobRecord::rollout_key)
  absl::Time deliver_by = absl::InfiniteFuture();  // refuse to start the job after this
};

// An agent's hello, as the domain sees it.
struct AgentHello {
  std::string version;
  std::vector<std::string> groups;
  std::string facts_json = "{}";
  std::vector<std::string> known_jids;
};

// A job event reported by an agent (agent.proto JobEvent without the wire types).
struct AgentJobEvent {
  enum class Kind { kStarted, kOutput, kFinished };
  uint64_t seq = 0;
  std::string jid;
  Kind kind = Kind::kStarted;
  std::string state;          // "running", or the final state name
  std::string result_json;    // kFinished only
  std::string output_stream;  // kOutput: "stdout" | "stderr"
  uint64_t output_offset = 0;
  std::string output_data;
};

class AgentLink {
 public:
  virtual ~AgentLink() = default;
  // Each returns false when the link is already gone; the message is then not delivered.
  virtual bool SendDispatch(const DispatchRequest& request) = 0;
  virtual bool SendKill(const std::string& jid) = 0;
  virtual bool SendCleanup(const std::string& jid) = 0;
  virtual bool SendEventAck(uint64_t acked_seq) = 0;
  // Ends the stream (e.g. the agent was replaced by a newer connection).
  virtual void Close(const std::string& reason) = 0;
};

}  // namespace tachyon::controller
