// The uri module (ansible.builtin.uri) on sockets and OpenSSL: HTTP/1.1 with
// `Connection: close`, https verified against the system CAs (validate_certs), redirects by
// Ansible's follow_redirects rules, basic auth, json/form bodies. Every read is bounded: the
// whole response may be at most kMaxResponse bytes and must arrive before `timeout`.
// Not supported: proxies, client certificates, dest/creates/removes' download to a file,
// form-multipart, gzip decoding (Accept-Encoding: identity is sent).

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "agent/modules/args.h"
#include "agent/modules/module.h"
#include "agent/modules/net_util.h"
#include "agent/modules/result_util.h"

namespace tachyon::modules {
namespace {

constexpr size_t kMaxResponse = 16u << 20;
constexpr int kMaxRedirects = 20;

const std::vector<ArgSpec>& UriSpec() {
  static const auto* spec = new std::vector<ArgSpec>{
      {"url", ArgType::kStr, true},
      {"method", ArgType::kStr},
      {"body", ArgType::kRaw},
      {"body_format", ArgType::kStr, false, {}, {"form-urlencoded", "json", "raw"}},
      {"headers", ArgType::kDict},
      {"status_code", ArgType::kRaw},
      {"return_content", ArgType::kBool},
      {"timeout", ArgType::kInt},
      {"follow_redirects", ArgType::kStr},
      {"validate_certs", ArgType::kBool},
      {"url_username", ArgType::kStr, false, {"user"}},
      {"url_password", ArgType::kStr, false, {"password"}},
      {"force_basic_auth", ArgType::kBool},
      {"use_proxy", ArgType::kBool},
      {"http_agent", ArgType::kStr},
  };
  return *spec;
}

struct Url {
  bool tls = false;
  std::string host;
  int port = 0;
  std::string target;  // path and query
};

absl::StatusOr<Url> ParseUrl(const std::string& url) {
  Url u;
  std::string rest;
  if (absl::StartsWith(url, "http://")) {
    rest = url.substr(7);
    u.port = 80;
  } else if (absl::StartsWith(url, "https://")) {
    rest = url.substr(8);
    u.tls = true;
    u.port = 443;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown url type: '", url, "'"));
  }
  size_t slash = rest.find_first_of("/?#");
  std::string authority = rest.substr(0, slash);
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (u.target[0] != '/') u.target = "/" + u.target;
  u.target = u.target.substr(0, u.target.find('#'));
  size_t at = authority.rfind('@');
  if (at != std::string::npos) authority = authority.substr(at + 1);
  size_t colon = authority.rfind(':');
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    u.host = authority.substr(1, close - 1);
    colon = authority.find(':', close);
  } else {
    u.host = authority.substr(0, colon);
  }
  if (colon != std::string::npos && !absl::SimpleAtoi(authority.substr(colon + 1), &u.port)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid port in url: '", url, "'"));
  }
  if (u.host.empty())
    return absl::InvalidArgumentError(absl::StrCat("no host in url: '", url, "'"));
  return u;
}

std::string FormEncode(const nlohmann::json& body) {
  auto enc = [](const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
      if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
        out += static_cast<char>(c);
      } else if (c == ' ') {
        out += '+';
      } else {
        out += absl::StrCat("%", absl::AsciiStrToUpper(absl::BytesToHexString(std::string(1, c))));
      }
    }
    return out;
  };
  if (!body.is_object()) return ScalarToString(body).value_or("");
  std::vector<std::string> parts;
  for (const auto& [k, v] : body.items()) {
    parts.push_back(enc(k) + "=" + enc(v.is_string() ? v.get<std::string>() : v.dump()));
  }
  return absl::StrJoin(parts, "&");
}

struct Response {
  int status = -1;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
  std::string body;
};

