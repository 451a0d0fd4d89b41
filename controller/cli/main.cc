// tachyon: the operator CLI. Flags and dispatch only; see commands.cc and output.cc.

#include <iostream>

#include "CLI/CLI.hpp"
#include "absl/strings/str_split.h"
#include "common/pki.h"
#include "controller/cli/commands.h"
#include "controller/cli/install.h"

namespace {

int PkiError(const absl::Status& st) {
  std::cerr << "tachyon pki: " << st.message() << "\n";
  return absl::IsInvalidArgument(st) ? 5 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tachyon: Ansible playbooks and async jobs over mTLS gRPC, without SSH polling"};
  app.set_version_flag("--version", std::string("tachyon ") + TACHYON_VERSION);
  app.require_subcommand(1);
  tachyon::cli::Connection conn;
  std::string output = "text";
  app.add_option("--controller", conn.controller, "controller HOST:PORT (env TACHYON_CONTROLLER)");
  app.add_option("--ca", conn.ca, "CA certificate (env TACHYON_CA)");
  app.add_option("--cert", conn.cert, "operator certificate (env TACHYON_CERT)");
  app.add_option("--key", conn.key, "operator key (env TACHYON_KEY)");
  app.add_option("-o,--output", output, "text or json (one JSON object per line)")
      ->check(CLI::IsMember({"text", "json"}));
  // Subcommands accept the global flags after their own name too (`tachyon exec -o json ...`).
  app.fallthrough();

  int rc = -1;
  auto format = [&] {
    return output == "json" ? tachyon::cli::Format::kJson : tachyon::cli::Format::kText;
  };
  auto connect = [&]() -> bool {
    std::string err = tachyon::cli::ResolveConnection(&conn);
    if (!err.empty()) {
      std::cerr << "tachyon: " << err << "\n";
      rc = 5;
      return false;
    }
    return true;
  };

  // pki
  auto* pki = app.add_subcommand("pki", "make the CA and certificates (mTLS everywhere)");
  pki->require_subcommand(1);
  auto* pki_init =
      pki->add_subcommand("init", "create a CA, a controller certificate and an admin operator");
  std::string pki_dir, san_list = "127.0.0.1,localhost";
  int days = 825;
  pki_init->add_option("--dir", pki_dir, "output directory")->required();
  pki_init->add_option("--san", san_list, "controller names and addresses, comma-separated");
  pki_init->add_option("--days", days, "certificate lifetime in days");
  pki_init->callback([&] {
    tachyon::pki::InitOptions o;
    o.dir = pki_dir;
    o.sans = absl::StrSplit(san_list, ',', absl::SkipWhitespace());
    o.days = days;
    auto st = tachyon::pki::Init(o);
    if (!st.ok()) {
      rc = PkiError(st);
      return;
    }
    std::cout << "wrote " << pki_dir << "/{ca,controller,admin}.{crt,key}\n";
    rc = 0;
  });
  auto* pki_issue = pki->add_subcommand("issue", "issue an agent or operator certificate");
  std::string role, name;
  pki_issue->add_option("role", role, "agent, operator, or controller (to rotate its certificate)")
      ->required()
      ->check(CLI::IsMember({"agent", "operator", "controller"}));
  pki_issue->add_option("name", name, "the agent's or operator's name")->required();
  pki_issue->add_option("--dir", pki_dir, "the PKI directory made by `pki init`")->required();
  pki_issue->add_option("--days", days, "certificate lifetime in days");
  std::string issue_sans = "127.0.0.1,localhost";
  pki_issue->add_option("--san", issue_sans,
                        "controller only: its names and addresses, comma-separated");
  pki_issue->callback([&] {
    if (role == "controller") {
      std::vector<std::string> sans = absl::StrSplit(issue_sans, ',', absl::SkipWhitespace());
      auto st = tachyon::pki::IssueController(pki_dir, name, sans, days);
      if (!st.ok()) {
        rc = PkiError(st);
        return;
      }
      auto r = tachyon::pki::Role::kController;
      std::cout << "wrote " << tachyon::pki::IssuedCertPath(pki_dir, r, name) << " and "
                << tachyon::pki::IssuedKeyPath(pki_dir, r, name) << "\n";
      rc = 0;
      return;
    }
    auto r = role == "agent" ? tachyon::pki::Role::kAgent : tachyon::pki::Role::kOperator;
    auto st = tachyon::pki::Issue(pki_dir, r, name, days);
    if (!st.ok()) {
      rc = PkiError(st);
      return;
    }
    std::cout << "wrote " << tachyon::pki::IssuedCertPath(pki_dir, r, name) << " and "
              << tachyon::pki::IssuedKeyPath(pki_dir, r, name) << "\n";
    rc = 0;
  });

  // agents
  auto* agents = app.add_subcommand("agents", "list agents");
  auto* agents_ls = agents->add_subcommand("ls", "list agents (the default)");
  auto list_agents = [&] {
    if (connect()) rc = tachyon::cli::RunAgentsList(conn, format());
  };
  agents_ls->callback(list_agents);
  agents->callback([&] {
    if (agents->get_subcommands().empty()) list_agents();
  });
  auto* agents_revoke = agents->add_subcommand(
      "revoke", "cut an agent off: close its stream now and refuse its certificate from now on");
  std::string revoke_name;
  agents_revoke->add_option("name", revoke_name, "the agent's name")->required();
  agents_revoke->callback([&] {
    if (connect()) rc = tachyon::cli::RunAgentsRevoke(conn, format(), revoke_name);
  });

  // token
  auto* token = app.add_subcommand("token", "enrollment tokens for `tachyon-agent enroll`");
  token->require_subcommand(1);
  auto* token_create = token->add_subcommand(
      "create", "make a token (single-use, expiring) that enrolls one agent");
  tachyon::cli::TokenOptions to;
  token_create->add_option("--name", to.name, "bind the token to this agent name");
  token_create->add_option("--ttl", to.ttl, "how long the token is valid (default 1h)");
  token_create->add_option("--uses", to.uses, "how many enrollments it allows (default 1)");
  token_create->add_flag("--replace", to.replace,
                         "may re-enroll an agent name that already exists, with a new key");
  token_create->callback([&] {
    if (connect()) rc = tachyon::cli::RunTokenCreate(conn, format(), to);
  });
  // agents install (install.cc): ssh in, install the package, enroll, start.
  auto* agents_install = agents->add_subcommand(
      "install", "install, enroll and start tachyon-agent on inventory hosts reached over SSH");
  tachyon::cli::InstallOptions inst;
  agents_install->add_option("pattern", inst.pattern, "host pattern, as for `exec`")->required();
  agents_install->add_option("-i,--inventory", inst.inventories, "Ansible inventory (repeatable)")
      ->required();
  agents_install->add_option("--package", inst.package,
                             "tachyon-agent .deb to copy and install (default: apt-get install "
                             "tachyon-agent from the host's repositories)");
  agents_install->add_option("--ssh-key", inst.ssh_key,
                             "private key for ssh/scp (default: ansible_ssh_private_key_file, "
                             "else ssh's own)");
  agents_install->add_option("--ssh-option", inst.ssh_options,
                             "extra ssh -o option, e.g. StrictHostKeyChecking=accept-new "
                             "(repeatable)");
  agents_install->add_option("-f,--forks", inst.forks, "hosts installed at once (default 5)");
  agents_install->add_option("--agent-controller", inst.agent_controller,
                             "HOST:PORT the agents dial (default: --controller)");
  agents_install->add_option("--prefix", inst.prefix,
                             "tests/non-root: extract into PREFIX/HOST and start the agent from "
                             "there, without dpkg -i, sudo or systemd");
  agents_install->add_flag("--reenroll", inst.reenroll,
                           "enroll again (a new key) even where the host has a certificate");
  agents_install->add_option("--connect-timeout", inst.connect_timeout,
                             "seconds to wait for each started agent to connect (default 60)");
  agents_install->callback([&] {
    if (connect()) {
      rc = tachyon::cli::RunAgentsInstall(inst, conn.controller, format(),
                                          tachyon::cli::ControllerInstallHooks(conn));
    }
  });

  // exec
  auto* exec = app.add_subcommand("exec", "run a module on the hosts a pattern matches (ad-hoc)");
  tachyon::cli::ExecOptions ex;
  exec->add_option("pattern", ex.pattern, "host pattern: all, name, group, glob, a:b, a:&b, a:!b")
      ->required();
  exec->add_option("-m,--module-name", ex.module, "module (default command)");
  exec->add_option("-a,--args", ex.args, "module arguments");
  exec->add_option("-B,--background", ex.async_seconds, "async: run with this timeout in seconds");
  exec->add_option("-P,--poll", ex.poll_seconds,
                   "poll: 0 returns the job ids at once; otherwise wait for completion");
  exec->add_option("-f,--forks", ex.forks, "hosts running at once (default 5)");
  exec->add_option("cmd", ex.argv, "after --: the command's argv, run without a shell");
  exec->callback([&] {
    if (connect()) rc = tachyon::cli::RunExec(conn, format(), ex);
  });

  // run
  auto* run = app.add_subcommand("run", "run a playbook on the fleet (the controller runs it)");
  tachyon::cli::RunOptions ro;
  std::vector<std::string> tag_args, skip_tag_args;
  int verbose = 0;
  run->add_option("playbook", ro.playbook, "the playbook file")->required();
  run->add_option("-i,--inventory", ro.inventories,
                  "inventory file or directory, or a host list \"a,b,\" (default: the agents)");
  run->add_option("-f,--forks", ro.forks, "hosts running a task at once (default 5)");
  run->add_option("-l,--limit", ro.limit, "further limit hosts to a pattern");
  run->add_option("-e,--extra-vars", ro.extra_vars, "K=V, YAML/JSON, or @FILE (repeatable)");
  run->add_flag("-C,--check", ro.check, "don't change anything; predict what would change");
  run->add_flag("-D,--diff", ro.diff, "show the differences in changed files");
  run->add_option("-t,--tags", tag_args, "only run plays and tasks tagged with these");
  run->add_option("--skip-tags", skip_tag_args, "skip plays and tasks tagged with these");
  run->add_flag("-v,--verbose", verbose, "verbose mode (-vvv for more)");
  run->add_flag("--detach", ro.detach, "print the rollout id and return at once");
  run->callback([&] {
    for (const auto& t : tag_args) {
      for (auto part : absl::StrSplit(t, ',', absl::SkipWhitespace())) ro.tags.emplace_back(part);
    }
    for (const auto& t : skip_tag_args) {
      for (auto part : absl::StrSplit(t, ',', absl::SkipWhitespace()))
        ro.skip_tags.emplace_back(part);
    }
    ro.verbosity = verbose;
    if (connect()) rc = tachyon::cli::RunPlaybook(conn, format(), ro);
  });

  // rollout
  auto* rollout_cmd = app.add_subcommand("rollout", "rollouts run by the controller");
  rollout_cmd->require_subcommand(1);
  std::string rollout_id;
  auto* rollout_ls = rollout_cmd->add_subcommand("ls", "list rollouts, newest first");
  rollout_ls->callback([&] {
    if (connect()) rc = tachyon::cli::RunRolloutList(conn, format());
  });
  auto* rollout_show = rollout_cmd->add_subcommand("show", "one rollout's state and recap");
  rollout_show->add_option("id", rollout_id)->required();
  rollout_show->callback([&] {
    if (connect()) rc = tachyon::cli::RunRolloutShow(conn, format(), rollout_id);
  });
  auto* rollout_watch =
      rollout_cmd->add_subcommand("watch", "follow a rollout: its story so far, then live");
  rollout_watch->add_option("id", rollout_id)->required();
  rollout_watch->callback([&] {
    if (connect()) rc = tachyon::cli::RunRolloutWatch(conn, format(), rollout_id);
  });

  bool abort_kill = false;
  for (const char* action : {"pause", "resume", "abort"}) {
    const char* help = std::string(action) == "pause"
                           ? "let running tasks finish and start nothing new"
                       : std::string(action) == "resume"
                           ? "continue a paused rollout"
                           : "start nothing new and end the rollout as aborted (watch exits 99)";
    auto* sub = rollout_cmd->add_subcommand(action, help);
    sub->add_option("id", rollout_id)->required();
    if (std::string(action) == "abort") {
      sub->add_flag("--kill", abort_kill, "also kill the rollout's running jobs");
    }
    sub->callback([&, action] {
      if (connect()) {
        rc = tachyon::cli::RunRolloutAction(conn, format(), rollout_id, action, abort_kill);
      }
    });
  }

  // job
  auto* job = app.add_subcommand("job", "one job: status, logs, kill, cleanup");
  job->require_subcommand(1);
  std::string jid;
  auto* job_status = job->add_subcommand("status", "the job's async_status result");
  job_status->add_option("jid", jid)->required();
  job_status->callback([&] {
    if (connect()) rc = tachyon::cli::RunJobStatus(conn, format(), jid);
  });
  auto* job_kill = job->add_subcommand("kill", "SIGTERM, then SIGKILL, to the job's process group");
  job_kill->add_option("jid", jid)->required();
  job_kill->callback([&] {
    if (connect()) rc = tachyon::cli::RunJobKill(conn, format(), jid);
  });
  auto* job_logs = job->add_subcommand("logs", "the job's output; -f follows a running job live");
  bool logs_follow = false;
  job_logs->add_option("jid", jid)->required();
  job_logs->add_flag("-f,--follow", logs_follow, "stream output until the job finishes");
  job_logs->callback([&] {
    if (connect()) rc = tachyon::cli::RunJobLogs(conn, format(), jid, logs_follow);
  });
  auto* job_cleanup = job->add_subcommand("cleanup", "remove a finished job's data");
  job_cleanup->add_option("jid", jid)->required();
  job_cleanup->callback([&] {
    if (connect()) rc = tachyon::cli::RunJobCleanup(conn, format(), jid);
  });

  // events
  auto* events = app.add_subcommand("events", "the event log, resumable by sequence number");
  bool follow = false;
  uint64_t since = 0;
  std::string rollout, host;
  events->add_flag("-f,--follow", follow, "keep streaming new events");
  events->add_option("--since", since, "only events after this sequence number");
  events->add_option("--rollout", rollout, "only this rollout's events");
  events->add_option("--host", host, "only this host's events");
  events->callback([&] {
    if (connect()) rc = tachyon::cli::RunEvents(conn, format(), since, follow, rollout, host);
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 5;
  }
  return rc < 0 ? 0 : rc;
}
