#pragma once

// The wire's JobState enum and the state names used everywhere else (store, events, CLI):
// "pending" "running" "succeeded" "failed" "timed_out" "killed" "lost" "unreachable".

#include <string>

#include "tachyon/v1/job.pb.h"

namespace tachyon::wire {

// "unknown" for JOB_STATE_UNSPECIFIED or values from a newer peer.
const char* JobStateName(tachyon::v1::JobState state);
// JOB_STATE_UNSPECIFIED for names it does not know.
tachyon::v1::JobState JobStateFromName(const std::string& name);

}  // namespace tachyon::wire
