// tachyon-shim: the job shim on its own (`tachyon-shim __shim JOB_DIR`), one process per job.
// It links only the job engine and its modules (no gRPC, no protobuf), so it starts in a few
// milliseconds; the agent binary needs ~25 ms just for its dynamic linking, paid once per job.
// The agent and the controller's localhost executor use it when it sits next to them (see
// jobs::DefaultShimCommand); `tachyon-agent __shim JOB_DIR` remains the fallback.

#include <cstring>
#include <iostream>

#include "agent/jobs/job_engine.h"

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "__shim") == 0) {
    return tachyon::jobs::ShimMain(argc - 1, argv + 1);
  }
  std::cerr << "tachyon-shim: runs one job for tachyon-agent; not meant to be run by hand\n"
               "usage: tachyon-shim __shim JOB_DIR\n";
  return 2;
}
