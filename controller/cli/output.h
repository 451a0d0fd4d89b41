#pragma once

// How the `tachyon` CLI prints things: ansible-like text for people, one JSON object per line
// for scripts. No gRPC here, so it is unit-tested without a network.

#include <string>

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

// JSON dump that never throws on bad UTF-8.
std::string Dump(const nlohmann::json& j, int indent = -1);

}  // namespace tachyon::cli
