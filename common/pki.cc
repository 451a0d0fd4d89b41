#include "common/pki.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/fs.h"
#include "common/status.h"

namespace tachyon::pki {
namespace {

// One deleter type per OpenSSL free function, so that every object is owned by a unique_ptr.
template <auto kFree>
struct SslDeleter {
  template <typename T>
  void operator()(T* p) const {
    kFree(p);
  }
};
template <typename T, auto kFree>
using SslPtr = std::unique_ptr<T, SslDeleter<kFree>>;

using BioPtr = SslPtr<BIO, BIO_free_all>;
using X509Ptr = SslPtr<X509, X509_free>;
using PkeyPtr = SslPtr<EVP_PKEY, EVP_PKEY_free>;
using BnPtr = SslPtr<BIGNUM, BN_free>;
using Asn1IntPtr = SslPtr<ASN1_INTEGER, ASN1_INTEGER_free>;
using ExtPtr = SslPtr<X509_EXTENSION, X509_EXTENSION_free>;
using GeneralNamesPtr = SslPtr<GENERAL_NAMES, GENERAL_NAMES_free>;
using StorePtr = SslPtr<X509_STORE, X509_STORE_free>;
using StoreCtxPtr = SslPtr<X509_STORE_CTX, X509_STORE_CTX_free>;
using ReqPtr = SslPtr<X509_REQ, X509_REQ_free>;
void FreeExtStack(STACK_OF(X509_EXTENSION) * s) {
  sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free);
}
using ExtStackPtr = SslPtr<STACK_OF(X509_EXTENSION), FreeExtStack>;
using BasicConstraintsPtr = SslPtr<BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free>;
using EkuPtr = SslPtr<EXTENDED_KEY_USAGE, EXTENDED_KEY_USAGE_free>;

constexpr absl::string_view kUriScheme = "tachyon://";

// Drains OpenSSL's thread-local error queue into a Status, so that a later call never reports
// a stale error.
absl::Status SslError(absl::string_view what) {
  std::vector<std::string> reasons;
  while (unsigned long err = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    reasons.emplace_back(buf);
  }
  if (reasons.empty()) return absl::InternalError(std::string(what));
  return absl::InternalError(absl::StrCat(what, ": ", absl::StrJoin(reasons, "; ")));
}

BioPtr MemBio(const std::string& data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : std::string();
}

absl::StatusOr<X509Ptr> ParseCert(const std::string& pem, absl::string_view what) {
  ERR_clear_error();
  BioPtr bio = MemBio(pem);
  if (!bio) return SslError("BIO_new_mem_buf");
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(what, " is not a PEM certificate"));
  }
  return cert;
}

// Accepts a private key PEM (PKCS#8 or traditional) or a public key PEM.
absl::StatusOr<PkeyPtr> ParseKey(const std::string& pem, bool require_private,
                                 absl::string_view what) {
  ERR_clear_error();
  {
    BioPtr bio = MemBio(pem);
    if (!bio) return SslError("BIO_new_mem_buf");
    PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    if (key) return key;
  }
  ERR_clear_error();
  if (!require_private) {
    BioPtr bio = MemBio(pem);
    if (!bio) return SslError("BIO_new_mem_buf");
    PkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
    if (key) return key;
    ERR_clear_error();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      what, " is not a PEM ", require_private ? "private key" : "private or public key"));
}

// The contract promises EC P-256 keys everywhere; enforcing it here also stops an enrolling
// host from getting a weak key signed.
absl::Status CheckP256(EVP_PKEY* key, absl::string_view what) {
  char group[64] = {0};
  size_t len = 0;
  if (!EVP_PKEY_is_a(key, "EC") ||
      !EVP_PKEY_get_group_name(key, group, sizeof(group), &len) ||
      absl::string_view(group, len) != "prime256v1") {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(what, " is not an EC P-256 key"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> CertToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || !PEM_write_bio_X509(bio.get(), cert)) return SslError("PEM_write_bio_X509");
  return BioContents(bio.get());
}

absl::Status CheckDays(int days) {
  if (days < 1 || days > kMaxDays) {
    return absl::InvalidArgumentError(
        absl::StrCat("--days must be between 1 and ", kMaxDays, ", got ", days));
  }
  return absl::OkStatus();
}

absl::Status CheckName(const std::string& name) {
  if (!IsValidName(name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid name \"", absl::CEscape(name),
        "\": use 1-128 characters from [A-Za-z0-9._-], starting with a letter or digit"));
  }
  return absl::OkStatus();
}

