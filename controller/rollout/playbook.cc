#include "controller/rollout/playbook.h"

#include <sys/stat.h>

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/fs.h"
#include "common/status.h"

namespace tachyon::rollout {

using nlohmann::json;

namespace {

// Keywords every playable object has (Ansible 2.14 Base, Conditional, Taggable, Become,
// CollectionSearch).
const std::set<std::string>& BaseKeywords() {
  static const std::set<std::string> k = {"name",
                                          "connection",
                                          "port",
                                          "remote_user",
                                          "vars",
                                          "module_defaults",
                                          "environment",
                                          "no_log",
                                          "run_once",
                                          "ignore_errors",
                                          "ignore_unreachable",
                                          "check_mode",
                                          "diff",
                                          "any_errors_fatal",
                                          "throttle",
                                          "timeout",
                                          "debugger",
                                          "become",
                                          "become_exe",
                                          "become_flags",
                                          "become_method",
                                          "become_user",
                                          "collections",
                                          "tags",
                                          "when"};
  return k;
}

const std::set<std::string>& TaskOnlyKeywords() {
  static const std::set<std::string> k = {
      "action",       "args",           "async",        "changed_when",
      "delay",        "delegate_facts", "delegate_to",  "failed_when",
      "local_action", "loop",           "loop_control", "notify",
      "poll",         "register",       "retries",      "until"};
  return k;
}

bool IsTaskKeyword(const std::string& k, bool handler) {
  return BaseKeywords().count(k) || TaskOnlyKeywords().count(k) || (handler && k == "listen");
}

bool IsBlockKeyword(const std::string& k) {
  static const std::set<std::string> extra = {"block",       "rescue",         "always",
                                              "delegate_to", "delegate_facts", "notify"};
  return BaseKeywords().count(k) || extra.count(k);
}

bool IsPlayKeyword(const std::string& k) {
  static const std::set<std::string> extra = {
      "hosts", "gather_facts", "gather_subset", "gather_timeout", "fact_path", "vars_files",
      "vars_prompt", "roles", "handlers", "pre_tasks", "post_tasks", "tasks", "force_handlers",
      "max_fail_percentage", "serial", "strategy", "order",
      // tachyon's extension (docs/ROLLOUTS.md); ansible-playbook rejects it ("not a valid
      // attribute for a Play"), so a gated playbook never runs unguarded by mistake.
      "tachyon_gate"};
  return (BaseKeywords().count(k) && k != "when") || extra.count(k);
}

bool IsRoleRefKeyword(const std::string& k) {
  return BaseKeywords().count(k) || k == "role" || k == "delegate_to" || k == "delegate_facts";
}

// Accepted so that existing playbooks load, but tachyon does not act on them: agents run
// jobs as their own user, and modules are resolved by short name.
bool IsIgnoredKeyword(const std::string& k) {
  return k == "become" || k == "become_exe" || k == "become_flags" || k == "become_method" ||
         k == "become_user" || k == "collections" || k == "debugger";
}

std::string Why(const std::string& k) {
  if (k.rfind("become", 0) == 0) {
    return absl::StrCat("'", k, "' is accepted and ignored: agents run jobs as their own user");
  }
  return absl::StrCat("'", k, "' is accepted and ignored");
}

std::string DirName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (!name.empty() && name[0] == '/') return name;
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

bool IsTemplated(const std::string& s) {
  return s.find("{{") != std::string::npos || s.find("{%") != std::string::npos;
}

std::string ScalarText(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

const char* TypeName(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "dict";
    case YAML::NodeType::Sequence:
      return "list";
    case YAML::NodeType::Null:
      return "NoneType";
    default:
      return "str";
  }
}

// Splits "module rest of args" (the action:/local_action: string form).
void SplitActionString(const std::string& s, std::string* module, std::string* rest) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) {
    module->clear();
    rest->clear();
    return;
  }
  size_t e = s.find_first_of(" \t\r\n", b);
  *module = s.substr(b, e == std::string::npos ? std::string::npos : e - b);
  if (e == std::string::npos) {
    rest->clear();
    return;
  }
  size_t r = s.find_first_not_of(" \t\r\n", e);
  *rest = r == std::string::npos ? "" : s.substr(r);
}

class Loader {
 public:
  Loader(Playbook* pb, const LoadOptions& options) : pb_(pb), options_(options) {}

  struct Ctx {
    std::string file;
    std::string base_dir;   // the play's directory
    std::string role_path;  // inside a role
    int role_index = -1;
    bool handlers = false;
    int depth = 0;
    std::vector<std::string> chain;  // files being imported, for cycle detection
  };

