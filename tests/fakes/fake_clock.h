#pragma once

// A Clock that moves only when the test says so: the monotonic and the wall clock separately,
// so that a test can step the wall clock (as NTP or `date -s` would) and show what depends on
// which.

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/jobs/clock.h"

namespace tachyon::testing {

class FakeClock : public jobs::Clock {
 public:
  FakeClock() = default;
  FakeClock(absl::Duration monotonic, absl::Time wall) : monotonic_(monotonic), wall_(wall) {}

  absl::Duration Now() const override {
    absl::MutexLock lock(&mu_);
    return monotonic_;
  }
  absl::Time WallNow() const override {
    absl::MutexLock lock(&mu_);
    return wall_;
  }

  // Time passes: both clocks move together.
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    monotonic_ += d;
    wall_ += d;
  }
  // The wall clock is stepped (forwards or backwards); the monotonic clock does not move.
  void StepWall(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    wall_ += d;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Duration monotonic_ ABSL_GUARDED_BY(mu_) = absl::Hours(1);
  absl::Time wall_ ABSL_GUARDED_BY(mu_) = absl::FromUnixSeconds(1700000000);
};

}  // namespace tachyon::testing
