#include "agent/modules/shlex.h"

namespace tachyon::modules {
namespace {

bool IsShlexSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

}  // namespace

absl::StatusOr<std::vector<std::string>> ShlexSplit(std::string_view s) {
  std::vector<std::string> out;
  std::string token;
  // A token exists once any non-space character or a quote pair was seen: '' is a token.
  bool in_token = false;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (IsShlexSpace(c)) {
      if (in_token) {
        out.push_back(std::move(token));
        token.clear();
        in_token = false;
      }
      ++i;
    } else if (c == '\\') {
      // Outside quotes a backslash takes the next character literally, newline included.
      if (i + 1 >= s.size()) return absl::InvalidArgumentError("No escaped character");
      token.push_back(s[i + 1]);
      in_token = true;
      i += 2;
    } else if (c == '\'') {
      size_t close = s.find('\'', i + 1);
      if (close == std::string_view::npos) {
        return absl::InvalidArgumentError("No closing quotation");
      }
      token.append(s.substr(i + 1, close - i - 1));
      in_token = true;
      i = close + 1;
    } else if (c == '"') {
      // Inside double quotes a backslash escapes only '"' and '\'; otherwise it stays.
      ++i;
      bool closed = false;
      while (i < s.size()) {
        char d = s[i];
        if (d == '"') {
          closed = true;
          ++i;
          break;
        }
        if (d == '\\') {
          if (i + 1 >= s.size()) return absl::InvalidArgumentError("No escaped character");
          char e = s[i + 1];
          if (e != '"' && e != '\\') token.push_back('\\');
          token.push_back(e);
          i += 2;
          continue;
        }
        token.push_back(d);
        ++i;
      }
      if (!closed) return absl::InvalidArgumentError("No closing quotation");
      in_token = true;
    } else {
      token.push_back(c);
      in_token = true;
      ++i;
    }
  }
  if (in_token) out.push_back(std::move(token));
  return out;
}

}  // namespace tachyon::modules
