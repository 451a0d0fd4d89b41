// `tachyon run` and `tachyon rollout`: playbooks uploaded to a real controller and run on real
// agents; output, exit codes, detaching, re-attaching, and a controller restart mid-rollout.

#include <signal.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace tachyon::itest {
namespace {

int CountLines(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) ++n;
  return n;
}

class RunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.StartController());
    ASSERT_TRUE(cluster_.StartAgent("web01", {"web"}));
    ASSERT_TRUE(cluster_.StartAgent("web02", {"web"}));
  }

  std::string Path(const std::string& name) const { return cluster_.dir() + "/" + name; }

  // Writes a playbook into its own directory and returns its path.
  std::string Playbook(const std::string& text, const std::string& dir = "pb") {
    std::string path = Path(dir + "/site.yml");
    WriteFile(path, text);
    return path;
  }

  // The result events of a `-o json` run, by "host/task".
  static std::map<std::string, json> Results(const CliResult& r) {
    std::map<std::string, json> out;
    for (auto& j : r.JsonLines()) {
      if (j.value("type", "") == "result" && !j.contains("item")) {
        out[j.value("host", "") + "/" + j.value("task", "")] = j;
      }
    }
    return out;
  }

  static json Recap(const CliResult& r) {
    json recap;
    for (auto& j : r.JsonLines()) {
      if (j.value("type", "") == "recap") recap = j;
    }
    return recap;
  }

  Cluster cluster_;
};

TEST_F(RunTest, TextOutputLooksLikeAnsiblePlaybook) {
  std::string pb = Playbook(R"(
- name: greet
  hosts: web
  gather_facts: false
  tasks:
    - name: say hi
      command: echo hi {{ inventory_hostname }}
      register: out
    - name: show it
      debug:
        var: out.stdout
    - name: skip one
      command: /bin/true
      when: inventory_hostname == 'web01'
)");
  CliResult r = cluster_.Cli({"run", pb});
  EXPECT_EQ(r.rc, 0) << r;
  for (const char* want :
       {"PLAY [greet] ***", "TASK [say hi] ***", "changed: [web01]", "changed: [web02]",
        "\"out.stdout\": \"hi web02\"", "skipping: [web02]", "PLAY RECAP ***",
        "web01                      : ok=3    changed=2    unreachable=0    failed=0    "
        "skipped=0    rescued=0    ignored=0",
        "web02                      : ok=2    changed=1    unreachable=0    failed=0    "
        "skipped=1    rescued=0    ignored=0"}) {
    EXPECT_NE(r.out.find(want), std::string::npos) << "missing: " << want << "\n" << r;
  }
}

TEST_F(RunTest, JsonEventsCarryWhatRegisterHolds) {
  std::string pb = Playbook(R"(
- hosts: all
  gather_facts: false
  tasks:
    - name: cmd
      command: echo {{ inventory_hostname }}
    - name: loop
      shell: echo {{ item }}
      loop: [a, b]
    - name: async fire and forget
      command: /bin/true
      async: 30
      poll: 0
      register: job
    - name: wait for it
      async_status:
        jid: "{{ job.ansible_job_id }}"
      register: st
      until: st.finished
      retries: 20
      delay: 30
)");
  CliResult r = cluster_.Cli({"run", pb, "-o", "json"});
  ASSERT_EQ(r.rc, 0) << r;
  auto results = Results(r);
  ASSERT_TRUE(results.count("web01/cmd")) << r;
  json cmd = results["web01/cmd"];
  EXPECT_EQ(cmd.value("status", ""), "changed");
  EXPECT_EQ(cmd.value("ignored", true), false);
  EXPECT_EQ(cmd["result"].value("stdout", ""), "web01");
  EXPECT_EQ(cmd["result"].value("rc", -1), 0);
  EXPECT_FALSE(cmd["result"].contains("ansible_job_id")) << "a sync task registers no job id";

  json loop = results["web02/loop"];
  ASSERT_TRUE(loop["result"].contains("results")) << loop;
  EXPECT_EQ(loop["result"]["results"].size(), 2u);
  EXPECT_EQ(loop["result"].value("msg", ""), "All items completed");
  int items = 0;
  for (auto& j : r.JsonLines()) {
    if (j.value("type", "") == "result" && j.contains("item") && j.value("task", "") == "loop") {
      ++items;
    }
  }
  EXPECT_EQ(items, 4) << "one event per item and host";

  json started = results["web01/async fire and forget"]["result"];
  EXPECT_EQ(started.value("started", -1), 1) << started;
  EXPECT_EQ(started.value("finished", -1), 0) << started;
  std::string jid = started.value("ansible_job_id", "");
  EXPECT_NE(jid.find('.'), std::string::npos) << started;
  json waited = results["web01/wait for it"]["result"];
  EXPECT_EQ(waited.value("finished", -1), 1) << waited;
  EXPECT_EQ(waited.value("ansible_job_id", ""), jid);
  // Push, not polling: `delay: 30` did not make anyone wait 30 s (the test's bound is 60 s,
  // so a poll would fail it by timing out). Each attempt after the first is woken by one of the
  // job's state changes (started, then finished), so there are at most three.
  EXPECT_GE(waited.value("attempts", 0), 1) << waited;
  EXPECT_LE(waited.value("attempts", 0), 3) << waited;

  json recap = Recap(r);
  EXPECT_EQ(recap.value("rc", -1), 0) << r;
  EXPECT_EQ(recap["hosts"]["web01"].value("changed", -1), 4) << recap;
}

