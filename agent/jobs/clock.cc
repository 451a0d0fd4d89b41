#include "agent/jobs/clock.h"

#include <time.h>

namespace tachyon::jobs {
namespace {

class RealClockImpl : public Clock {
 public:
  absl::Duration Now() const override {
    struct timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return absl::DurationFromTimespec(ts);
  }
  absl::Time WallNow() const override {
    struct timespec ts;
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return absl::TimeFromTimespec(ts);
  }
};

}  // namespace

const Clock& RealClock() {
  static const Clock* clock = new RealClockImpl;
  return *clock;
}

}  // namespace tachyon::jobs
