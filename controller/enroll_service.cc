#include "controller/enroll_service.h"

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace tachyon::controller {

namespace {
constexpr size_t kMaxTokenBytes = 512;
constexpr size_t kMaxCsrBytes = 16 << 10;
}  // namespace

grpc::ServerUnaryReactor* EnrollServiceImpl::Enroll(grpc::CallbackServerContext* ctx,
                                                    const tachyon::v1::EnrollRequest* req,
                                                    tachyon::v1::EnrollResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (req->token().size() > kMaxTokenBytes || req->csr_pem().size() > kMaxCsrBytes ||
      req->requested_name().size() > 128) {
    reactor->Finish(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "enrollment request exceeds size limits"));
    return reactor;
  }
  auto issued = authority_->Enroll(req->token(), req->requested_name(), req->csr_pem());
  if (!issued.ok()) {
    TLOG(Warning) << "security: enrollment from " << ctx->peer()
                  << " refused: " << issued.status().message();
    reactor->Finish(grpc::Status(static_cast<grpc::StatusCode>(issued.status().code()),
                                 std::string(issued.status().message())));
    return reactor;
  }
  resp->set_agent_name(issued->name);
  resp->set_cert_pem(issued->cert_pem);
  resp->set_ca_pem(issued->ca_pem);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace tachyon::controller
