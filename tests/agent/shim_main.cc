// The shim alone, for tests: `tachyon_jobs_test_shim JOB_DIR` is what `tachyon-agent __shim
// JOB_DIR` does in production.

#include "agent/jobs/job_engine.h"

int main(int argc, char** argv) { return tachyon::jobs::ShimMain(argc, argv); }
