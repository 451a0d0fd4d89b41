// Deadlines are on the monotonic clock: stepping the wall clock (NTP, `date -s`) moves neither
// when a job's timeout fires nor how long poll() waits for it. The shim computes its timeout,
// kill grace and reap bounds with exactly this Deadline.

#include "agent/jobs/clock.h"

#include <gtest/gtest.h>

#include "tests/fakes/fake_clock.h"

namespace tachyon::jobs {
namespace {

using ::tachyon::testing::FakeClock;

TEST(DeadlineTest, WallClockStepsDoNotMoveATimeout) {
  for (absl::Duration step : {absl::Hours(1), -absl::Hours(1)}) {
    FakeClock clock;
    Deadline timeout = Deadline::After(clock, absl::Seconds(10));
    EXPECT_EQ(timeout.PollTimeoutMs(), 10000);

    clock.StepWall(step);  // the wall clock jumps; no time has passed
    EXPECT_FALSE(timeout.Expired()) << step;
    EXPECT_EQ(timeout.Left(), absl::Seconds(10)) << step;
    EXPECT_EQ(timeout.PollTimeoutMs(), 10000) << step;

    clock.Advance(absl::Milliseconds(9999));
    EXPECT_FALSE(timeout.Expired()) << step;
    EXPECT_EQ(timeout.PollTimeoutMs(), 1) << step;
    clock.StepWall(-step);  // and back
    EXPECT_FALSE(timeout.Expired()) << step;

    clock.Advance(absl::Milliseconds(1));  // exactly 10 s of monotonic time
    EXPECT_TRUE(timeout.Expired()) << step;
    EXPECT_EQ(timeout.PollTimeoutMs(), 0) << step;
  }
}

TEST(DeadlineTest, WallClockIsWhatTheClockReportsAsWallTime) {
  FakeClock clock;
  absl::Time wall = clock.WallNow();
  absl::Duration mono = clock.Now();
  clock.StepWall(-absl::Hours(1));
  EXPECT_EQ(clock.WallNow(), wall - absl::Hours(1));
  EXPECT_EQ(clock.Now(), mono);
}

TEST(DeadlineTest, NeverAndRounding) {
  FakeClock clock;
  Deadline never = Deadline::Never(clock);
  EXPECT_TRUE(never.IsNever());
  EXPECT_FALSE(never.Expired());
  EXPECT_EQ(never.PollTimeoutMs(), -1);
  EXPECT_EQ(Deadline::After(clock, absl::InfiniteDuration()).PollTimeoutMs(), -1);
  // Rounded up, so poll() does not wake a fraction early and spin.
  EXPECT_EQ(Deadline::After(clock, absl::Microseconds(1)).PollTimeoutMs(), 1);
  EXPECT_TRUE(Deadline::After(clock, absl::ZeroDuration()).Expired());
  EXPECT_TRUE(Deadline::After(clock, -absl::Seconds(1)).Expired());
  // Huge but finite: clamped to what poll() takes.
  EXPECT_EQ(Deadline::After(clock, absl::Hours(24 * 365)).PollTimeoutMs(), INT_MAX);
  Deadline soon = Deadline::After(clock, absl::Seconds(1));
  EXPECT_EQ(never.Min(soon).PollTimeoutMs(), 1000);
  EXPECT_EQ(soon.Min(never).PollTimeoutMs(), 1000);
}

TEST(DeadlineTest, RealClockIsMonotonic) {
  const Clock& clock = RealClock();
  absl::Duration a = clock.Now();
  absl::Duration b = clock.Now();
  EXPECT_LE(a, b);
  EXPECT_GT(clock.WallNow(), absl::FromUnixSeconds(1600000000));
}

}  // namespace
}  // namespace tachyon::jobs
