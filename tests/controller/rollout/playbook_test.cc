#include "controller/rollout/playbook.h"

#include <dirent.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>
#include <set>

namespace tachyon::rollout {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::string kPlaybooks = std::string(TACHYON_ROLLOUT_TESTDATA) + "/playbooks";

// A scratch directory with files, for playbooks that must fail.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/rollout_pb_XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::system(("rm -rf " + path_).c_str()); }
  std::string Write(const std::string& name, const std::string& text) {
    std::string full = path_ + "/" + name;
    std::string dir = full.substr(0, full.find_last_of('/'));
    std::system(("mkdir -p " + dir).c_str());
    std::ofstream(full) << text;
    return full;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string LoadError(const std::string& playbook_text,
                      const std::vector<std::pair<std::string, std::string>>& extra = {}) {
  TempDir dir;
  for (const auto& [name, text] : extra) dir.Write(name, text);
  std::string path = dir.Write("play.yml", playbook_text);
  auto pb = LoadPlaybook(path);
  EXPECT_FALSE(pb.ok());
  if (pb.ok()) return "";
  // Make messages independent of the temp dir.
  std::string msg(pb.status().message());
  size_t at;
  while ((at = msg.find(dir.path() + "/")) != std::string::npos) {
    msg.erase(at, dir.path().size() + 1);
  }
  return msg;
}

Playbook MustLoad(const std::string& path) {
  auto pb = LoadPlaybook(path);
  EXPECT_TRUE(pb.ok()) << pb.status();
  return pb.ok() ? std::move(*pb) : Playbook{};
}

std::vector<std::string> SeedFiles() {
  std::vector<std::string> files;
  DIR* d = opendir((kPlaybooks + "/seed").c_str());
  if (d == nullptr) return files;
  while (struct dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n.size() > 4 && n.substr(n.size() - 4) == ".yml") files.push_back(n);
  }
  closedir(d);
  std::sort(files.begin(), files.end());
  return files;
}

class SeedTest : public ::testing::TestWithParam<std::string> {};

// Every playbook pattern of the user's document loads, and every task has a known module.
TEST_P(SeedTest, Loads) {
  Playbook pb = MustLoad(kPlaybooks + "/seed/" + GetParam());
  ASSERT_FALSE(pb.plays.empty());
  for (const Play& play : pb.plays) {
    for (const Task& t : play.tasks) {
      EXPECT_EQ(t.kind, TaskKind::kAction);
      EXPECT_TRUE(IsKnownModule(t.action)) << t.action;
      EXPECT_THAT(t.action_as_written, StartsWith("ansible.builtin."));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Seed, SeedTest, ::testing::ValuesIn(SeedFiles()));

TEST(SeedTest, AllSixteenPatternsPresent) { EXPECT_EQ(SeedFiles().size(), 16u); }

TEST(SeedTest, FireAndForgetFields) {
  Playbook pb = MustLoad(kPlaybooks + "/seed/01_fire_and_forget_basic.yml");
  ASSERT_EQ(pb.plays.size(), 1u);
  const Play& p = pb.plays[0];
  EXPECT_EQ(p.name, "Async execution example");
  EXPECT_EQ(p.hosts.value, "all");
  ASSERT_EQ(p.tasks.size(), 1u);
  const Task& t = p.tasks[0];
  EXPECT_EQ(t.action, "command");
  EXPECT_EQ(t.raw_args, "/usr/bin/long_process.sh");
  EXPECT_EQ(t.Get("async")->value, 300);
  EXPECT_EQ(t.Get("poll")->value, 0);
  EXPECT_EQ(t.Get("poll")->pos.ToString(), kPlaybooks + "/seed/01_fire_and_forget_basic.yml:8:13");
  EXPECT_EQ(t.pos.line, 5);
  EXPECT_EQ(t.action_pos.line, 6);
}

TEST(SeedTest, FoldedCommandAndWhen) {
  Playbook pb = MustLoad(kPlaybooks + "/seed/03_database_backup.yml");
  const Task& t = pb.plays[0].tasks[0];
  EXPECT_EQ(*t.raw_args,
            "pg_dump -F c -f /backup/db_full_{{ ansible_date_time.date }}.dump production_db\n");
  EXPECT_EQ(pb.plays[0].tasks[1].Get("when")->value, "backup_result.finished");
  EXPECT_EQ(pb.plays[0].tasks[1].args, json::parse(R"({"msg": "Backup completed successfully"})"));
}

TEST(SeedTest, SerialForms) {
  Playbook pb = MustLoad(kPlaybooks + "/seed/09_serial_batches.yml");
  ASSERT_EQ(pb.plays.size(), 3u);
  EXPECT_EQ(pb.plays[0].Get("serial")->value, 2);
  EXPECT_EQ(pb.plays[1].Get("serial")->value, "25%");
  EXPECT_EQ(pb.plays[2].Get("serial")->value, json::parse(R"([1, 5, 10, "100%"])"));
  EXPECT_TRUE(pb.plays[2].tasks.empty());
}

TEST(SeedTest, LoopsAndLoopControl) {
  Playbook pb = MustLoad(kPlaybooks + "/seed/13_distributed_build.yml");
  const Task& t = pb.plays[0].tasks[0];
  EXPECT_EQ(t.Get("loop")->value.size(), 5u);
  EXPECT_EQ(t.Get("loop_control")->value["index_var"], "item_index");
  EXPECT_EQ(t.Get("run_once")->value, true);
  EXPECT_EQ(t.Get("delegate_to")->value,
            "{{ groups['build_servers'][item_index % groups['build_servers']|length] }}");
  Playbook pb8 = MustLoad(kPlaybooks + "/seed/08_batch_processing.yml");
  EXPECT_EQ(pb8.plays[0].tasks[0].Get("loop")->value, "{{ range(1, 101) | list }}");
  EXPECT_EQ(pb8.plays[0].tasks[1].Get("until")->value, "job_results.finished");
  EXPECT_EQ(pb8.plays[0].tasks[1].Get("retries")->value, 120);
}

TEST(SeedTest, YesIsBoolean) {
  Playbook pb = MustLoad(kPlaybooks + "/seed/15_handle_failures.yml");
  EXPECT_EQ(pb.plays[0].tasks[0].Get("ignore_errors")->value, true);
  Playbook pb16 = MustLoad(kPlaybooks + "/seed/16_common_issues.yml");
  EXPECT_EQ(pb16.plays[0].tasks[0].Get("check_mode")->value, true);
}

const Task* FindTask(const std::vector<Task>& tasks, const std::string& name) {
  for (const Task& t : tasks) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

TEST(PlaybookTest, FullPlaybook) {
  std::string dir = kPlaybooks + "/full";
  Playbook pb = MustLoad(dir + "/site.yml");
  ASSERT_EQ(pb.plays.size(), 2u);

  // import_playbook: plays appended, with the import's vars and tags.
  const Play& base = pb.plays[0];
  EXPECT_EQ(base.file, dir + "/more/base.yml");
  EXPECT_EQ(base.base_dir, dir + "/more");
  EXPECT_EQ(base.vars["imported"], true);
  EXPECT_EQ(base.Get("tags")->value, json::parse(R"(["base"])"));
  EXPECT_EQ(base.Get("gather_facts")->value, false);

  const Play& web = pb.plays[1];
  EXPECT_EQ(web.hosts.value, "web:&prod");
  EXPECT_EQ(web.vars["port"], 8080);
  for (const char* k : {"serial", "strategy", "order", "max_fail_percentage", "any_errors_fatal",
                        "force_handlers", "environment", "tags", "gather_facts"}) {
    EXPECT_NE(web.Get(k), nullptr) << k;
  }
  EXPECT_EQ(web.Get("become"), nullptr);  // ignored, with a note
  bool noted = false;
  for (const auto& n : pb.notes) {
    if (n.message.find("'become'") != std::string::npos) noted = true;
  }
  EXPECT_TRUE(noted);
  ASSERT_EQ(web.vars_files.size(), 2u);
  EXPECT_EQ(web.vars_files[0].entry, "vars/common.yml");
  EXPECT_TRUE(web.vars_files[1].entry.is_array());

  // Roles.
  ASSERT_EQ(web.roles.size(), 2u);
  const Role& role_web = pb.roles[web.roles[0].role_index];
  EXPECT_EQ(role_web.name, "web");
  EXPECT_EQ(role_web.defaults, json::parse(R"({"web_port": 80, "web_user": "www"})"));
  EXPECT_EQ(role_web.vars, json::parse(R"({"web_user": "nginx"})"));
  EXPECT_EQ(role_web.files_dir, dir + "/roles/web/files");
  EXPECT_EQ(role_web.templates_dir, dir + "/roles/web/templates");
  ASSERT_EQ(role_web.tasks.size(), 2u);
  EXPECT_EQ(role_web.tasks[0].action, "template");
  EXPECT_EQ(role_web.tasks[0].role_index, web.roles[0].role_index);
  EXPECT_EQ(role_web.tasks[1].kind, TaskKind::kBlock);  // import_tasks sub.yml
  EXPECT_EQ(role_web.tasks[1].block[0].name, "web sub task");
  ASSERT_EQ(role_web.handlers.size(), 1u);
  const RoleRef& db_ref = web.roles[1];
  EXPECT_EQ(pb.roles[db_ref.role_index].name, "db");
  EXPECT_EQ(db_ref.keywords.at("vars").value["db_port"], 5432);
  EXPECT_EQ(db_ref.keywords.at("when").value, "with_db | default(false)");
  EXPECT_EQ(db_ref.params["custom_param"], 1);

  ASSERT_EQ(web.pre_tasks.size(), 1u);
  EXPECT_EQ(web.pre_tasks[0].raw_args, "msg=hello");
  EXPECT_EQ(web.post_tasks.size(), 1u);

  const auto& tasks = web.tasks;
  const Task* ff = FindTask(tasks, "Free-form command");
  ASSERT_NE(ff, nullptr);
  EXPECT_EQ(ff->action, "command");
  EXPECT_EQ(ff->raw_args, "ls -l chdir=/tmp");
  EXPECT_EQ(ff->args, json::parse(R"({"creates": "/tmp/x"})"));
  EXPECT_EQ(FindTask(tasks, "Legacy FQCN")->action, "shell");
  EXPECT_EQ(tasks[2].action, "shell");
  EXPECT_EQ(tasks[2].raw_args, "echo from action");
  EXPECT_EQ(tasks[3].action, "command");
  EXPECT_EQ(tasks[3].Get("delegate_to")->value, "localhost");
  EXPECT_EQ(tasks[4].action, "copy");
  EXPECT_EQ(tasks[4].args, json::parse(R"({"content": "hi", "dest": "/tmp/hi"})"));

  const Task* block = FindTask(tasks, "A block");
  ASSERT_NE(block, nullptr);
  EXPECT_EQ(block->kind, TaskKind::kBlock);
  EXPECT_EQ(block->block.size(), 1u);
  EXPECT_EQ(block->rescue.size(), 1u);
  EXPECT_EQ(block->always.size(), 1u);
  EXPECT_EQ(block->block[0].Get("notify")->value, "restart web");
  EXPECT_EQ(block->Get("when")->value, "port == 8080");

  // import_tasks: a block carrying the import's keywords, nested imports resolved.
  const Task& imp = tasks[6];
  EXPECT_EQ(imp.kind, TaskKind::kBlock);
  EXPECT_EQ(imp.action, "import_tasks");
  EXPECT_EQ(imp.imported_from, dir + "/tasks/common.yml");
  EXPECT_EQ(imp.Get("vars")->value["from_import"], 1);
  EXPECT_EQ(imp.Get("when")->value, true);
  ASSERT_EQ(imp.block.size(), 2u);
  EXPECT_EQ(imp.block[1].kind, TaskKind::kBlock);
  EXPECT_EQ(imp.block[1].block[0].name, "nested");
  EXPECT_EQ(imp.block[1].block[0].file, dir + "/tasks/nested.yml");

  // include_tasks stays dynamic.
  const Task& inc = tasks[7];
  EXPECT_EQ(inc.kind, TaskKind::kIncludeTasks);
  EXPECT_EQ(inc.raw_args, "tasks/common.yml");
  EXPECT_EQ(inc.Get("loop_control")->value["loop_var"], "outer");

  const Task& irole = tasks[8];
  EXPECT_EQ(irole.kind, TaskKind::kBlock);
  ASSERT_EQ(irole.block.size(), 1u);
  EXPECT_EQ(irole.block[0].name, "db extra");
  EXPECT_EQ(tasks[9].kind, TaskKind::kIncludeRole);
  EXPECT_EQ(tasks[9].args["name"], "web");

  EXPECT_EQ(FindTask(tasks, "With items")->Get("with_items")->value, json::parse(R"(["a","b"])"));
  EXPECT_EQ(FindTask(tasks, "Sequence")->Get("with_sequence")->value, "start=1 end=3");
  const Task* all = FindTask(tasks, "Everything");
  ASSERT_NE(all, nullptr);
  for (const char* k : {"register",
                        "until",
                        "retries",
                        "delay",
                        "ignore_errors",
                        "failed_when",
                        "changed_when",
                        "check_mode",
                        "diff",
                        "no_log",
                        "delegate_to",
                        "delegate_facts",
                        "run_once",
                        "throttle",
                        "timeout",
                        "any_errors_fatal",
                        "ignore_unreachable",
                        "tags",
                        "vars",
                        "environment",
                        "loop_control",
                        "loop",
                        "async",
                        "poll"}) {
    EXPECT_TRUE(all->Has(k)) << k;
  }
  EXPECT_FALSE(all->Has("become_user"));
  const Task& ping = tasks[13];
  EXPECT_EQ(ping.action, "ping");
  EXPECT_TRUE(ping.args.empty());
  EXPECT_FALSE(ping.raw_args.has_value());
  EXPECT_EQ(tasks[14].action, "meta");

  // Handlers: the play's own, then those of imported roles; listen kept.
  ASSERT_GE(web.handlers.size(), 1u);
  EXPECT_EQ(web.handlers[0].name, "restart web");
  EXPECT_TRUE(web.handlers[0].is_handler);
  EXPECT_EQ(web.handlers[0].Get("listen")->value, "web restarts");
}

TEST(PlaybookTest, DynamicIncludeAtRunTime) {
  std::string dir = kPlaybooks + "/full";
  Playbook pb = MustLoad(dir + "/site.yml");
  const Play& web = pb.plays[1];
  IncludeContext ctx;
  ctx.including_file = web.file;
  ctx.play_base_dir = web.base_dir;
  auto path = ResolveTaskFile("tasks/common.yml", ctx);
  ASSERT_TRUE(path.ok()) << path.status();
  auto tasks = LoadTaskFile(*path, ctx, &pb);
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  EXPECT_EQ(tasks->size(), 2u);
  EXPECT_FALSE(ResolveTaskFile("nope.yml", ctx).ok());
  RoleLoadSpec spec;
  spec.name = "web";
  auto idx = LoadRole(spec, web.base_dir, web.pos, &pb);
  ASSERT_TRUE(idx.ok()) << idx.status();
  EXPECT_EQ(pb.roles[*idx].tasks.size(), 2u);
  // Loading the same role again (include_role in a loop) reuses it.
  size_t roles = pb.roles.size();
  auto again = LoadRole(spec, web.base_dir, web.pos, &pb);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *idx);
  EXPECT_EQ(pb.roles.size(), roles);
}

// The playbooks Ansible rejects (playbook_oracle.sh checks that) we reject too, with
// the same wording where EXPECTED gives one.
TEST(PlaybookErrorsTest, RejectsWhatAnsibleRejects) {
  std::ifstream in(kPlaybooks + "/invalid/EXPECTED");
  std::string line;
  int cases = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t tab = line.find('\t');
    ASSERT_NE(tab, std::string::npos) << line;
    std::string file = line.substr(0, tab);
    std::string want = line.substr(tab + 1);
    std::string path = kPlaybooks + "/invalid/" + file;
    auto pb = LoadPlaybook(path);
    ASSERT_FALSE(pb.ok()) << file;
    std::string msg(pb.status().message());
    EXPECT_THAT(msg, HasSubstr(want)) << file;
    EXPECT_THAT(msg, StartsWith(path + ":")) << file;  // every error has a position
    ++cases;
  }
  EXPECT_GE(cases, 20);
}

// --- Differential: what ansible-core 2.14 makes of the same playbooks (playbook_oracle.py).

json OracleTaskJson(const Task& t) {
  json out;
  out["action"] = t.action_as_written;
  out["name"] = t.name;
  if (!t.raw_args) out["args"] = t.args;  // free-form text is parsed by the engine, later
  json kw = json::object();
  static const std::set<std::string> compared = {
      "register", "poll",   "loop",       "delegate_to",   "retries",      "delay",
      "run_once", "until",  "when",       "ignore_errors", "notify",       "tags",
      "throttle", "no_log", "check_mode", "listen",        "changed_when", "failed_when"};
  for (const auto& [k, v] : t.keywords) {
    json value = v.value;
    std::string name = k;
    if (k == "async") {
      name = "async_val";
    } else if (k.rfind("with_", 0) == 0) {
      kw["loop_with"] = k.substr(5);
      name = "loop";
    } else if (k == "loop_control") {
      json lc = json::object();
      for (const char* f : {"loop_var", "index_var", "label", "pause", "extended"}) {
        if (value.contains(f) && !value[f].is_null()) lc[f] = value[f];
      }
      kw["loop_control"] = lc;
      continue;
    } else if (!compared.count(k)) {
      continue;
    }
    // Ansible loads these two as lists.
    if ((k == "changed_when" || k == "failed_when") && !value.is_array()) {
      value = json::array({value});
    }
    if (value.is_null() || (value.is_array() && value.empty())) continue;
    kw[name] = value;
  }
  out["keywords"] = kw;
  return out;
}

void OracleLeaves(const std::vector<Task>& tasks, json* out) {
  for (const Task& t : tasks) {
    if (t.kind == TaskKind::kBlock) {
      OracleLeaves(t.block, out);
      OracleLeaves(t.rescue, out);
      OracleLeaves(t.always, out);
    } else {
      out->push_back(OracleTaskJson(t));
    }
  }
}

json OracleModel(const Playbook& pb) {
  json plays = json::array();
  for (const Play& p : pb.plays) {
    json tasks = json::array();
    OracleLeaves(p.pre_tasks, &tasks);
    for (const RoleRef& r : p.roles) OracleLeaves(pb.roles[r.role_index].tasks, &tasks);
    OracleLeaves(p.tasks, &tasks);
    OracleLeaves(p.post_tasks, &tasks);
    json handlers = json::array();
    OracleLeaves(p.handlers, &handlers);
    plays.push_back({{"name", p.name}, {"tasks", tasks}, {"handlers", handlers}});
  }
  return plays;
}

std::vector<std::string> OracleFiles() {
  std::vector<std::string> files;
  DIR* d = opendir((kPlaybooks + "/oracle").c_str());
  if (d == nullptr) return files;
  while (struct dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n.size() > 5 && n.substr(n.size() - 5) == ".json") files.push_back(n);
  }
  closedir(d);
  std::sort(files.begin(), files.end());
  return files;
}

class OracleModelTest : public ::testing::TestWithParam<std::string> {};

TEST_P(OracleModelTest, MatchesAnsible) {
  // oracle/seed_01_x.json <- seed/01_x.yml; oracle/full_site.json <- full/site.yml.
  std::string name = GetParam().substr(0, GetParam().size() - 5);
  size_t us = name.find('_');
  std::string path = kPlaybooks + "/" + name.substr(0, us) + "/" + name.substr(us + 1) + ".yml";
  Playbook pb = MustLoad(path);
  std::ifstream in(kPlaybooks + "/oracle/" + GetParam());
  json expected = json::parse(in);
  json ours = OracleModel(pb);
  // Where we keep free-form text unparsed there is nothing to compare args with.
  for (size_t p = 0; p < expected.size() && p < ours.size(); ++p) {
    for (const char* list : {"tasks", "handlers"}) {
      json& e = expected[p][list];
      const json& o = ours[p][list];
      for (size_t i = 0; i < e.size() && i < o.size(); ++i) {
        if (!o[i].contains("args")) e[i].erase("args");
      }
    }
  }
  EXPECT_EQ(ours.dump(2), expected.dump(2));
}

INSTANTIATE_TEST_SUITE_P(Oracle, OracleModelTest, ::testing::ValuesIn(OracleFiles()));

TEST(OracleModelTest, CoversSeedAndFull) { EXPECT_EQ(OracleFiles().size(), 18u); }

TEST(PlaybookTest, UnknownModulesLoad) {
  Playbook pb = MustLoad(kPlaybooks + "/unknown_module.yml");
  ASSERT_EQ(pb.plays[0].tasks.size(), 2u);
  EXPECT_EQ(pb.plays[0].tasks[0].action, "community.general.made_up");
  EXPECT_EQ(pb.plays[0].tasks[1].action, "no_such_module");
  EXPECT_FALSE(IsKnownModule(pb.plays[0].tasks[0].action));
}

TEST(PlaybookTest, NormalizeModuleName) {
  EXPECT_EQ(NormalizeModuleName("ansible.builtin.copy"), "copy");
  EXPECT_EQ(NormalizeModuleName("ansible.legacy.shell"), "shell");
  EXPECT_EQ(NormalizeModuleName("community.general.x"), "community.general.x");
  EXPECT_EQ(NormalizeModuleName("ping"), "ping");
}

TEST(PlaybookErrorsTest, YamlSyntax) {
  EXPECT_THAT(LoadError("- hosts: all\n  tasks:\n    - debug: {msg: [1, 2}\n"),
              StartsWith("play.yml:3:"));
}

TEST(PlaybookErrorsTest, Structure) {
  EXPECT_EQ(LoadError(""), "play.yml:1:1: Empty playbook, nothing to do");
  EXPECT_EQ(LoadError("hosts: all\n"),
            "play.yml:1:1: A playbook must be a list of plays, got a dict instead");
  EXPECT_EQ(LoadError("- name: x\n  tasks: []\n"),
            "play.yml:1:3: the field 'hosts' is required but was not set");
  EXPECT_EQ(LoadError("- hosts: all\n  bogus: 1\n"),
            "play.yml:2:3: 'bogus' is not a valid attribute for a Play");
  EXPECT_EQ(LoadError("- hosts: all\n  module_defaults: {}\n"),
            "play.yml:2:3: module_defaults is not supported");
  EXPECT_EQ(LoadError("- hosts: all\n  tasks:\n    debug: msg=x\n"),
            "play.yml:3:5: A malformed block was encountered while loading tasks: it should be a "
            "list or None but is a dict");
}

TEST(PlaybookErrorsTest, ModuleDetection) {
  EXPECT_EQ(LoadError("- hosts: all\n  tasks:\n    - name: nothing\n      when: x\n"),
            "play.yml:3:7: no module/action detected in task.");
  EXPECT_EQ(LoadError("- hosts: all\n  tasks:\n    - command: ls\n      shell: ls\n"),
            "play.yml:4:7: conflicting action statements: command, shell");
  EXPECT_EQ(LoadError("- hosts: all\n  tasks:\n    - command: ls\n      regster: x\n"),
            "play.yml:4:7: conflicting action statements: command, regster ('regster' is "
            "neither a task keyword nor a known module)");
  EXPECT_EQ(LoadError("- hosts: all\n  tasks:\n    - action: shell ls\n      command: ls\n"),
            "play.yml:4:7: conflicting action statements: shell, command");
  EXPECT_EQ(LoadError("- hosts: all\n  tasks:\n    - foo: 1\n      bar: 2\n"),
            "play.yml:4:7: conflicting action statements: foo, bar ('bar' is neither a task "
            "keyword nor a known module)");
  EXPECT_EQ(LoadError("- hosts: all\n  tasks:\n    - command: [ls]\n"),
            "play.yml:3:16: unexpected parameter type in action: <class 'list'>");
  EXPECT_EQ(LoadError("- hosts: all\n  tasks:\n    - debug: msg=x\n      listen: y\n"),
            "play.yml:4:7: 'listen' is not a valid attribute for a Task");
}

// Found by the playbook fuzzer: a task with `loop` twice threw std::out_of_range. It is a
// duplicate YAML key: the last one wins, as in Ansible (which only warns).
TEST(PlaybookTest, DuplicateLoopKeyLastWins) {
  TempDir dir;
  std::string path =
      dir.Write("play.yml", "- hosts: all\n  tasks:\n    - debug: msg=x\n      loop: [1]\n"
                            "      loop: [2, 3]\n");
  Playbook pb = MustLoad(path);
  ASSERT_EQ(pb.plays.size(), 1u);
  ASSERT_EQ(pb.plays[0].tasks.size(), 1u);
  EXPECT_EQ(pb.plays[0].tasks[0].keywords.at("loop").value, nlohmann::json::parse("[2, 3]"));
}

TEST(PlaybookErrorsTest, Keywords) {
  EXPECT_EQ(LoadError("- hosts: all\n  tasks:\n    - debug: msg=x\n      with_fileglob: '*'\n"),
            "play.yml:4:7: 'with_fileglob' is not supported (lookup 'fileglob'); use loop with a "
            "filter instead");
  EXPECT_EQ(LoadError("- hosts: all\n  tasks:\n    - debug: msg=x\n      loop: [1]\n"
                      "      with_items: [2]\n"),
            "play.yml:5:7: duplicate loop in task: items");
  // Found by the playbook fuzzer (it threw std::out_of_range): `loop` twice is a duplicate YAML
  // key, and the last one wins, as in Ansible (which only warns).
  EXPECT_EQ(LoadError("- hosts: all\n  tasks:\n    - debug: msg=x\n      loop: [1]\n"
                      "      loop: [2]\n      with_items: [3]\n"),
            "play.yml:6:7: duplicate loop in task: items");
  EXPECT_EQ(LoadError("- hosts: all\n  tasks:\n    - debug: msg=x\n      loop_control:\n"
                      "        loopvar: x\n"),
            "play.yml:5:9: 'loopvar' is not a valid attribute for a LoopControl");
  EXPECT_EQ(LoadError("- hosts: all\n  tasks:\n    - block: []\n      loop: [1]\n"),
            "play.yml:4:7: 'loop' is not a valid attribute for a Block");
  EXPECT_EQ(LoadError("- hosts: all\n  tasks:\n    - include: x.yml\n"),
            "play.yml:3:7: 'include' is not supported; use include_tasks or import_tasks");
}

TEST(PlaybookErrorsTest, Imports) {
  EXPECT_THAT(LoadError("- hosts: all\n  tasks:\n    - import_tasks: missing.yml\n"),
              StartsWith("play.yml:3:21: Could not find or access 'missing.yml'"));
  EXPECT_EQ(LoadError("- hosts: all\n  tasks:\n    - import_tasks: a.yml\n      loop: [1]\n",
                      {{"a.yml", "- debug: msg=a\n"}}),
            "play.yml:4:13: You cannot use loops on 'import_tasks' statements. You should use "
            "'include_tasks' instead.");
  EXPECT_THAT(
      LoadError("- hosts: all\n  tasks:\n    - import_tasks: a.yml\n",
                {{"a.yml", "- import_tasks: b.yml\n"}, {"b.yml", "- import_tasks: a.yml\n"}}),
      HasSubstr("import cycle"));
  EXPECT_EQ(LoadError("- hosts: all\n  tasks:\n    - import_tasks: a.yml\n",
                      {{"a.yml", "- debug: msg=a\n- command: ls\n  shell: ls\n"}}),
            "a.yml:3:3: conflicting action statements: command, shell");
  EXPECT_THAT(LoadError("- import_playbook: play.yml\n"), HasSubstr("import_playbook cycle"));
  EXPECT_THAT(LoadError("- hosts: all\n  roles: [nope]\n"),
              StartsWith("play.yml:2:11: the role 'nope' was not found in roles/nope:nope"));
  EXPECT_THAT(LoadError("- hosts: all\n  tasks:\n    - import_tasks: '{{ x }}.yml'\n"),
              HasSubstr("is templated"));
}

}  // namespace
}  // namespace tachyon::rollout
