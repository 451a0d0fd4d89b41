#include "agent/facts.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"

namespace tachyon::agent {
namespace {

std::map<std::string, std::string> ReadOsRelease() {
  std::map<std::string, std::string> out;
  std::ifstream in("/etc/os-release");
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string value = line.substr(eq + 1);
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'')) {
      value = value.substr(1, value.size() - 2);
    }
    out[line.substr(0, eq)] = value;
  }
  return out;
}

// Ansible's os_family for the common distributions.
std::string OsFamily(const std::string& id, const std::string& id_like) {
  static const std::map<std::string, std::string> kFamily = {
      {"debian", "Debian"}, {"ubuntu", "Debian"},  {"rhel", "RedHat"},      {"centos", "RedHat"},
      {"fedora", "RedHat"}, {"rocky", "RedHat"},   {"almalinux", "RedHat"}, {"sles", "Suse"},
      {"opensuse", "Suse"}, {"arch", "Archlinux"}, {"alpine", "Alpine"}};
  if (auto it = kFamily.find(id); it != kFamily.end()) return it->second;
  std::istringstream like(id_like);
  std::string word;
  while (like >> word) {
    if (auto it = kFamily.find(word); it != kFamily.end()) return it->second;
  }
  return id.empty() ? "" : std::string(1, absl::ascii_toupper(id[0])) + id.substr(1);
}

uint64_t MemTotalMb() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit) {
    if (key == "MemTotal:") return kb / 1024;
  }
  return 0;
}

}  // namespace

Facts GatherFacts() {
  Facts f;
  struct utsname u;
  if (::uname(&u) == 0) {
    f.kernel = u.release;
    f.architecture = u.machine;
    f.hostname = u.nodename;
  }
  f.fqdn = f.hostname;
  auto os = ReadOsRelease();
  std::string id = os["ID"];
  f.distribution = id == "debian" ? "Debian" : (os.count("NAME") ? os["NAME"] : id);
  f.distribution_version = os["VERSION_ID"];
  f.os_pretty_name = os["PRETTY_NAME"];
  f.os_family = OsFamily(id, os["ID_LIKE"]);
  long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  f.cpu_count = cpus > 0 ? static_cast<uint32_t>(cpus) : 0;
  f.memory_mb = MemTotalMb();
  struct ifaddrs* addrs = nullptr;
  if (::getifaddrs(&addrs) == 0) {
    for (auto* a = addrs; a != nullptr; a = a->ifa_next) {
      if (a->ifa_addr == nullptr || (a->ifa_flags & IFF_LOOPBACK)) continue;
      if (a->ifa_addr->sa_family != AF_INET && a->ifa_addr->sa_family != AF_INET6) continue;
      char buf[NI_MAXHOST];
      socklen_t len =
          a->ifa_addr->sa_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
      if (::getnameinfo(a->ifa_addr, len, buf, sizeof(buf), nullptr, 0, NI_NUMERICHOST) == 0) {
        f.ip_addresses.emplace_back(buf);
      }
    }
    ::freeifaddrs(addrs);
  }
  return f;
}

}  // namespace tachyon::agent
