#include "controller/cli/commands.h"

#include <grpcpp/grpcpp.h>

#include <cstdlib>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/fs.h"
#include "common/limits.h"
#include "common/tls.h"
#include "controller/cli/rpc.h"
#include "proto/job_state.h"
#include "tachyon/v1/control.grpc.pb.h"
#include "yaml-cpp/yaml.h"

namespace tachyon::cli {
namespace v1 = tachyon::v1;
using nlohmann::json;

namespace {
constexpr auto kUnaryDeadline = std::chrono::seconds(30);
}  // namespace

json Parse(const std::string& text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? json::object() : j;
}

// A user-facing line for a failed RPC; the exit code is 1 (error) unless the code says the
// request itself was bad (5).
int ReportRpcError(const Connection& conn, const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      std::cerr << "tachyon: cannot reach the controller at " << conn.controller << ": "
                << status.error_message() << "\n";
      return 1;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      std::cerr << "tachyon: " << status.error_message() << "\n";
      return 5;
    default:
      std::cerr << "tachyon: " << status.error_message() << "\n";
      return 1;
  }
}

std::unique_ptr<v1::ControlService::Stub> MakeStub(const Connection& conn, std::string* error) {
  auto creds = tls::ChannelCredentials({conn.ca, conn.cert, conn.key});
  if (!creds.ok()) {
    *error = std::string(creds.status().message());
    return nullptr;
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(static_cast<int>(kMaxMessageBytes));
  args.SetMaxSendMessageSize(static_cast<int>(kMaxMessageBytes));
  return v1::ControlService::NewStub(grpc::CreateCustomChannel(conn.controller, *creds, args));
}

void SetDeadline(grpc::ClientContext* ctx) {
  ctx->set_deadline(std::chrono::system_clock::now() + kUnaryDeadline);
}

grpc::Status ListAllAgents(v1::ControlService::Stub* stub, std::vector<v1::AgentInfo>* out) {
  v1::ListAgentsRequest req;
  while (true) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    v1::ListAgentsResponse resp;
    grpc::Status st = stub->ListAgents(&ctx, req, &resp);
    if (!st.ok()) return st;
    for (auto& a : *resp.mutable_agents()) out->push_back(std::move(a));
    // A controller that does not page leaves next_after empty; one that does always moves on.
    if (resp.next_after().empty() || resp.next_after() <= req.after()) return grpc::Status::OK;
    req.set_after(resp.next_after());
  }
}

std::string ResolveConnection(Connection* conn) {
  auto env = [](const char* name, std::string* field) {
    if (field->empty()) {
      if (const char* v = std::getenv(name)) *field = v;
    }
  };
  env("TACHYON_CONTROLLER", &conn->controller);
  env("TACHYON_CA", &conn->ca);
  env("TACHYON_CERT", &conn->cert);
  env("TACHYON_KEY", &conn->key);
  const char* home = std::getenv("HOME");
  // The user's file, then the system-wide one that the tachyon package ships (every key
  // commented out until an administrator fills them in).
  for (const std::string& path : {absl::StrCat(home ? home : "", "/.config/tachyon/cli.yaml"),
                                  std::string("/etc/tachyon/cli.yaml")}) {
    if (!conn->controller.empty() && !conn->ca.empty() && !conn->cert.empty() &&
        !conn->key.empty()) {
      break;
    }
    if (PathExists(path)) {
      try {
        YAML::Node root = YAML::LoadFile(path);
        if (root.IsNull()) continue;  // nothing but comments
        if (!root.IsMap()) return path + ": expected a mapping of controller, ca, cert, key";
        for (const auto& kv : root) {
          std::string key = kv.first.as<std::string>();
          std::string value = kv.second.as<std::string>();
          std::string* field = key == "controller" ? &conn->controller
                               : key == "ca"       ? &conn->ca
                               : key == "cert"     ? &conn->cert
                               : key == "key"      ? &conn->key
                                                   : nullptr;
          if (field == nullptr) {
            return absl::StrCat(path, ":", kv.first.Mark().line + 1, ":",
                                kv.first.Mark().column + 1, ": unknown key \"", key, "\"");
          }
          if (field->empty()) *field = value;
        }
      } catch (const YAML::Exception& e) {
        return absl::StrCat(path, ":", e.mark.line + 1, ":", e.mark.column + 1, ": ", e.msg);
      }
    }
  }
  if (conn->controller.empty() || conn->ca.empty() || conn->cert.empty() || conn->key.empty()) {
    return "no controller connection: give --controller, --ca, --cert and --key, or set "
           "TACHYON_CONTROLLER, TACHYON_CA, TACHYON_CERT and TACHYON_KEY, or write them to "
           "~/.config/tachyon/cli.yaml or /etc/tachyon/cli.yaml";
  }
  return "";
}