bool IsIpLiteral(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

// A DNS SAN as OpenSSL's config syntax will carry it: no separators that could smuggle in a
// second SAN entry.
bool IsValidDnsName(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ||
           c == '_' || c == '*';
  });
}

absl::StatusOr<std::string> SanValue(Role role, const std::string& name,
                                     const std::vector<std::string>& extra_sans) {
  std::vector<std::string> parts = {absl::StrCat("URI:", IdentityUri(role, name))};
  if (!extra_sans.empty() && role != Role::kController) {
    return absl::InvalidArgumentError(
        absl::StrCat("extra SANs are only for the controller certificate, not ", RoleName(role)));
  }
  for (const std::string& san : extra_sans) {
    if (IsIpLiteral(san)) {
      parts.push_back(absl::StrCat("IP:", san));
    } else if (IsValidDnsName(san)) {
      parts.push_back(absl::StrCat("DNS:", san));
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid SAN \"", absl::CEscape(san), "\": expected an IP address or a DNS name"));
    }
  }
  return absl::StrJoin(parts, ",");
}

absl::Status AddExt(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  ExtPtr ext(X509V3_EXT_nconf_nid(nullptr, ctx, nid, value.c_str()));
  if (!ext) return SslError(absl::StrCat("extension ", OBJ_nid2sn(nid), "=", value));
  if (!X509_add_ext(cert, ext.get(), -1)) return SslError("X509_add_ext");
  return absl::OkStatus();
}

// 128 random bits, as CA/Browser practice asks, so that serials are unpredictable.
absl::Status SetRandomSerial(X509* cert) {
  unsigned char bytes[16];
  BnPtr bn;
  do {
    if (RAND_bytes(bytes, sizeof(bytes)) != 1) return SslError("RAND_bytes");
    bn.reset(BN_bin2bn(bytes, sizeof(bytes), nullptr));
    if (!bn) return SslError("BN_bin2bn");
  } while (BN_is_zero(bn.get()));
  Asn1IntPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (!serial || !X509_set_serialNumber(cert, serial.get())) return SslError("serial number");
  return absl::OkStatus();
}

absl::Status SetValidity(X509* cert, const Validity& v) {
  if (v.not_after <= v.not_before) {
    return absl::InvalidArgumentError("certificate validity ends before it starts");
  }
  if (!ASN1_TIME_set(X509_getm_notBefore(cert), absl::ToTimeT(v.not_before)) ||
      !ASN1_TIME_set(X509_getm_notAfter(cert), absl::ToTimeT(v.not_after))) {
    return SslError("ASN1_TIME_set");
  }
  return absl::OkStatus();
}

absl::Status SetCommonName(X509_NAME* subject, const std::string& cn) {
  if (!X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                  reinterpret_cast<const unsigned char*>(cn.data()),
                                  static_cast<int>(cn.size()), -1, 0)) {
    return SslError("X509_NAME_add_entry_by_txt");
  }
  return absl::OkStatus();
}

// The parts every certificate shares: v3, random serial, validity, subject CN, public key.
absl::StatusOr<X509Ptr> NewCert(EVP_PKEY* subject_key, const std::string& cn,
                                const Validity& validity) {
  X509Ptr cert(X509_new());
  if (!cert) return SslError("X509_new");
  if (!X509_set_version(cert.get(), X509_VERSION_3)) return SslError("X509_set_version");
  RETURN_IF_ERROR(SetRandomSerial(cert.get()));
  RETURN_IF_ERROR(SetValidity(cert.get(), validity));
  RETURN_IF_ERROR(SetCommonName(X509_get_subject_name(cert.get()), cn));
  if (!X509_set_pubkey(cert.get(), subject_key)) return SslError("X509_set_pubkey");
  return cert;
}

absl::StatusOr<PkeyPtr> NewP256Key() {
  ERR_clear_error();
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return SslError("EVP_EC_gen(P-256)");
  return key;
}

