// The controller side of `tachyon agents install` (install.h's InstallHooks): ListAgents, and
// CreateToken for each host's single-use enrollment token. The only gRPC in the installer.

#include "controller/cli/install.h"
#include "controller/cli/rpc.h"

namespace tachyon::cli {
namespace {

namespace v1 = tachyon::v1;

constexpr uint64_t kTokenTtlSeconds = 15 * 60;

absl::Status FromGrpc(const grpc::Status& st) {
  return absl::Status(static_cast<absl::StatusCode>(st.error_code()), st.error_message());
}

}  // namespace

InstallHooks ControllerInstallHooks(const Connection& conn) {
  InstallHooks hooks;
  hooks.list_agents = [conn]() -> absl::StatusOr<std::map<std::string, KnownAgent>> {
    std::string error;
    auto stub = MakeStub(conn, &error);
    if (!stub) return absl::FailedPreconditionError(error);
    std::vector<v1::AgentInfo> all;
    grpc::Status st = ListAllAgents(stub.get(), &all);
    if (!st.ok()) return FromGrpc(st);
    std::map<std::string, KnownAgent> agents;
    for (const auto& a : all) agents[a.name()] = KnownAgent{a.connected(), a.revoked()};
    return agents;
  };
  hooks.create_token = [conn](const std::string& name,
                              bool replace) -> absl::StatusOr<std::string> {
    std::string error;
    auto stub = MakeStub(conn, &error);
    if (!stub) return absl::FailedPreconditionError(error);
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    v1::CreateTokenRequest req;
    req.set_name(name);
    // Used within the minute by the install script; a token left over by a failed install
    // expires soon after.
    req.set_ttl_seconds(kTokenTtlSeconds);
    req.set_uses(1);
    req.set_replace(replace);
    v1::CreateTokenResponse resp;
    grpc::Status st = stub->CreateToken(&ctx, req, &resp);
    if (!st.ok()) return FromGrpc(st);
    return resp.token();
  };
  return hooks;
}

}  // namespace tachyon::cli