int RunAgentsList(const Connection& conn, Format format) {
  TACHYON_STUB_OR_RETURN(stub, conn);
  std::vector<v1::AgentInfo> agents;
  grpc::Status st = ListAllAgents(stub.get(), &agents);
  if (!st.ok()) return ReportRpcError(conn, st);
  if (format == Format::kText) {
    std::printf("%-24s %-13s %-24s %-9s %s\n", "NAME", "STATE", "GROUPS", "VERSION", "LAST SEEN");
  }
  for (const auto& a : agents) {
    std::string groups;
    for (const auto& g : a.groups()) groups += (groups.empty() ? "" : ",") + g;
    std::string state = a.revoked() ? "revoked" : a.connected() ? "connected" : "disconnected";
    if (format == Format::kJson) {
      json j = {{"name", a.name()},           {"state", state},
                {"groups", a.groups()},       {"version", a.version()},
                {"last_seen", a.last_seen()}, {"facts", Parse(a.facts_json())}};
      std::cout << Dump(j) << "\n";
    } else {
      std::printf("%-24s %-13s %-24s %-9s %s\n", a.name().c_str(), state.c_str(),
                  groups.empty() ? "-" : groups.c_str(), a.version().c_str(),
                  a.last_seen().c_str());
    }
  }
  return 0;
}

int RunAgentsRevoke(const Connection& conn, Format format, const std::string& name) {
  TACHYON_STUB_OR_RETURN(stub, conn);
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  v1::RevokeAgentRequest req;
  req.set_name(name);
  v1::RevokeAgentResponse resp;
  grpc::Status st = stub->RevokeAgent(&ctx, req, &resp);
  if (!st.ok()) return ReportRpcError(conn, st);
  if (format == Format::kJson) {
    std::cout << Dump(json{{"name", resp.name()},
                           {"state", "revoked"},
                           {"was_connected", resp.was_connected()}})
              << "\n";
  } else {
    std::cout << "revoked " << resp.name()
              << (resp.was_connected() ? " (its stream was closed)" : "") << "\n";
  }
  return 0;
}

int RunTokenCreate(const Connection& conn, Format format, const TokenOptions& options) {
  absl::Duration ttl;
  if (!absl::ParseDuration(options.ttl, &ttl) || ttl <= absl::ZeroDuration()) {
    std::cerr << "tachyon: --ttl: '" << options.ttl << "' is not a positive duration like 1h\n";
    return 5;
  }
  if (options.uses < 1) {
    std::cerr << "tachyon: --uses must be at least 1\n";
    return 5;
  }
  TACHYON_STUB_OR_RETURN(stub, conn);
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  v1::CreateTokenRequest req;
  req.set_name(options.name);
  req.set_ttl_ms(static_cast<uint64_t>(std::max<int64_t>(1, absl::ToInt64Milliseconds(ttl))));
  req.set_uses(static_cast<uint32_t>(options.uses));
  req.set_replace(options.replace);
  v1::CreateTokenResponse resp;
  grpc::Status st = stub->CreateToken(&ctx, req, &resp);
  if (!st.ok()) return ReportRpcError(conn, st);
  if (format == Format::kJson) {
    std::cout << Dump(json{{"token", resp.token()},
                           {"id", resp.id()},
                           {"name", options.name},
                           {"uses", options.uses},
                           {"expires", resp.expires()}})
              << "\n";
  } else {
    std::cout << resp.token() << "\n";
  }
  return 0;
}