absl::StatusOr<std::string> PrivateKeyToPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  // PKCS#8 ("BEGIN PRIVATE KEY"), unencrypted: the file mode is the protection.
  if (!bio || !PEM_write_bio_PKCS8PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr,
                                             nullptr)) {
    return SslError("PEM_write_bio_PKCS8PrivateKey");
  }
  return BioContents(bio.get());
}

std::string Join(const std::string& dir, absl::string_view file) {
  return absl::StrCat(dir, "/", file);
}

// Keys first, each written atomically: a reader never sees a certificate without its key.
absl::Status WriteKeyAndCert(const std::string& key_path, const std::string& key_pem,
                             const std::string& cert_path, const std::string& cert_pem) {
  RETURN_IF_ERROR(WriteFileAtomic(key_path, key_pem, 0600));
  return WriteFileAtomic(cert_path, cert_pem, 0644);
}

// Backdated a little so that a peer whose clock runs slightly behind accepts a fresh cert.
constexpr absl::Duration kBackdate = absl::Minutes(5);

Validity ValidityFor(int days) {
  absl::Time now = absl::Now();
  return Validity{now - kBackdate, now + absl::Hours(24) * days};
}

const char* SubdirFor(Role role) {
  return role == Role::kAgent ? "agents" : role == Role::kOperator ? "operators" : "controllers";
}

}  // namespace

const char* RoleName(Role role) {
  switch (role) {
    case Role::kAgent: return "agent";
    case Role::kOperator: return "operator";
    case Role::kController: return "controller";
  }
  return "unknown";
}

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  if (!absl::ascii_isalnum(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
           c == '-';
  });
}

std::string IdentityUri(Role role, const std::string& name) {
  return absl::StrCat(kUriScheme, RoleName(role), "/", name);
}

std::string IssuedCertPath(const std::string& dir, Role role, const std::string& name) {
  return absl::StrCat(dir, "/", SubdirFor(role), "/", name, ".crt");
}

std::string IssuedKeyPath(const std::string& dir, Role role, const std::string& name) {
  return absl::StrCat(dir, "/", SubdirFor(role), "/", name, ".key");
}

absl::StatusOr<std::string> MakeKeyPem() {
  ASSIGN_OR_RETURN(PkeyPtr key, NewP256Key());
  return PrivateKeyToPem(key.get());
}

absl::StatusOr<std::string> PublicKeyPem(const std::string& key_pem) {
  ASSIGN_OR_RETURN(PkeyPtr key, ParseKey(key_pem, /*require_private=*/false, "key"));
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || !PEM_write_bio_PUBKEY(bio.get(), key.get())) return SslError("PEM_write_bio_PUBKEY");
  return BioContents(bio.get());
}

