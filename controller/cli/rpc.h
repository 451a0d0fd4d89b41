#pragma once

// Shared plumbing of the CLI commands that call the controller (commands.cc, run.cc).

#include <grpcpp/grpcpp.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "controller/cli/commands.h"
#include "nlohmann/json.hpp"
#include "tachyon/v1/control.grpc.pb.h"

namespace tachyon::cli {

// JSON text to a value ({} when it does not parse).
nlohmann::json Parse(const std::string& text);

// Prints a user-facing line for a failed RPC and returns the exit code: 1 (error) unless the
// code says the request itself was bad (5).
int ReportRpcError(const Connection& conn, const grpc::Status& status);

// A stub over mTLS with the message size limits; nullptr with `error` set when the
// certificates cannot be read.
std::unique_ptr<tachyon::v1::ControlService::Stub> MakeStub(const Connection& conn,
                                                            std::string* error);

// The deadline of every unary call.
void SetDeadline(grpc::ClientContext* ctx);

// Every agent the controller knows, in name order: ListAgents page after page.
grpc::Status ListAllAgents(tachyon::v1::ControlService::Stub* stub,
                           std::vector<tachyon::v1::AgentInfo>* out);

}  // namespace tachyon::cli

#define TACHYON_STUB_OR_RETURN(stub, conn)            \
  std::string stub##_error;                           \
  auto stub = MakeStub(conn, &stub##_error);          \
  if (!stub) {                                        \
    std::cerr << "tachyon: " << stub##_error << "\n"; \
    return 5;                                         \
  }
