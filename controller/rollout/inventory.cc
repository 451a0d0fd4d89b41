#include "controller/rollout/inventory.h"

#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <regex>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "common/status.h"
#include "controller/rollout/yaml_util.h"

namespace tachyon::rollout {

using nlohmann::json;

namespace {

// Ansible's C.LOCALHOST: names that resolve to the implicit localhost.
bool IsLocalhostName(const std::string& name) {
  return name == "localhost" || name == "127.0.0.1" || name == "::1";
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

std::string DirName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string Extension(const std::string& name) {
  size_t slash = name.find_last_of('/');
  size_t dot = name.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  // os.path.splitext: a leading dot is not an extension.
  size_t base = slash == std::string::npos ? 0 : slash + 1;
  size_t first_non_dot = name.find_first_not_of('.', base);
  if (first_non_dot == std::string::npos || dot < first_non_dot) return "";
  return name.substr(dot);
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string RealPath(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) return path;
  return buf;
}

absl::Status ParseError(const std::string& file, int line, int column, const std::string& msg) {
  SourcePos pos;
  pos.file = file;
  pos.line = line;
  pos.column = column;
  return ErrorAt(pos, msg);
}

}  // namespace

// ---------------------------------------------------------------------------------------------

// Parses one inventory source file into an Inventory, following ansible's ini.py and yaml.py.
class InventoryParser {
 public:
  explicit InventoryParser(Inventory* inv) : inv_(inv) {}

  // Detects the format like Ansible's plugin chain: files named *.yml/*.yaml/*.json or with no
  // extension are tried as YAML first; anything else (or YAML that is not an inventory) as INI.
  absl::Status ParseText(const std::string& text, const std::string& file) {
    std::string ext = Extension(file);
    bool try_yaml = ext.empty() || ext == ".yml" || ext == ".yaml" || ext == ".json";
    absl::Status yaml_status = absl::OkStatus();
    bool was_yaml_mapping = false;
    if (try_yaml) {
      auto node = ParseYaml(text, file);
      if (node.ok() && node->IsMap() && node->size() > 0 && !node.value()["plugin"]) {
        was_yaml_mapping = true;
        // Parse into a scratch copy so a failed YAML attempt leaves nothing behind.
        Inventory backup = *inv_;
        yaml_status = ParseYamlInventory(*node, file);
        if (yaml_status.ok()) return yaml_status;
        *inv_ = std::move(backup);
      } else if (!node.ok()) {
        yaml_status = node.status();
      } else if (node->IsMap() && node.value()["plugin"]) {
        return ErrorAt(PosOf(file, *node),
                       "inventory plugin configuration files are not supported");
      } else {
        yaml_status = ErrorAt(PosOf(file, *node),
                              "YAML inventory has invalid structure, it "
                              "should be a dictionary");
      }
    }
    absl::Status ini_status = ParseIni(text, file);
    if (ini_status.ok()) return ini_status;
    // Ansible would have accepted it as INI; when INI fails too, the YAML error is the
    // helpful one for a file that is YAML by name or evidently YAML by content.
    if (!yaml_status.ok() && (was_yaml_mapping || !ext.empty())) return yaml_status;
    return ini_status;
  }

 private:
  // --- INI ------------------------------------------------------------------------------------

  struct Pending {
    int line = 0;
    std::string state;
    std::vector<std::string> parents;
  };

  absl::Status ParseIni(const std::string& text, const std::string& file) {
    Inventory backup = *inv_;
    absl::Status s = ParseIniLines(text, file);
    if (!s.ok()) *inv_ = std::move(backup);
    return s;
  }

