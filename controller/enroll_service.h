#pragma once

// gRPC edge for enrollment: EnrollService.Enroll, the one call a client without a certificate
// may make. Size checks and wire <-> plain structs; the decisions are CertAuthority's.

#include "controller/cert_authority.h"
#include "tachyon/v1/agent.grpc.pb.h"

namespace tachyon::controller {

class EnrollServiceImpl final : public tachyon::v1::EnrollService::CallbackService {
 public:
  explicit EnrollServiceImpl(CertAuthority* authority) : authority_(authority) {}

  grpc::ServerUnaryReactor* Enroll(grpc::CallbackServerContext* ctx,
                                   const tachyon::v1::EnrollRequest* req,
                                   tachyon::v1::EnrollResponse* resp) override;

 private:
  CertAuthority* authority_;
};

}  // namespace tachyon::controller
