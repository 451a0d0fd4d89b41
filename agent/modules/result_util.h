#pragma once

// Formatting that makes results byte-for-byte like Ansible's (which are Python's str() of
// datetime/timedelta values, str.splitlines(), and so on).

#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "agent/modules/module.h"
#include "nlohmann/json.hpp"

namespace tachyon::modules {

// str(datetime.datetime.now()): "2026-11-28 23:17:27.123456" in local time; Python leaves out
// the fraction when the microseconds are zero, and so does this.
std::string FormatPythonDatetime(absl::Time t, absl::TimeZone tz = absl::LocalTimeZone());

// str(datetime.timedelta): "0:00:01.002345", "1 day, 2:03:04", "2 days, 0:00:00.000001".
std::string FormatPythonTimedelta(absl::Duration d);

// Valid UTF-8 out of arbitrary bytes: each invalid sequence becomes U+FFFD. With
// `drop_partial_tail`, an incomplete sequence at the very end (output cut at a size limit)
// is dropped instead of replaced.
std::string SanitizeUtf8(std::string_view bytes, bool drop_partial_tail = false);

// Python's str.splitlines() on UTF-8 text (\n, \r, \r\n, \v, \f, \x1c-\x1e, U+0085,
// U+2028, U+2029), without a trailing empty line.
std::vector<std::string> PythonSplitLines(std::string_view text);

// Python's s.rstrip("\r\n"), what Ansible's command module does with strip_empty_ends.
std::string RStripNewlines(std::string s);

// The result of Ansible's _low_level_execute_command, as raw and script report it: rc, stdout,
// stderr (not stripped) and their lines, changed: true, and failed with "non-zero return code"
// (or the OSError text when the program could not be started).
nlohmann::json LowLevelExecuteResult(const ProcessOutcome& outcome);

}  // namespace tachyon::modules
