#include "common/pki.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "common/fs.h"
#include "gtest/gtest.h"

namespace tachyon::pki {
namespace {

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

X509Ptr Parse(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())),
                                                &BIO_free);
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

std::string MustRead(const std::string& path) {
  absl::StatusOr<std::string> data = ReadFile(path);
  EXPECT_TRUE(data.ok()) << data.status();
  return data.ok() ? *data : std::string();
}

mode_t Mode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// The textual form of a certificate's SAN extension, e.g. "URI:..., IP Address:127.0.0.1".
std::string SanText(X509* cert) {
  int idx = X509_get_ext_by_NID(cert, NID_subject_alt_name, -1);
  if (idx < 0) return "";
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  X509V3_EXT_print(bio.get(), X509_get_ext(cert, idx), 0, 0);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

class PkiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tachyon-pki-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/pki";
  }
  void TearDown() override { ASSERT_TRUE(RemoveTree(root_).ok()); }

  void InitOrDie() {
    InitOptions opts;
    opts.dir = dir_;
    opts.sans = {"127.0.0.1", "::1", "localhost", "ctl.example.com"};
    absl::Status st = Init(opts);
    ASSERT_TRUE(st.ok()) << st;
  }

  std::string root_;
  std::string dir_;
};

TEST(PkiNames, Validation) {
  EXPECT_TRUE(IsValidName("web1"));
  EXPECT_TRUE(IsValidName("a"));
  EXPECT_TRUE(IsValidName("db-01.prod_eu"));
  EXPECT_TRUE(IsValidName(std::string(128, 'x')));
  EXPECT_FALSE(IsValidName(std::string(129, 'x')));
  EXPECT_FALSE(IsValidName(""));
  EXPECT_FALSE(IsValidName(".hidden"));
  EXPECT_FALSE(IsValidName("-flag"));
  EXPECT_FALSE(IsValidName("../etc"));
  EXPECT_FALSE(IsValidName("a/b"));
  EXPECT_FALSE(IsValidName("a,URI:x"));
  EXPECT_FALSE(IsValidName("a b"));
  EXPECT_FALSE(IsValidName(std::string("a\0b", 3)));
  EXPECT_STREQ(RoleName(Role::kAgent), "agent");
  EXPECT_STREQ(RoleName(Role::kOperator), "operator");
  EXPECT_STREQ(RoleName(Role::kController), "controller");
}

TEST_F(PkiTest, InitWritesFilesWithTightModes) {
  InitOrDie();
  EXPECT_EQ(Mode(dir_), 0700u);
  for (const char* key : {"ca.key", "controller.key", "admin.key"}) {
    EXPECT_EQ(Mode(dir_ + "/" + key), 0600u) << key;
    EXPECT_TRUE(absl::StrContains(MustRead(dir_ + "/" + key), "BEGIN PRIVATE KEY")) << key;
  }
  for (const char* crt : {"ca.crt", "controller.crt", "admin.crt"}) {
    EXPECT_EQ(Mode(dir_ + "/" + crt), 0644u) << crt;
  }
}

TEST_F(PkiTest, LeafCertsVerifyAgainstCa) {
  InitOrDie();
  std::string ca = MustRead(dir_ + "/ca.crt");
  EXPECT_TRUE(VerifyCertificate(ca, MustRead(dir_ + "/controller.crt")).ok());
  EXPECT_TRUE(VerifyCertificate(ca, MustRead(dir_ + "/admin.crt")).ok());
  EXPECT_TRUE(VerifyCertificate(ca, ca).ok());
}

