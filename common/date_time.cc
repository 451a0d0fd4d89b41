#include "common/date_time.h"

#include "absl/strings/str_cat.h"

namespace tachyon {

nlohmann::json DateTimeFact(absl::Time now, absl::TimeZone zone) {
  auto local = [&](const char* fmt) { return absl::FormatTime(fmt, now, zone); };
  auto utc = [&](const char* fmt) { return absl::FormatTime(fmt, now, absl::UTCTimeZone()); };
  const int64_t epoch = absl::ToUnixSeconds(now);
  return nlohmann::json{
      {"year", local("%Y")},
      {"month", local("%m")},
      {"weekday", local("%A")},
      {"weekday_number", local("%w")},
      {"weeknumber", local("%W")},
      {"day", local("%d")},
      {"hour", local("%H")},
      {"minute", local("%M")},
      {"second", local("%S")},
      {"epoch", absl::StrCat(epoch)},
      {"epoch_int", absl::StrCat(epoch)},
      {"date", local("%Y-%m-%d")},
      {"time", local("%H:%M:%S")},
      {"iso8601_micro", utc("%Y-%m-%dT%H:%M:%E6SZ")},
      {"iso8601", utc("%Y-%m-%dT%H:%M:%SZ")},
      {"iso8601_basic", local("%Y%m%dT%H%M%S%E6f")},
      {"iso8601_basic_short", local("%Y%m%dT%H%M%S")},
      {"tz", local("%Z")},
      {"tz_dst", local("%Z")},
      {"tz_offset", local("%z")},
  };
}

}  // namespace tachyon
