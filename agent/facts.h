#pragma once

// Host facts: the subset the agent reports in its hello, and the setup module's
// `ansible_facts` (the cheap, common part of Ansible's gather_facts).

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace tachyon::agent {

struct Facts {
  std::string hostname;  // the short name, as Ansible's ansible_hostname
  std::string nodename;  // uname's nodename
  std::string fqdn;
  std::string domain;
  std::string os_family;
  std::string distribution;
  std::string distribution_version;
  std::string distribution_major_version;
  std::string distribution_release;
  std::string os_pretty_name;
  std::string system;  // "Linux"
  std::string kernel;
  std::string kernel_version;
  std::string architecture;
  std::string machine_id;
  uint32_t cpu_count = 0;
  uint64_t memory_mb = 0;
  std::vector<std::string> ip_addresses;
  // The interface of the default IPv4 route, its address and the gateway; empty if none.
  std::string default_ipv4_interface;
  std::string default_ipv4_address;
  std::string default_ipv4_gateway;
  std::string default_ipv4_netmask;
  std::string pkg_mgr;      // apt, dnf, yum, zypper, apk, pacman, or "unknown"
  std::string service_mgr;  // systemd when it runs, else pid 1's name
  // The agent's own user.
  std::string user_id;
  uint32_t user_uid = 0;
  uint32_t user_gid = 0;
  std::string user_dir;
  std::string user_shell;
  std::string user_gecos;
};

// Reads uname, /etc/os-release, /proc/meminfo, the interface list and routes. Never fails: a
// fact that cannot be read stays empty.
Facts GatherFacts();

// Ansible's names for them ("ansible_hostname", "ansible_default_ipv4": {...}, ...), plus
// ansible_env from this process's environment.
nlohmann::json AnsibleFacts(const Facts& facts);

}  // namespace tachyon::agent
