#pragma once

// Time as the job engine sees it. Deadlines (timeouts, kill grace, reap bounds) are measured
// on the monotonic clock only, so a wall clock step (NTP, an operator's `date -s`) can neither
// fire a timeout early nor postpone it; wall time is only for what people read (start/end in
// results). The interface is the seam that lets a test move either clock by hand.

#include <climits>

#include "absl/time/time.h"

namespace tachyon::jobs {

class Clock {
 public:
  virtual ~Clock() = default;
  // Time since an arbitrary fixed point (boot) on CLOCK_MONOTONIC: never steps.
  virtual absl::Duration Now() const = 0;
  // The wall clock (CLOCK_REALTIME): may step in either direction.
  virtual absl::Time WallNow() const = 0;
};

// CLOCK_MONOTONIC and CLOCK_REALTIME. A process-wide singleton; never destroyed.
const Clock& RealClock();

// A point on a Clock's monotonic time line, or never.
class Deadline {
 public:
  static Deadline Never(const Clock& clock) { return Deadline(&clock, absl::InfiniteDuration()); }
  // `after` <= 0 is already expired; an infinite `after` never expires.
  static Deadline After(const Clock& clock, absl::Duration after) {
    return Deadline(&clock, after == absl::InfiniteDuration() ? after : clock.Now() + after);
  }

  bool IsNever() const { return at_ == absl::InfiniteDuration(); }
  bool Expired() const { return !IsNever() && clock_->Now() >= at_; }
  // Time left (zero once expired, infinite for never).
  absl::Duration Left() const {
    if (IsNever()) return absl::InfiniteDuration();
    absl::Duration left = at_ - clock_->Now();
    return left < absl::ZeroDuration() ? absl::ZeroDuration() : left;
  }
  // A poll(2) timeout: -1 for never, else the time left rounded up to whole milliseconds (so
  // poll never wakes just before the deadline and spins), clamped to INT_MAX.
  int PollTimeoutMs() const {
    if (IsNever()) return -1;
    int64_t ms = absl::ToInt64Milliseconds(absl::Ceil(Left(), absl::Milliseconds(1)));
    return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
  }
  // The earlier of two deadlines on the same clock.
  Deadline Min(const Deadline& other) const { return other.at_ < at_ ? other : *this; }

 private:
  Deadline(const Clock* clock, absl::Duration at) : clock_(clock), at_(at) {}

  const Clock* clock_;
  absl::Duration at_;  // on clock_->Now()'s time line
};

}  // namespace tachyon::jobs