// One request on a fresh connection (plain or TLS); the whole response, bounded.
class Connection {
 public:
  ~Connection() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
    if (fd_ >= 0) close(fd_);
  }

  absl::Status Open(const Url& u, bool validate, absl::Time deadline) {
    absl::StatusOr<int> fd = ConnectTcp(u.host, u.port, deadline - absl::Now());
    if (!fd.ok()) return fd.status();
    fd_ = *fd;
    // Blocking socket with receive/send timeouts so no single call outlives the deadline.
    int64_t ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(deadline - absl::Now()));
    struct timeval tv = {static_cast<time_t>(ms / 1000),
                         static_cast<suseconds_t>(ms % 1000 * 1000)};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (!u.tls) return absl::OkStatus();
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (ctx_ == nullptr) return absl::InternalError("SSL_CTX_new failed");
    SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
    if (validate) {
      SSL_CTX_set_default_verify_paths(ctx_);
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    }
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    SSL_set_tlsext_host_name(ssl_, u.host.c_str());
    if (validate) SSL_set1_host(ssl_, u.host.c_str());
    if (SSL_connect(ssl_) != 1) {
      long verify = SSL_get_verify_result(ssl_);
      std::string why = verify != X509_V_OK ? X509_verify_cert_error_string(verify)
                                            : ERR_error_string(ERR_get_error(), nullptr);
      return absl::UnavailableError(absl::StrCat(
          "<urlopen error [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: ", why, ">"));
    }
    return absl::OkStatus();
  }

  absl::Status Write(const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
      int n =
          ssl_ != nullptr
              ? SSL_write(ssl_, data.data() + done, static_cast<int>(data.size() - done))
              : static_cast<int>(send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL));
      if (n <= 0) return absl::UnavailableError("connection closed while sending the request");
      done += static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }

  // Reads until the peer closes, at most `cap` bytes.
  absl::StatusOr<std::string> ReadAll(size_t cap, absl::Time deadline) {
    std::string data;
    char buf[16384];
    while (true) {
      if (absl::Now() >= deadline)
        return absl::DeadlineExceededError("The read operation timed out");
      int n = ssl_ != nullptr ? SSL_read(ssl_, buf, sizeof(buf))
                              : static_cast<int>(recv(fd_, buf, sizeof(buf), 0));
      if (n < 0 && ssl_ == nullptr && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return absl::DeadlineExceededError("The read operation timed out");
      }
      if (n <= 0) return data;
      if (data.size() + static_cast<size_t>(n) > cap) {
        return absl::ResourceExhaustedError(
            absl::StrCat("response larger than ", cap, " bytes; refused"));
      }
      data.append(buf, static_cast<size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

absl::StatusOr<std::string> Dechunk(const std::string& body) {
  std::string out;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t eol = body.find("\r\n", pos);
    if (eol == std::string::npos) return absl::DataLossError("bad chunked encoding");
    uint64_t size = 0;
    std::string hex = body.substr(pos, eol - pos);
    hex = hex.substr(0, hex.find(';'));
    if (!absl::SimpleHexAtoi(absl::StripAsciiWhitespace(hex), &size)) {
      return absl::DataLossError("bad chunk size");
    }
    if (size == 0) break;
    if (eol + 2 + size > body.size()) return absl::DataLossError("truncated chunk");
    out.append(body, eol + 2, size);
    pos = eol + 2 + size + 2;
  }
  return out;
}

absl::StatusOr<Response> ParseResponse(const std::string& raw) {
  size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos)
    return absl::DataLossError("Remote end closed connection without response");
  Response r;
  std::vector<std::string> lines = absl::StrSplit(raw.substr(0, end), "\r\n");
  std::vector<std::string> first = absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
  if (first.size() < 2 || !absl::SimpleAtoi(first[1], &r.status)) {
    return absl::DataLossError(absl::StrCat("bad status line: ", lines[0]));
  }
  r.reason = first.size() > 2 ? first[2] : "";
  bool chunked = false;
  for (size_t i = 1; i < lines.size(); ++i) {
    size_t colon = lines[i].find(':');
    if (colon == std::string::npos) continue;
    std::string name = absl::AsciiStrToLower(lines[i].substr(0, colon));
    std::string value(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
    if (name == "transfer-encoding" && absl::StrContains(absl::AsciiStrToLower(value), "chunked"))
      chunked = true;
    r.headers.emplace_back(name, value);
  }
  r.body = raw.substr(end + 4);
  if (chunked) {
    absl::StatusOr<std::string> body = Dechunk(r.body);
    if (!body.ok()) return body.status();
    r.body = std::move(*body);
  }
  return r;
}

std::string Header(const Response& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

// A redirect target relative to `base`.
std::string Resolve(const std::string& base, const std::string& location) {
  if (absl::StartsWith(location, "http://") || absl::StartsWith(location, "https://")) {
    return location;
  }
  size_t scheme = base.find("://");
  size_t path = base.find('/', scheme + 3);
  std::string origin = base.substr(0, path);
  if (absl::StartsWith(location, "/")) return origin + location;
  std::string dir = path == std::string::npos ? "/" : base.substr(path, base.rfind('/') - path + 1);
  return origin + dir + location;
}

class UriModule : public InlineModule {
 public:
  std::string_view Name() const override { return "uri"; }

  absl::Status Validate(const nlohmann::json& args) const override {
    absl::StatusOr<nlohmann::json> a = ParseArgs(Name(), args, UriSpec());
    if (!a.ok()) return a.status();
    std::string method = StrArg(*a, "method").value_or("GET");
    if (method.empty() || method.find_first_of(" \t\r\n") != std::string::npos ||
        absl::AsciiStrToUpper(method) != method) {
      return absl::InvalidArgumentError(
          "Parameter 'method' needs to be a single word in uppercase, like GET or POST.");
    }
    if (!StatusCodes(*a).ok()) {
      return absl::InvalidArgumentError("status_code must be an int or a list of ints");
    }
    if (a->contains("headers")) {
      for (const auto& [k, v] : (*a)["headers"].items()) {
        if (!ScalarToString(v) || k.find_first_of("\r\n:") != std::string::npos ||
            ScalarToString(v)->find_first_of("\r\n") != std::string::npos) {
          return absl::InvalidArgumentError(absl::StrCat("invalid header '", k, "'"));
        }
      }
    }
    return ParseUrl(*StrArg(*a, "url")).status();
  }

  Prepared Prepare(const nlohmann::json& args, const std::string& cwd) const override {
    Prepared p;
    p.result = Run(ParseArgs(Name(), args, UriSpec()).value_or(nlohmann::json::object()));
    return p;
  }

 private:
  static absl::StatusOr<std::vector<int>> StatusCodes(const nlohmann::json& a) {
    std::vector<int> codes;
    if (!a.contains("status_code")) return std::vector<int>{200};
    nlohmann::json v = a["status_code"];
    if (!v.is_array()) {
      std::vector<std::string> parts = absl::StrSplit(ScalarToString(v).value_or(""), ',');
      v = nlohmann::json::array();
      for (const std::string& s : parts) v.push_back(s);
    }
    for (const auto& e : v) {
      int code;
      std::optional<std::string> s = ScalarToString(e);
      if (!s || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*s), &code)) {
        return absl::InvalidArgumentError("bad status_code");
      }
      codes.push_back(code);
    }
    return codes;
  }

  static nlohmann::json Run(const nlohmann::json& a) {
    const absl::Time start = absl::Now();
    const absl::Time deadline = start + absl::Seconds(IntArg(a, "timeout", 30));
    const std::string url = StrArg(a, "url").value_or("");
    std::string method = StrArg(a, "method").value_or("GET");
    std::vector<int> codes = *StatusCodes(a);
    std::string follow = absl::AsciiStrToLower(StrArg(a, "follow_redirects").value_or("safe"));
    const bool validate = Flag(a, "validate_certs", true);

    std::vector<std::pair<std::string, std::string>> headers;
    if (a.contains("headers")) {
      for (const auto& [k, v] : a["headers"].items()) headers.emplace_back(k, *ScalarToString(v));
    }
    auto has_header = [&](const std::string& name) {
      return std::any_of(headers.begin(), headers.end(),
                         [&](const auto& h) { return absl::EqualsIgnoreCase(h.first, name); });
    };
    std::string body;
    std::string format = StrArg(a, "body_format").value_or("raw");
    if (a.contains("body")) {
      const nlohmann::json& b = a["body"];
      if (format == "json") {
        body = b.is_string() ? b.get<std::string>() : b.dump();
        if (!has_header("Content-Type")) headers.emplace_back("Content-Type", "application/json");
      } else if (format == "form-urlencoded") {
        body = FormEncode(b);
        if (!has_header("Content-Type")) {
          headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
        }
      } else {
        body = b.is_string() ? b.get<std::string>() : b.dump();
      }
    }
    std::optional<std::string> user = StrArg(a, "url_username");
    std::string password = StrArg(a, "url_password").value_or("");
    bool send_auth = user && Flag(a, "force_basic_auth");

    std::string current = url;
    Response resp;
    nlohmann::json r = {{"changed", false}, {"url", url}, {"status", -1}};
    auto elapsed = [&] { return absl::ToInt64Seconds(absl::Now() - start); };
    auto fail = [&](const std::string& msg) {
      r["failed"] = true;
      r["msg"] = absl::StrCat("Request failed: ", msg);
      r["elapsed"] = elapsed();
      r["redirected"] = false;
      return r;
    };
    for (int hop = 0;; ++hop) {
      absl::StatusOr<Url> u = ParseUrl(current);
      if (!u.ok()) return fail(std::string(u.status().message()));
      std::string req = absl::StrCat(method, " ", u->target, " HTTP/1.1\r\nHost: ", u->host);
      if (u->port != (u->tls ? 443 : 80)) absl::StrAppend(&req, ":", u->port);
      absl::StrAppend(&req, "\r\nUser-Agent: ", StrArg(a, "http_agent").value_or("ansible-httpget"),
                      "\r\nConnection: close\r\nAccept-Encoding: identity\r\n");
      for (const auto& [k, v] : headers) absl::StrAppend(&req, k, ": ", v, "\r\n");
      if (send_auth) {
        absl::StrAppend(&req, "Authorization: Basic ",
                        absl::Base64Escape(absl::StrCat(*user, ":", password)), "\r\n");
      }
      if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
        absl::StrAppend(&req, "Content-Length: ", body.size(), "\r\n");
      }
      absl::StrAppend(&req, "\r\n", body);
      Connection conn;
      absl::Status st = conn.Open(*u, validate, deadline);
      if (!st.ok()) return fail(absl::StrCat("<urlopen error ", st.message(), ">"));
      st = conn.Write(req);
      if (!st.ok()) return fail(std::string(st.message()));
      absl::StatusOr<std::string> raw = conn.ReadAll(kMaxResponse, deadline);
      if (!raw.ok()) return fail(std::string(raw.status().message()));
      absl::StatusOr<Response> parsed = ParseResponse(*raw);
      if (!parsed.ok()) return fail(std::string(parsed.status().message()));
      resp = std::move(*parsed);
      if (resp.status == 401 && user && !send_auth &&
          absl::StartsWithIgnoreCase(Header(resp, "www-authenticate"), "basic")) {
        send_auth = true;
        continue;
      }
      bool redirect = resp.status == 301 || resp.status == 302 || resp.status == 303 ||
                      resp.status == 307 || resp.status == 308;
      bool safe = method == "GET" || method == "HEAD";
      bool follow_it = follow == "all" || follow == "yes" || follow == "true" ||
                       ((follow == "safe" || follow == "urllib2") && safe);
      if (!redirect || !follow_it || Header(resp, "location").empty()) break;
      if (hop >= kMaxRedirects) return fail("too many redirects");
      current = Resolve(current, Header(resp, "location"));
      if (resp.status == 303 || ((resp.status == 301 || resp.status == 302) && method == "POST")) {
        method = "GET";
        body.clear();
      }
    }

    for (const auto& [k, v] : resp.headers) {
      std::string key = k;
      std::replace(key.begin(), key.end(), '-', '_');
      if (r.contains(key) && key == "set_cookie") {
        r[key] = r[key].get<std::string>() + ", " + v;
      } else {
        r[key] = v;
      }
    }
    nlohmann::json cookies = nlohmann::json::object();
    std::vector<std::string> cookie_pairs;
    for (const auto& [k, v] : resp.headers) {
      if (k != "set-cookie") continue;
      std::string pair = v.substr(0, v.find(';'));
      size_t eq = pair.find('=');
      if (eq == std::string::npos) continue;
      cookies[pair.substr(0, eq)] = pair.substr(eq + 1);
      cookie_pairs.push_back(pair);
    }
    // Ansible's fetch_url parses cookies only for a successful response; an HTTP error (>= 400)
    // carries the error body as `body` instead (kept when the status was wanted and nothing
    // else read the content).
    const bool http_error = resp.status >= 400;
    if (!http_error) {
      r["cookies"] = cookies;
      r["cookies_string"] = absl::StrJoin(cookie_pairs, "; ");
    }
    r["status"] = resp.status;
    r["url"] = current;
    r["redirected"] = current != url;
    r["elapsed"] = elapsed();
    std::string length = Header(resp, "content-length");
    bool ok = std::find(codes.begin(), codes.end(), resp.status) != codes.end();
    std::string msg = resp.status >= 400
                          ? absl::StrCat("HTTP Error ", resp.status, ": ", resp.reason)
                          : absl::StrCat("OK (", length.empty() ? "unknown" : length, " bytes)");
    std::string content_type = absl::AsciiStrToLower(Header(resp, "content-type"));
    std::string mime = content_type.substr(0, content_type.find(';'));
    bool maybe_json = mime == "application/json" || absl::EndsWith(mime, "+json") ||
                      mime == "text/json" || mime == "application/javascript";
    std::string text = SanitizeUtf8(resp.body);
    if (maybe_json) {
      nlohmann::json js = nlohmann::json::parse(text, nullptr, false);
      if (!js.is_discarded()) r["json"] = js;
    }
    if (Flag(a, "return_content")) r["content"] = text;
    if (http_error && ok && !maybe_json && !Flag(a, "return_content")) r["body"] = text;
    if (!ok) {
      nlohmann::json wanted = codes;
      r["failed"] = true;
      r["msg"] =
          absl::StrCat("Status code was ", resp.status, " and not ", wanted.dump(), ": ", msg);
    } else {
      r["msg"] = msg;
    }
    return r;
  }
};

}  // namespace

std::unique_ptr<Module> MakeUriModule() { return std::make_unique<UriModule>(); }

}  // namespace tachyon::modules