absl::StatusOr<CaPems> MakeCa(const std::string& common_name, Validity validity) {
  ASSIGN_OR_RETURN(PkeyPtr key, NewP256Key());
  ASSIGN_OR_RETURN(X509Ptr cert, NewCert(key.get(), common_name, validity));
  if (!X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()))) {
    return SslError("X509_set_issuer_name");
  }
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  // pathlen:0: this CA signs leaves only, never another CA.
  RETURN_IF_ERROR(AddExt(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
  RETURN_IF_ERROR(AddExt(cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign"));
  // SKI before AKI: for a self-signed cert the AKI is taken from its own SKI.
  RETURN_IF_ERROR(AddExt(cert.get(), &ctx, NID_subject_key_identifier, "hash"));
  RETURN_IF_ERROR(AddExt(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always"));
  if (!X509_sign(cert.get(), key.get(), EVP_sha256())) return SslError("X509_sign");
  CaPems out;
  ASSIGN_OR_RETURN(out.cert_pem, CertToPem(cert.get()));
  ASSIGN_OR_RETURN(out.key_pem, PrivateKeyToPem(key.get()));
  return out;
}

absl::StatusOr<std::string> SignCertificate(const std::string& ca_cert_pem,
                                            const std::string& ca_key_pem,
                                            const std::string& subject_key_pem, Role role,
                                            const std::string& name, Validity validity,
                                            const std::vector<std::string>& extra_sans) {
  RETURN_IF_ERROR(CheckName(name));
  ASSIGN_OR_RETURN(std::string san, SanValue(role, name, extra_sans));
  ASSIGN_OR_RETURN(X509Ptr ca, ParseCert(ca_cert_pem, "CA certificate"));
  ASSIGN_OR_RETURN(PkeyPtr ca_key, ParseKey(ca_key_pem, /*require_private=*/true, "CA key"));
  if (X509_check_private_key(ca.get(), ca_key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("the CA key does not match the CA certificate");
  }
  ASSIGN_OR_RETURN(PkeyPtr subject_key,
                   ParseKey(subject_key_pem, /*require_private=*/false, "subject key"));
  RETURN_IF_ERROR(CheckP256(subject_key.get(), "subject key"));

  ASSIGN_OR_RETURN(X509Ptr cert, NewCert(subject_key.get(), name, validity));
  if (!X509_set_issuer_name(cert.get(), X509_get_subject_name(ca.get()))) {
    return SslError("X509_set_issuer_name");
  }
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca.get(), cert.get(), nullptr, nullptr, 0);
  RETURN_IF_ERROR(AddExt(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE"));
  RETURN_IF_ERROR(AddExt(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature"));
  // Agents and operators only ever dial; only the controller may act as a TLS server.
  RETURN_IF_ERROR(AddExt(cert.get(), &ctx, NID_ext_key_usage,
                         role == Role::kController ? "serverAuth,clientAuth" : "clientAuth"));
  RETURN_IF_ERROR(AddExt(cert.get(), &ctx, NID_subject_key_identifier, "hash"));
  RETURN_IF_ERROR(AddExt(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always"));
  RETURN_IF_ERROR(AddExt(cert.get(), &ctx, NID_subject_alt_name, san));
  if (!X509_sign(cert.get(), ca_key.get(), EVP_sha256())) return SslError("X509_sign");
  return CertToPem(cert.get());
}

absl::StatusOr<Identity> IdentityFromCertPem(const std::string& cert_pem) {
  ASSIGN_OR_RETURN(X509Ptr cert, ParseCert(cert_pem, "peer certificate"));
  int crit = 0;
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, &crit, nullptr)));
  ERR_clear_error();
  if (!names) {
    return absl::PermissionDeniedError("certificate has no (or more than one) SAN extension");
  }
  std::optional<Identity> found;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    if (gn->type != GEN_URI) continue;
    const ASN1_IA5STRING* uri = gn->d.uniformResourceIdentifier;
    absl::string_view value(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                           static_cast<size_t>(ASN1_STRING_length(uri)));
    if (!absl::StartsWith(value, kUriScheme)) continue;
    if (found) {
      // Two identities in one certificate would let the holder pick one; refuse both.
      return absl::PermissionDeniedError("certificate carries more than one tachyon:// identity");
    }
    absl::string_view rest = value.substr(kUriScheme.size());
    size_t slash = rest.find('/');
    if (slash == absl::string_view::npos) {
      return absl::PermissionDeniedError(
          absl::StrCat("malformed identity URI \"", absl::CEscape(value), "\""));
    }
    absl::string_view role = rest.substr(0, slash);
    absl::string_view name = rest.substr(slash + 1);
    Identity id;
    if (role == "agent") {
      id.role = Role::kAgent;
    } else if (role == "operator") {
      id.role = Role::kOperator;
    } else if (role == "controller") {
      id.role = Role::kController;
    } else {
      return absl::PermissionDeniedError(
          absl::StrCat("unknown role in identity URI \"", absl::CEscape(value), "\""));
    }
    if (!IsValidName(std::string_view(name.data(), name.size()))) {
      return absl::PermissionDeniedError(
          absl::StrCat("invalid name in identity URI \"", absl::CEscape(value), "\""));
    }
    id.name = std::string(name);
    found = std::move(id);
  }
  if (!found) return absl::PermissionDeniedError("certificate has no tachyon:// SAN URI");
  return *found;
}

absl::StatusOr<std::string> FingerprintSha256(const std::string& cert_pem) {
  ASSIGN_OR_RETURN(X509Ptr cert, ParseCert(cert_pem, "certificate"));
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!X509_digest(cert.get(), EVP_sha256(), md, &len)) return SslError("X509_digest");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xf]);
  }
  return out;
}

absl::Status VerifyCertificate(const std::string& ca_cert_pem, const std::string& cert_pem) {
  ASSIGN_OR_RETURN(X509Ptr ca, ParseCert(ca_cert_pem, "CA certificate"));
  ASSIGN_OR_RETURN(X509Ptr cert, ParseCert(cert_pem, "certificate"));
  StorePtr store(X509_STORE_new());
  if (!store || !X509_STORE_add_cert(store.get(), ca.get())) return SslError("X509_STORE");
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || !X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr)) {
    return SslError("X509_STORE_CTX_init");
  }
  if (X509_verify_cert(ctx.get()) != 1) {
    int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return absl::PermissionDeniedError(
        absl::StrCat("certificate verification failed: ", X509_verify_cert_error_string(err)));
  }
  return absl::OkStatus();
}

absl::Status CheckKeyMatchesCert(const std::string& cert_pem, const std::string& key_pem) {
  ASSIGN_OR_RETURN(X509Ptr cert, ParseCert(cert_pem, "certificate"));
  ASSIGN_OR_RETURN(PkeyPtr key, ParseKey(key_pem, /*require_private=*/true, "key"));
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("the key does not match the certificate");
  }
  return absl::OkStatus();
}