  absl::Status LoadPlaybookFile(const std::string& path, int depth, std::vector<std::string> chain,
                                const json* import_vars, const Keyword* import_tags) {
    if (depth > options_.max_import_depth) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":1:1: import_playbook nests deeper than ", options_.max_import_depth, " levels"));
    }
    for (const auto& c : chain) {
      if (c == path) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ":1:1: import_playbook cycle: ", absl::StrJoin(chain, " -> "), " -> ", path));
      }
    }
    chain.push_back(path);
    if (!IsRegularFile(path)) {
      return absl::NotFoundError(absl::StrCat("the playbook: ", path, " could not be found"));
    }
    ASSIGN_OR_RETURN(YAML::Node root, LoadYamlFile(path));
    if (root.IsNull() || (root.IsSequence() && root.size() == 0)) {
      return ErrorAt(PosOf(path, root), "Empty playbook, nothing to do");
    }
    if (!root.IsSequence()) {
      return ErrorAt(PosOf(path, root), absl::StrCat("A playbook must be a list of plays, got a ",
                                                     TypeName(root), " instead"));
    }
    std::string base_dir = DirName(path);
    for (const YAML::Node& entry : root) {
      if (!entry.IsMap()) {
        return ErrorAt(PosOf(path, entry),
                       "playbook entries must be either valid plays or 'import_playbook' "
                       "statements");
      }
      if (entry["import_playbook"] || entry["include"]) {
        RETURN_IF_ERROR(
            ImportPlaybook(entry, path, base_dir, depth, chain, import_vars, import_tags));
        continue;
      }
      size_t first = pb_->plays.size();
      RETURN_IF_ERROR(ParsePlay(entry, path, base_dir));
      for (size_t i = first; i < pb_->plays.size(); ++i) {
        ApplyImportKeywords(&pb_->plays[i], import_vars, import_tags);
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<Task>> LoadTasksFromFile(const std::string& path, Ctx ctx) {
    if (ctx.depth > options_.max_import_depth) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":1:1: imports nest deeper than ",
                                                     options_.max_import_depth, " levels"));
    }
    for (const auto& c : ctx.chain) {
      if (c == path) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ":1:1: import cycle: ", absl::StrJoin(ctx.chain, " -> "), " -> ", path));
      }
    }
    ctx.chain.push_back(path);
    ctx.file = path;
    ASSIGN_OR_RETURN(YAML::Node root, LoadYamlFile(path));
    return ParseTaskList(root, ctx, "tasks");
  }

  absl::StatusOr<int> LoadRoleSpec(const RoleLoadSpec& spec, const std::string& base_dir,
                                   const SourcePos& at, int depth,
                                   const std::vector<std::string>& chain) {
    if (spec.name.empty()) return ErrorAt(at, "a role needs a name");
    if (IsTemplated(spec.name)) {
      return ErrorAt(at, absl::StrCat("role name '", spec.name,
                                      "' is templated; static roles need a literal name"));
    }
    std::vector<std::string> tried;
    std::string path;
    if (spec.name.find('/') != std::string::npos) {
      tried.push_back(JoinPath(base_dir, spec.name));
    } else {
      tried.push_back(JoinPath(base_dir, "roles/" + spec.name));
      tried.push_back(JoinPath(base_dir, spec.name));
    }
    for (const auto& t : tried) {
      if (IsDirectory(t)) {
        path = t;
        break;
      }
    }
    if (path.empty()) {
      return ErrorAt(at, absl::StrCat("the role '", spec.name, "' was not found in ",
                                      absl::StrJoin(tried, ":")));
    }
    std::string key = absl::StrCat(path, "|", spec.tasks_from, "|", spec.handlers_from, "|",
                                   spec.vars_from, "|", spec.defaults_from);
    for (size_t i = 0; i < pb_->roles.size(); ++i) {
      if (pb_->roles[i].load_key == key) return static_cast<int>(i);
    }
    if (static_cast<int>(chain.size()) > options_.max_import_depth) {
      return ErrorAt(at, "roles nest too deeply");
    }
    Role role;
    role.name = spec.name;
    size_t slash = spec.name.find_last_of('/');
    if (slash != std::string::npos) role.name = spec.name.substr(slash + 1);
    role.path = path;
    role.load_key = key;
    if (IsDirectory(path + "/files")) role.files_dir = path + "/files";
    if (IsDirectory(path + "/templates")) role.templates_dir = path + "/templates";

    // Role dependencies would have to run before the role; refuse rather than skip them.
    std::string meta = FindMainFile(path + "/meta", "main");
    if (!meta.empty()) {
      ASSIGN_OR_RETURN(YAML::Node m, LoadYamlFile(meta));
      if (m.IsMap() && m["dependencies"] && m["dependencies"].IsSequence() &&
          m["dependencies"].size() > 0) {
        return ErrorAt(PosOf(meta, m["dependencies"]),
                       "role dependencies (meta/main.yml) are not supported; list the roles "
                       "in the play instead");
      }
    }
    for (auto [dir, from, out] : {std::make_tuple("defaults", spec.defaults_from, &role.defaults),
                                  std::make_tuple("vars", spec.vars_from, &role.vars)}) {
      std::string f = FindMainFile(path + "/" + dir, from);
      if (f.empty()) {
        if (from != "main") {
          return ErrorAt(at,
                         absl::StrCat("could not find ", dir, " file '", from, "' in role ", path));
        }
        continue;
      }
      ASSIGN_OR_RETURN(*out, LoadVarsFile(f));
    }
    // Reserve the index first, so that tasks of the role can refer to it.
    int index = static_cast<int>(pb_->roles.size());
    pb_->roles.push_back(role);
    for (auto [dir, from, handlers] : {std::make_tuple("tasks", spec.tasks_from, false),
                                       std::make_tuple("handlers", spec.handlers_from, true)}) {
      std::string f = FindMainFile(path + "/" + dir, from);
      if (f.empty()) {
        if (from != "main") {
          return ErrorAt(at,
                         absl::StrCat("could not find ", dir, " file '", from, "' in role ", path));
        }
        continue;
      }
      Ctx ctx;
      ctx.base_dir = base_dir;
      ctx.role_path = path;
      ctx.role_index = index;
      ctx.handlers = handlers;
      ctx.depth = static_cast<int>(chain.size()) + 1;
      ctx.chain = chain;
      ASSIGN_OR_RETURN(std::vector<Task> tasks, LoadTasksFromFile(f, ctx));
      if (handlers) {
        pb_->roles[index].handlers = std::move(tasks);
      } else {
        pb_->roles[index].tasks = std::move(tasks);
      }
    }
    return index;
  }

  absl::StatusOr<std::vector<Task>> ParseTaskList(const YAML::Node& node, const Ctx& ctx,
                                                  const std::string& what) {
    std::vector<Task> out;
    if (!node.IsDefined() || node.IsNull()) return out;
    if (!node.IsSequence()) {
      return ErrorAt(PosOf(ctx.file, node),
                     absl::StrCat("A malformed block was encountered while loading ", what,
                                  ": it should be a list or None but is a ", TypeName(node)));
    }
    for (const YAML::Node& item : node) {
      ASSIGN_OR_RETURN(Task t, ParseTask(item, ctx));
      out.push_back(std::move(t));
    }
    return out;
  }

  void Note(const SourcePos& pos, const std::string& message) {
    std::string key = pos.file + "|" + message;
    if (noted_.insert(key).second) pb_->notes.push_back(LoadNote{pos, message});
  }

  Play* current_play_ = nullptr;

 private:
  static std::string FindMainFile(const std::string& dir, const std::string& name) {
    for (const char* ext : {"", ".yml", ".yaml", ".json"}) {
      std::string p = absl::StrCat(dir, "/", name, ext);
      if (IsRegularFile(p)) return p;
    }
    return "";
  }

  absl::Status ImportPlaybook(const YAML::Node& entry, const std::string& file,
                              const std::string& base_dir, int depth,
                              const std::vector<std::string>& chain, const json* outer_vars,
                              const Keyword* outer_tags) {
    if (entry["include"]) {
      return ErrorAt(PosOf(file, entry["include"]),
                     "'include' is not supported for playbooks; use import_playbook");
    }
    const YAML::Node target = entry["import_playbook"];
    json vars = outer_vars ? *outer_vars : json::object();
    std::optional<Keyword> tags;
    std::optional<Keyword> when;
    if (outer_tags) tags = *outer_tags;
    for (const auto& kv : entry) {
      std::string k = kv.first.Scalar();
      if (k == "import_playbook") continue;
      if (k == "vars") {
        ASSIGN_OR_RETURN(json v, YamlToJson(kv.second, file));
        if (!v.is_object()) {
          return ErrorAt(PosOf(file, kv.second), "vars of import_playbook must be a dictionary");
        }
        for (auto& [vk, vv] : v.items()) vars[vk] = vv;
      } else if (k == "tags") {
        ASSIGN_OR_RETURN(json v, YamlToJson(kv.second, file));
        json merged = json::array();
        if (tags) merged = MergeTags(tags->value, json::array());
        tags = Keyword{MergeTags(merged, v), PosOf(file, kv.second)};
      } else if (k == "name") {
        continue;
      } else if (k == "when") {
        ASSIGN_OR_RETURN(json w, YamlToJson(kv.second, file));
        when = Keyword{w.is_array() ? w : json::array({w}), PosOf(file, kv.second)};
      } else {
        return ErrorAt(PosOf(file, kv.first),
                       absl::StrCat("'", k, "' is not a valid attribute for a PlaybookInclude"));
      }
    }
    if (!target.IsScalar() || target.Scalar().empty()) {
      return ErrorAt(PosOf(file, target), "import_playbook needs a file name");
    }
    if (IsTemplated(target.Scalar())) {
      return ErrorAt(PosOf(file, target),
                     "import_playbook with a templated file name is not supported");
    }
    std::string path = JoinPath(base_dir, target.Scalar());
    if (!IsRegularFile(path)) {
      return ErrorAt(PosOf(file, target),
                     absl::StrCat("the playbook: ", target.Scalar(), " could not be found"));
    }
    const json* vars_ptr = vars.empty() ? nullptr : &vars;
    const size_t first_play = pb_->plays.size();
    RETURN_IF_ERROR(LoadPlaybookFile(path, depth + 1, chain, vars_ptr, tags ? &*tags : nullptr));
    if (when) {
      // As Ansible's PlaybookInclude: the condition is prepended to every top-level task and
      // role of the imported plays (handlers excepted).
      auto prepend = [&](std::map<std::string, Keyword>* keywords) {
        json conds = when->value;
        if (auto it = keywords->find("when"); it != keywords->end()) {
          const json& own = it->second.value;
          for (const auto& c : own.is_array() ? own : json::array({own})) conds.push_back(c);
        }
        (*keywords)["when"] = Keyword{conds, when->pos};
      };
      for (size_t i = first_play; i < pb_->plays.size(); ++i) {
        Play& play = pb_->plays[i];
        for (auto* list : {&play.pre_tasks, &play.tasks, &play.post_tasks}) {
          for (Task& t : *list) prepend(&t.keywords);
        }
        for (RoleRef& r : play.roles) prepend(&r.keywords);
      }
    }
    return absl::OkStatus();
  }

  // Taggable._load_tags: a list stays; "a, b" is ["a", "b"]; anything else is an error.
  static absl::Status NormalizeTags(json* v, const SourcePos& pos) {
    if (v->is_array() || v->is_null()) return absl::OkStatus();
    if (!v->is_string()) return ErrorAt(pos, "tags must be specified as a list");
    std::string s = v->get<std::string>();
    json out = json::array();
    size_t start = 0;
    while (true) {
      size_t c = s.find(',', start);
      std::string part = s.substr(start, c == std::string::npos ? std::string::npos : c - start);
      size_t b = part.find_first_not_of(" \t\n\r");
      size_t e = part.find_last_not_of(" \t\n\r");
      out.push_back(b == std::string::npos ? "" : part.substr(b, e - b + 1));
      if (c == std::string::npos) break;
      start = c + 1;
    }
    *v = std::move(out);
    return absl::OkStatus();
  }

  static json MergeTags(const json& a, const json& b) {
    json out = json::array();
    for (const json* t : {&a, &b}) {
      if (t->is_array()) {
        for (const auto& x : *t) out.push_back(x);
      } else if (t->is_string()) {
        // "a,b" is two tags, as in Ansible.
        std::string s = t->get<std::string>();
        size_t start = 0;
        while (start <= s.size()) {
          size_t c = s.find(',', start);
          std::string part =
              s.substr(start, c == std::string::npos ? std::string::npos : c - start);
          size_t b0 = part.find_first_not_of(' ');
          size_t e0 = part.find_last_not_of(' ');
          if (b0 != std::string::npos) out.push_back(part.substr(b0, e0 - b0 + 1));
          if (c == std::string::npos) break;
          start = c + 1;
        }
      } else if (!t->is_null()) {
        out.push_back(*t);
      }
    }
    return out;
  }

  void ApplyImportKeywords(Play* play, const json* vars, const Keyword* tags) {
    if (vars != nullptr) {
      for (auto& [k, v] : vars->items()) play->vars[k] = v;
    }
    if (tags != nullptr) {
      auto it = play->keywords.find("tags");
      if (it == play->keywords.end()) {
        play->keywords["tags"] = *tags;
      } else {
        it->second.value = MergeTags(it->second.value, tags->value);
      }
    }
  }

  absl::Status ParsePlay(const YAML::Node& node, const std::string& file,
                         const std::string& base_dir) {
    Play play;
    play.pos = PosOf(file, node);
    play.file = file;
    play.base_dir = base_dir;
    for (const auto& kv : node) {
      if (!kv.first.IsScalar()) return ErrorAt(PosOf(file, kv.first), "play keys must be strings");
      const std::string k = kv.first.Scalar();
      if (!IsPlayKeyword(k)) {
        return ErrorAt(PosOf(file, kv.first),
                       absl::StrCat("'", k, "' is not a valid attribute for a Play"));
      }
      if (k == "module_defaults") {
        return ErrorAt(PosOf(file, kv.first), "module_defaults is not supported");
      }
      if (k == "vars_prompt") {
        return ErrorAt(PosOf(file, kv.first),
                       "vars_prompt is not supported: rollouts run unattended; pass the values "
                       "with -e");
      }
      if (IsIgnoredKeyword(k)) Note(PosOf(file, kv.first), Why(k));
    }
    const YAML::Node hosts = node["hosts"];
    if (!hosts || hosts.IsNull()) {
      return ErrorAt(play.pos, "the field 'hosts' is required but was not set");
    }
    ASSIGN_OR_RETURN(json hosts_json, YamlToJson(hosts, file));
    if (!(hosts_json.is_string() || hosts_json.is_array())) {
      if (hosts_json.is_number() || hosts_json.is_boolean()) {
        hosts_json = ScalarText(hosts_json);
      } else {
        return ErrorAt(PosOf(file, hosts),
                       "the field 'hosts' should be a string or a list of strings");
      }
    }
    play.hosts = Keyword{hosts_json, PosOf(file, hosts)};
    if (const YAML::Node n = node["name"]) {
      ASSIGN_OR_RETURN(json v, YamlToJson(n, file));
      play.name = v.is_null() ? "" : ScalarText(v);
    }
    if (const YAML::Node v = node["vars"]) {
      ASSIGN_OR_RETURN(play.vars, VarsBlock(v, file, "a Play"));
    }
    if (const YAML::Node vf = node["vars_files"]) {
      if (vf.IsScalar()) {
        play.vars_files.push_back(VarsFileRef{json(vf.Scalar()), PosOf(file, vf)});
      } else if (vf.IsSequence()) {
        for (const YAML::Node& e : vf) {
          ASSIGN_OR_RETURN(json j, YamlToJson(e, file));
          if (!(j.is_string() || j.is_array())) {
            return ErrorAt(PosOf(file, e), "vars_files entries must be file names or lists");
          }
          play.vars_files.push_back(VarsFileRef{j, PosOf(file, e)});
        }
      } else if (!vf.IsNull()) {
        return ErrorAt(PosOf(file, vf), "vars_files must be a list of file names");
      }
    }
    for (const auto& kv : node) {
      const std::string k = kv.first.Scalar();
      static const std::set<std::string> structural = {"hosts",      "name",       "vars",
                                                       "vars_files", "roles",      "tasks",
                                                       "pre_tasks",  "post_tasks", "handlers"};
      if (structural.count(k) || IsIgnoredKeyword(k)) continue;
      ASSIGN_OR_RETURN(json v, YamlToJson(kv.second, file));
      if (k == "tags") RETURN_IF_ERROR(NormalizeTags(&v, PosOf(file, kv.second)));
      play.keywords[k] = Keyword{std::move(v), PosOf(file, kv.second)};
    }

    pb_->plays.push_back(std::move(play));
    size_t index = pb_->plays.size() - 1;
    // Roles and imported handlers are appended to the play being built; use its index since
    // pb_->plays may grow (it cannot while this play loads, but keep the rule simple).
    auto current = [&]() -> Play& { return pb_->plays[index]; };
    current_play_ = &current();
    Ctx ctx;
    ctx.file = file;
    ctx.base_dir = base_dir;
    ctx.chain = {file};

    if (const YAML::Node roles = node["roles"]) {
      if (roles.IsSequence()) {
        for (const YAML::Node& r : roles) {
          ASSIGN_OR_RETURN(RoleRef ref, ParseRoleRef(r, file, base_dir));
          current().roles.push_back(std::move(ref));
          current_play_ = &current();
        }
      } else if (!roles.IsNull()) {
        return ErrorAt(PosOf(file, roles), "roles must be a list");
      }
    }
    for (auto [key, handlers] :
         {std::make_pair("pre_tasks", false), std::make_pair("tasks", false),
          std::make_pair("post_tasks", false), std::make_pair("handlers", true)}) {
      Ctx c = ctx;
      c.handlers = handlers;
      ASSIGN_OR_RETURN(std::vector<Task> tasks, ParseTaskList(node[key], c, key));
      current_play_ = &current();
      std::vector<Task>& dest = std::string(key) == "pre_tasks"    ? current().pre_tasks
                                : std::string(key) == "tasks"      ? current().tasks
                                : std::string(key) == "post_tasks" ? current().post_tasks
                                                                   : current().handlers;
      // Imported roles may have added handlers already; the play's own come first.
      if (handlers) {
        tasks.insert(tasks.end(), dest.begin(), dest.end());
      } else {
        tasks.insert(tasks.begin(), dest.begin(), dest.end());
      }
      dest = std::move(tasks);
    }
    current_play_ = nullptr;
    return absl::OkStatus();
  }

  absl::StatusOr<json> VarsBlock(const YAML::Node& v, const std::string& file,
                                 const std::string& what) {
    ASSIGN_OR_RETURN(json j, YamlToJson(v, file));
    if (j.is_null()) return json::object();
    if (j.is_object()) return j;
    if (j.is_array()) {
      json merged = json::object();
      for (const auto& e : j) {
        if (!e.is_object()) break;
        for (auto& [k, val] : e.items()) merged[k] = val;
      }
      bool all_objects =
          std::all_of(j.begin(), j.end(), [](const json& e) { return e.is_object(); });
      if (all_objects) return merged;
    }
    return ErrorAt(PosOf(file, v),
                   absl::StrCat("Vars in ", what,
                                " must be specified as a dictionary, or a list of dictionaries"));
  }

  absl::StatusOr<RoleRef> ParseRoleRef(const YAML::Node& r, const std::string& file,
                                       const std::string& base_dir) {
    RoleRef ref;
    ref.pos = PosOf(file, r);
    RoleLoadSpec spec;
    if (r.IsScalar()) {
      spec.name = r.Scalar();
    } else if (r.IsMap()) {
      const YAML::Node role_key = r["role"] ? r["role"] : r["name"];
      if (!role_key || !role_key.IsScalar()) {
        return ErrorAt(ref.pos, "role definitions must contain a role name");
      }
      spec.name = role_key.Scalar();
      for (const auto& kv : r) {
        const std::string k = kv.first.Scalar();
        if (k == "role" || k == "name") continue;
        if (k == "module_defaults")
          return ErrorAt(PosOf(file, kv.first), "module_defaults is not supported");
        if (IsIgnoredKeyword(k)) {
          Note(PosOf(file, kv.first), Why(k));
          continue;
        }
        ASSIGN_OR_RETURN(json v, YamlToJson(kv.second, file));
        if (IsRoleRefKeyword(k)) {
          if (k == "vars" && !(v.is_object() || v.is_null())) {
            return ErrorAt(PosOf(file, kv.second), "role vars must be a dictionary");
          }
          if (k == "tags") RETURN_IF_ERROR(NormalizeTags(&v, PosOf(file, kv.second)));
          ref.keywords[k] = Keyword{std::move(v), PosOf(file, kv.second)};
        } else {
          ref.params[k] = std::move(v);  // role parameters, like `- role: x` + `port: 80`
        }
      }
    } else {
      return ErrorAt(ref.pos, "role entries must be a name or a dictionary");
    }
    ASSIGN_OR_RETURN(ref.role_index, LoadRoleSpec(spec, base_dir, ref.pos, 1, {file}));
    return ref;
  }

  // --- tasks ----------------------------------------------------------------------------------

  absl::StatusOr<Task> ParseTask(const YAML::Node& node, const Ctx& ctx) {
    if (!node.IsMap()) {
      return ErrorAt(PosOf(ctx.file, node),
                     absl::StrCat("A task must be a dictionary, got a ", TypeName(node)));
    }
    if (node["block"] || node["rescue"] || node["always"]) return ParseBlock(node, ctx);

    Task task;
    task.pos = PosOf(ctx.file, node);
    task.file = ctx.file;
    task.role_index = ctx.role_index;
    task.is_handler = ctx.handlers;

    std::vector<YAML::Node> candidates;
    std::string loop_key;
    for (const auto& kv : node) {
      if (!kv.first.IsScalar()) {
        return ErrorAt(PosOf(ctx.file, kv.first), "task keys must be strings");
      }
      const std::string k = kv.first.Scalar();
      SourcePos kpos = PosOf(ctx.file, kv.first);
      if (k == "include") {
        return ErrorAt(kpos, "'include' is not supported; use include_tasks or import_tasks");
      }
      if (k.rfind("with_", 0) == 0) {
        std::string lookup = k.substr(5);
        if (!IsSupportedWithLookup(lookup)) {
          return ErrorAt(kpos, absl::StrCat("'", k, "' is not supported (lookup '", lookup,
                                            "'); use loop with a filter instead"));
        }
      }
      if (k == "loop" || k.rfind("with_", 0) == 0) {
        // The same key twice is a duplicate YAML key: the last one wins, as in Ansible (which
        // only warns), and as for every other keyword below.
        if (!loop_key.empty() && loop_key != k) {
          // Ansible names the with_ lookup: "duplicate loop in task: items".
          // (One of the two is a with_ key: they differ and only one can be `loop`.)
          std::string with = k.rfind("with_", 0) == 0 ? k : loop_key;
          return ErrorAt(kpos, absl::StrCat("duplicate loop in task: ", with.substr(5)));
        }
        loop_key = k;
      }
      if (k == "listen" && !ctx.handlers) {
        return ErrorAt(kpos, "'listen' is not a valid attribute for a Task");
      }
      if (IsTaskKeyword(k, ctx.handlers) || k.rfind("with_", 0) == 0) continue;
      candidates.push_back(kv.first);
    }

    // action: / local_action:
    const YAML::Node action_node = node["action"];
    const YAML::Node local_node = node["local_action"];
    if (action_node && local_node) {
      return ErrorAt(PosOf(ctx.file, local_node), "action and local_action are mutually exclusive");
    }
    const YAML::Node thing = action_node ? action_node : local_node;
    auto known = [this](const std::string& m) {
      std::string s = NormalizeModuleName(m);
      return options_.is_known_module ? options_.is_known_module(s) : IsKnownModule(s);
    };
    // Ansible takes action:/local_action: first, then every other key in order; a second
    // one is a conflict, whatever it is (a misspelt keyword included, as in ansible-core 2.14).
    auto conflict = [&](const std::string& first, const YAML::Node& second) {
      std::string msg =
          absl::StrCat("conflicting action statements: ", first, ", ", second.Scalar());
      if (!known(second.Scalar())) {
        absl::StrAppend(&msg, " ('", second.Scalar(),
                        "' is neither a task keyword nor a known module)");
      }
      return ErrorAt(PosOf(ctx.file, second), msg);
    };
    if (thing) {
      RETURN_IF_ERROR(ActionThing(thing, ctx, &task));
      if (!candidates.empty()) return conflict(task.action_as_written, candidates[0]);
      if (local_node) {
        task.keywords["delegate_to"] = Keyword{json("localhost"), PosOf(ctx.file, local_node)};
      }
    } else {
      if (candidates.empty()) {
        return ErrorAt(task.pos, "no module/action detected in task.");
      }
      if (candidates.size() > 1) return conflict(candidates[0].Scalar(), candidates[1]);
      const YAML::Node& module_key = candidates[0];
      task.action_as_written = module_key.Scalar();
      task.action = NormalizeModuleName(task.action_as_written);
      task.action_pos = PosOf(ctx.file, module_key);
      RETURN_IF_ERROR(ModuleArgs(node[module_key.Scalar()], ctx, &task));
    }
    if (task.action.empty()) return ErrorAt(task.pos, "no module/action detected in task.");

    // Keywords.
    for (const auto& kv : node) {
      const std::string k = kv.first.Scalar();
      if (!(IsTaskKeyword(k, ctx.handlers) || k.rfind("with_", 0) == 0)) continue;
      if (k == "action" || k == "local_action") continue;
      SourcePos kpos = PosOf(ctx.file, kv.first);
      if (k == "module_defaults") return ErrorAt(kpos, "module_defaults is not supported");
      if (IsIgnoredKeyword(k)) {
        Note(kpos, Why(k));
        continue;
      }
      ASSIGN_OR_RETURN(json v, YamlToJson(kv.second, ctx.file));
      if (k == "name") {
        task.name = v.is_null() ? "" : ScalarText(v);
        continue;
      }
      if (k == "args") {
        if (v.is_object()) {
          // Arguments given on the module line win over `args:`.
          for (auto& [ak, av] : v.items()) {
            if (!task.args.contains(ak)) task.args[ak] = av;
          }
          continue;
        }
        if (!v.is_null() && !v.is_string()) {
          return ErrorAt(PosOf(ctx.file, kv.second), "args must be a dictionary");
        }
      }
      RETURN_IF_ERROR(CheckTaskKeyword(k, v, PosOf(ctx.file, kv.second), kv.second, ctx));
      task.keywords[k] = Keyword{std::move(v), PosOf(ctx.file, kv.second)};
    }

    // Ansible's own argument renames (playbook/task.py, task_include.py), so the engine sees
    // what Ansible's would: `cmd` is `_raw_params` for command/shell/script, and `file` is
    // `_raw_params` for include_tasks/import_tasks.
    if ((task.action == "command" || task.action == "shell" || task.action == "script") &&
        task.args.contains("cmd")) {
      bool has_raw = task.raw_args.has_value() ||
                     (task.args.contains("_raw_params") && task.args["_raw_params"] != "");
      if (has_raw) {
        return ErrorAt(task.args_pos,
                       "The 'cmd' argument cannot be used when other raw parameters are "
                       "specified. Please put everything in one or the other place.");
      }
      task.args["_raw_params"] = task.args["cmd"];
      task.args.erase("cmd");
    }
    if ((task.action == "include_tasks" || task.action == "import_tasks") &&
        task.args.contains("file") &&
        (!task.args.contains("_raw_params") || task.args["_raw_params"] == "")) {
      task.args["_raw_params"] = task.args["file"];
      task.args.erase("file");
    }

    // Includes and imports.
    const std::string& a = task.action;
    if (a == "include_tasks") {
      task.kind = TaskKind::kIncludeTasks;
      if (!task.raw_args && !task.args.contains("_raw_params")) {
        return ErrorAt(task.action_pos, "include_tasks needs a file name");
      }
    } else if (a == "include_role") {
      task.kind = TaskKind::kIncludeRole;
      if (!task.raw_args && !task.args.contains("name")) {
        return ErrorAt(task.args_pos, "include_role needs 'name'");
      }
    } else if (a == "import_tasks") {
      return ResolveImportTasks(std::move(task), ctx);
    } else if (a == "import_role") {
      return ResolveImportRole(std::move(task), ctx);
    }
    return task;
  }

  absl::Status CheckTaskKeyword(const std::string& k, json& v, const SourcePos& pos,
                                const YAML::Node& node, const Ctx& ctx) {
    if (k == "tags") return NormalizeTags(&v, pos);
    if (k == "loop_control") {
      if (!v.is_object()) return ErrorAt(pos, "loop_control must be a dictionary");
      static const std::set<std::string> allowed = {"loop_var", "index_var", "label",
                                                    "pause",    "extended",  "extended_allitems"};
      for (const auto& kv : node) {
        if (!allowed.count(kv.first.Scalar())) {
          return ErrorAt(
              PosOf(ctx.file, kv.first),
              absl::StrCat("'", kv.first.Scalar(), "' is not a valid attribute for a LoopControl"));
        }
      }
    } else if (k == "register") {
      if (!v.is_string()) return ErrorAt(pos, "register must be a variable name");
    } else if (k == "vars") {
      if (!(v.is_object() || v.is_null())) {
        return ErrorAt(pos, "Vars in a Task must be specified as a dictionary");
      }
    } else if (k == "notify" || k == "listen") {
      if (!(v.is_string() || v.is_array())) {
        return ErrorAt(pos, absl::StrCat(k, " must be a handler name or a list of them"));
      }
    }
    return absl::OkStatus();
  }

  // The value of `module:` in a task.
  absl::Status ModuleArgs(const YAML::Node& value, const Ctx& ctx, Task* task) {
    task->args_pos = value ? PosOf(ctx.file, value) : task->action_pos;
    if (!value || value.IsNull()) return absl::OkStatus();
    if (value.IsSequence()) {
      return ErrorAt(PosOf(ctx.file, value), "unexpected parameter type in action: <class 'list'>");
    }
    if (value.IsMap()) {
      ASSIGN_OR_RETURN(task->args, YamlToJson(value, ctx.file));
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(json v, YamlToJson(value, ctx.file));
    std::string s = ScalarText(v);
    if (!s.empty()) task->raw_args = s;
    return absl::OkStatus();
  }

  // The value of `action:` or `local_action:`: "module args..." or {module: m, ...}.
  absl::Status ActionThing(const YAML::Node& thing, const Ctx& ctx, Task* task) {
    task->action_pos = PosOf(ctx.file, thing);
    task->args_pos = task->action_pos;
    if (thing.IsScalar()) {
      std::string module, rest;
      SplitActionString(thing.Scalar(), &module, &rest);
      if (module.empty()) return ErrorAt(task->action_pos, "no module/action detected in task.");
      task->action_as_written = module;
      task->action = NormalizeModuleName(module);
      if (!rest.empty()) task->raw_args = rest;
      return absl::OkStatus();
    }
    if (thing.IsMap()) {
      ASSIGN_OR_RETURN(json v, YamlToJson(thing, ctx.file));
      if (!v.contains("module") || !v["module"].is_string()) {
        return ErrorAt(task->action_pos, "no module/action detected in task.");
      }
      task->action_as_written = v["module"].get<std::string>();
      task->action = NormalizeModuleName(task->action_as_written);
      v.erase("module");
      task->args = std::move(v);
      return absl::OkStatus();
    }
    return ErrorAt(task->action_pos, "unexpected parameter type in action");
  }

  absl::StatusOr<Task> ParseBlock(const YAML::Node& node, const Ctx& ctx) {
    Task block;
    block.kind = TaskKind::kBlock;
    block.pos = PosOf(ctx.file, node);
    block.file = ctx.file;
    block.role_index = ctx.role_index;
    block.is_handler = ctx.handlers;
    block.action = "block";
    for (const auto& kv : node) {
      const std::string k = kv.first.Scalar();
      SourcePos kpos = PosOf(ctx.file, kv.first);
      if (!IsBlockKeyword(k)) {
        return ErrorAt(kpos, absl::StrCat("'", k, "' is not a valid attribute for a Block"));
      }
      if (k == "module_defaults") return ErrorAt(kpos, "module_defaults is not supported");
      if (IsIgnoredKeyword(k)) {
        Note(kpos, Why(k));
        continue;
      }
      if (k == "block" || k == "rescue" || k == "always") {
        ASSIGN_OR_RETURN(std::vector<Task> tasks, ParseTaskList(kv.second, ctx, k));
        (k == "block"    ? block.block
         : k == "rescue" ? block.rescue
                         : block.always) = std::move(tasks);
        continue;
      }
      ASSIGN_OR_RETURN(json v, YamlToJson(kv.second, ctx.file));
      if (k == "name") {
        block.name = v.is_null() ? "" : ScalarText(v);
        continue;
      }
      RETURN_IF_ERROR(CheckTaskKeyword(k, v, PosOf(ctx.file, kv.second), kv.second, ctx));
      block.keywords[k] = Keyword{std::move(v), PosOf(ctx.file, kv.second)};
    }
    return block;
  }

  // An import becomes a block: its keywords (when, tags, vars, ...) apply to every imported
  // task, as Ansible makes the import the parent of what it imports.
  absl::Status ImportToBlock(Task* task, const char* what) {
    for (const char* bad : {"loop", "with_items", "with_list", "with_dict", "with_sequence",
                            "with_together", "with_indexed_items", "with_nested"}) {
      if (task->Has(bad)) {
        return ErrorAt(
            task->Get(bad)->pos,
            absl::StrCat("You cannot use loops on '", what, "' statements. You should use '",
                         std::string(what) == "import_tasks" ? "include_tasks" : "include_role",
                         "' instead."));
      }
    }
    for (auto it = task->keywords.begin(); it != task->keywords.end();) {
      if (!IsBlockKeyword(it->first)) {
        return ErrorAt(it->second.pos, absl::StrCat("'", it->first, "' cannot be used on ", what,
                                                    " (it is not a block keyword)"));
      }
      ++it;
    }
    task->kind = TaskKind::kBlock;
    return absl::OkStatus();
  }

  absl::StatusOr<Task> ResolveImportTasks(Task task, const Ctx& ctx) {
    std::string name;
    if (task.raw_args) {
      name = *task.raw_args;
    } else if (task.args.contains("_raw_params") && task.args["_raw_params"].is_string()) {
      name = task.args["_raw_params"].get<std::string>();
    }
    if (name.empty()) return ErrorAt(task.args_pos, "import_tasks needs a file name");
    if (IsTemplated(name)) {
      return ErrorAt(task.args_pos,
                     absl::StrCat("import_tasks: '", name,
                                  "' is templated; static imports need a literal file name (use "
                                  "include_tasks for a dynamic one)"));
    }
    RETURN_IF_ERROR(ImportToBlock(&task, "import_tasks"));
    IncludeContext ic;
    ic.including_file = ctx.file;
    ic.play_base_dir = ctx.base_dir;
    ic.role_path = ctx.role_path;
    auto path = ResolveTaskFile(name, ic);
    if (!path.ok()) return ErrorAt(task.args_pos, std::string(path.status().message()));
    Ctx sub = ctx;
    sub.depth = ctx.depth + 1;
    ASSIGN_OR_RETURN(task.block, LoadTasksFromFile(*path, sub));
    task.imported_from = *path;
    return task;
  }

  absl::StatusOr<Task> ResolveImportRole(Task task, const Ctx& ctx) {
    RoleLoadSpec spec;
    if (task.raw_args) {
      // `import_role: name=x tasks_from=y`: role options never need quoting.
      std::string raw = *task.raw_args;
      size_t i = 0;
      while (i < raw.size()) {
        size_t b = raw.find_first_not_of(" \t\n", i);
        if (b == std::string::npos) break;
        size_t e = raw.find_first_of(" \t\n", b);
        std::string tok = raw.substr(b, e == std::string::npos ? std::string::npos : e - b);
        size_t eq = tok.find('=');
        if (eq == std::string::npos) {
          return ErrorAt(task.args_pos, "import_role needs arguments like 'name: ROLE'");
        }
        task.args[tok.substr(0, eq)] = tok.substr(eq + 1);
        i = e == std::string::npos ? raw.size() : e;
      }
      task.raw_args.reset();
    }
    for (const auto& [k, v] : task.args.items()) {
      static const std::set<std::string> allowed = {
          "name",          "tasks_from",       "vars_from", "defaults_from",
          "handlers_from", "allow_duplicates", "public",    "rolespec_validate"};
      if (!allowed.count(k)) {
        return ErrorAt(task.args_pos, absl::StrCat("Invalid options for import_role: ", k));
      }
    }
    auto str = [&task](const char* k, std::string* out) {
      if (task.args.contains(k) && task.args[k].is_string()) *out = task.args[k].get<std::string>();
    };
    str("name", &spec.name);
    str("tasks_from", &spec.tasks_from);
    str("vars_from", &spec.vars_from);
    str("defaults_from", &spec.defaults_from);
    str("handlers_from", &spec.handlers_from);
    RETURN_IF_ERROR(ImportToBlock(&task, "import_role"));
    std::vector<std::string> chain = ctx.chain;
    ASSIGN_OR_RETURN(int index,
                     LoadRoleSpec(spec, ctx.base_dir, task.action_pos, ctx.depth + 1, chain));
    task.block = pb_->roles[index].tasks;
    task.role_index = index;
    task.imported_from = pb_->roles[index].path;
    // import_role brings the role's handlers into the play.
    if (current_play_ != nullptr) {
      const auto& hs = pb_->roles[index].handlers;
      auto& dest = current_play_->handlers;
      bool already = false;
      for (const auto& h : dest) {
        if (h.role_index == index) already = true;
      }
      if (!already) dest.insert(dest.end(), hs.begin(), hs.end());
    }
    return task;
  }

  Playbook* pb_;
  const LoadOptions& options_;
  std::set<std::string> noted_;
};

}  // namespace

