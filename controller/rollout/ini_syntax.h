#pragma once

// The small languages inside Ansible's INI inventories, as ansible-core 2.14 reads them:
// values typed by Python's ast.literal_eval, host lines split by shlex, host patterns with
// an optional :port and [a:b] ranges.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tachyon::rollout {

// Longest line or host pattern handed to std::regex, whose matcher recurses per character.
inline constexpr size_t kMaxIniRegexLine = 4096;

// Most hosts one range may expand to, and most distinct hosts one inventory may hold: ten times
// the fleet we measure, so more is a typo (or hostile input), not a fleet.
inline constexpr size_t kMaxInventoryHosts = 100000;

// Python's ast.literal_eval for INI values, then Ansible's fallback to the raw string:
// "1" -> 1, "True" -> true, "'x'" -> "x", "[1, 2]" -> [1, 2], "true" -> "true".
nlohmann::json IniValue(const std::string& text);

// Python's shlex.split(line, comments=True) in POSIX mode: quotes, backslashes, `#` comments.
absl::StatusOr<std::vector<std::string>> ShlexSplit(const std::string& line);

// Ansible's _expand_hostpattern: "web[01:03]:2222" -> web01 web02 web03 with *port = 2222
// (-1 when absent). Something that is not a valid host name keeps its ":NN" as part of it.
// More than `max_hosts` names is an error.
absl::StatusOr<std::vector<std::string>> ExpandHostPattern(const std::string& pattern, int* port,
                                                           size_t max_hosts = kMaxInventoryHosts);

// Appends code point `cp` to `out` as UTF-8 (Python's chr(cp).encode(); no range check).
void AppendUtf8(uint32_t cp, std::string* out);

// Ansible's host range expansion: "web[01:03]" -> web01 web02 web03, "db-[a:c]", "x[1:9:2]".
absl::StatusOr<std::vector<std::string>> ExpandHostRange(const std::string& pattern,
                                                         size_t max_hosts = kMaxInventoryHosts);

}  // namespace tachyon::rollout
