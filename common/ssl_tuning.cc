// Per-connection OpenSSL settings that gRPC 1.51 gives no way to make: every SSL object that
// gRPC's TLS stack creates in this process comes through here (see common/ssl_tuning.h).

#include "common/ssl_tuning.h"

#include <dlfcn.h>
#include <openssl/ssl.h>

extern "C" {

// Interposes libssl's SSL_new: the executable's definition comes first in symbol lookup, so
// libgrpc's calls land here. The real one is the next definition (libssl's).
SSL* SSL_new(SSL_CTX* ctx) {
  using SslNewFn = SSL* (*)(SSL_CTX*);
  static const SslNewFn real = reinterpret_cast<SslNewFn>(::dlsym(RTLD_NEXT, "SSL_new"));
  if (real == nullptr) return nullptr;  // no libssl after us: SSL_new fails as on OOM
  SSL* ssl = real(ctx);
  // An idle connection holds no record buffers (about 34 KiB per connection otherwise: a read
  // and a write buffer of a maximal TLS record each); they come back from malloc when a record
  // is read or written.
  if (ssl != nullptr) SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
  return ssl;
}

}  // extern "C"

namespace tachyon {

bool SslTuningActive() {
  // A TLS-less probe: the SSL_CTX needs no certificate for SSL_new.
  SSL_CTX* ctx = SSL_CTX_new(TLS_method());
  if (ctx == nullptr) return false;
  SSL* ssl = SSL_new(ctx);
  bool active = ssl != nullptr && (SSL_get_mode(ssl) & SSL_MODE_RELEASE_BUFFERS) != 0;
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return active;
}

}  // namespace tachyon