absl::Status CheckCertificatePem(const std::string& pem) {
  return ParseCert(pem, "file").status();
}

absl::Status Init(const InitOptions& options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("pki init needs a directory (--dir)");
  RETURN_IF_ERROR(CheckDays(options.days));
  const std::string& dir = options.dir;
  for (absl::string_view file : {"ca.crt", "ca.key"}) {
    std::string path = Join(dir, file);
    if (PathExists(path)) {
      return absl::AlreadyExistsError(absl::StrCat(
          path, " already exists: refusing to overwrite an existing CA (every certificate it "
                "issued would stop working); use another --dir or remove this one first"));
    }
  }

  // Everything is made in memory first, so that a bad --san fails before any file is written.
  Validity leaf = ValidityFor(options.days);
  ASSIGN_OR_RETURN(CaPems ca, MakeCa("tachyon CA", ValidityFor(std::max(options.days, kCaMinDays))));
  ASSIGN_OR_RETURN(std::string controller_key, MakeKeyPem());
  ASSIGN_OR_RETURN(std::string controller_cert,
                   SignCertificate(ca.cert_pem, ca.key_pem, controller_key, Role::kController,
                                   "controller", leaf, options.sans));
  ASSIGN_OR_RETURN(std::string admin_key, MakeKeyPem());
  ASSIGN_OR_RETURN(std::string admin_cert, SignCertificate(ca.cert_pem, ca.key_pem, admin_key,
                                                           Role::kOperator, "admin", leaf, {}));

  RETURN_IF_ERROR(MakeDirs(dir, 0700));
  RETURN_IF_ERROR(WriteKeyAndCert(Join(dir, "controller.key"), controller_key,
                                  Join(dir, "controller.crt"), controller_cert));
  RETURN_IF_ERROR(
      WriteKeyAndCert(Join(dir, "admin.key"), admin_key, Join(dir, "admin.crt"), admin_cert));
  // The CA goes last: if anything above failed, no CA exists and a rerun simply works.
  return WriteKeyAndCert(Join(dir, "ca.key"), ca.key_pem, Join(dir, "ca.crt"), ca.cert_pem);
}

absl::Status Issue(const std::string& dir, Role role, const std::string& name, int days) {
  if (role == Role::kController) {
    return absl::InvalidArgumentError(
        "the controller certificate is made by `pki init`; issue agents or operators");
  }
  RETURN_IF_ERROR(CheckName(name));
  RETURN_IF_ERROR(CheckDays(days));
  std::string cert_path = IssuedCertPath(dir, role, name);
  std::string key_path = IssuedKeyPath(dir, role, name);
  for (const std::string& path : {cert_path, key_path}) {
    if (PathExists(path)) {
      return absl::AlreadyExistsError(absl::StrCat(
          path, " already exists: refusing to overwrite it; remove it first to reissue"));
    }
  }
  absl::StatusOr<std::string> ca_cert = ReadFile(Join(dir, "ca.crt"));
  if (!ca_cert.ok()) {
    return absl::Status(ca_cert.status().code(),
                        absl::StrCat("reading the CA certificate (run `tachyon pki init` first?): ",
                                     ca_cert.status().message()));
  }
  absl::StatusOr<std::string> ca_key = ReadFile(Join(dir, "ca.key"));
  if (!ca_key.ok()) {
    return absl::Status(ca_key.status().code(), absl::StrCat("reading the CA key: ",
                                                             ca_key.status().message()));
  }
  ASSIGN_OR_RETURN(std::string key, MakeKeyPem());
  ASSIGN_OR_RETURN(std::string cert,
                   SignCertificate(*ca_cert, *ca_key, key, role, name, ValidityFor(days), {}));
  RETURN_IF_ERROR(MakeDirs(Join(dir, SubdirFor(role)), 0700));
  return WriteKeyAndCert(key_path, key, cert_path, cert);
}