TEST_F(RunTest, ExitCodesFollowAnsiblePlaybook) {
  std::string failing = Playbook(R"(
- hosts: web
  gather_facts: false
  tasks:
    - command: /bin/false
      when: inventory_hostname == 'web02'
    - command: /bin/true
)",
                                 "fail");
  CliResult r = cluster_.Cli({"run", failing, "-o", "json"});
  EXPECT_EQ(r.rc, 2) << r;
  EXPECT_EQ(Recap(r)["hosts"]["web02"].value("failed", -1), 1) << r;
  EXPECT_EQ(Recap(r)["hosts"]["web01"].value("ok", -1), 1) << r;
  EXPECT_EQ(Recap(r)["hosts"]["web01"].value("skipped", -1), 1) << r;

  // A host in the inventory without an agent is unreachable.
  WriteFile(Path("inv/hosts.ini"), "[web]\nweb01\nweb09\n");
  std::string ok = Playbook("- hosts: web\n  gather_facts: false\n  tasks:\n    - ping:\n", "ok");
  r = cluster_.Cli({"run", ok, "-i", Path("inv/hosts.ini"), "-o", "json"});
  EXPECT_EQ(r.rc, 3) << r;
  auto results = Results(r);
  EXPECT_EQ(results["web09/ping"].value("status", ""), "unreachable") << r;
  EXPECT_EQ(results["web01/ping"].value("status", ""), "ok") << r;
}

TEST_F(RunTest, BadPlaybooksNameFileLineAndColumn) {
  std::string bad = Playbook("- hosts: all\n  tasks:\n    - command: echo\n      foo: [\n", "bad");
  CliResult r = cluster_.Cli({"run", bad});
  EXPECT_EQ(r.rc, 4) << r;
  EXPECT_NE(r.err.find(bad + ":5:1"), std::string::npos) << "the operator's path, line, column\n"
                                                         << r;

  std::string unknown =
      Playbook("- hosts: all\n  tasks:\n    - name: x\n      frobnicate: a=b\n", "unknown");
  r = cluster_.Cli({"run", unknown});
  EXPECT_EQ(r.rc, 4) << r;
  EXPECT_NE(r.err.find(unknown + ":4:7: couldn't resolve module/action 'frobnicate'"),
            std::string::npos)
      << r;

  WriteFile(Path("badinv/hosts.ini"), "[web\nweb01\n");
  std::string ok = Playbook("- hosts: all\n  tasks: []\n", "ok");
  r = cluster_.Cli({"run", ok, "-i", Path("badinv/hosts.ini")});
  EXPECT_EQ(r.rc, 4) << r;
  EXPECT_NE(r.err.find("hosts.ini:1"), std::string::npos) << r;

  r = cluster_.Cli({"run", Path("missing.yml")});
  EXPECT_EQ(r.rc, 5) << r;
  EXPECT_EQ(cluster_.Cli({"rollout", "ls", "-o", "json"}).JsonLines().size(), 0u)
      << "nothing was started";
}

