#include "common/date_time.h"

#include <gtest/gtest.h>

namespace tachyon {
namespace {

// Expected values from Python, as Ansible's date_time collector builds them:
//   t = datetime.datetime.fromtimestamp(1764384736.123456, datetime.timezone.utc)
//   t.strftime('%Y %m %A %w %W %d %H %M %S %Y%m%dT%H%M%S%f %Z %z')
TEST(DateTimeFactTest, MatchesAnsiblesFields) {
  absl::Time t = absl::FromUnixMicros(1764384736123456);
  nlohmann::json f = DateTimeFact(t, absl::UTCTimeZone());
  EXPECT_EQ(f["year"], "2025");
  EXPECT_EQ(f["month"], "11");
  EXPECT_EQ(f["weekday"], "Saturday");
  EXPECT_EQ(f["weekday_number"], "6");
  EXPECT_EQ(f["weeknumber"], "47");
  EXPECT_EQ(f["day"], "29");
  EXPECT_EQ(f["hour"], "02");
  EXPECT_EQ(f["minute"], "52");
  EXPECT_EQ(f["second"], "16");
  EXPECT_EQ(f["epoch"], "1764384736");
  EXPECT_EQ(f["epoch_int"], "1764384736");
  EXPECT_EQ(f["date"], "2025-11-29");
  EXPECT_EQ(f["time"], "02:52:16");
  EXPECT_EQ(f["iso8601"], "2025-11-29T02:52:16Z");
  EXPECT_EQ(f["iso8601_micro"], "2025-11-29T02:52:16.123456Z");
  EXPECT_EQ(f["iso8601_basic"], "20251129T025216123456");
  EXPECT_EQ(f["iso8601_basic_short"], "20251129T025216");
  EXPECT_EQ(f["tz"], "UTC");
  EXPECT_EQ(f["tz_offset"], "+0000");
  for (const auto& [k, v] : f.items()) EXPECT_TRUE(v.is_string()) << k;
}

}  // namespace
}  // namespace tachyon