  absl::Status ParseIniLines(const std::string& text, const std::string& file) {
    static const std::regex section_re("^\\[([^:\\]\\s]+)(?::(\\w+))?\\]\\s*(?:#.*)?$");
    static const std::regex groupname_re("^([^:\\]\\s]+)\\s*(?:#.*)?$");
    std::map<std::string, Pending> pending;
    std::vector<std::string> pending_order;
    std::string group = "ungrouped";
    std::string state = "hosts";
    int lineno = 0;
    size_t start = 0;
    while (start <= text.size()) {
      size_t nl = text.find('\n', start);
      std::string raw =
          text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
      start = nl == std::string::npos ? text.size() + 1 : nl + 1;
      ++lineno;
      size_t b = raw.find_first_not_of(" \t\r\f\v");
      if (b == std::string::npos) continue;
      size_t e = raw.find_last_not_of(" \t\r\f\v");
      std::string line = raw.substr(b, e - b + 1);
      int col = static_cast<int>(b) + 1;
      if (line[0] == '#' || line[0] == ';') continue;

      // std::regex recurses per character; bound what reaches it.
      if (line[0] == '[' && line.size() > kMaxIniRegexLine) {
        return ParseError(file, lineno, col, "section line is too long");
      }
      std::smatch m;
      if (line[0] == '[' && std::regex_match(line, m, section_re)) {
        group = m[1].str();
        state = m[2].matched ? m[2].str() : "hosts";
        if (state != "hosts" && state != "children" && state != "vars") {
          return ParseError(
              file, lineno, col,
              absl::StrCat("Section [", group, ":", state, "] has unknown type: ", state));
        }
        if (!inv_->HasGroup(group)) {
          if (state == "vars" && !pending.count(group)) {
            pending[group] = Pending{lineno, "vars", {}};
            pending_order.push_back(group);
          }
          inv_->EnsureGroup(group);
        }
        auto it = pending.find(group);
        if (it != pending.end() && state != "vars") {
          if (it->second.state == "children") {
            RETURN_IF_ERROR(AddPendingChildren(group, &pending, file));
          } else {
            pending.erase(it);
          }
        }
        continue;
      }
      if (line.front() == '[' && line.back() == ']') {
        return ParseError(file, lineno, col,
                          absl::StrCat("Invalid section entry: '", line,
                                       "'. Please make sure that there are no spaces in the "
                                       "section entry, and that there are no other invalid "
                                       "characters"));
      }
      if (state == "hosts") {
        auto tokens = ShlexSplit(line);
        if (!tokens.ok()) {
          return ParseError(file, lineno, col,
                            absl::StrCat("Error parsing host definition '", line,
                                         "': ", tokens.status().message()));
        }
        if (tokens->empty()) continue;  // only a comment after all
        const std::string& pattern = (*tokens)[0];
        int port = -1;
        auto hosts = ExpandHostPattern(pattern, &port, inv_->limits_.max_hosts);
        if (!hosts.ok()) {
          return ParseError(
              file, lineno, col,
              absl::StrCat("bad host pattern '", pattern, "': ", hosts.status().message()));
        }
        if (EndsWith(pattern, ":") && port < 0) {
          return ParseError(file, lineno, col,
                            absl::StrCat("Invalid host pattern '", pattern,
                                         "' supplied, ending in ':' is not allowed, this "
                                         "character is reserved to provide a port."));
        }
        for (const std::string& h : *hosts) {
          if (h == "---") {
            return ParseError(file, lineno, col,
                              absl::StrCat("Invalid host pattern '", pattern,
                                           "' supplied, '---' is normally a sign this is a "
                                           "YAML file."));
          }
        }
        json vars = json::object();
        for (size_t i = 1; i < tokens->size(); ++i) {
          const std::string& t = (*tokens)[i];
          size_t eq = t.find('=');
          if (eq == std::string::npos) {
            return ParseError(
                file, lineno, col,
                absl::StrCat("Expected key=value host variable assignment, got: ", t));
          }
          vars[t.substr(0, eq)] = IniValue(t.substr(eq + 1));
        }
        if (absl::Status st = AddHostsWithVars(*hosts, group, port, vars); !st.ok()) {
          return ParseError(file, lineno, col, std::string(st.message()));
        }
      } else if (state == "vars") {
        size_t eq = line.find('=');
        if (eq == std::string::npos) {
          return ParseError(file, lineno, col, absl::StrCat("Expected key=value, got: ", line));
        }
        std::string k = Trim(line.substr(0, eq));
        std::string v = Trim(line.substr(eq + 1));
        SetGroupVar(group, k, IniValue(v));
      } else {  // children
        if (line.size() > kMaxIniRegexLine || !std::regex_match(line, m, groupname_re)) {
          return ParseError(file, lineno, col, absl::StrCat("Expected group name, got: ", line));
        }
        std::string child = m[1].str();
        if (!inv_->HasGroup(child)) {
          auto it = pending.find(child);
          if (it == pending.end()) {
            pending[child] = Pending{lineno, "children", {group}};
            pending_order.push_back(child);
          } else {
            it->second.parents.push_back(group);
          }
        } else {
          RETURN_IF_ERROR(inv_->AddChild(group, child, absl::StrCat(file, ":", lineno, ":", col)));
        }
      }
    }
    for (const std::string& g : pending_order) {
      auto it = pending.find(g);
      if (it == pending.end()) continue;
      if (it->second.state == "vars") {
        return ParseError(
            file, it->second.line, 1,
            absl::StrCat("Section [", g, ":vars] not valid for undefined group: ", g));
      }
      return ParseError(file, it->second.line, 1,
                        absl::StrCat("Section [", it->second.parents.back(),
                                     ":children] includes undefined group: ", g));
    }
    return absl::OkStatus();
  }

