#pragma once

// `tachyon-agent enroll`: turns a one-time token into this host's identity. The key is made
// here and never leaves the host; the controller is pinned by the CA fingerprint carried in the
// token before the token is sent anywhere. Also the state-dir layout that lets
// `tachyon-agent --state-dir DIR` start without --ca/--cert/--key, and the recovery of a
// renewal that a crash interrupted.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/tls.h"

namespace tachyon::agent {

// Files an enrolled state dir holds.
struct EnrolledFiles {
  tls::Files tls;          // DIR/ca.crt, DIR/agent.crt, DIR/agent.key
  std::string controller;  // DIR/controller: the address the agent enrolled with
};
EnrolledFiles EnrolledFilesIn(const std::string& state_dir);
// True when DIR holds an enrolled certificate and key.
bool IsEnrolled(const std::string& state_dir);
// The controller address saved at enrollment ("" when there is none).
std::string SavedControllerAddress(const std::string& state_dir);

// Fills empty --ca/--cert/--key from an enrolled state dir, and the controller address from
// DIR/controller unless --controller was given; recovers an interrupted renewal. False (after
// printing why) when certificates are neither given nor enrolled.
bool ResolveEnrolledFiles(const std::string& state_dir, std::string* controller, tls::Files* tls,
                          bool controller_given);

// `tachyon-agent enroll ...` (argv[0] is "enroll"). Returns the exit code.
int EnrollMain(int argc, char** argv);

// A renewal writes DIR/agent.crt.new, then agent.key, then renames agent.crt.new over
// agent.crt. If the agent died between the two, the key is new and the certificate old: put
// the new one in place. Nothing to do otherwise.
absl::Status RecoverInterruptedRenewal(const tls::Files& files);

// Installs a renewed certificate and its key (see RecoverInterruptedRenewal for the order), and
// the controller's CA bundle when it is non-empty and differs.
absl::Status InstallCertificate(const tls::Files& files, const std::string& key_pem,
                                const std::string& cert_pem, const std::string& ca_pem);

}  // namespace tachyon::agent
