// The uri module against a small HTTP server this test runs on 127.0.0.1 (port 0): nothing
// leaves loopback. Expected results marked "ansible:" come from ansible-core 2.14's uri.

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "agent/modules/module.h"
#include "tests/agent/module_test_util.h"

namespace tachyon::modules {
namespace {

using ::testing::HasSubstr;
using testing::RunModule;
using testing::ValidateMessage;
using Json = nlohmann::json;

// Serves one request per connection until destroyed. Routes:
//   /json -> 200 application/json   /missing -> 404   /moved -> 302 to /json
//   /echo -> 200 with the request (headers and body) as text   /auth -> 401 without Basic
//   /chunked -> 200, chunked
class HttpServer {
 public:
  HttpServer() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(fd_, 16), 0);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~HttpServer() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    close(fd_);
  }
  std::string Url(const std::string& path) const {
    return absl::StrCat("http://127.0.0.1:", port_, path);
  }

 private:
  void Serve() {
    while (!stop_) {
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      std::string req;
      char buf[4096];
      size_t need = std::string::npos;
      while (req.size() < need) {
        ssize_t n = read(c, buf, sizeof(buf));
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
        size_t end = req.find("\r\n\r\n");
        if (end != std::string::npos && need == std::string::npos) {
          size_t length = 0;
          size_t at = req.find("Content-Length: ");
          if (at != std::string::npos && at < end) {
            (void)absl::SimpleAtoi(req.substr(at + 16, req.find("\r\n", at) - at - 16), &length);
          }
          need = end + 4 + length;
        }
      }
      std::string path = req.substr(req.find(' ') + 1);
      path = path.substr(0, path.find(' '));
      std::string out;
      if (path == "/json") {
        out = Reply("200 OK", "Content-Type: application/json\r\nSet-Cookie: sid=abc; Path=/\r\n",
                    "{\"a\": [1, 2]}");
      } else if (path == "/missing") {
        out = Reply("404 Not Found", "Content-Type: text/plain\r\n", "nope");
      } else if (path == "/moved") {
        out = Reply("302 Found", "Location: /json\r\n", "");
      } else if (path == "/echo") {
        out = Reply("200 OK", "Content-Type: text/plain\r\n", req);
      } else if (path == "/auth") {
        out = absl::StrContains(req, "Authorization: Basic dTpw")  // u:p
                  ? Reply("200 OK", "", "welcome")
                  : Reply("401 Unauthorized", "WWW-Authenticate: Basic realm=\"x\"\r\n", "");
      } else if (path == "/chunked") {
        out =
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
      } else {
        out = Reply("500 Internal Server Error", "", "");
      }
      (void)!write(c, out.data(), out.size());
      close(c);
    }
  }