TEST_F(RunTest, OversizedBundleIsRefusedClearly) {
  std::string pb = Playbook("- hosts: all\n  tasks: []\n", "big");
  WriteFile(Path("big/files/blob.bin"), std::string(8u << 20, 'x'));
  CliResult r = cluster_.Cli({"run", pb});
  EXPECT_EQ(r.rc, 5) << r;
  EXPECT_NE(r.err.find("too large to upload"), std::string::npos) << r;
}

TEST_F(RunTest, FilesTemplatesAndScriptsComeFromTheBundle) {
  WriteFile(Path("pb/templates/motd.j2"), "host {{ inventory_hostname }} says {{ word }}\n");
  WriteFile(Path("pb/files/hello.sh"), "#!/bin/sh\necho \"script $1 on $(hostname)\"\n", 0755);
  std::string out = Path("out");
  std::string pb = Playbook(R"(
- hosts: web
  gather_facts: false
  vars:
    word: hello
  tasks:
    - name: render
      template:
        src: motd.j2
        dest: )" + out + R"(/{{ inventory_hostname }}.motd
    - name: run script
      script: hello.sh arg1
      register: s
    - name: escape attempt
      template:
        src: ../../../etc/passwd
        dest: )" + out + R"(/x
      ignore_errors: true
)");
  ::mkdir(out.c_str(), 0700);
  CliResult r = cluster_.Cli({"run", pb, "-o", "json"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_EQ(ReadFile(out + "/web01.motd"), "host web01 says hello\n");
  auto results = Results(r);
  EXPECT_EQ(results["web01/render"].value("status", ""), "changed") << r;
  EXPECT_EQ(results["web01/run script"]["result"].value("stdout", "").rfind("script arg1 on", 0),
            0u)
      << r;
  json escape = results["web01/escape attempt"];
  EXPECT_EQ(escape.value("status", ""), "failed") << r;
  EXPECT_TRUE(escape.value("ignored", false));
}

TEST_F(RunTest, DetachThenSeveralWatchersSeeTheWholeStory) {
  Fifo go(Path("go"), Fifo::kToJob);
  std::string pb = Playbook(R"(
- hosts: web01
  gather_facts: false
  tasks:
    - name: first
      command: echo one
    - name: gated
      shell: read x < )" + go.path() +
                            R"(; echo $x
    - name: last
      command: echo three
)");
  CliResult d = cluster_.Cli({"run", pb, "--detach", "-o", "json"});
  ASSERT_EQ(d.rc, 0) << d;
  ASSERT_EQ(d.JsonLines().size(), 1u) << d;
  std::string id = d.JsonLines()[0].value("rollout_id", "");
  ASSERT_FALSE(id.empty()) << d;

  auto w1 = cluster_.StartCli({"rollout", "watch", id, "-o", "json"});
  auto w2 = cluster_.StartCli({"rollout", "watch", id, "-o", "json"});
  size_t c1 = 0, c2 = 0;
  auto gated_task = Contains({"\"type\":\"task\"", "\"task\":\"gated\""});
  ASSERT_TRUE(w1->WaitStdout(gated_task, &c1)) << w1->StdoutText();
  ASSERT_TRUE(w2->WaitStdout(gated_task, &c2)) << w2->StdoutText();
  CliResult show = cluster_.Cli({"rollout", "show", id, "-o", "json"});
  EXPECT_EQ(show.JsonLines().at(0).value("state", ""), "running") << show;

  go.Send("two");
  ASSERT_EQ(w1->WaitExit(), 0) << w1->StdoutText() << w1->StderrText();
  ASSERT_EQ(w2->WaitExit(), 0);
  EXPECT_EQ(w1->StdoutText(), w2->StdoutText()) << "both watchers see the same story";
  EXPECT_NE(w1->StdoutText().find("\"stdout\":\"two\""), std::string::npos) << w1->StdoutText();

  // A late watcher gets the whole story too, and returns at once.
  CliResult late = cluster_.Cli({"rollout", "watch", id, "-o", "json"});
  EXPECT_EQ(late.rc, 0);
  EXPECT_EQ(late.out, w1->StdoutText());
  show = cluster_.Cli({"rollout", "show", id, "-o", "json"});
  EXPECT_EQ(show.JsonLines().at(0).value("state", ""), "finished") << show;
  EXPECT_EQ(show.JsonLines().at(0).value("rc", -1), 0) << show;
}

TEST_F(RunTest, CtrlCDetachesAndTheRolloutGoesOn) {
  Fifo go(Path("go"), Fifo::kToJob);
  std::string pb = Playbook(R"(
- hosts: web02
  gather_facts: false
  tasks:
    - name: gated
      shell: read x < )" + go.path() +
                            R"(; echo $x
)");
  auto run = cluster_.StartCli({"run", pb, "-o", "json"});
  size_t cursor = 0;
  ASSERT_TRUE(run->WaitStdout(Contains({"\"task\":\"gated\""}), &cursor)) << run->StdoutText();
  run->Signal(SIGINT);
  EXPECT_EQ(run->WaitExit(), 0);
  EXPECT_NE(run->StderrText().find("detached"), std::string::npos) << run->StderrText();
  CliResult ls = cluster_.Cli({"rollout", "ls", "-o", "json"});
  ASSERT_EQ(ls.JsonLines().size(), 1u) << ls;
  std::string id = ls.JsonLines()[0].value("id", "");
  EXPECT_EQ(ls.JsonLines()[0].value("state", ""), "running");

  go.Send("after-detach");
  CliResult w = cluster_.Cli({"rollout", "watch", id, "-o", "json"});
  EXPECT_EQ(w.rc, 0) << w;
  EXPECT_NE(w.out.find("after-detach"), std::string::npos) << w;
}