absl::Status IssueController(const std::string& dir, const std::string& name,
                             const std::vector<std::string>& sans, int days) {
  RETURN_IF_ERROR(CheckName(name));
  RETURN_IF_ERROR(CheckDays(days));
  std::string cert_path = IssuedCertPath(dir, Role::kController, name);
  std::string key_path = IssuedKeyPath(dir, Role::kController, name);
  for (const std::string& path : {cert_path, key_path}) {
    if (PathExists(path)) {
      return absl::AlreadyExistsError(
          absl::StrCat(path, " already exists: refusing to overwrite it; pick another name"));
    }
  }
  ASSIGN_OR_RETURN(std::string ca_cert, ReadFile(Join(dir, "ca.crt")));
  ASSIGN_OR_RETURN(std::string ca_key, ReadFile(Join(dir, "ca.key")));
  ASSIGN_OR_RETURN(std::string key, MakeKeyPem());
  ASSIGN_OR_RETURN(std::string cert, SignCertificate(ca_cert, ca_key, key, Role::kController,
                                                     "controller", ValidityFor(days), sans));
  RETURN_IF_ERROR(MakeDirs(Join(dir, SubdirFor(Role::kController)), 0700));
  return WriteKeyAndCert(key_path, key, cert_path, cert);
}

absl::StatusOr<std::string> MakeCsrPem(
    const std::string& key_pem, const std::string& common_name,
    const std::vector<std::pair<std::string, std::string>>& extensions) {
  ASSIGN_OR_RETURN(PkeyPtr key, ParseKey(key_pem, /*require_private=*/true, "key"));
  ReqPtr req(X509_REQ_new());
  if (!req) return SslError("X509_REQ_new");
  if (!X509_REQ_set_version(req.get(), 0)) return SslError("X509_REQ_set_version");
  if (!common_name.empty()) {
    RETURN_IF_ERROR(SetCommonName(X509_REQ_get_subject_name(req.get()), common_name));
  }
  if (!X509_REQ_set_pubkey(req.get(), key.get())) return SslError("X509_REQ_set_pubkey");
  if (!extensions.empty()) {
    ExtStackPtr exts(sk_X509_EXTENSION_new_null());
    if (!exts) return SslError("sk_X509_EXTENSION_new_null");
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, nullptr, nullptr, req.get(), nullptr, 0);
    for (const auto& [name, value] : extensions) {
      X509_EXTENSION* ext = X509V3_EXT_nconf(nullptr, &ctx, name.c_str(), value.c_str());
      if (!ext) return SslError(absl::StrCat("extension ", name, "=", value));
      if (!sk_X509_EXTENSION_push(exts.get(), ext)) {
        X509_EXTENSION_free(ext);
        return SslError("sk_X509_EXTENSION_push");
      }
    }
    if (!X509_REQ_add_extensions(req.get(), exts.get())) return SslError("X509_REQ_add_extensions");
  }
  if (!X509_REQ_sign(req.get(), key.get(), EVP_sha256())) return SslError("X509_REQ_sign");
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || !PEM_write_bio_X509_REQ(bio.get(), req.get()))
    return SslError("PEM_write_bio_X509_REQ");
  return BioContents(bio.get());
}