  absl::Status AddPendingChildren(const std::string& group, std::map<std::string, Pending>* pending,
                                  const std::string& file) {
    std::vector<std::string> parents = (*pending)[group].parents;
    int line = (*pending)[group].line;
    for (const std::string& parent : parents) {
      RETURN_IF_ERROR(inv_->AddChild(parent, group, absl::StrCat(file, ":", line, ":1")));
      auto it = pending->find(parent);
      if (it != pending->end() && it->second.state == "children") {
        RETURN_IF_ERROR(AddPendingChildren(parent, pending, file));
      }
    }
    pending->erase(group);
    return absl::OkStatus();
  }

  static std::string Trim(const std::string& s) {
    size_t b = s.find_first_not_of(" \t\r\f\v\n");
    if (b == std::string::npos) return "";
    size_t e = s.find_last_not_of(" \t\r\f\v\n");
    return s.substr(b, e - b + 1);
  }

  // --- shared ---------------------------------------------------------------------------------

  void AddHostWithVars(const std::string& host, const std::string& group, int port,
                       const json& vars) {
    bool is_new = !inv_->HasHost(host);
    InventoryHost& h = inv_->EnsureHost(host);
    // Host(name, port) sets ansible_port only when the host is created.
    if (port >= 0 && is_new) h.vars["ansible_port"] = port;
    inv_->AddHostToGroup(group, host);
    for (auto& [k, v] : vars.items()) h.vars[k] = v;
  }

  // Adds one line's hosts. Past the limits (distinct hosts, or host lines after expansion, which
  // bounds the work of a file that repeats one large range) the inventory is refused.
  absl::Status AddHostsWithVars(const std::vector<std::string>& hosts, const std::string& group,
                                int port, const json& vars) {
    const InventoryLimits& limits = inv_->limits_;
    inv_->host_entries_ += hosts.size();
    if (inv_->host_entries_ > limits.max_host_entries) {
      return absl::InvalidArgumentError(absl::StrCat(
          "inventory lists more than ", limits.max_host_entries, " hosts (counting repeats)"));
    }
    for (const std::string& h : hosts) AddHostWithVars(h, group, port, vars);
    if (inv_->hosts_.size() > limits.max_hosts) {
      return absl::InvalidArgumentError(
          absl::StrCat("inventory has more than ", limits.max_hosts, " hosts"));
    }
    return absl::OkStatus();
  }

  void SetGroupVar(const std::string& group, const std::string& key, const json& value) {
    InventoryGroup& g = inv_->EnsureGroup(group);
    if (key == "ansible_group_priority") {
      // Ansible keeps the priority out of the group's variables.
      if (value.is_number_integer()) {
        g.priority = value.get<int>();
      } else if (value.is_string()) {
        try {
          g.priority = std::stoi(value.get<std::string>());
        } catch (const std::exception&) {
        }
      }
      return;
    }
    g.vars[key] = value;
  }

  // --- YAML -----------------------------------------------------------------------------------

  absl::Status ParseYamlInventory(const YAML::Node& root, const std::string& file) {
    for (const auto& kv : root) {
      std::string name;
      RETURN_IF_ERROR(GroupKey(kv.first, file, &name));
      std::string ignored;
      RETURN_IF_ERROR(ParseYamlGroup(name, kv.second, file, 0, &ignored));
    }
    return absl::OkStatus();
  }

  absl::Status GroupKey(const YAML::Node& key, const std::string& file, std::string* name) {
    if (!key.IsScalar() || key.Scalar().empty()) {
      return ErrorAt(PosOf(file, key), "Invalid group name supplied, expected a string");
    }
    *name = key.Scalar();
    return absl::OkStatus();
  }

