#pragma once

// gRPC edge for agents: AgentService.Connect, one bidirectional stream per agent. Checks the
// peer certificate (role agent, name from its SAN), converts wire messages to plain structs for
// the Dispatcher, and implements AgentLink for sending to that agent.

#include "controller/cert_authority.h"
#include "controller/dispatcher.h"
#include "tachyon/v1/agent.grpc.pb.h"

namespace tachyon::controller {

class AgentServiceImpl final : public tachyon::v1::AgentService::CallbackService {
 public:
  // `authority` (may be null) refuses revoked agents at stream start and renews certificates.
  explicit AgentServiceImpl(Dispatcher* dispatcher, CertAuthority* authority = nullptr)
      : dispatcher_(dispatcher), authority_(authority) {}

  grpc::ServerBidiReactor<tachyon::v1::AgentMessage, tachyon::v1::ControllerMessage>* Connect(
      grpc::CallbackServerContext* context) override;

 private:
  Dispatcher* dispatcher_;
  CertAuthority* authority_;
};

}  // namespace tachyon::controller