absl::StatusOr<std::string> PublicKeyFromCsrPem(const std::string& csr_pem) {
  ERR_clear_error();
  BioPtr bio = MemBio(csr_pem);
  if (!bio) return SslError("BIO_new_mem_buf");
  ReqPtr req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  if (!req) {
    ERR_clear_error();
    return absl::InvalidArgumentError("the certificate request is not a PEM CSR");
  }
  EVP_PKEY* key = X509_REQ_get0_pubkey(req.get());
  if (key == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError("the certificate request carries no public key");
  }
  // Proof of possession: whoever sent the request holds the private key.
  if (X509_REQ_verify(req.get(), key) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("the certificate request's signature does not verify");
  }
  RETURN_IF_ERROR(CheckP256(key, "the requested key"));
  BioPtr out(BIO_new(BIO_s_mem()));
  if (!out || !PEM_write_bio_PUBKEY(out.get(), key)) return SslError("PEM_write_bio_PUBKEY");
  return BioContents(out.get());
}

absl::StatusOr<CertInfo> ReadCertInfo(const std::string& cert_pem) {
  ASSIGN_OR_RETURN(X509Ptr cert, ParseCert(cert_pem, "certificate"));
  CertInfo info;
  BnPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr));
  if (!serial) return SslError("serial number");
  char* hex = BN_bn2hex(serial.get());
  if (hex == nullptr) return SslError("BN_bn2hex");
  info.serial_hex = absl::AsciiStrToLower(hex);
  OPENSSL_free(hex);
  auto to_time = [](const ASN1_TIME* t) -> absl::StatusOr<absl::Time> {
    struct tm tm {};
    if (ASN1_TIME_to_tm(t, &tm) != 1) return SslError("ASN1_TIME_to_tm");
    return absl::FromTM(tm, absl::UTCTimeZone());
  };
  ASSIGN_OR_RETURN(info.not_before, to_time(X509_get0_notBefore(cert.get())));
  ASSIGN_OR_RETURN(info.not_after, to_time(X509_get0_notAfter(cert.get())));
  BasicConstraintsPtr bc(static_cast<BASIC_CONSTRAINTS*>(
      X509_get_ext_d2i(cert.get(), NID_basic_constraints, nullptr, nullptr)));
  info.is_ca = bc && bc->ca;
  EkuPtr eku(static_cast<EXTENDED_KEY_USAGE*>(
      X509_get_ext_d2i(cert.get(), NID_ext_key_usage, nullptr, nullptr)));
  if (!eku) {
    info.server_auth = info.client_auth = true;
  } else {
    for (int i = 0; i < sk_ASN1_OBJECT_num(eku.get()); ++i) {
      int nid = OBJ_obj2nid(sk_ASN1_OBJECT_value(eku.get(), i));
      if (nid == NID_server_auth || nid == NID_anyExtendedKeyUsage) info.server_auth = true;
      if (nid == NID_client_auth || nid == NID_anyExtendedKeyUsage) info.client_auth = true;
    }
  }
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)));
  if (names) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
      auto text = [](const ASN1_STRING* s) {
        return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                           static_cast<size_t>(ASN1_STRING_length(s)));
      };
      switch (gn->type) {
        case GEN_URI:
          info.sans.push_back("URI:" + text(gn->d.uniformResourceIdentifier));
          break;
        case GEN_DNS:
          info.sans.push_back("DNS:" + text(gn->d.dNSName));
          break;
        case GEN_IPADD: {
          const ASN1_OCTET_STRING* ip = gn->d.iPAddress;
          char buf[INET6_ADDRSTRLEN] = {0};
          int af = ASN1_STRING_length(ip) == 4 ? AF_INET : AF_INET6;
          inet_ntop(af, ASN1_STRING_get0_data(ip), buf, sizeof(buf));
          info.sans.push_back(absl::StrCat("IP:", buf));
          break;
        }
        default:
          info.sans.push_back(absl::StrCat("OTHER:", gn->type));
          break;
      }
    }
  }
  ERR_clear_error();
  return info;
}

absl::StatusOr<std::vector<std::string>> SplitCertificates(const std::string& pem) {
  ERR_clear_error();
  BioPtr bio = MemBio(pem);
  if (!bio) return SslError("BIO_new_mem_buf");
  std::vector<std::string> out;
  while (true) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) break;
    ASSIGN_OR_RETURN(std::string one, CertToPem(cert.get()));
    out.push_back(std::move(one));
  }
  ERR_clear_error();
  if (out.empty()) return absl::InvalidArgumentError("no PEM certificate found");
  return out;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : md) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
  }
  return out;
}

absl::StatusOr<std::string> RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return SslError("RAND_bytes");
  }
  return out;
}

}  // namespace tachyon::pki
