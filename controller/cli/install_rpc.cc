// The controller side of `tachyon agents install` (install.h's InstallHooks): ListAgents, and
// CreateToken for each host's single-use enrollment token. The only gRPC in the installer.

#include "absl/strings/str_cat.h"
#include "controller/cli/install.h"
#include "controller/cli/rpc.h"

namespace tachyon::cli {
namespace {

namespace v1 = tachyon::v1;

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
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    v1::ListAgentsResponse resp;
    grpc::Status st = stub->ListAgents(&ctx, v1::ListAgentsRequest(), &resp);
    if (!st.ok()) return FromGrpc(st);
    std::map<std::string, KnownAgent> agents;
    for (const auto& a : resp.agents()) agents[a.name()] = KnownAgent{a.connected(), false};  // revocation: with enrollment
    return agents;
  };
  hooks.create_token = [conn](const std::string& name,
                              bool replace) -> absl::StatusOr<std::string> {
    // Enrollment (`tachyon token create`, CreateToken) is not in this build yet.
    return absl::UnimplementedError(
        absl::StrCat("cannot create an enrollment token for ", name,
                     ": this controller has no enrollment (tachyon token create)"));
  };
  return hooks;
}

}  // namespace tachyon::cli