int RunExec(const Connection& conn, Format format, const ExecOptions& options) {
  TACHYON_STUB_OR_RETURN(stub, conn);
  v1::ExecRequest req;
  req.set_pattern(options.pattern);
  req.set_module(options.module);
  req.set_args(options.args);
  for (const auto& w : options.argv) req.add_argv(w);
  req.set_async_seconds(static_cast<uint32_t>(std::max(0, options.async_seconds)));
  req.set_poll_seconds(options.poll_seconds);
  req.set_forks(static_cast<uint32_t>(std::max(1, options.forks)));
  grpc::ClientContext ctx;
  auto reader = stub->Exec(&ctx, req);
  v1::ExecUpdate update;
  bool any_failed = false, any_unreachable = false;
  while (reader->Read(&update)) {
    json result = Parse(update.result_json());
    const std::string& s = update.status();
    any_failed |= (s == "failed" || s == "timed_out");
    any_unreachable |= (s == "unreachable");
    std::cout << FormatExecResult(format, options.module, update.host(), s, result) << std::flush;
  }
  grpc::Status st = reader->Finish();
  if (!st.ok()) {
    if (st.error_code() == grpc::StatusCode::NOT_FOUND) {
      std::cerr << "tachyon: " << st.error_message() << "\n";
      return 1;
    }
    return ReportRpcError(conn, st);
  }
  return ExitCodeFor(any_failed, any_unreachable);
}

int RunJobStatus(const Connection& conn, Format format, const std::string& jid) {
  TACHYON_STUB_OR_RETURN(stub, conn);
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  v1::JobRequest req;
  req.set_jid(jid);
  v1::JobStatusResponse resp;
  grpc::Status st = stub->JobStatus(&ctx, req, &resp);
  if (!st.ok() && st.error_code() != grpc::StatusCode::NOT_FOUND) return ReportRpcError(conn, st);
  // A non-OK status carries no response body: build async_status's answer for an unknown job.
  json result = st.ok() ? Parse(resp.result_json())
                        : json{{"ansible_job_id", jid},
                               {"failed", true},
                               {"finished", 1},
                               {"started", 1},
                               {"msg", "could not find job"}};
  std::string state = st.ok() ? wire::JobStateName(resp.state()) : "unknown";
  if (format == Format::kJson) {
    json out = result;
    out["jid"] = jid;
    out["host"] = resp.host();
    out["state"] = state;
    std::cout << Dump(out) << "\n";
  } else {
    std::cout << jid << (resp.host().empty() ? "" : " on " + resp.host()) << ": " << state << " => "
              << Dump(result, 4) << "\n";
  }
  bool failed = result.value("failed", false);
  return failed ? 2 : 0;
}

int RunJobKill(const Connection& conn, Format format, const std::string& jid) {
  TACHYON_STUB_OR_RETURN(stub, conn);
  v1::JobActionResponse resp;
  {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    v1::JobRequest req;
    req.set_jid(jid);
    grpc::Status st = stub->KillJob(&ctx, req, &resp);
    if (!st.ok()) {
      if (st.error_code() == grpc::StatusCode::NOT_FOUND ||
          st.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
        std::cerr << "tachyon: " << jid << ": " << st.error_message() << "\n";
        return st.error_code() == grpc::StatusCode::NOT_FOUND ? 2 : 0;
      }
      return ReportRpcError(conn, st);
    }
  }
  // The kill is sent; its outcome is the job's job_finished event. Follow the log from the
  // moment of the kill, bounded so a vanished agent cannot hang the CLI.
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  v1::EventsRequest ereq;
  ereq.set_since_seq(resp.event_seq());
  ereq.set_follow(true);
  ereq.set_host(resp.host());
  auto reader = stub->Events(&ctx, ereq);
  v1::Event e;
  while (reader->Read(&e)) {
    if (e.type() != "job_finished" || e.jid() != jid) continue;
    json data = Parse(e.data_json());
    json result = data.value("result", json::object());
    if (format == Format::kJson) {
      json out = result;
      out["jid"] = jid;
      out["host"] = resp.host();
      out["state"] = data.value("state", "");
      std::cout << Dump(out) << "\n";
    } else {
      std::cout << jid << " on " << resp.host() << ": " << data.value("state", "") << " => "
                << Dump(result, 4) << "\n";
    }
    ctx.TryCancel();
    reader->Finish();
    return 0;
  }
  grpc::Status st = reader->Finish();
  std::cerr << "tachyon: kill sent to " << resp.host()
            << ", but no final state arrived: " << st.error_message() << "\n";
  return 1;
}