TEST_F(PkiTest, CaHasCaExtensions) {
  InitOrDie();
  X509Ptr ca = Parse(MustRead(dir_ + "/ca.crt"));
  ASSERT_TRUE(ca);
  EXPECT_EQ(X509_check_ca(ca.get()), 1);
  uint32_t flags = X509_get_extension_flags(ca.get());
  EXPECT_TRUE(flags & EXFLAG_CA);
  EXPECT_TRUE(flags & EXFLAG_SS);
  EXPECT_EQ(X509_get_pathlen(ca.get()), 0);
  uint32_t ku = X509_get_key_usage(ca.get());
  EXPECT_TRUE(ku & KU_KEY_CERT_SIGN);
  EXPECT_TRUE(ku & KU_CRL_SIGN);
  EXPECT_NE(X509_get0_subject_key_id(ca.get()), nullptr);
  EXPECT_NE(X509_get0_authority_key_id(ca.get()), nullptr);
}

TEST_F(PkiTest, ControllerCertHasSansAndServerAuth) {
  InitOrDie();
  std::string pem = MustRead(dir_ + "/controller.crt");
  X509Ptr cert = Parse(pem);
  ASSERT_TRUE(cert);
  EXPECT_EQ(X509_check_ca(cert.get()), 0);
  EXPECT_TRUE(X509_get_extended_key_usage(cert.get()) & XKU_SSL_SERVER);
  EXPECT_EQ(X509_check_host(cert.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(cert.get(), "ctl.example.com", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(cert.get(), "other.example.com", 0, 0, nullptr), 0);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "::1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "10.0.0.1", 0), 0);
  EXPECT_TRUE(absl::StrContains(SanText(cert.get()), "URI:tachyon://controller/controller"));
  absl::StatusOr<Identity> id = IdentityFromCertPem(pem);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->role, Role::kController);
  EXPECT_EQ(id->name, "controller");
}

TEST_F(PkiTest, AdminIsOperatorWithClientAuthOnly) {
  InitOrDie();
  std::string pem = MustRead(dir_ + "/admin.crt");
  X509Ptr cert = Parse(pem);
  ASSERT_TRUE(cert);
  uint32_t xku = X509_get_extended_key_usage(cert.get());
  EXPECT_TRUE(xku & XKU_SSL_CLIENT);
  EXPECT_FALSE(xku & XKU_SSL_SERVER);
  EXPECT_TRUE(X509_get_key_usage(cert.get()) & KU_DIGITAL_SIGNATURE);
  absl::StatusOr<Identity> id = IdentityFromCertPem(pem);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->role, Role::kOperator);
  EXPECT_EQ(id->name, "admin");
  X509_NAME* subject = X509_get_subject_name(cert.get());
  char cn[64] = {0};
  X509_NAME_get_text_by_NID(subject, NID_commonName, cn, sizeof(cn));
  EXPECT_STREQ(cn, "admin");
}

TEST_F(PkiTest, InitRefusesToOverwriteCa) {
  InitOrDie();
  std::string before = MustRead(dir_ + "/ca.crt");
  InitOptions opts;
  opts.dir = dir_;
  absl::Status st = Init(opts);
  EXPECT_EQ(st.code(), absl::StatusCode::kAlreadyExists) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), dir_ + "/ca.crt")) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "refusing to overwrite")) << st;
  EXPECT_EQ(MustRead(dir_ + "/ca.crt"), before);
}

TEST_F(PkiTest, InitRejectsBadArguments) {
  InitOptions opts;
  opts.dir = dir_;
  opts.days = 0;
  EXPECT_EQ(Init(opts).code(), absl::StatusCode::kInvalidArgument);
  opts.days = 36501;
  EXPECT_EQ(Init(opts).code(), absl::StatusCode::kInvalidArgument);
  opts.days = 10;
  opts.sans = {"localhost", "evil,URI:tachyon://operator/admin"};
  absl::Status st = Init(opts);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(st.message(), "evil")) << st;
  // Nothing was written, so a corrected rerun works.
  EXPECT_FALSE(PathExists(dir_ + "/ca.crt"));
  opts.sans = {"localhost"};
  EXPECT_TRUE(Init(opts).ok());
}

