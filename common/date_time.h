#pragma once

// Ansible's `ansible_date_time` fact: the time of gathering, every field a string, in the local
// time zone (iso8601* in UTC), exactly as setup's date_time collector spells them.

#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace tachyon {

nlohmann::json DateTimeFact(absl::Time now, absl::TimeZone zone = absl::LocalTimeZone());

}  // namespace tachyon
