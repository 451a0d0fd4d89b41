#pragma once

// TCP helpers for wait_for and uri: a connect bounded by a deadline, and bounded reads.

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tachyon::modules {

// Connects to host:port (each address getaddrinfo gives, in order) within `timeout`. Returns
// the connected socket (blocking, close-on-exec) or an error naming the last failure.
absl::StatusOr<int> ConnectTcp(const std::string& host, int port, absl::Duration timeout);

// Waits until `fd` is readable (POLLIN) or `deadline` passes; false on timeout.
bool WaitReadable(int fd, absl::Time deadline);

}  // namespace tachyon::modules
