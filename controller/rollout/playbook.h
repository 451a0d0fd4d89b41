#pragma once

// Ansible playbooks loaded into a data model for the rollout engine: plays, tasks (module
// detection as Ansible's ModArgsParser does it), blocks, handlers, roles, and the static
// imports (import_playbook, import_tasks, import_role) resolved at load time. Keyword values
// stay raw JSON (templating happens at run time), each with its source position so that run
// time errors can name FILE:LINE:COLUMN too. docs/PLAYBOOKS.md describes what is accepted.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "controller/rollout/yaml_util.h"
#include "nlohmann/json.hpp"

namespace tachyon::rollout {

// A keyword's value as written (YAML converted to JSON, nothing templated) and where.
struct Keyword {
  nlohmann::json value;
  SourcePos pos;
};

// Something accepted but not acted upon (become*, collections, ...), for the engine to print.
struct LoadNote {
  SourcePos pos;
  std::string message;
};

enum class TaskKind {
  kAction,        // a module or controller action
  kBlock,         // block/rescue/always, and resolved import_tasks/import_role
  kIncludeTasks,  // dynamic: the engine loads the file at run time (LoadTaskFile)
  kIncludeRole,   // dynamic: the engine loads the role at run time (LoadRole)
};

struct Task {
  TaskKind kind = TaskKind::kAction;
  SourcePos pos;                  // the task's mapping
  std::string file;               // the file the task was read from
  std::string name;               // as written (may hold a template); empty if none
  std::string action;             // short module name: "command", "debug", "include_tasks", ...
  std::string action_as_written;  // "ansible.builtin.command"
  SourcePos action_pos;           // the module key (or the action:/local_action: value)
  SourcePos args_pos;             // the module's arguments, for errors about them
  // Structured module arguments: the mapping form, with `args:` merged underneath.
  nlohmann::json args = nlohmann::json::object();
  // Free-form arguments exactly as written (`command: ls -l chdir=/tmp`, `copy: src=a dest=b`,
  // `action: shell echo hi`). The engine parses them (kv_args.h ParseModuleArgs) after
  // templating; keys in `args` override keys parsed from here, as in Ansible.
  std::optional<std::string> raw_args;
  // Every other keyword present (when, loop, register, until, notify, delegate_to, ...), by
  // name. `with_<lookup>` loops are stored under their own name. `local_action` adds
  // delegate_to: localhost.
  std::map<std::string, Keyword> keywords;
  // For kBlock.
  std::vector<Task> block, rescue, always;
  // Set on tasks that came from a role (index into Playbook::roles) and on resolved imports.
  int role_index = -1;
  std::string imported_from;  // for a block made by import_tasks/import_role: the target
  bool is_handler = false;

  bool Has(const std::string& keyword) const { return keywords.count(keyword) > 0; }
  const Keyword* Get(const std::string& keyword) const;
};

struct Role {
  std::string name;
  std::string path;                                    // the role directory
  nlohmann::json defaults = nlohmann::json::object();  // defaults/main.yml
  nlohmann::json vars = nlohmann::json::object();      // vars/main.yml
  std::vector<Task> tasks;                             // tasks/main.yml (or tasks_from)
  std::vector<Task> handlers;                          // handlers/main.yml
  std::string files_dir;                               // empty when the role has none
  std::string templates_dir;                           // empty when the role has none
  // (path, *_from) of this load: LoadRole reuses a role already loaded the same way, so
  // include_role in a loop does not grow Playbook::roles.
  std::string load_key;
};

// An entry of a play's `roles:`.
struct RoleRef {
  SourcePos pos;
  int role_index = -1;                               // into Playbook::roles
  nlohmann::json params = nlohmann::json::object();  // role parameters (`- role: x` + params)
  std::map<std::string, Keyword> keywords;           // when, tags, vars, become, ...
};

struct VarsFileRef {
  nlohmann::json entry;  // a file name (maybe templated) or a list: first one found wins
  SourcePos pos;
};

struct Play {
  SourcePos pos;
  std::string file;      // the playbook file the play is in
  std::string base_dir;  // its directory: relative paths and roles/ are resolved here
  std::string name;
  Keyword hosts;
  nlohmann::json vars = nlohmann::json::object();
  std::vector<VarsFileRef> vars_files;
  std::vector<RoleRef> roles;
  std::vector<Task> pre_tasks, tasks, post_tasks, handlers;
  // gather_facts, serial, strategy, order, max_fail_percentage, any_errors_fatal,
  // force_handlers, environment, tags, check_mode, diff, ignore_errors, ignore_unreachable,
  // throttle, run_once, no_log, timeout, connection, ... as written.
  std::map<std::string, Keyword> keywords;

  const Keyword* Get(const std::string& keyword) const;
};

struct LoadOptions {
  // How deep import_playbook/import_tasks/import_role may nest.
  int max_import_depth = 32;
  // Used only to add a hint to "conflicting action statements" when one of the keys is
  // neither a keyword nor a known module (likely a typo); nullptr means IsKnownModule.
  std::function<bool(const std::string&)> is_known_module;
};

struct Playbook {
  std::string path;
  std::vector<Play> plays;
  std::vector<Role> roles;  // every role loaded, referenced by index
  std::vector<LoadNote> notes;
};

// Loads a playbook file with its imports and roles.
absl::StatusOr<Playbook> LoadPlaybook(const std::string& path, const LoadOptions& options = {});

// Where a dynamic include happens, so that relative paths resolve as Ansible does.
struct IncludeContext {
  std::string including_file;  // the file holding the include_tasks task
  std::string play_base_dir;
  std::string role_path;  // when the include is inside a role
  bool handlers = false;  // loading into a play's handlers
};

// Resolves an include_tasks/import_tasks file name: absolute; role tasks/ dir; the including
// file's directory; the play's base dir. NotFound names every place tried.
absl::StatusOr<std::string> ResolveTaskFile(const std::string& name, const IncludeContext& ctx);

// Loads a task file (a YAML list of tasks) for include_tasks at run time. Roles found by
// import_role/include_role inside are appended to `playbook->roles`; notes to its notes.
absl::StatusOr<std::vector<Task>> LoadTaskFile(const std::string& path, const IncludeContext& ctx,
                                               Playbook* playbook, const LoadOptions& options = {});

// Loads a role for include_role at run time (import_role and play roles are loaded already).
// Returns its index in playbook->roles; `tasks_from`/`handlers_from`/`vars_from`/
// `defaults_from` default to "main".
struct RoleLoadSpec {
  std::string name;
  std::string tasks_from = "main";
  std::string handlers_from = "main";
  std::string vars_from = "main";
  std::string defaults_from = "main";
};
absl::StatusOr<int> LoadRole(const RoleLoadSpec& spec, const std::string& play_base_dir,
                             const SourcePos& referenced_at, Playbook* playbook,
                             const LoadOptions& options = {});

// "ansible.builtin.copy" / "ansible.legacy.copy" -> "copy"; other names unchanged.
std::string NormalizeModuleName(const std::string& name);

// The modules and controller actions tachyon knows (short names). A hook for the engine's
// "couldn't resolve module/action" check; loading never fails on an unknown module.
bool IsKnownModule(const std::string& short_name);

// The `with_<lookup>` loops the engine implements (items, list, dict, sequence, together,
// indexed_items, nested).
bool IsSupportedWithLookup(const std::string& lookup);

}  // namespace tachyon::rollout