// The controller restarts while a task's job runs. The rollout resumes at that task: what ran
// before does not run again, the running job is re-attached (not started twice), and the rest
// of the play runs once.
TEST_F(RunTest, ControllerRestartResumesAtTheTaskWhereItStopped) {
  Fifo ready(Path("ready"), Fifo::kFromJob);
  Fifo go(Path("go"), Fifo::kToJob);
  const std::string before = Path("before"), gated = Path("gated"), after = Path("after");
  std::string pb = Playbook(R"(
- hosts: web
  gather_facts: false
  tasks:
    - name: before
      shell: echo {{ inventory_hostname }} >> )" +
                            before + R"(
    - name: remember
      set_fact:
        token: "{{ inventory_hostname }}-token"
    - name: gated
      shell: echo {{ inventory_hostname }} >> )" +
                            gated + "; echo x > " + ready.path() + "; read x < " + go.path() +
                            R"(; echo {{ token }}
      register: g
    - name: after
      shell: echo {{ g.stdout }} >> )" +
                            after + R"(
)");
  CliResult d = cluster_.Cli({"run", pb, "--detach", "-o", "json"});
  ASSERT_EQ(d.rc, 0) << d;
  std::string id = d.JsonLines().at(0).value("rollout_id", "");
  ASSERT_TRUE(ready.ReadLine()) << "the gated task never started";
  ASSERT_TRUE(ready.ReadLine()) << "the gated task never started on both hosts";

  ASSERT_TRUE(cluster_.RestartController());
  go.Send("go");
  go.Send("go");
  CliResult w = cluster_.Cli({"rollout", "watch", id, "-o", "json"}, {}, 90);
  ASSERT_EQ(w.rc, 0) << w << "\n" << cluster_.controller()->StderrText();
  EXPECT_EQ(CountLines(before), 2) << ReadFile(before);
  EXPECT_EQ(CountLines(gated), 2) << "the running job was started again:\n" << ReadFile(gated);
  EXPECT_EQ(CountLines(after), 2) << ReadFile(after);
  EXPECT_NE(ReadFile(after).find("web01-token"), std::string::npos)
      << "facts and registered values are rebuilt on resume: " << ReadFile(after);

  // The story has each outcome once, and says that the controller restarted.
  std::map<std::string, int> outcomes;
  bool resumed = false;
  for (auto& j : w.JsonLines()) {
    if (j.value("type", "") == "result")
      outcomes[j.value("host", "") + "/" + j.value("task", "")]++;
    if (j.value("type", "") == "rollout_resumed") resumed = true;
  }
  EXPECT_TRUE(resumed) << w;
  for (const char* t : {"before", "remember", "gated", "after"}) {
    for (const char* h : {"web01", "web02"}) {
      EXPECT_EQ(outcomes[std::string(h) + "/" + t], 1) << h << "/" << t << "\n" << w;
    }
  }
  json recap = Recap(w);
  EXPECT_EQ(recap["hosts"]["web01"].value("ok", -1), 4) << recap;
  EXPECT_EQ(recap["hosts"]["web01"].value("changed", -1), 3) << recap;
}