const Keyword* Task::Get(const std::string& keyword) const {
  auto it = keywords.find(keyword);
  return it == keywords.end() ? nullptr : &it->second;
}

const Keyword* Play::Get(const std::string& keyword) const {
  auto it = keywords.find(keyword);
  return it == keywords.end() ? nullptr : &it->second;
}

std::string NormalizeModuleName(const std::string& name) {
  for (const char* prefix : {"ansible.builtin.", "ansible.legacy."}) {
    std::string p = prefix;
    if (name.size() > p.size() && name.compare(0, p.size(), p) == 0) return name.substr(p.size());
  }
  return name;
}

bool IsKnownModule(const std::string& short_name) {
  static const std::set<std::string> known = {
      // agent modules
      "command", "shell", "script", "raw", "copy", "template", "file", "stat", "lineinfile",
      "wait_for", "uri", "service", "systemd", "systemd_service", "package", "apt", "yum", "dnf",
      "ping", "setup",
      // controller actions
      "debug", "set_fact", "assert", "fail", "pause", "meta", "async_status", "include_vars",
      "include_tasks", "import_tasks", "include_role", "import_role", "add_host", "group_by",
      "set_stats"};
  return known.count(short_name) > 0;
}

bool IsSupportedWithLookup(const std::string& lookup) {
  return lookup == "items" || lookup == "list" || lookup == "dict" || lookup == "sequence" ||
         lookup == "together" || lookup == "indexed_items" || lookup == "nested";
}