TEST_F(PkiTest, IssueAgentAndOperator) {
  InitOrDie();
  ASSERT_TRUE(Issue(dir_, Role::kAgent, "web1", 30).ok());
  ASSERT_TRUE(Issue(dir_, Role::kOperator, "alice", 30).ok());
  EXPECT_EQ(Mode(dir_ + "/agents"), 0700u);
  EXPECT_EQ(Mode(dir_ + "/agents/web1.key"), 0600u);
  EXPECT_EQ(Mode(dir_ + "/agents/web1.crt"), 0644u);
  EXPECT_EQ(Mode(dir_ + "/operators/alice.key"), 0600u);
  EXPECT_EQ(IssuedCertPath(dir_, Role::kAgent, "web1"), dir_ + "/agents/web1.crt");
  EXPECT_EQ(IssuedKeyPath(dir_, Role::kOperator, "alice"), dir_ + "/operators/alice.key");

  std::string ca = MustRead(dir_ + "/ca.crt");
  std::string agent = MustRead(dir_ + "/agents/web1.crt");
  std::string op = MustRead(dir_ + "/operators/alice.crt");
  EXPECT_TRUE(VerifyCertificate(ca, agent).ok());
  EXPECT_TRUE(VerifyCertificate(ca, op).ok());

  absl::StatusOr<Identity> id = IdentityFromCertPem(agent);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->role, Role::kAgent);
  EXPECT_EQ(id->name, "web1");
  id = IdentityFromCertPem(op);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->role, Role::kOperator);
  EXPECT_EQ(id->name, "alice");

  X509Ptr cert = Parse(agent);
  EXPECT_EQ(SanText(cert.get()), "URI:tachyon://agent/web1");
  uint32_t xku = X509_get_extended_key_usage(cert.get());
  EXPECT_TRUE(xku & XKU_SSL_CLIENT);
  EXPECT_FALSE(xku & XKU_SSL_SERVER);

  // Reissuing over an existing identity is refused rather than silently replacing its key.
  EXPECT_EQ(Issue(dir_, Role::kAgent, "web1", 30).code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(PkiTest, IssueRejectsBadInput) {
  InitOrDie();
  for (const char* bad : {"", "../x", "a/b", ".a", "a b"}) {
    absl::Status st = Issue(dir_, Role::kAgent, bad, 30);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(absl::StrContains(st.message(), std::string("\"") + bad + "\"")) << st;
  }
  EXPECT_EQ(Issue(dir_, Role::kAgent, "ok", 0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Issue(dir_, Role::kController, "ok", 10).code(), absl::StatusCode::kInvalidArgument);
  absl::Status st = Issue(root_ + "/nope", Role::kAgent, "ok", 10);
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(absl::StrContains(st.message(), root_ + "/nope/ca.crt")) << st;
}

TEST(PkiLowLevel, SignWithPublicKeyAndFingerprint) {
  absl::Time now = absl::Now();
  absl::StatusOr<CaPems> ca = MakeCa("test CA", {now - absl::Hours(1), now + absl::Hours(24)});
  ASSERT_TRUE(ca.ok()) << ca.status();
  absl::StatusOr<std::string> key = MakeKeyPem();
  ASSERT_TRUE(key.ok());
  absl::StatusOr<std::string> pub = PublicKeyPem(*key);
  ASSERT_TRUE(pub.ok()) << pub.status();
  EXPECT_TRUE(absl::StrContains(*pub, "BEGIN PUBLIC KEY"));
  // Enrollment signs a CSR's public key: the private key never leaves the host.
  absl::StatusOr<std::string> cert = SignCertificate(
      ca->cert_pem, ca->key_pem, *pub, Role::kAgent, "db1",
      {now - absl::Minutes(1), now + absl::Hours(1)}, {});
  ASSERT_TRUE(cert.ok()) << cert.status();
  EXPECT_TRUE(VerifyCertificate(ca->cert_pem, *cert).ok());

  absl::StatusOr<std::string> fp = FingerprintSha256(*cert);
  ASSERT_TRUE(fp.ok());
  EXPECT_EQ(fp->size(), 64u);
  EXPECT_EQ(fp->find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(*FingerprintSha256(*cert), *fp);
  EXPECT_NE(*FingerprintSha256(ca->cert_pem), *fp);

  // Two certificates for the same key still get distinct random serials.
  absl::StatusOr<std::string> cert2 = SignCertificate(
      ca->cert_pem, ca->key_pem, *pub, Role::kAgent, "db1",
      {now - absl::Minutes(1), now + absl::Hours(1)}, {});
  ASSERT_TRUE(cert2.ok());
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(Parse(*cert).get()),
                             X509_get0_serialNumber(Parse(*cert2).get())),
            0);
}

TEST(PkiLowLevel, ExpiredAndNotYetValidCertsFailVerification) {
  absl::Time now = absl::Now();
  absl::StatusOr<CaPems> ca = MakeCa("test CA", {now - absl::Hours(48), now + absl::Hours(48)});
  ASSERT_TRUE(ca.ok());
  absl::StatusOr<std::string> key = MakeKeyPem();
  ASSERT_TRUE(key.ok());
  absl::StatusOr<std::string> expired = SignCertificate(
      ca->cert_pem, ca->key_pem, *key, Role::kOperator, "old",
      {now - absl::Hours(24), now - absl::Hours(1)}, {});
  ASSERT_TRUE(expired.ok()) << expired.status();
  absl::Status st = VerifyCertificate(ca->cert_pem, *expired);
  EXPECT_EQ(st.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(st.message(), "expired")) << st;

  absl::StatusOr<std::string> future = SignCertificate(
      ca->cert_pem, ca->key_pem, *key, Role::kOperator, "future",
      {now + absl::Hours(1), now + absl::Hours(2)}, {});
  ASSERT_TRUE(future.ok());
  EXPECT_FALSE(VerifyCertificate(ca->cert_pem, *future).ok());

  EXPECT_EQ(SignCertificate(ca->cert_pem, ca->key_pem, *key, Role::kOperator, "x",
                            {now, now - absl::Hours(1)}, {})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PkiLowLevel, CertFromAnotherCaFailsVerification) {
  absl::Time now = absl::Now();
  Validity v{now - absl::Hours(1), now + absl::Hours(1)};
  absl::StatusOr<CaPems> ca = MakeCa("tachyon CA", v);
  absl::StatusOr<CaPems> other = MakeCa("tachyon CA", v);  // same name, different key
  ASSERT_TRUE(ca.ok() && other.ok());
  absl::StatusOr<std::string> key = MakeKeyPem();
  absl::StatusOr<std::string> cert =
      SignCertificate(other->cert_pem, other->key_pem, *key, Role::kAgent, "web1", v, {});
  ASSERT_TRUE(cert.ok());
  EXPECT_TRUE(VerifyCertificate(other->cert_pem, *cert).ok());
  EXPECT_EQ(VerifyCertificate(ca->cert_pem, *cert).code(), absl::StatusCode::kPermissionDenied);
  // A mismatched CA key and certificate is refused outright.
  EXPECT_EQ(SignCertificate(ca->cert_pem, other->key_pem, *key, Role::kAgent, "web1", v, {})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PkiLowLevel, RejectsNonP256SubjectKeysAndExtraSansOnLeaves) {
  absl::Time now = absl::Now();
  Validity v{now - absl::Hours(1), now + absl::Hours(1)};
  absl::StatusOr<CaPems> ca = MakeCa("tachyon CA", v);
  ASSERT_TRUE(ca.ok());
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> p384(EVP_EC_gen("P-384"), &EVP_PKEY_free);
  ASSERT_TRUE(p384);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  ASSERT_EQ(PEM_write_bio_PUBKEY(bio.get(), p384.get()), 1);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  std::string p384_pem(data, static_cast<size_t>(len));
  absl::StatusOr<std::string> cert =
      SignCertificate(ca->cert_pem, ca->key_pem, p384_pem, Role::kAgent, "web1", v, {});
  EXPECT_EQ(cert.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(cert.status().message(), "P-256")) << cert.status();

  absl::StatusOr<std::string> key = MakeKeyPem();
  EXPECT_EQ(SignCertificate(ca->cert_pem, ca->key_pem, *key, Role::kAgent, "web1", v,
                            {"localhost"})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(SignCertificate(ca->cert_pem, ca->key_pem, "garbage", Role::kAgent, "w", v, {}).ok());
}

TEST(PkiLowLevel, IdentityFromCertWithoutTachyonUriFails) {
  absl::Time now = absl::Now();
  absl::StatusOr<CaPems> ca = MakeCa("tachyon CA", {now - absl::Hours(1), now + absl::Hours(1)});
  ASSERT_TRUE(ca.ok());
  // The CA certificate has no SAN at all.
  EXPECT_EQ(IdentityFromCertPem(ca->cert_pem).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_FALSE(IdentityFromCertPem("not a cert").ok());
}

// Enrollment: a CSR gives the signer its public key (after proving possession) and nothing else.
TEST(PkiCsr, PublicKeyOnlyAfterProofOfPossession) {
  absl::StatusOr<std::string> key = MakeKeyPem();
  ASSERT_TRUE(key.ok());
  absl::StatusOr<std::string> csr =
      MakeCsrPem(*key, "web1", {{"basicConstraints", "critical,CA:TRUE"}});
  ASSERT_TRUE(csr.ok()) << csr.status();
  absl::StatusOr<std::string> pub = PublicKeyFromCsrPem(*csr);
  ASSERT_TRUE(pub.ok()) << pub.status();
  EXPECT_EQ(*pub, *PublicKeyPem(*key));
  // A tampered request no longer verifies (or no longer parses).
  std::string bad = *csr;
  bad[bad.size() / 2] = bad[bad.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(PublicKeyFromCsrPem(bad).ok());
  EXPECT_FALSE(PublicKeyFromCsrPem("not a csr").ok());
}

TEST_F(PkiTest, CertInfoAndControllerReissue) {
  InitOrDie();
  ASSERT_TRUE(IssueController(dir_, "ctl-2", {"10.0.0.5", "ctl.example.com"}, 30).ok());
  EXPECT_EQ(IssueController(dir_, "ctl-2", {}, 30).code(), absl::StatusCode::kAlreadyExists);
  std::string cert = MustRead(IssuedCertPath(dir_, Role::kController, "ctl-2"));
  EXPECT_EQ(Mode(IssuedKeyPath(dir_, Role::kController, "ctl-2")), 0600u);
  EXPECT_TRUE(VerifyCertificate(MustRead(dir_ + "/ca.crt"), cert).ok());
  absl::StatusOr<CertInfo> info = ReadCertInfo(cert);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_FALSE(info->is_ca);
  EXPECT_TRUE(info->server_auth);
  EXPECT_EQ(info->sans, (std::vector<std::string>{"URI:tachyon://controller/controller",
                                                  "IP:10.0.0.5", "DNS:ctl.example.com"}));
  EXPECT_NEAR(absl::ToDoubleHours(info->not_after - info->not_before), 30 * 24 + 5.0 / 60, 0.01);
  EXPECT_FALSE(info->serial_hex.empty());
  absl::StatusOr<CertInfo> ca = ReadCertInfo(MustRead(dir_ + "/ca.crt"));
  ASSERT_TRUE(ca.ok());
  EXPECT_TRUE(ca->is_ca);
  EXPECT_NE(ca->serial_hex, info->serial_hex);
  absl::StatusOr<std::vector<std::string>> both =
      SplitCertificates(MustRead(dir_ + "/ca.crt") + cert);
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->size(), 2u);
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace tachyon::pki