// A three-task play whose first task waits for the test.
class SteeringTest : public RunTest {
 protected:
  void StartGated() {
    go_ = std::make_unique<Fifo>(Path("go"), Fifo::kToJob);
    ran_ = Path("ran");
    std::string pb = Playbook(R"(
- hosts: web01
  gather_facts: false
  tasks:
    - name: gated
      shell: read x < )" + go_->path() +
                              R"(; echo $x
    - name: second
      shell: echo second >> )" +
                              ran_ + R"(
    - name: third
      shell: echo third >> )" +
                              ran_ + R"(
)");
    CliResult d = cluster_.Cli({"run", pb, "--detach", "-o", "json"});
    ASSERT_EQ(d.rc, 0) << d;
    id_ = d.JsonLines().at(0).value("rollout_id", "");
    watch_ = cluster_.StartCli({"rollout", "watch", id_, "-o", "json"});
    ASSERT_TRUE(watch_->WaitStdout(Contains({"\"type\":\"task\"", "\"task\":\"gated\""}), &cursor_))
        << watch_->StdoutText();
  }

  json Action(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"rollout"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"-o", "json"});
    CliResult r = cluster_.Cli(argv);
    EXPECT_EQ(r.rc, 0) << r;
    return r.JsonLines().empty() ? json::object() : r.JsonLines()[0];
  }

  std::unique_ptr<Fifo> go_;
  std::string ran_, id_;
  std::unique_ptr<Process> watch_;
  size_t cursor_ = 0;
};

TEST_F(SteeringTest, PauseLetsTheRunningTaskFinishAndStartsNothingUntilResume) {
  StartGated();
  EXPECT_EQ(Action({"pause", id_}).value("state", ""), "paused");
  ASSERT_TRUE(
      watch_->WaitStdout(Contains({"\"type\":\"rollout_paused\"", "operator/admin"}), &cursor_));
  go_->Send("released");
  ASSERT_TRUE(watch_->WaitStdout(Contains({"\"type\":\"result\"", "released"}), &cursor_))
      << watch_->StdoutText();
  // A full exec round trip later, the paused rollout has still started nothing.
  EXPECT_EQ(cluster_.Cli({"exec", "web01", "--", "/bin/true"}).rc, 0);
  EXPECT_EQ(watch_->StdoutText().find("\"task\":\"second\""), std::string::npos)
      << watch_->StdoutText();
  EXPECT_EQ(CountLines(ran_), 0);
  EXPECT_EQ(Action({"show", id_}).value("state", ""), "paused");

  EXPECT_EQ(Action({"resume", id_}).value("state", ""), "running");
  ASSERT_EQ(watch_->WaitExit(), 0) << watch_->StdoutText();
  EXPECT_EQ(CountLines(ran_), 2);
  EXPECT_NE(watch_->StdoutText().find("\"type\":\"rollout_resumed\""), std::string::npos);
  EXPECT_EQ(Action({"show", id_}).value("state", ""), "finished");
}

TEST_F(SteeringTest, AbortLetsRunningWorkEndThenStops) {
  StartGated();
  Action({"abort", id_});
  go_->Send("released");
  ASSERT_EQ(watch_->WaitExit(), 99) << watch_->StdoutText();
  EXPECT_NE(watch_->StdoutText().find("released"), std::string::npos)
      << "the running task finished and was reported";
  EXPECT_EQ(CountLines(ran_), 0) << "nothing new started after the abort";
  json info = Action({"show", id_});
  EXPECT_EQ(info.value("state", ""), "aborted");
  EXPECT_EQ(info.value("rc", -1), 99);
  // Steering a rollout that is over is refused clearly.
  CliResult again = cluster_.Cli({"rollout", "pause", id_});
  EXPECT_EQ(again.rc, 1) << again;
  EXPECT_NE(again.err.find("already over (aborted)"), std::string::npos) << again;
  EXPECT_EQ(cluster_.Cli({"rollout", "resume", "r999"}).rc, 1);
}