absl::StatusOr<std::string> ResolveTaskFile(const std::string& name, const IncludeContext& ctx) {
  if (name.empty()) return absl::InvalidArgumentError("empty task file name");
  if (name[0] == '/') {
    if (IsRegularFile(name)) return name;
    return absl::NotFoundError(absl::StrCat("Could not find or access '", name, "'"));
  }
  std::vector<std::string> tried;
  if (!ctx.role_path.empty()) {
    tried.push_back(JoinPath(ctx.role_path, "tasks/" + name));
    tried.push_back(JoinPath(ctx.role_path, name));
  }
  if (!ctx.including_file.empty()) {
    std::string dir = DirName(ctx.including_file);
    tried.push_back(JoinPath(dir, name));
    tried.push_back(JoinPath(dir, "tasks/" + name));
  }
  if (!ctx.play_base_dir.empty()) {
    tried.push_back(JoinPath(ctx.play_base_dir, name));
    tried.push_back(JoinPath(ctx.play_base_dir, "tasks/" + name));
  }
  for (const auto& t : tried) {
    if (IsRegularFile(t)) return t;
  }
  std::vector<std::string> unique;
  for (const auto& t : tried) {
    if (std::find(unique.begin(), unique.end(), t) == unique.end()) unique.push_back(t);
  }
  tried = std::move(unique);
  return absl::NotFoundError(absl::StrCat("Could not find or access '", name,
                                          "'; searched: ", absl::StrJoin(tried, ", ")));
}

