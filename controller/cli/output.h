#pragma once

// How the `tachyon` CLI prints things: ansible-like text for people, one JSON object per line
// for scripts. No gRPC here, so it is unit-tested without a network.

#include <set>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace tachyon::cli {

enum class Format { kText, kJson };

// One host's exec outcome. `status` is ok|changed|failed|unreachable|timed_out|started.
std::string FormatExecResult(Format format, const std::string& module, const std::string& host,
                             const std::string& status, const nlohmann::json& result);

// One event line; `data` fields are merged into the JSON object.
std::string FormatEvent(Format format, uint64_t seq, const std::string& ts, const std::string& type,
                        const std::string& host, const std::string& jid, const std::string& rollout,
                        const nlohmann::json& data);

// Exit code for a set of exec outcomes, as ansible-playbook: 2 if any failed, else 3 if any
// unreachable, else 0.
int ExitCodeFor(bool any_failed, bool any_unreachable);

// Turns a rollout's events (`run`, `rollout watch`) into ansible-playbook's default output, or
// CONTRACT.md's `-o json` lines (`result` per task outcome, `recap` at the end; `play`, `task`,
// `warning` and the rollout_* events are passed through with their own type).
class RolloutPrinter {
 public:
  explicit RolloutPrinter(Format format) : format_(format) {}

  // What to print for one event (possibly nothing).
  std::string OnEvent(const std::string& type, const std::string& host,
                      const nlohmann::json& data);

  // The hosts still running the current task, for a terminal's live line ("" when none).
  std::string LiveLine(double seconds_in_task) const;

  bool finished() const { return finished_; }
  // The exit code (CONTRACT.md): the rollout's rc, 99 when aborted, 1 before it finished.
  int rc() const { return rc_; }
  const std::string& error() const { return error_; }

 private:
  Format format_;
  bool finished_ = false;
  int rc_ = 1;
  std::string error_;
  std::string action_;  // the current task's module
  std::vector<std::string> play_hosts_;
  std::set<std::string> gone_;  // failed or unreachable hosts leave the play
  std::vector<std::string> running_;
};

// The banner line ansible-playbook prints: "PLAY [name] *****..." (80 columns).
std::string Banner(const std::string& text);

// JSON dump that never throws on bad UTF-8.
std::string Dump(const nlohmann::json& j, int indent = -1);

}  // namespace tachyon::cli