TEST_F(SteeringTest, AbortWithKillEndsTheRunningJob) {
  StartGated();
  Action({"abort", id_, "--kill"});
  ASSERT_EQ(watch_->WaitExit(), 99) << watch_->StdoutText();
  EXPECT_NE(watch_->StdoutText().find("\"status\":\"failed\""), std::string::npos)
      << "the killed job is the task's (failed) outcome\n"
      << watch_->StdoutText();
  EXPECT_EQ(CountLines(ran_), 0);
  // Text watchers print the abort and the recap.
  CliResult text = cluster_.Cli({"rollout", "watch", id_});
  EXPECT_EQ(text.rc, 99);
  EXPECT_NE(text.out.find("[rollout aborted by operator/admin]"), std::string::npos) << text;
  EXPECT_NE(text.out.find("PLAY RECAP"), std::string::npos) << text;
}

// tachyon_gate: checked on the controller after each batch; a failure pauses (or aborts) the
// rollout before the next batch starts.
TEST_F(RunTest, HealthGatePausesBetweenBatchesUntilItPasses) {
  const std::string healthy = Path("healthy"), ran = Path("ran");
  std::string pb = Playbook(R"(
- hosts: web
  gather_facts: false
  serial: 1
  tachyon_gate:
    command: test -e )" + healthy +
                            R"(
  tasks:
    - shell: echo {{ inventory_hostname }} >> )" +
                            ran + R"(
)");
  CliResult d = cluster_.Cli({"run", pb, "--detach", "-o", "json"});
  ASSERT_EQ(d.rc, 0) << d;
  std::string id = d.JsonLines().at(0).value("rollout_id", "");
  auto watch = cluster_.StartCli({"rollout", "watch", id, "-o", "json"});
  size_t cursor = 0;
  auto gate = watch->WaitStdout(Contains({"\"type\":\"gate\"", "\"batch\":1"}), &cursor);
  ASSERT_TRUE(gate) << watch->StdoutText();
  EXPECT_EQ(json::parse(*gate).value("ok", true), false) << *gate;
  ASSERT_TRUE(
      watch->WaitStdout(Contains({"rollout_paused", "health gate failed after batch 1"}), &cursor))
      << watch->StdoutText();
  EXPECT_EQ(CountLines(ran), 1) << "the second batch waits for the gate";
  EXPECT_EQ(
      cluster_.Cli({"rollout", "show", id, "-o", "json"}).JsonLines().at(0).value("state", ""),
      "paused");

  WriteFile(healthy, "");
  EXPECT_EQ(cluster_.Cli({"rollout", "resume", id}).rc, 0);
  ASSERT_EQ(watch->WaitExit(), 0) << watch->StdoutText();
  EXPECT_EQ(CountLines(ran), 2);
  EXPECT_NE(watch->StdoutText().find("\"batch\":2,\"ok\":true"), std::string::npos)
      << watch->StdoutText();
}

TEST_F(RunTest, HealthGateCanAbort) {
  const std::string ran = Path("ran");
  std::string pb = Playbook(R"(
- hosts: web
  gather_facts: false
  serial: 1
  tachyon_gate:
    command: /bin/false
    on_failure: abort
  tasks:
    - shell: echo {{ inventory_hostname }} >> )" +
                            ran + R"(
)");
  CliResult r = cluster_.Cli({"run", pb});
  EXPECT_EQ(r.rc, 99) << r;
  EXPECT_NE(r.out.find("GATE [after batch 1]"), std::string::npos) << r;
  EXPECT_NE(r.out.find("[rollout aborted by health gate failed after batch 1]"), std::string::npos)
      << r;
  EXPECT_EQ(CountLines(ran), 1);
}

}  // namespace
}  // namespace tachyon::itest