  // Returns in *added the group name (empty when the data was skipped, as Ansible warns).
  absl::Status ParseYamlGroup(const std::string& group, const YAML::Node& data,
                              const std::string& file, int depth, std::string* added) {
    added->clear();
    if (depth > 100) return ErrorAt(PosOf(file, data), "group nesting is too deep");
    if (!(data.IsMap() || data.IsNull())) return absl::OkStatus();  // Ansible: warning, skip
    inv_->EnsureGroup(group);
    *added = group;
    if (data.IsNull()) return absl::OkStatus();
    for (const char* section : {"vars", "children", "hosts"}) {
      YAML::Node s = data[section];
      if (s && !(s.IsMap() || s.IsNull() || s.IsScalar())) {
        return ErrorAt(PosOf(file, s),
                       absl::StrCat("Invalid \"", section, "\" entry for \"", group,
                                    "\" group, requires a dictionary, found \"",
                                    s.IsSequence() ? "list" : "scalar", "\" instead."));
      }
    }
    for (const auto& kv : data) {
      if (!kv.first.IsScalar()) continue;
      const std::string key = kv.first.Scalar();
      const YAML::Node& value = kv.second;
      // A plain string section value means {value: None}.
      if (value.IsScalar() && (key == "vars" || key == "children" || key == "hosts")) {
        if (key == "vars") {
          // Ansible turns `vars: name` into {name: None}.
          SetGroupVar(group, value.Scalar(), json(nullptr));
          continue;
        }
        if (key == "children") {
          std::string child;
          RETURN_IF_ERROR(ParseYamlGroup(value.Scalar(), YAML::Node(YAML::NodeType::Null), file,
                                         depth + 1, &child));
          RETURN_IF_ERROR(inv_->AddChild(group, child, PosOf(file, value).ToString()));
        } else {
          RETURN_IF_ERROR(AddYamlHost(group, value, YAML::Node(YAML::NodeType::Null), file));
        }
        continue;
      }
      if (!(value.IsMap() || value.IsNull())) continue;  // Ansible: warning, skip
      if (value.IsNull()) continue;
      if (key == "vars") {
        for (const auto& v : value) {
          if (!v.first.IsScalar()) return ErrorAt(PosOf(file, v.first), "bad variable name");
          ASSIGN_OR_RETURN(json j, YamlToJson(v.second, file));
          SetGroupVar(group, v.first.Scalar(), j);
        }
      } else if (key == "children") {
        for (const auto& c : value) {
          std::string child_name;
          RETURN_IF_ERROR(GroupKey(c.first, file, &child_name));
          std::string child;
          RETURN_IF_ERROR(ParseYamlGroup(child_name, c.second, file, depth + 1, &child));
          // Ansible adds the edge even for skipped data (the name comes back unchanged).
          if (child.empty()) {
            if (!inv_->HasGroup(child_name)) {
              return ErrorAt(PosOf(file, c.first),
                             absl::StrCat(child_name, " is not a known host nor group"));
            }
            child = child_name;
          }
          RETURN_IF_ERROR(inv_->AddChild(group, child, PosOf(file, c.first).ToString()));
        }
      } else if (key == "hosts") {
        for (const auto& h : value) {
          RETURN_IF_ERROR(AddYamlHost(group, h.first, h.second, file));
        }
      }
      // Other keys: Ansible warns and skips them.
    }
    return absl::OkStatus();
  }

  absl::Status AddYamlHost(const std::string& group, const YAML::Node& key, const YAML::Node& vars,
                           const std::string& file) {
    if (!key.IsScalar() || (IsPlainScalar(key) && !ResolvePlainScalar(key.Scalar()).is_string())) {
      return ErrorAt(
          PosOf(file, key),
          absl::StrCat("Host pattern ", key.IsScalar() ? key.Scalar() : "",
                       " must be a string. Enclose integers/floats in quotation marks."));
    }
    int port = -1;
    auto hosts = ExpandHostPattern(key.Scalar(), &port, inv_->limits_.max_hosts);
    if (!hosts.ok()) {
      return ErrorAt(PosOf(file, key), absl::StrCat("bad host pattern '", key.Scalar(),
                                                    "': ", hosts.status().message()));
    }
    json j = json::object();
    if (vars && !vars.IsNull()) {
      if (!vars.IsMap()) {
        return ErrorAt(PosOf(file, vars),
                       "Invalid data from file, expected dictionary for host variables");
      }
      ASSIGN_OR_RETURN(j, YamlToJson(vars, file));
    }
    if (absl::Status st = AddHostsWithVars(*hosts, group, port, j); !st.ok()) {
      return ErrorAt(PosOf(file, key), std::string(st.message()));
    }
    return absl::OkStatus();
  }