absl::StatusOr<Playbook> LoadPlaybook(const std::string& path, const LoadOptions& options) {
  Playbook pb;
  pb.path = path;
  Loader loader(&pb, options);
  RETURN_IF_ERROR(loader.LoadPlaybookFile(path, 0, {}, nullptr, nullptr));
  return pb;
}

absl::StatusOr<std::vector<Task>> LoadTaskFile(const std::string& path, const IncludeContext& ctx,
                                               Playbook* playbook, const LoadOptions& options) {
  Loader loader(playbook, options);
  Loader::Ctx c;
  c.file = path;
  c.base_dir = ctx.play_base_dir;
  c.role_path = ctx.role_path;
  c.handlers = ctx.handlers;
  if (!ctx.role_path.empty()) {
    for (size_t i = 0; i < playbook->roles.size(); ++i) {
      if (playbook->roles[i].path == ctx.role_path) c.role_index = static_cast<int>(i);
    }
  }
  return loader.LoadTasksFromFile(path, c);
}

absl::StatusOr<int> LoadRole(const RoleLoadSpec& spec, const std::string& play_base_dir,
                             const SourcePos& referenced_at, Playbook* playbook,
                             const LoadOptions& options) {
  Loader loader(playbook, options);
  return loader.LoadRoleSpec(spec, play_base_dir, referenced_at, 1, {});
}

}  // namespace tachyon::rollout
