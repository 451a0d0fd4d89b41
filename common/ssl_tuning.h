#pragma once

// gRPC 1.51 creates its own SSL objects and exposes no hook for them. Linking
// common/ssl_tuning.cc into a binary (the controller and the agent do, as an object, with
// SSL_new exported) makes every SSL object in the process release its record buffers while the
// connection is idle (SSL_MODE_RELEASE_BUFFERS): about 34 KiB per connection that a controller
// with thousands of mostly idle agents would otherwise hold.

namespace tachyon {

// True when SSL objects made in this process get the settings above (tls_test checks it).
bool SslTuningActive();

}  // namespace tachyon