  Inventory* inv_;
};

// ---------------------------------------------------------------------------------------------

Inventory::Inventory() {
  EnsureGroup("all");
  EnsureGroup("ungrouped");
  groups_["all"].children.push_back("ungrouped");
  groups_["ungrouped"].parents.push_back("all");
}

InventoryGroup& Inventory::EnsureGroup(const std::string& name) {
  auto it = groups_.find(name);
  if (it != groups_.end()) return it->second;
  group_order_.push_back(name);
  InventoryGroup& g = groups_[name];
  g.name = name;
  return g;
}

InventoryHost& Inventory::EnsureHost(const std::string& name) {
  auto it = hosts_.find(name);
  if (it != hosts_.end()) return it->second;
  host_order_.push_back(name);
  InventoryHost& h = hosts_[name];
  h.name = name;
  return h;
}

absl::Status Inventory::AddChild(const std::string& parent, const std::string& child,
                                 const std::string& where) {
  if (parent == child) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": can't add group to itself: ", child));
  }
  InventoryGroup& p = EnsureGroup(parent);
  if (std::find(p.children.begin(), p.children.end(), child) != p.children.end()) {
    return absl::OkStatus();
  }
  // Refuse cycles: parent must not be a descendant of child.
  std::vector<std::string> stack = {child};
  std::set<std::string> seen;
  while (!stack.empty()) {
    std::string g = stack.back();
    stack.pop_back();
    if (g == parent) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": Adding group '", child,
                                                     "' as child to '", parent,
                                                     "' creates a recursive dependency loop."));
    }
    if (!seen.insert(g).second) continue;
    auto it = groups_.find(g);
    if (it != groups_.end()) {
      for (const auto& c : it->second.children) stack.push_back(c);
    }
  }
  groups_[parent].children.push_back(child);
  EnsureGroup(child).parents.push_back(parent);
  return absl::OkStatus();
}

void Inventory::AddHostToGroup(const std::string& group, const std::string& host) {
  InventoryGroup& g = EnsureGroup(group);
  // Membership is checked on the host's side: a host is in a few groups, while a group can hold
  // a range of 100000 hosts, so checking the group's list made a large range quadratic.
  std::vector<std::string>& host_groups = hosts_[host].groups;
  if (std::find(host_groups.begin(), host_groups.end(), group) != host_groups.end()) return;
  g.hosts.push_back(host);
  host_groups.push_back(group);
}

void Inventory::RemoveHostFromGroup(const std::string& group, const std::string& host) {
  auto& gh = groups_[group].hosts;
  gh.erase(std::remove(gh.begin(), gh.end(), host), gh.end());
  auto& hg = hosts_[host].groups;
  hg.erase(std::remove(hg.begin(), hg.end(), group), hg.end());
}

void Inventory::Reconcile() {
  for (const std::string& name : group_order_) {
    if (name != "all" && groups_[name].parents.empty()) {
      groups_["all"].children.push_back(name);
      groups_[name].parents.push_back("all");
    }
  }
  // Hosts that left `ungrouped` are erased from its list in one pass at the end, not one by one.
  std::set<std::string> leave_ungrouped;
  for (const std::string& name : host_order_) {
    InventoryHost& h = hosts_[name];
    auto ungrouped = std::find(h.groups.begin(), h.groups.end(), "ungrouped");
    if (ungrouped != h.groups.end()) {
      for (const auto& g : HostGroupsAll(name)) {
        if (g != "all" && g != "ungrouped") {
          h.groups.erase(ungrouped);
          leave_ungrouped.insert(name);
          break;
        }
      }
    } else if (!h.implicit) {
      bool only_all = true;
      for (const auto& g : h.groups) {
        if (g != "all") only_all = false;
      }
      if (only_all) AddHostToGroup("ungrouped", name);
    }
  }
  if (!leave_ungrouped.empty()) {
    auto& gh = groups_["ungrouped"].hosts;
    gh.erase(std::remove_if(gh.begin(), gh.end(),
                            [&](const std::string& h) { return leave_ungrouped.count(h) > 0; }),
             gh.end());
  }
  ComputeDepths();
}

void Inventory::ComputeDepths() {
  // Longest path from `all`; groups form a DAG (AddChild refuses cycles).
  for (auto& [name, g] : groups_) g.depth = 0;
  bool changed = true;
  for (size_t round = 0; changed && round <= groups_.size(); ++round) {
    changed = false;
    for (auto& [name, g] : groups_) {
      for (const auto& c : g.children) {
        InventoryGroup& child = groups_[c];
        if (child.depth < g.depth + 1) {
          child.depth = g.depth + 1;
          changed = true;
        }
      }
    }
  }
}

