#pragma once

// Host facts the agent reports in its hello (Ansible's gather_facts subset).

#include <cstdint>
#include <string>
#include <vector>

namespace tachyon::agent {

struct Facts {
  std::string hostname;
  std::string fqdn;
  std::string os_family;
  std::string distribution;
  std::string distribution_version;
  std::string os_pretty_name;
  std::string kernel;
  std::string architecture;
  uint32_t cpu_count = 0;
  uint64_t memory_mb = 0;
  std::vector<std::string> ip_addresses;
};

// Reads uname, /etc/os-release, /proc/meminfo and the interface list. Never fails: a fact that
// cannot be read stays empty.
Facts GatherFacts();

}  // namespace tachyon::agent
