#include "proto/job_state.h"

namespace tachyon::wire {
namespace {

namespace v1 = tachyon::v1;

struct Entry {
  v1::JobState state;
  const char* name;
};

constexpr Entry kStates[] = {
    {v1::JOB_STATE_PENDING, "pending"},     {v1::JOB_STATE_RUNNING, "running"},
    {v1::JOB_STATE_SUCCEEDED, "succeeded"}, {v1::JOB_STATE_FAILED, "failed"},
    {v1::JOB_STATE_TIMED_OUT, "timed_out"}, {v1::JOB_STATE_KILLED, "killed"},
    {v1::JOB_STATE_LOST, "lost"},           {v1::JOB_STATE_UNREACHABLE, "unreachable"},
};

}  // namespace

const char* JobStateName(v1::JobState state) {
  for (const auto& e : kStates) {
    if (e.state == state) return e.name;
  }
  return "unknown";
}

v1::JobState JobStateFromName(const std::string& name) {
  for (const auto& e : kStates) {
    if (name == e.name) return e.state;
  }
  return v1::JOB_STATE_UNSPECIFIED;
}

}  // namespace tachyon::wire