const InventoryHost* Inventory::FindHost(const std::string& name) const {
  auto it = hosts_.find(name);
  return it == hosts_.end() ? nullptr : &it->second;
}

const InventoryGroup* Inventory::FindGroup(const std::string& name) const {
  auto it = groups_.find(name);
  return it == groups_.end() ? nullptr : &it->second;
}

std::vector<std::string> Inventory::GroupNames() const { return group_order_; }

std::vector<std::string> Inventory::GroupHosts(const std::string& group) const {
  std::vector<std::string> out;
  auto top = groups_.find(group);
  if (top == groups_.end()) return out;
  // Group._get_hosts: the group, its children, then breadth-first further down.
  std::vector<std::string> ordered = {group};
  for (const auto& c : top->second.children) ordered.push_back(c);
  std::set<std::string> seen = {group};
  std::vector<std::string> level = top->second.children;
  while (!level.empty()) {
    for (const auto& g : level) seen.insert(g);
    std::vector<std::string> next;
    std::set<std::string> next_set;
    for (const auto& g : level) {
      for (const auto& c : groups_.at(g).children) {
        if (!seen.count(c) && next_set.insert(c).second) {
          next.push_back(c);
          ordered.push_back(c);
        }
      }
    }
    level = std::move(next);
  }
  std::set<std::string> host_seen;
  for (const auto& g : ordered) {
    for (const auto& h : groups_.at(g).hosts) {
      if (!host_seen.insert(h).second) continue;
      if (group == "all" && hosts_.at(h).implicit) continue;
      out.push_back(h);
    }
  }
  return out;
}

std::vector<std::string> Inventory::Hosts() const { return GroupHosts("all"); }

std::vector<std::string> Inventory::HostGroupsAll(const std::string& host) const {
  std::set<std::string> out;
  auto it = hosts_.find(host);
  if (it == hosts_.end()) return {};
  std::vector<std::string> stack = it->second.groups;
  while (!stack.empty()) {
    std::string g = stack.back();
    stack.pop_back();
    if (!out.insert(g).second) continue;
    for (const auto& p : groups_.at(g).parents) stack.push_back(p);
  }
  return std::vector<std::string>(out.begin(), out.end());
}

std::vector<std::string> Inventory::GroupNamesOf(const std::string& host) const {
  std::vector<std::string> out;
  for (auto& g : HostGroupsAll(host)) {
    if (g != "all") out.push_back(g);
  }
  return out;
}

std::vector<std::string> Inventory::SortedGroupsOf(const std::string& host) const {
  std::vector<std::string> groups = GroupNamesOf(host);
  std::sort(groups.begin(), groups.end(), [this](const std::string& a, const std::string& b) {
    const InventoryGroup& ga = groups_.at(a);
    const InventoryGroup& gb = groups_.at(b);
    if (ga.depth != gb.depth) return ga.depth < gb.depth;
    if (ga.priority != gb.priority) return ga.priority < gb.priority;
    return a < b;
  });
  return groups;
}

namespace {

// host_group_vars: DIR/NAME (a file, or a directory walked in sorted order), NAME.yml,
// NAME.yaml, NAME.json; later files override earlier ones key by key.
void CollectDirVarsFiles(const std::string& dir, std::vector<std::string>* out, int depth) {
  if (depth > 20) return;
  for (const std::string& n : ListDir(dir)) {
    if (n[0] == '.' || EndsWith(n, "~")) continue;
    std::string full = dir + "/" + n;
    std::string ext = Extension(n);
    if (IsDirectory(full) && ext.empty()) {
      CollectDirVarsFiles(full, out, depth + 1);
    } else if (IsRegularFile(full) &&
               (ext.empty() || ext == ".yml" || ext == ".yaml" || ext == ".json")) {
      out->push_back(full);
    }
  }
}

absl::StatusOr<json> LoadEntityVars(const std::string& dir, const std::string& name) {
  json merged = json::object();
  if (name.empty() || name[0] == '/') return merged;
  std::vector<std::string> files;
  for (const char* ext : {"", ".yml", ".yaml", ".json"}) {
    std::string path = absl::StrCat(dir, "/", name, ext);
    if (IsDirectory(path)) {
      CollectDirVarsFiles(path, &files, 0);
    } else if (IsRegularFile(path)) {
      files.push_back(path);
    }
  }
  for (const std::string& f : files) {
    ASSIGN_OR_RETURN(json vars, LoadVarsFile(f));
    for (auto& [k, v] : vars.items()) merged[k] = v;
  }
  return merged;
}

}  // namespace