int RunJobCleanup(const Connection& conn, Format format, const std::string& jid) {
  TACHYON_STUB_OR_RETURN(stub, conn);
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  v1::JobRequest req;
  req.set_jid(jid);
  v1::JobActionResponse resp;
  grpc::Status st = stub->CleanupJob(&ctx, req, &resp);
  if (!st.ok()) {
    if (st.error_code() == grpc::StatusCode::NOT_FOUND) {
      json r = {{"ansible_job_id", jid}, {"failed", true}, {"msg", "could not find job"}};
      std::cout << (format == Format::kJson ? Dump(r) : jid + ": could not find job") << "\n";
      return 2;
    }
    if (st.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
      std::cerr << "tachyon: " << st.error_message() << "\n";
      return 2;
    }
    return ReportRpcError(conn, st);
  }
  json result = Parse(resp.result_json());
  if (format == Format::kJson) {
    result["host"] = resp.host();
    std::cout << Dump(result) << "\n";
  } else {
    std::cout << jid << " on " << resp.host() << ": cleaned up\n";
  }
  return 0;
}

int RunJobLogs(const Connection& conn, Format format, const std::string& jid, bool follow) {
  TACHYON_STUB_OR_RETURN(stub, conn);
  v1::JobStatusResponse status;
  {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    v1::JobRequest req;
    req.set_jid(jid);
    grpc::Status st = stub->JobStatus(&ctx, req, &status);
    if (st.error_code() == grpc::StatusCode::NOT_FOUND) {
      std::cerr << "tachyon: " << jid << ": could not find job\n";
      return 2;
    }
    if (!st.ok()) return ReportRpcError(conn, st);
  }
  auto print_chunk = [&](const std::string& stream, uint64_t offset, const std::string& data) {
    if (format == Format::kJson) {
      std::cout << Dump({{"jid", jid}, {"stream", stream}, {"offset", offset}, {"data", data}})
                << "\n";
    } else {
      (stream == "stderr" ? std::cerr : std::cout) << data;
    }
    std::cout << std::flush;
  };
  const bool running =
      status.state() == v1::JOB_STATE_PENDING || status.state() == v1::JOB_STATE_RUNNING;
  if (!running) {
    // Finished: the result holds the output (inline up to its cap).
    json result = Parse(status.result_json());
    std::string out = result.value("stdout", ""), err = result.value("stderr", "");
    if (!out.empty()) print_chunk("stdout", 0, out + "\n");
    if (!err.empty()) print_chunk("stderr", 0, err + "\n");
    if (result.value("stdout_truncated", false) || result.value("stderr_truncated", false)) {
      std::cerr << "tachyon: output truncated; the whole output is in the job's spool on "
                << status.host() << "\n";
    }
    return 0;
  }
  // Running: the live output so far from the event log, then (with -f) as it comes, until the
  // job's job_finished event ends the stream. Nothing polls.
  grpc::ClientContext ctx;
  v1::EventsRequest req;
  req.set_jid(jid);
  req.set_follow(follow);
  req.set_until_finished(true);
  auto reader = stub->Events(&ctx, req);
  v1::Event e;
  while (reader->Read(&e)) {
    if (e.type() != "job_output") continue;
    json data = Parse(e.data_json());
    print_chunk(data.value("stream", "stdout"), data.value("offset", uint64_t{0}),
                data.value("data", ""));
  }
  grpc::Status st = reader->Finish();
  if (!st.ok()) return ReportRpcError(conn, st);
  return 0;
}

int RunEvents(const Connection& conn, Format format, uint64_t since, bool follow,
              const std::string& rollout, const std::string& host) {
  TACHYON_STUB_OR_RETURN(stub, conn);
  grpc::ClientContext ctx;
  v1::EventsRequest req;
  req.set_since_seq(since);
  req.set_follow(follow);
  req.set_rollout(rollout);
  req.set_host(host);
  auto reader = stub->Events(&ctx, req);
  v1::Event e;
  while (reader->Read(&e)) {
    std::cout << FormatEvent(format, e.seq(), e.ts(), e.type(), e.host(), e.jid(), e.rollout(),
                             Parse(e.data_json()))
              << std::flush;
  }
  grpc::Status st = reader->Finish();
  if (!st.ok()) return ReportRpcError(conn, st);
  return 0;
}

}  // namespace tachyon::cli
