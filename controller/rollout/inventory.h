#pragma once

// Ansible inventories (INI and YAML files, or a directory of them) with group_vars/ and
// host_vars/ directories, matching ansible-core 2.14: the same host order, group tree,
// implicit `all`/`ungrouped`/`localhost`, INI value typing (ast.literal_eval), and the same
// variable precedence for inventory-level variables. docs/PLAYBOOKS.md has the details.

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "controller/rollout/ini_syntax.h"  // IniValue, ExpandHostRange: part of the API
#include "nlohmann/json.hpp"

namespace tachyon::rollout {

// What host patterns are matched against: every host in Ansible's `all` order, and each
// group's hosts (recursively through children) in Ansible's order.
struct Universe {
  std::vector<std::string> hosts;
  std::map<std::string, std::vector<std::string>> groups;
  // Matched only by exact name, never by `all`, a group or a glob: the implicit localhost
  // names ("localhost", "127.0.0.1", "::1") that the inventory does not define.
  std::vector<std::string> implicit_hosts;
};

struct InventoryHost {
  std::string name;
  nlohmann::json vars = nlohmann::json::object();  // from inventory files only
  std::vector<std::string> groups;                 // direct groups, in the order joined
  bool implicit = false;                           // the implicit localhost
};

struct InventoryGroup {
  std::string name;
  nlohmann::json vars = nlohmann::json::object();  // from inventory files only
  std::vector<std::string> hosts;                  // direct hosts, in the order added
  std::vector<std::string> children;
  std::vector<std::string> parents;
  int priority = 1;  // ansible_group_priority
  int depth = 0;     // longest path from `all`
};

// Bounds on what one inventory may expand to. The defaults are for real inventories; the fuzz
// target passes small ones so that it explores the parser rather than the volume.
struct InventoryLimits {
  size_t max_hosts = kMaxInventoryHosts;              // distinct hosts, and hosts per range
  size_t max_host_entries = 10 * kMaxInventoryHosts;  // host lines after range expansion
};

class Inventory {
 public:
  // Parses `sources` (files or directories; an empty list gives an inventory with only the
  // implicit groups). `playbook_dir`, when not empty, adds its group_vars/ and host_vars/
  // above the inventory's own.
  static absl::StatusOr<std::unique_ptr<Inventory>> Load(const std::vector<std::string>& sources,
                                                         const std::string& playbook_dir = "");

  // Parses inventory text (INI or YAML, detected as Ansible does) as if read from `name`.
  // No group_vars directories are consulted. Handy for tests and for uploaded bundles.
  static absl::StatusOr<std::unique_ptr<Inventory>> FromString(const std::string& text,
                                                               const std::string& name,
                                                               const InventoryLimits& limits = {});

  // Hosts in Ansible's `all` order (group tree walk); the implicit localhost is not among them.
  std::vector<std::string> Hosts() const;
  bool HasHost(const std::string& name) const { return hosts_.count(name) > 0; }
  bool HasGroup(const std::string& name) const { return groups_.count(name) > 0; }
  const InventoryHost* FindHost(const std::string& name) const;
  const InventoryGroup* FindGroup(const std::string& name) const;
  std::vector<std::string> GroupNames() const;  // in creation order

  // A group's hosts, recursively through its children, in Ansible's order.
  std::vector<std::string> GroupHosts(const std::string& group) const;

  // Every group the host is in, directly or through children, including `all` (sorted).
  std::vector<std::string> HostGroupsAll(const std::string& host) const;
  // The `group_names` magic variable: as above without `all`, sorted.
  std::vector<std::string> GroupNamesOf(const std::string& host) const;

  // The merged inventory-level variables of a host, with Ansible's precedence (lowest first):
  // `all` group vars from inventory files; other groups' inventory vars (by depth, priority,
  // name); group_vars/all next to the inventory; group_vars/all next to the playbook;
  // group_vars/<group> next to the inventory; ... next to the playbook; host vars from the
  // inventory files; host_vars/<host> next to the inventory; ... next to the playbook.
  // "localhost", "127.0.0.1" and "::1" resolve to the implicit localhost when not defined.
  absl::StatusOr<nlohmann::json> HostVars(const std::string& host) const;

  // Makes `host` a member of `groups` (creating the groups under `all`), as agents declare
  // with --group. When the host is unknown: adds it if `add_missing_host`, else NotFound.
  absl::Status AddAgentGroups(const std::string& host, const std::vector<std::string>& groups,
                              bool add_missing_host = false);
  // Adds a host (to `ungrouped`) that exists only as an agent. No-op if known.
  absl::Status AddHost(const std::string& host);

  Universe GetUniverse() const;

  // The document `ansible-inventory --list` prints: groups with direct hosts/children,
  // `_meta.hostvars` with each host's merged variables.
  absl::StatusOr<nlohmann::json> ToListJson() const;

 private:
  Inventory();

  // group_vars/host_vars of one directory, loaded for the names the inventory knows.
  struct VarsDir {
    std::string dir;
    std::map<std::string, nlohmann::json> group_vars;
    std::map<std::string, nlohmann::json> host_vars;
  };

  friend class InventoryParser;

  InventoryGroup& EnsureGroup(const std::string& name);
  InventoryHost& EnsureHost(const std::string& name);
  absl::Status AddChild(const std::string& parent, const std::string& child,
                        const std::string& where);
  void AddHostToGroup(const std::string& group, const std::string& host);
  void RemoveHostFromGroup(const std::string& group, const std::string& host);
  // Ansible's reconcile_inventory: roots under `all`, `ungrouped` fixed up, depths.
  void Reconcile();
  void ComputeDepths();
  absl::Status LoadVarsDirEntries(VarsDir* vd) const;
  absl::Status LoadAllVarsDirs();
  std::vector<std::string> SortedGroupsOf(const std::string& host) const;
  InventoryHost ImplicitLocalhost(const std::string& name) const;

  InventoryLimits limits_;
  size_t host_entries_ = 0;  // host lines parsed so far, after range expansion
  std::map<std::string, InventoryHost> hosts_;
  std::vector<std::string> host_order_;  // creation order
  std::map<std::string, InventoryGroup> groups_;
  std::vector<std::string> group_order_;  // creation order
  std::vector<VarsDir> inventory_dirs_;
  std::vector<VarsDir> playbook_dirs_;
};

}  // namespace tachyon::rollout