absl::Status Inventory::LoadVarsDirEntries(VarsDir* vd) const {
  std::string gdir = vd->dir + "/group_vars";
  std::string hdir = vd->dir + "/host_vars";
  if (IsDirectory(gdir)) {
    for (const std::string& g : group_order_) {
      if (vd->group_vars.count(g)) continue;
      ASSIGN_OR_RETURN(json v, LoadEntityVars(gdir, g));
      vd->group_vars[g] = std::move(v);
    }
  }
  if (IsDirectory(hdir)) {
    std::vector<std::string> names = host_order_;
    for (const char* l : {"localhost", "127.0.0.1", "::1"}) names.push_back(l);
    for (const std::string& h : names) {
      if (vd->host_vars.count(h)) continue;
      ASSIGN_OR_RETURN(json v, LoadEntityVars(hdir, h));
      vd->host_vars[h] = std::move(v);
    }
  }
  return absl::OkStatus();
}

absl::Status Inventory::LoadAllVarsDirs() {
  for (auto& vd : inventory_dirs_) RETURN_IF_ERROR(LoadVarsDirEntries(&vd));
  for (auto& vd : playbook_dirs_) RETURN_IF_ERROR(LoadVarsDirEntries(&vd));
  return absl::OkStatus();
}

namespace {

constexpr size_t kMaxInventoryBytes = 16u << 20;

bool IgnoredInDirectory(const std::string& name) {
  if (name.empty() || name[0] == '.') return true;
  if (name == "host_vars" || name == "group_vars" || name == "vars_plugins") return true;
  for (const char* ext : {".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst",
                          ".orig", ".ini", ".cfg", ".retry"}) {
    if (EndsWith(name, ext)) return true;
  }
  return false;
}

absl::Status ParseSourcePath(InventoryParser* parser, const std::string& path, int depth) {
  if (depth > 10) return absl::InvalidArgumentError(path + ": inventory directories nest too deep");
  if (IsDirectory(path)) {
    for (const std::string& n : ListDir(path)) {
      if (IgnoredInDirectory(n)) continue;
      RETURN_IF_ERROR(ParseSourcePath(parser, path + "/" + n, depth + 1));
    }
    return absl::OkStatus();
  }
  // Executable files would be dynamic inventory scripts, which a controller must not run.
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat(path, ": inventory source not found"));
  }
  if (depth > 0 && (st.st_mode & 0111) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ":1:1: executable inventory scripts are not supported"));
  }
  ASSIGN_OR_RETURN(std::string text, ReadFile(path, kMaxInventoryBytes));
  return parser->ParseText(text, path);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Inventory>> Inventory::Load(const std::vector<std::string>& sources,
                                                           const std::string& playbook_dir) {
  std::unique_ptr<Inventory> inv(new Inventory());
  InventoryParser parser(inv.get());
  for (const std::string& src : sources) {
    RETURN_IF_ERROR(ParseSourcePath(&parser, src, 0));
    VarsDir vd;
    vd.dir = RealPath(IsDirectory(src) ? src : DirName(src));
    inv->inventory_dirs_.push_back(std::move(vd));
  }
  if (!playbook_dir.empty()) {
    VarsDir vd;
    vd.dir = RealPath(playbook_dir);
    inv->playbook_dirs_.push_back(std::move(vd));
  }
  inv->Reconcile();
  RETURN_IF_ERROR(inv->LoadAllVarsDirs());
  return inv;
}

absl::StatusOr<std::unique_ptr<Inventory>> Inventory::FromString(const std::string& text,
                                                                 const std::string& name,
                                                                 const InventoryLimits& limits) {
  std::unique_ptr<Inventory> inv(new Inventory());
  inv->limits_ = limits;
  InventoryParser parser(inv.get());
  RETURN_IF_ERROR(parser.ParseText(text, name));
  inv->Reconcile();
  return inv;
}

InventoryHost Inventory::ImplicitLocalhost(const std::string& name) const {
  InventoryHost h;
  h.name = name;
  h.implicit = true;
  h.vars["ansible_connection"] = "local";
  return h;
}

