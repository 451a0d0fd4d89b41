#pragma once

// gRPC edge for operators (the `tachyon` CLI): ControlService. Every call checks that the peer
// certificate is an operator's, then hands plain structs to the Dispatcher / ExecSession.

#include "controller/cert_authority.h"
#include "controller/dispatcher.h"
#include "controller/event_bus.h"
#include "controller/rollouts.h"
#include "controller/store/store.h"
#include "tachyon/v1/control.grpc.pb.h"

namespace tachyon::controller {

class ControlServiceImpl final : public tachyon::v1::ControlService::CallbackService {
 public:
  struct Options {
    int64_t default_timeout_seconds = 0;  // for exec without -B; 0 = none
    // Tokens and revocation (issue 8); null: those calls are UNIMPLEMENTED.
    CertAuthority* authority = nullptr;
    // About how much of the agent list one ListAgents page carries (their facts are most of
    // it): far below the message limit at any fleet size.
    size_t list_agents_page_bytes = 1u << 20;
  };
  ControlServiceImpl(Dispatcher* dispatcher, EventBus* bus, store::Store* store,
                     RolloutManager* rollouts, Options options)
      : dispatcher_(dispatcher), bus_(bus), store_(store), rollouts_(rollouts), options_(options) {}

  grpc::ServerUnaryReactor* ListAgents(grpc::CallbackServerContext* ctx,
                                       const tachyon::v1::ListAgentsRequest* req,
                                       tachyon::v1::ListAgentsResponse* resp) override;
  grpc::ServerWriteReactor<tachyon::v1::ExecUpdate>* Exec(
      grpc::CallbackServerContext* ctx, const tachyon::v1::ExecRequest* req) override;
  grpc::ServerUnaryReactor* JobStatus(grpc::CallbackServerContext* ctx,
                                      const tachyon::v1::JobRequest* req,
                                      tachyon::v1::JobStatusResponse* resp) override;
  grpc::ServerUnaryReactor* KillJob(grpc::CallbackServerContext* ctx,
                                    const tachyon::v1::JobRequest* req,
                                    tachyon::v1::JobActionResponse* resp) override;
  grpc::ServerUnaryReactor* CleanupJob(grpc::CallbackServerContext* ctx,
                                       const tachyon::v1::JobRequest* req,
                                       tachyon::v1::JobActionResponse* resp) override;
  grpc::ServerWriteReactor<tachyon::v1::Event>* Events(
      grpc::CallbackServerContext* ctx, const tachyon::v1::EventsRequest* req) override;
  grpc::ServerUnaryReactor* StartRollout(grpc::CallbackServerContext* ctx,
                                         const tachyon::v1::StartRolloutRequest* req,
                                         tachyon::v1::StartRolloutResponse* resp) override;
  grpc::ServerUnaryReactor* ListRollouts(grpc::CallbackServerContext* ctx,
                                         const tachyon::v1::ListRolloutsRequest* req,
                                         tachyon::v1::ListRolloutsResponse* resp) override;
  grpc::ServerUnaryReactor* GetRollout(grpc::CallbackServerContext* ctx,
                                       const tachyon::v1::RolloutRequest* req,
                                       tachyon::v1::RolloutInfo* resp) override;
  grpc::ServerUnaryReactor* PauseRollout(grpc::CallbackServerContext* ctx,
                                         const tachyon::v1::RolloutRequest* req,
                                         tachyon::v1::RolloutInfo* resp) override;
  grpc::ServerUnaryReactor* ResumeRollout(grpc::CallbackServerContext* ctx,
                                          const tachyon::v1::RolloutRequest* req,
                                          tachyon::v1::RolloutInfo* resp) override;
  grpc::ServerUnaryReactor* AbortRollout(grpc::CallbackServerContext* ctx,
                                         const tachyon::v1::RolloutRequest* req,
                                         tachyon::v1::RolloutInfo* resp) override;
  grpc::ServerUnaryReactor* RevokeAgent(grpc::CallbackServerContext* ctx,
                                        const tachyon::v1::RevokeAgentRequest* req,
                                        tachyon::v1::RevokeAgentResponse* resp) override;
  grpc::ServerUnaryReactor* CreateToken(grpc::CallbackServerContext* ctx,
                                        const tachyon::v1::CreateTokenRequest* req,
                                        tachyon::v1::CreateTokenResponse* resp) override;

 private:
  Dispatcher* dispatcher_;
  EventBus* bus_;
  store::Store* store_;
  RolloutManager* rollouts_;
  Options options_;
};

}  // namespace tachyon::controller