  static std::string Reply(const std::string& status, const std::string& headers,
                           const std::string& body) {
    return absl::StrCat("HTTP/1.1 ", status, "\r\n", headers, "Content-Length: ", body.size(),
                        "\r\nConnection: close\r\n\r\n", body);
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(UriModuleTest, GetJsonLikeAnsible) {
  HttpServer server;
  // ansible: uri url=http://127.0.0.1:18777/j.json (python3 -m http.server, the same 13
  //  bytes) -> {"changed": false, "content_length": "13", "content_type": "application/json",
  //  "cookies": {}, "cookies_string": "", "date": ..., "elapsed": 0, "json": {"a": [1,2]},
  //  "last_modified": ..., "msg": "OK (13 bytes)", "redirected": false, "server": ...,
  //  "status": 200, "url": ...}; this server also sets a cookie.
  Json r = RunModule("uri", {{"url", server.Url("/json")}});
  EXPECT_EQ(r["changed"], false);
  EXPECT_EQ(r["status"], 200);
  EXPECT_EQ(r["msg"], "OK (13 bytes)");
  EXPECT_EQ(r["json"], (Json{{"a", {1, 2}}}));
  EXPECT_EQ(r["redirected"], false);
  EXPECT_EQ(r["elapsed"], 0);
  EXPECT_EQ(r["content_type"], "application/json");
  EXPECT_EQ(r["content_length"], "13");
  EXPECT_EQ(r["cookies"], (Json{{"sid", "abc"}}));
  EXPECT_EQ(r["cookies_string"], "sid=abc");
  EXPECT_EQ(r["url"], server.Url("/json"));
  EXPECT_FALSE(r.contains("content"));
  EXPECT_FALSE(r.contains("failed"));
  EXPECT_EQ(RunModule("uri", {{"url", server.Url("/json")}, {"return_content", true}})["content"],
            "{\"a\": [1, 2]}");
  EXPECT_EQ(
      RunModule("uri", {{"url", server.Url("/chunked")}, {"return_content", true}})["content"],
      "hello world");
}

TEST(UriModuleTest, StatusCodesAndRedirects) {
  HttpServer server;
  // ansible: {"msg": "Status code was 404 and not [200]: HTTP Error 404: Not Found",
  //  "status": 404, "failed": true, ...}
  Json missing = RunModule("uri", {{"url", server.Url("/missing")}});
  EXPECT_EQ(missing["failed"], true);
  EXPECT_EQ(missing["status"], 404);
  EXPECT_EQ(missing["msg"], "Status code was 404 and not [200]: HTTP Error 404: Not Found");
  Json accepted = RunModule("uri", {{"url", server.Url("/missing")}, {"status_code", "200, 404"}});
  EXPECT_FALSE(accepted.contains("failed"));
  Json moved = RunModule("uri", {{"url", server.Url("/moved")}});
  EXPECT_EQ(moved["status"], 200);
  EXPECT_EQ(moved["redirected"], true);
  EXPECT_EQ(moved["url"], server.Url("/json"));
  // A POST is not followed with the default follow_redirects=safe.
  Json post = RunModule(
      "uri",
      {{"url", server.Url("/moved")}, {"method", "POST"}, {"status_code", Json::array({302})}});
  EXPECT_EQ(post["status"], 302);
  EXPECT_EQ(post["location"], "/json");
  Json none = RunModule("uri", {{"url", server.Url("/moved")}, {"follow_redirects", "none"}});
  EXPECT_EQ(none["status"], 302);
  EXPECT_EQ(none["failed"], true);
}

TEST(UriModuleTest, BodiesHeadersAndAuth) {
  HttpServer server;
  Json echo = RunModule("uri", {{"url", server.Url("/echo")},
                                {"method", "POST"},
                                {"body_format", "json"},
                                {"body", {{"k", "v"}}},
                                {"headers", {{"X-Test", "1"}}},
                                {"return_content", true}});
  std::string sent = echo["content"];
  EXPECT_THAT(sent, HasSubstr("POST /echo HTTP/1.1\r\n"));
  EXPECT_THAT(sent, HasSubstr("Content-Type: application/json\r\n"));
  EXPECT_THAT(sent, HasSubstr("X-Test: 1\r\n"));
  EXPECT_THAT(sent, HasSubstr("\r\n\r\n{\"k\":\"v\"}"));
  Json form = RunModule("uri", {{"url", server.Url("/echo")},
                                {"method", "POST"},
                                {"body_format", "form-urlencoded"},
                                {"body", {{"a b", "c&d"}}},
                                {"return_content", true}});
  EXPECT_THAT(form["content"].get<std::string>(), HasSubstr("\r\n\r\na+b=c%26d"));
  // Credentials go after a Basic challenge, or at once with force_basic_auth.
  EXPECT_EQ(RunModule("uri", {{"url", server.Url("/auth")},
                              {"url_username", "u"},
                              {"url_password", "p"}})["status"],
            200);
  EXPECT_EQ(RunModule("uri", {{"url", server.Url("/auth")},
                              {"url_username", "u"},
                              {"url_password", "p"},
                              {"force_basic_auth", true}})["status"],
            200);
  EXPECT_EQ(RunModule("uri", {{"url", server.Url("/auth")}})["status"], 401);
}

TEST(UriModuleTest, ErrorsAndValidation) {
  int port;
  {
    HttpServer server;  // a port that was just free
    port = std::stoi(server.Url("").substr(17));
  }
  Json refused = RunModule("uri", {{"url", absl::StrCat("http://127.0.0.1:", port, "/")}});
  EXPECT_EQ(refused["failed"], true);
  EXPECT_EQ(refused["status"], -1);
  EXPECT_THAT(refused["msg"].get<std::string>(), HasSubstr("Request failed: <urlopen error"));
  EXPECT_EQ(ValidateMessage("uri", Json::object()), "missing required arguments: url");
  EXPECT_EQ(ValidateMessage("uri", {{"url", "http://x/"}, {"method", "get"}}),
            "Parameter 'method' needs to be a single word in uppercase, like GET or POST.");
  EXPECT_EQ(ValidateMessage("uri", {{"url", "ftp://x/"}}), "unknown url type: 'ftp://x/'");
  EXPECT_EQ(ValidateMessage("uri", {{"url", "http://x/"}, {"headers", {{"A", "b\r\nC: d"}}}}),
            "invalid header 'A'");
}

}  // namespace
}  // namespace tachyon::modules