absl::StatusOr<json> Inventory::HostVars(const std::string& host) const {
  InventoryHost implicit;
  const InventoryHost* h = FindHost(host);
  if (h == nullptr) {
    if (!IsLocalhostName(host)) return absl::NotFoundError(absl::StrCat("no such host: ", host));
    implicit = ImplicitLocalhost(host);
    h = &implicit;
  }
  json out = json::object();
  auto merge = [&out](const json& vars) {
    for (auto& [k, v] : vars.items()) out[k] = v;
  };
  auto dir_group = [&merge](const VarsDir& vd, const std::string& g) {
    auto it = vd.group_vars.find(g);
    if (it != vd.group_vars.end()) merge(it->second);
  };
  std::vector<std::string> groups = h->implicit ? std::vector<std::string>{} : SortedGroupsOf(host);
  // VARIABLE_PRECEDENCE's default order, then host vars.
  merge(groups_.at("all").vars);
  for (const auto& g : groups) merge(groups_.at(g).vars);
  for (const auto& vd : inventory_dirs_) dir_group(vd, "all");
  for (const auto& vd : playbook_dirs_) dir_group(vd, "all");
  for (const auto& vd : inventory_dirs_) {
    for (const auto& g : groups) dir_group(vd, g);
  }
  for (const auto& vd : playbook_dirs_) {
    for (const auto& g : groups) dir_group(vd, g);
  }
  merge(h->vars);
  for (const auto* dirs : {&inventory_dirs_, &playbook_dirs_}) {
    for (const auto& vd : *dirs) {
      auto it = vd.host_vars.find(host);
      if (it != vd.host_vars.end()) merge(it->second);
    }
  }
  return out;
}

absl::Status Inventory::AddHost(const std::string& host) {
  if (host.empty()) return absl::InvalidArgumentError("empty host name");
  if (HasHost(host)) return absl::OkStatus();
  EnsureHost(host);
  AddHostToGroup("ungrouped", host);
  return LoadAllVarsDirs();
}

absl::Status Inventory::AddAgentGroups(const std::string& host,
                                       const std::vector<std::string>& groups,
                                       bool add_missing_host) {
  if (!HasHost(host)) {
    if (!add_missing_host) return absl::NotFoundError(absl::StrCat("no such host: ", host));
    EnsureHost(host);
  }
  for (const std::string& g : groups) {
    if (g.empty()) return absl::InvalidArgumentError("empty group name");
    if (g == "all" || g == "ungrouped") continue;
    bool is_new = !HasGroup(g);
    EnsureGroup(g);
    if (is_new) RETURN_IF_ERROR(AddChild("all", g, "agent group"));
    AddHostToGroup(g, host);
  }
  // Re-run Ansible's reconcile rules for this host: a grouped host leaves `ungrouped`.
  InventoryHost& h = hosts_[host];
  bool has_real_group = false;
  for (const auto& g : h.groups) {
    if (g != "all" && g != "ungrouped") has_real_group = true;
  }
  if (has_real_group) {
    RemoveHostFromGroup("ungrouped", host);
  } else if (h.groups.empty()) {
    AddHostToGroup("ungrouped", host);
  }
  ComputeDepths();
  return LoadAllVarsDirs();
}

Universe Inventory::GetUniverse() const {
  Universe u;
  u.hosts = Hosts();
  for (const auto& g : group_order_) u.groups[g] = GroupHosts(g);
  for (const char* name : {"localhost", "127.0.0.1", "::1"}) {
    if (!HasHost(name)) u.implicit_hosts.push_back(name);
  }
  return u;
}

absl::StatusOr<json> Inventory::ToListJson() const {
  json out = json::object();
  std::set<std::string> seen;
  // cli/inventory.py json_inventory: direct hosts and children, empty groups dropped.
  std::function<void(const std::string&)> format = [&](const std::string& name) {
    const InventoryGroup& g = groups_.at(name);
    json entry = json::object();
    if (name != "all") {
      json hosts = json::array();
      for (const auto& h : g.hosts) {
        if (!hosts_.at(h).implicit) hosts.push_back(h);
      }
      if (!hosts.empty()) entry["hosts"] = hosts;
    }
    json children = json::array();
    for (const auto& c : g.children) {
      children.push_back(c);
      if (!seen.count(c)) {
        format(c);
        seen.insert(c);
      }
    }
    if (!children.empty()) entry["children"] = children;
    if (!entry.empty()) out[name] = entry;
  };
  format("all");
  json hostvars = json::object();
  for (const auto& h : Hosts()) {
    ASSIGN_OR_RETURN(json v, HostVars(h));
    if (!v.empty()) hostvars[h] = v;
  }
  out["_meta"]["hostvars"] = hostvars;
  return out;
}

}  // namespace tachyon::rollout
