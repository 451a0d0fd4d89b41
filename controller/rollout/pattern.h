#pragma once

// Ansible host patterns: `all`, `*`, names, groups, globs, `~regex`, `a:b` (union), `a:&b`
// (intersection), `a:!b` (exclusion), `,` as a separator, and subscripts `grp[0]`, `grp[1:3]`,
// `grp[-1]`.

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tachyon::rollout {

// The hosts a pattern is matched against: every host in inventory order, and each group's
// members in order. "all" is implicit; "ungrouped" is filled by the caller if it wants one.
struct HostUniverse {
  std::vector<std::string> hosts;
  std::map<std::string, std::vector<std::string>> groups;
  // Hosts matched only by their exact name, never by `all`, a group or a glob: Ansible's
  // implicit `localhost`.
  std::vector<std::string> implicit_hosts;
};

// Returns matched hosts in inventory order, without duplicates. An empty result is not an
// error here; a malformed pattern (bad subscript, bad regex) is InvalidArgument.
absl::StatusOr<std::vector<std::string>> MatchPattern(const std::string& pattern,
                                                      const HostUniverse& universe);

}  // namespace tachyon::rollout
