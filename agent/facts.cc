#include "agent/facts.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <pwd.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/date_time.h"

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

std::string FirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return std::string(absl::StripAsciiWhitespace(line));
}

std::string Ipv4(uint32_t network_order) {
  char buf[INET_ADDRSTRLEN];
  struct in_addr a;
  a.s_addr = network_order;
  return inet_ntop(AF_INET, &a, buf, sizeof(buf)) != nullptr ? buf : "";
}

// The default IPv4 route from /proc/net/route (fields are hex in network byte order), and the
// address and netmask of its interface.
void DefaultIpv4(Facts* f) {
  std::ifstream in("/proc/net/route");
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::vector<std::string> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() < 8 || fields[1] != "00000000" || fields[7] != "00000000") continue;
    f->default_ipv4_interface = fields[0];
    f->default_ipv4_gateway =
        Ipv4(static_cast<uint32_t>(std::strtoul(fields[2].c_str(), nullptr, 16)));
    break;
  }
  if (f->default_ipv4_interface.empty()) return;
  struct ifaddrs* addrs = nullptr;
  if (::getifaddrs(&addrs) != 0) return;
  for (auto* a = addrs; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
    if (f->default_ipv4_interface != a->ifa_name) continue;
    f->default_ipv4_address = Ipv4(reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr.s_addr);
    if (a->ifa_netmask != nullptr) {
      f->default_ipv4_netmask =
          Ipv4(reinterpret_cast<sockaddr_in*>(a->ifa_netmask)->sin_addr.s_addr);
    }
    break;
  }
  ::freeifaddrs(addrs);
}

bool OnPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path != nullptr ? path : "/usr/bin:/bin", ':')) {
    if (dir.empty()) continue;
    if (::access(absl::StrCat(dir, "/", program).c_str(), X_OK) == 0) return true;
  }
  return false;
}

// Ansible's pkg_mgr: the first known package manager found, by distribution family.
std::string PackageManager(const std::string& os_family) {
  if (os_family == "Debian" && OnPath("apt-get")) return "apt";
  for (const auto& [program, name] :
       std::vector<std::pair<std::string, std::string>>{{"dnf", "dnf"},
                                                        {"yum", "yum"},
                                                        {"apt-get", "apt"},
                                                        {"zypper", "zypper"},
                                                        {"apk", "apk"},
                                                        {"pacman", "pacman"}}) {
    if (OnPath(program)) return name;
  }
  return "unknown";
}

std::string ServiceManager() {
  if (::access("/run/systemd/system", F_OK) == 0) return "systemd";
  std::string comm = FirstLine("/proc/1/comm");
  if (comm == "systemd") return "systemd";
  if (comm == "init") return "sysvinit";
  return comm.empty() ? "service" : comm;
}

}  // namespace

Facts GatherFacts() {
  Facts f;
  struct utsname u;
  if (::uname(&u) == 0) {
    f.kernel = u.release;
    f.kernel_version = u.version;
    f.architecture = u.machine;
    f.system = u.sysname;
    f.nodename = u.nodename;
    f.hostname = f.nodename.substr(0, f.nodename.find('.'));
  }
  f.fqdn = f.nodename;
  struct addrinfo hints = {};
  hints.ai_flags = AI_CANONNAME;
  struct addrinfo* info = nullptr;
  if (!f.nodename.empty() && ::getaddrinfo(f.nodename.c_str(), nullptr, &hints, &info) == 0) {
    if (info != nullptr && info->ai_canonname != nullptr) f.fqdn = info->ai_canonname;
    ::freeaddrinfo(info);
  }
  size_t dot = f.fqdn.find('.');
  f.domain = dot == std::string::npos ? "" : f.fqdn.substr(dot + 1);
  f.machine_id = FirstLine("/etc/machine-id");
  auto os = ReadOsRelease();
  std::string id = os["ID"];
  f.distribution = id == "debian" ? "Debian" : (os.count("NAME") ? os["NAME"] : id);
  f.distribution_version = os["VERSION_ID"];
  if (id == "debian") {
    // Ansible reads the point release from /etc/debian_version ("12.11").
    std::string point = FirstLine("/etc/debian_version");
    if (!point.empty() && absl::ascii_isdigit(static_cast<unsigned char>(point[0]))) {
      f.distribution_version = point;
    }
  }
  f.distribution_major_version = f.distribution_version.substr(0, f.distribution_version.find('.'));
  f.distribution_release = os["VERSION_CODENAME"];
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
  DefaultIpv4(&f);
  f.pkg_mgr = PackageManager(f.os_family);
  f.service_mgr = ServiceManager();
  f.user_uid = ::getuid();
  f.user_gid = ::getgid();
  if (struct passwd* pw = ::getpwuid(f.user_uid)) {
    f.user_id = pw->pw_name;
    f.user_dir = pw->pw_dir;
    f.user_shell = pw->pw_shell;
    f.user_gecos = pw->pw_gecos;
  } else {
    f.user_id = absl::StrCat(f.user_uid);
  }
  return f;
}

nlohmann::json AnsibleFacts(const Facts& f) {
  nlohmann::json j = {
      {"ansible_hostname", f.hostname},
      {"ansible_nodename", f.nodename},
      {"ansible_fqdn", f.fqdn},
      {"ansible_domain", f.domain},
      {"ansible_os_family", f.os_family},
      {"ansible_distribution", f.distribution},
      {"ansible_distribution_version", f.distribution_version},
      {"ansible_distribution_major_version", f.distribution_major_version},
      {"ansible_distribution_release", f.distribution_release},
      {"ansible_system", f.system},
      {"ansible_kernel", f.kernel},
      {"ansible_kernel_version", f.kernel_version},
      {"ansible_architecture", f.architecture},
      {"ansible_machine", f.architecture},
      {"ansible_machine_id", f.machine_id},
      {"ansible_processor_vcpus", f.cpu_count},
      {"ansible_processor_nproc", f.cpu_count},
      {"ansible_memtotal_mb", f.memory_mb},
      {"ansible_all_ipv4_addresses", nlohmann::json::array()},
      {"ansible_all_ipv6_addresses", nlohmann::json::array()},
      {"ansible_pkg_mgr", f.pkg_mgr},
      {"ansible_service_mgr", f.service_mgr},
      {"ansible_user_id", f.user_id},
      {"ansible_user_uid", f.user_uid},
      {"ansible_user_gid", f.user_gid},
      {"ansible_user_dir", f.user_dir},
      {"ansible_user_shell", f.user_shell},
      {"ansible_user_gecos", f.user_gecos},
  };
  for (const std::string& ip : f.ip_addresses) {
    j[ip.find(':') == std::string::npos ? "ansible_all_ipv4_addresses"
                                        : "ansible_all_ipv6_addresses"]
        .push_back(ip);
  }
  nlohmann::json ipv4 = nlohmann::json::object();
  if (!f.default_ipv4_interface.empty()) {
    ipv4 = {{"interface", f.default_ipv4_interface},
            {"alias", f.default_ipv4_interface},
            {"address", f.default_ipv4_address},
            {"gateway", f.default_ipv4_gateway},
            {"netmask", f.default_ipv4_netmask}};
  }
  j["ansible_default_ipv4"] = ipv4;
  j["ansible_date_time"] = DateTimeFact(absl::Now());
  nlohmann::json env = nlohmann::json::object();
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string kv(*e);
    size_t eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  j["ansible_env"] = env;
  return j;
}

}  // namespace tachyon::agent
