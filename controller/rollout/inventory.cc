#include "controller/rollout/inventory.h"

#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <regex>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "common/status.h"
#include "controller/rollout/yaml_util.h"

namespace tachyon::rollout {

using nlohmann::json;

namespace {

// Ansible's C.LOCALHOST: names that resolve to the implicit localhost.
bool IsLocalhostName(const std::string& name) {
  return name == "localhost" || name == "127.0.0.1" || name == "::1";
}

bool IsDir(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool IsFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

std::string DirName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string Extension(const std::string& name) {
  size_t slash = name.find_last_of('/');
  size_t dot = name.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  // os.path.splitext: a leading dot is not an extension.
  size_t base = slash == std::string::npos ? 0 : slash + 1;
  size_t first_non_dot = name.find_first_not_of('.', base);
  if (first_non_dot == std::string::npos || dot < first_non_dot) return "";
  return name.substr(dot);
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string RealPath(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) return path;
  return buf;
}

// ---------------------------------------------------------------------------------------------
// Python's ast.literal_eval, enough for inventory values.

class PyLiteralParser {
 public:
  explicit PyLiteralParser(const std::string& s) : s_(s) {}

  bool ParseAll(json* out) {
    // literal_eval strips leading spaces and tabs only.
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
    if (!Value(out, 0)) return false;
    SkipWs();
    return pos_ == s_.size();
  }

 private:
  void SkipWs() {
    // Inside brackets Python allows newlines; at top level only trailing ones matter.
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Peek(char c) {
    SkipWs();
    return pos_ < s_.size() && s_[pos_] == c;
  }
  bool Eat(char c) {
    if (!Peek(c)) return false;
    ++pos_;
    return true;
  }

  bool Value(json* out, int depth) {
    if (depth > 100) return false;
    SkipWs();
    if (pos_ >= s_.size()) return false;
    char c = s_[pos_];
    if (c == '[') return Sequence(out, ']', depth);
    if (c == '(') return Tuple(out, depth);
    if (c == '{') return DictOrSet(out, depth);
    if (c == '-' || c == '+') {
      ++pos_;
      SkipWs();
      if (pos_ >= s_.size() ||
          !(std::isdigit(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '.')) {
        return false;
      }
      if (!Number(out)) return false;
      if (c == '-') {
        if (out->is_number_integer()) {
          *out = -out->get<int64_t>();
        } else {
          *out = -out->get<double>();
        }
      }
      return true;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) ||
        (c == '.' && pos_ + 1 < s_.size() &&
         std::isdigit(static_cast<unsigned char>(s_[pos_ + 1])))) {
      return Number(out);
    }
    if (c == '\'' || c == '"' || std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      // A string (possibly prefixed) or a name.
      size_t start = pos_;
      while (pos_ < s_.size() &&
             (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) {
        ++pos_;
      }
      std::string word = s_.substr(start, pos_ - start);
      if (pos_ < s_.size() && (s_[pos_] == '\'' || s_[pos_] == '"')) {
        pos_ = start;
        return Strings(out);
      }
      if (word == "True") {
        *out = true;
      } else if (word == "False") {
        *out = false;
      } else if (word == "None") {
        *out = nullptr;
      } else {
        return false;
      }
      return true;
    }
    return false;
  }

  // Adjacent literals concatenate: 'a' "b" == 'ab'.
  bool Strings(json* out) {
    std::string acc;
    bool any = false;
    while (true) {
      SkipWs();
      size_t save = pos_;
      std::string prefix;
      while (pos_ < s_.size() && std::isalpha(static_cast<unsigned char>(s_[pos_])) &&
             prefix.size() < 3) {
        prefix.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(s_[pos_]))));
        ++pos_;
      }
      if (pos_ >= s_.size() || (s_[pos_] != '\'' && s_[pos_] != '"')) {
        pos_ = save;
        break;
      }
      if (!(prefix.empty() || prefix == "r" || prefix == "u" || prefix == "b" || prefix == "br" ||
            prefix == "rb")) {
        return false;  // f-strings are not literals
      }
      std::string piece;
      if (!OneString(prefix.find('r') != std::string::npos, &piece)) return false;
      acc += piece;
      any = true;
    }
    if (!any) return false;
    *out = acc;
    return true;
  }

  bool OneString(bool raw, std::string* out) {
    char q = s_[pos_];
    bool triple = s_.compare(pos_, 3, std::string(3, q)) == 0;
    pos_ += triple ? 3 : 1;
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c == q) {
        if (!triple) {
          ++pos_;
          return true;
        }
        if (s_.compare(pos_, 3, std::string(3, q)) == 0) {
          pos_ += 3;
          return true;
        }
      }
      if (!triple && c == '\n') return false;
      if (c == '\\' && pos_ + 1 < s_.size()) {
        char e = s_[pos_ + 1];
        if (raw) {
          out->push_back(c);
          out->push_back(e);
          pos_ += 2;
          continue;
        }
        pos_ += 2;
        switch (e) {
          case '\n':
            break;
          case '\\':
            out->push_back('\\');
            break;
          case '\'':
            out->push_back('\'');
            break;
          case '"':
            out->push_back('"');
            break;
          case 'a':
            out->push_back('\a');
            break;
          case 'b':
            out->push_back('\b');
            break;
          case 'f':
            out->push_back('\f');
            break;
          case 'n':
            out->push_back('\n');
            break;
          case 'r':
            out->push_back('\r');
            break;
          case 't':
            out->push_back('\t');
            break;
          case 'v':
            out->push_back('\v');
            break;
          case 'x': {
            if (pos_ + 2 > s_.size()) return false;
            std::string hex = s_.substr(pos_, 2);
            if (!std::isxdigit(static_cast<unsigned char>(hex[0])) ||
                !std::isxdigit(static_cast<unsigned char>(hex[1]))) {
              return false;
            }
            AppendUtf8(std::stoul(hex, nullptr, 16), out);
            pos_ += 2;
            break;
          }
          case 'u':
          case 'U': {
            size_t n = e == 'u' ? 4 : 8;
            if (pos_ + n > s_.size()) return false;
            std::string hex = s_.substr(pos_, n);
            for (char h : hex) {
              if (!std::isxdigit(static_cast<unsigned char>(h))) return false;
            }
            AppendUtf8(std::stoul(hex, nullptr, 16), out);
            pos_ += n;
            break;
          }
          default:
            if (e >= '0' && e <= '7') {
              unsigned long v = static_cast<unsigned long>(e - '0');
              for (int i = 0; i < 2 && pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '7';
                   ++i) {
                v = v * 8 + static_cast<unsigned long>(s_[pos_++] - '0');
              }
              AppendUtf8(v, out);
            } else if (e == 'N') {
              return false;  // named escapes: not worth a Unicode name table
            } else {
              out->push_back('\\');  // unknown escapes keep the backslash
              out->push_back(e);
            }
        }
        continue;
      }
      out->push_back(c);
      ++pos_;
    }
    return false;
  }

  static void AppendUtf8(unsigned long cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  // digitpart: [0-9](_?[0-9])*
  bool DigitPart(std::string* digits, bool hex = false, int base_max = 9) {
    auto ok = [&](char c) {
      if (hex) return std::isxdigit(static_cast<unsigned char>(c)) != 0;
      return c >= '0' && c <= '0' + base_max;
    };
    if (pos_ >= s_.size() || !ok(s_[pos_])) return false;
    digits->push_back(s_[pos_++]);
    while (pos_ < s_.size()) {
      if (ok(s_[pos_])) {
        digits->push_back(s_[pos_++]);
      } else if (s_[pos_] == '_' && pos_ + 1 < s_.size() && ok(s_[pos_ + 1])) {
        ++pos_;
      } else {
        break;
      }
    }
    return true;
  }

  bool Number(json* out) {
    size_t start = pos_;
    // Prefixed integers.
    if (s_[pos_] == '0' && pos_ + 1 < s_.size()) {
      char p = static_cast<char>(std::tolower(static_cast<unsigned char>(s_[pos_ + 1])));
      int base = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
      if (base != 0) {
        pos_ += 2;
        if (pos_ < s_.size() && s_[pos_] == '_') ++pos_;
        std::string digits;
        if (!DigitPart(&digits, base == 16, base == 8 ? 7 : 1)) return false;
        if (!EndOfNumber()) return false;
        try {
          *out = static_cast<int64_t>(std::stoll(digits, nullptr, base));
        } catch (const std::exception&) {
          return false;
        }
        return true;
      }
    }
    std::string int_part, frac_part, exp_part;
    bool is_float = false;
    if (s_[pos_] != '.') DigitPart(&int_part);
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      is_float = true;
      if (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
        DigitPart(&frac_part);
      }
      if (int_part.empty() && frac_part.empty()) return false;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      size_t save = pos_;
      ++pos_;
      std::string sign;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) sign = s_[pos_++];
      if (!DigitPart(&exp_part)) {
        pos_ = save;
        return false;
      }
      exp_part = sign + exp_part;
      is_float = true;
    }
    if (!EndOfNumber()) return false;
    if (is_float) {
      try {
        *out = std::stod(absl::StrCat(int_part.empty() ? "0" : int_part, ".",
                                      frac_part.empty() ? "0" : frac_part,
                                      exp_part.empty() ? "" : "e", exp_part));
      } catch (const std::exception&) {
        return false;
      }
      return true;
    }
    // Decimal integers may not have leading zeros, except zero itself ("00" is 0).
    if (int_part.size() > 1 && int_part[0] == '0' &&
        int_part.find_first_not_of('0') != std::string::npos) {
      return false;
    }
    (void)start;
    try {
      *out = static_cast<int64_t>(std::stoll(int_part));
    } catch (const std::exception&) {
      return false;  // beyond int64: keep the text
    }
    return true;
  }

  // A number must not run into letters (1j is complex, 1abc is a syntax error).
  bool EndOfNumber() {
    return pos_ >= s_.size() || !(std::isalnum(static_cast<unsigned char>(s_[pos_])) ||
                                  s_[pos_] == '_' || s_[pos_] == '.');
  }

  bool Sequence(json* out, char close, int depth) {
    ++pos_;
    *out = json::array();
    while (true) {
      if (Eat(close)) return true;
      json v;
      if (!Value(&v, depth + 1)) return false;
      out->push_back(std::move(v));
      if (Eat(',')) continue;
      return Eat(close);
    }
  }

  bool Tuple(json* out, int depth) {
    ++pos_;
    if (Eat(')')) {
      *out = json::array();
      return true;
    }
    json first;
    if (!Value(&first, depth + 1)) return false;
    if (Eat(')')) {
      *out = std::move(first);  // (1) is just 1
      return true;
    }
    if (!Eat(',')) return false;
    *out = json::array({std::move(first)});
    while (true) {
      if (Eat(')')) return true;
      json v;
      if (!Value(&v, depth + 1)) return false;
      out->push_back(std::move(v));
      if (Eat(',')) continue;
      return Eat(')');
    }
  }

  // json.dumps turns non-string keys into strings: 1 -> "1", True -> "true", None -> "null".
  static bool KeyText(const json& k, std::string* out) {
    if (k.is_string()) {
      *out = k.get<std::string>();
    } else if (k.is_number() || k.is_boolean() || k.is_null()) {
      *out = k.dump();
    } else {
      return false;
    }
    return true;
  }

  bool DictOrSet(json* out, int depth) {
    ++pos_;
    if (Eat('}')) {
      *out = json::object();
      return true;
    }
    json first;
    if (!Value(&first, depth + 1)) return false;
    if (Eat(':')) {
      *out = json::object();
      json v;
      if (!Value(&v, depth + 1)) return false;
      std::string key;
      if (!KeyText(first, &key)) return false;
      (*out)[key] = std::move(v);
      while (true) {
        if (Eat('}')) return true;
        if (!Eat(',')) return false;
        if (Eat('}')) return true;
        json k;
        if (!Value(&k, depth + 1) || !Eat(':') || !Value(&v, depth + 1)) return false;
        if (!KeyText(k, &key)) return false;
        (*out)[key] = std::move(v);
      }
    }
    // A set; JSON has none, so it becomes a list.
    *out = json::array({std::move(first)});
    while (true) {
      if (Eat('}')) return true;
      if (!Eat(',')) return false;
      if (Eat('}')) return true;
      json v;
      if (!Value(&v, depth + 1)) return false;
      out->push_back(std::move(v));
    }
  }

  const std::string& s_;
  size_t pos_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Python's shlex.split(line, comments=True) in POSIX mode, as Ansible splits INI host lines.

absl::StatusOr<std::vector<std::string>> ShlexSplit(const std::string& line) {
  std::vector<std::string> tokens;
  std::string token;
  bool in_token = false;  // a quoted empty string is still a token
  size_t i = 0;
  while (i < line.size()) {
    char c = line[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      if (in_token) tokens.push_back(token);
      token.clear();
      in_token = false;
      ++i;
    } else if (c == '#') {
      break;
    } else if (c == '\\') {
      if (i + 1 >= line.size()) return absl::InvalidArgumentError("No escaped character");
      token.push_back(line[i + 1]);
      in_token = true;
      i += 2;
    } else if (c == '\'' || c == '"') {
      in_token = true;
      size_t j = i + 1;
      bool closed = false;
      while (j < line.size()) {
        if (line[j] == c) {
          closed = true;
          break;
        }
        if (c == '"' && line[j] == '\\' && j + 1 < line.size() &&
            (line[j + 1] == '"' || line[j + 1] == '\\')) {
          token.push_back(line[j + 1]);
          j += 2;
          continue;
        }
        token.push_back(line[j]);
        ++j;
      }
      if (!closed) return absl::InvalidArgumentError("No closing quotation");
      i = j + 1;
    } else {
      token.push_back(c);
      in_token = true;
      ++i;
    }
  }
  if (in_token) tokens.push_back(token);
  return tokens;
}

// ---------------------------------------------------------------------------------------------
// Host patterns on inventory lines: optional :port, then ranges.

// Longest line or host pattern handed to std::regex, whose matcher recurses per character.
constexpr size_t kMaxRegexLine = 4096;

bool ValidRangeBody(const std::string& body) {
  static const std::regex re("^(?:[a-zA-Z]:[a-zA-Z]|[0-9]+:[0-9]+)(?::[0-9]+)?$");
  return std::regex_match(body, re);
}

bool IsWordChar(unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; }

// parse_address's 'hostname' pattern: dot-separated labels of word characters, '-' and ranges,
// not starting with '-' and not ending with '-' or '_'. IPv4 addresses pass this too.
bool LooksLikeHostname(const std::string& s) {
  if (s.empty()) return false;
  size_t i = 0;
  while (true) {
    size_t label_start = i;
    char last = 0;
    while (i < s.size() && s[i] != '.') {
      unsigned char c = static_cast<unsigned char>(s[i]);
      if (c == '[') {
        size_t close = s.find(']', i);
        if (close == std::string::npos || !ValidRangeBody(s.substr(i + 1, close - i - 1))) {
          return false;
        }
        i = close + 1;
        last = ']';
        continue;
      }
      if (IsWordChar(c) || c == '-') {
        if (i == label_start && c == '-') return false;
        last = static_cast<char>(c);
        ++i;
        continue;
      }
      return false;
    }
    if (i == label_start || last == '-' || last == '_') return false;
    if (i >= s.size()) return true;
    ++i;  // the dot
  }
}

bool LooksLikeIpv6(const std::string& s) {
  if (s.find(':') == std::string::npos) return false;
  for (char c : s) {
    if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.' || c == '[' ||
          c == ']')) {
      return false;
    }
  }
  return true;
}

// Ansible's _expand_hostpattern: (hostnames, port). port is -1 when absent.
absl::StatusOr<std::vector<std::string>> ExpandHostPattern(const std::string& pattern, int* port) {
  if (pattern.size() > kMaxRegexLine) return absl::InvalidArgumentError("host pattern is too long");
  static const std::regex bracketed("^\\[(.+)\\]:([0-9]+)$");
  static const std::regex hostport("^((?:[^:\\[\\]]|\\[[^\\]]*\\])*):([0-9]+)$");
  *port = -1;
  std::string address = pattern;
  std::smatch m;
  int p = -1;
  if (std::regex_match(pattern, m, bracketed) || std::regex_match(pattern, m, hostport)) {
    address = m[1].str();
    try {
      p = std::stoi(m[2].str());
    } catch (const std::exception&) {
      p = -1;
    }
  }
  std::string host = pattern;
  if (LooksLikeHostname(address) || LooksLikeIpv6(address)) {
    host = address;
    *port = p;
  }
  if (host.find('[') == std::string::npos) return std::vector<std::string>{host};
  return ExpandHostRange(host);
}

absl::Status ParseError(const std::string& file, int line, int column, const std::string& msg) {
  SourcePos pos;
  pos.file = file;
  pos.line = line;
  pos.column = column;
  return ErrorAt(pos, msg);
}

}  // namespace

json IniValue(const std::string& text) {
  json out;
  PyLiteralParser parser(text);
  if (parser.ParseAll(&out)) return out;
  return json(text);
}

absl::StatusOr<std::vector<std::string>> ExpandHostRange(const std::string& line) {
  size_t open = line.find('[');
  if (open == std::string::npos) return std::vector<std::string>{line};
  size_t close = line.find(']', open);
  if (close == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("unterminated host range in '", line, "'"));
  }
  std::string head = line.substr(0, open);
  std::string nrange = line.substr(open + 1, close - open - 1);
  std::string tail = line.substr(close + 1);
  if (nrange.find('|') != std::string::npos || head.find('|') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("invalid host range in '", line, "'"));
  }
  std::vector<std::string> bounds;
  size_t start = 0;
  while (true) {
    size_t colon = nrange.find(':', start);
    bounds.push_back(nrange.substr(start, colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  if (bounds.size() != 2 && bounds.size() != 3) {
    return absl::InvalidArgumentError("host range must be begin:end or begin:end:step");
  }
  std::string beg = bounds[0].empty() ? "0" : bounds[0];
  const std::string& end = bounds[1];
  if (end.empty()) return absl::InvalidArgumentError("host range must specify end value");
  size_t width = 0;
  if (beg[0] == '0' && beg.size() > 1) {
    width = beg.size();
    if (width != end.size()) {
      return absl::InvalidArgumentError(
          "host range must specify equal-length begin and end formats");
    }
  }
  auto parse_int = [](const std::string& s, long long* v) {
    if (s.empty()) return false;
    size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    if (i >= s.size() || s.find_first_not_of("0123456789", i) != std::string::npos) return false;
    try {
      *v = std::stoll(s);
    } catch (const std::exception&) {
      return false;
    }
    return true;
  };
  long long step = 1;
  if (bounds.size() == 3 && !parse_int(bounds[2], &step)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid literal for int() with base 10: '", bounds[2], "'"));
  }
  if (step == 0) return absl::InvalidArgumentError("host range step must not be zero");
  std::vector<std::string> seq;
  static const std::string kLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  size_t i_beg = beg.size() == 1 ? kLetters.find(beg[0]) : std::string::npos;
  size_t i_end = end.size() == 1 ? kLetters.find(end[0]) : std::string::npos;
  if (i_beg != std::string::npos && i_end != std::string::npos) {
    if (i_beg > i_end) return absl::InvalidArgumentError("host range must have begin <= end");
    if (step < 0) return std::vector<std::string>{};
    for (size_t i = i_beg; i <= i_end; i += static_cast<size_t>(step)) {
      seq.push_back(std::string(1, kLetters[i]));
    }
  } else {
    long long b = 0, e = 0;
    if (!parse_int(beg, &b)) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid literal for int() with base 10: '", beg, "'"));
    }
    if (!parse_int(end, &e)) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid literal for int() with base 10: '", end, "'"));
    }
    // Ranges this large are a typo, not a fleet.
    if (step > 0 && (e - b) / step > 100000) {
      return absl::InvalidArgumentError("host range expands to more than 100000 hosts");
    }
    for (long long v = b; step > 0 ? v <= e : v >= e + 2; v += step) {
      std::string s = std::to_string(v);
      if (width > s.size()) s = std::string(width - s.size(), '0') + s;
      seq.push_back(s);
      if (step < 0) break;  // Python's range(b, e+1, negative) is empty unless b > e+1
    }
  }
  std::vector<std::string> hosts;
  for (const std::string& s : seq) {
    std::string name = head + s + tail;
    if (name.find('[') != std::string::npos) {
      auto more = ExpandHostRange(name);
      if (!more.ok()) return more.status();
      hosts.insert(hosts.end(), more->begin(), more->end());
    } else {
      hosts.push_back(name);
    }
    if (hosts.size() > 100000) {
      return absl::InvalidArgumentError("host range expands to more than 100000 hosts");
    }
  }
  return hosts;
}

// ---------------------------------------------------------------------------------------------

// Parses one inventory source file into an Inventory, following ansible's ini.py and yaml.py.
class InventoryParser {
 public:
  explicit InventoryParser(Inventory* inv) : inv_(inv) {}

  // Detects the format like Ansible's plugin chain: files named *.yml/*.yaml/*.json or with no
  // extension are tried as YAML first; anything else (or YAML that is not an inventory) as INI.
  absl::Status ParseText(const std::string& text, const std::string& file) {
    std::string ext = Extension(file);
    bool try_yaml = ext.empty() || ext == ".yml" || ext == ".yaml" || ext == ".json";
    absl::Status yaml_status = absl::OkStatus();
    bool was_yaml_mapping = false;
    if (try_yaml) {
      auto node = ParseYaml(text, file);
      if (node.ok() && node->IsMap() && node->size() > 0 && !node.value()["plugin"]) {
        was_yaml_mapping = true;
        // Parse into a scratch copy so a failed YAML attempt leaves nothing behind.
        Inventory backup = *inv_;
        yaml_status = ParseYamlInventory(*node, file);
        if (yaml_status.ok()) return yaml_status;
        *inv_ = std::move(backup);
      } else if (!node.ok()) {
        yaml_status = node.status();
      } else if (node->IsMap() && node.value()["plugin"]) {
        return ErrorAt(PosOf(file, *node),
                       "inventory plugin configuration files are not supported");
      } else {
        yaml_status = ErrorAt(PosOf(file, *node),
                              "YAML inventory has invalid structure, it "
                              "should be a dictionary");
      }
    }
    absl::Status ini_status = ParseIni(text, file);
    if (ini_status.ok()) return ini_status;
    // Ansible would have accepted it as INI; when INI fails too, the YAML error is the
    // helpful one for a file that is YAML by name or evidently YAML by content.
    if (!yaml_status.ok() && (was_yaml_mapping || !ext.empty())) return yaml_status;
    return ini_status;
  }

 private:
  // --- INI ------------------------------------------------------------------------------------

  struct Pending {
    int line = 0;
    std::string state;
    std::vector<std::string> parents;
  };

  absl::Status ParseIni(const std::string& text, const std::string& file) {
    Inventory backup = *inv_;
    absl::Status s = ParseIniLines(text, file);
    if (!s.ok()) *inv_ = std::move(backup);
    return s;
  }

  absl::Status ParseIniLines(const std::string& text, const std::string& file) {
    static const std::regex section_re("^\\[([^:\\]\\s]+)(?::(\\w+))?\\]\\s*(?:#.*)?$");
    static const std::regex groupname_re("^([^:\\]\\s]+)\\s*(?:#.*)?$");
    std::map<std::string, Pending> pending;
    std::vector<std::string> pending_order;
    std::string group = "ungrouped";
    std::string state = "hosts";
    int lineno = 0;
    size_t start = 0;
    while (start <= text.size()) {
      size_t nl = text.find('\n', start);
      std::string raw =
          text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
      start = nl == std::string::npos ? text.size() + 1 : nl + 1;
      ++lineno;
      size_t b = raw.find_first_not_of(" \t\r\f\v");
      if (b == std::string::npos) continue;
      size_t e = raw.find_last_not_of(" \t\r\f\v");
      std::string line = raw.substr(b, e - b + 1);
      int col = static_cast<int>(b) + 1;
      if (line[0] == '#' || line[0] == ';') continue;

      // std::regex recurses per character; bound what reaches it.
      if (line[0] == '[' && line.size() > kMaxRegexLine) {
        return ParseError(file, lineno, col, "section line is too long");
      }
      std::smatch m;
      if (line[0] == '[' && std::regex_match(line, m, section_re)) {
        group = m[1].str();
        state = m[2].matched ? m[2].str() : "hosts";
        if (state != "hosts" && state != "children" && state != "vars") {
          return ParseError(
              file, lineno, col,
              absl::StrCat("Section [", group, ":", state, "] has unknown type: ", state));
        }
        if (!inv_->HasGroup(group)) {
          if (state == "vars" && !pending.count(group)) {
            pending[group] = Pending{lineno, "vars", {}};
            pending_order.push_back(group);
          }
          inv_->EnsureGroup(group);
        }
        auto it = pending.find(group);
        if (it != pending.end() && state != "vars") {
          if (it->second.state == "children") {
            RETURN_IF_ERROR(AddPendingChildren(group, &pending, file));
          } else {
            pending.erase(it);
          }
        }
        continue;
      }
      if (line.front() == '[' && line.back() == ']') {
        return ParseError(file, lineno, col,
                          absl::StrCat("Invalid section entry: '", line,
                                       "'. Please make sure that there are no spaces in the "
                                       "section entry, and that there are no other invalid "
                                       "characters"));
      }
      if (state == "hosts") {
        auto tokens = ShlexSplit(line);
        if (!tokens.ok()) {
          return ParseError(file, lineno, col,
                            absl::StrCat("Error parsing host definition '", line,
                                         "': ", tokens.status().message()));
        }
        if (tokens->empty()) continue;  // only a comment after all
        const std::string& pattern = (*tokens)[0];
        int port = -1;
        auto hosts = ExpandHostPattern(pattern, &port);
        if (!hosts.ok()) {
          return ParseError(
              file, lineno, col,
              absl::StrCat("bad host pattern '", pattern, "': ", hosts.status().message()));
        }
        if (EndsWith(pattern, ":") && port < 0) {
          return ParseError(file, lineno, col,
                            absl::StrCat("Invalid host pattern '", pattern,
                                         "' supplied, ending in ':' is not allowed, this "
                                         "character is reserved to provide a port."));
        }
        for (const std::string& h : *hosts) {
          if (h == "---") {
            return ParseError(file, lineno, col,
                              absl::StrCat("Invalid host pattern '", pattern,
                                           "' supplied, '---' is normally a sign this is a "
                                           "YAML file."));
          }
        }
        json vars = json::object();
        for (size_t i = 1; i < tokens->size(); ++i) {
          const std::string& t = (*tokens)[i];
          size_t eq = t.find('=');
          if (eq == std::string::npos) {
            return ParseError(
                file, lineno, col,
                absl::StrCat("Expected key=value host variable assignment, got: ", t));
          }
          vars[t.substr(0, eq)] = IniValue(t.substr(eq + 1));
        }
        for (const std::string& h : *hosts) {
          AddHostWithVars(h, group, port, vars);
        }
      } else if (state == "vars") {
        size_t eq = line.find('=');
        if (eq == std::string::npos) {
          return ParseError(file, lineno, col, absl::StrCat("Expected key=value, got: ", line));
        }
        std::string k = Trim(line.substr(0, eq));
        std::string v = Trim(line.substr(eq + 1));
        SetGroupVar(group, k, IniValue(v));
      } else {  // children
        if (line.size() > kMaxRegexLine || !std::regex_match(line, m, groupname_re)) {
          return ParseError(file, lineno, col, absl::StrCat("Expected group name, got: ", line));
        }
        std::string child = m[1].str();
        if (!inv_->HasGroup(child)) {
          auto it = pending.find(child);
          if (it == pending.end()) {
            pending[child] = Pending{lineno, "children", {group}};
            pending_order.push_back(child);
          } else {
            it->second.parents.push_back(group);
          }
        } else {
          RETURN_IF_ERROR(inv_->AddChild(group, child, absl::StrCat(file, ":", lineno, ":", col)));
        }
      }
    }
    for (const std::string& g : pending_order) {
      auto it = pending.find(g);
      if (it == pending.end()) continue;
      if (it->second.state == "vars") {
        return ParseError(
            file, it->second.line, 1,
            absl::StrCat("Section [", g, ":vars] not valid for undefined group: ", g));
      }
      return ParseError(file, it->second.line, 1,
                        absl::StrCat("Section [", it->second.parents.back(),
                                     ":children] includes undefined group: ", g));
    }
    return absl::OkStatus();
  }

  absl::Status AddPendingChildren(const std::string& group, std::map<std::string, Pending>* pending,
                                  const std::string& file) {
    std::vector<std::string> parents = (*pending)[group].parents;
    int line = (*pending)[group].line;
    for (const std::string& parent : parents) {
      RETURN_IF_ERROR(inv_->AddChild(parent, group, absl::StrCat(file, ":", line, ":1")));
      auto it = pending->find(parent);
      if (it != pending->end() && it->second.state == "children") {
        RETURN_IF_ERROR(AddPendingChildren(parent, pending, file));
      }
    }
    pending->erase(group);
    return absl::OkStatus();
  }

  static std::string Trim(const std::string& s) {
    size_t b = s.find_first_not_of(" \t\r\f\v\n");
    if (b == std::string::npos) return "";
    size_t e = s.find_last_not_of(" \t\r\f\v\n");
    return s.substr(b, e - b + 1);
  }

  // --- shared ---------------------------------------------------------------------------------

  void AddHostWithVars(const std::string& host, const std::string& group, int port,
                       const json& vars) {
    bool is_new = !inv_->HasHost(host);
    InventoryHost& h = inv_->EnsureHost(host);
    // Host(name, port) sets ansible_port only when the host is created.
    if (port >= 0 && is_new) h.vars["ansible_port"] = port;
    inv_->AddHostToGroup(group, host);
    for (auto& [k, v] : vars.items()) h.vars[k] = v;
  }

  void SetGroupVar(const std::string& group, const std::string& key, const json& value) {
    InventoryGroup& g = inv_->EnsureGroup(group);
    if (key == "ansible_group_priority") {
      // Ansible keeps the priority out of the group's variables.
      if (value.is_number_integer()) {
        g.priority = value.get<int>();
      } else if (value.is_string()) {
        try {
          g.priority = std::stoi(value.get<std::string>());
        } catch (const std::exception&) {
        }
      }
      return;
    }
    g.vars[key] = value;
  }

  // --- YAML -----------------------------------------------------------------------------------

  absl::Status ParseYamlInventory(const YAML::Node& root, const std::string& file) {
    for (const auto& kv : root) {
      std::string name;
      RETURN_IF_ERROR(GroupKey(kv.first, file, &name));
      std::string ignored;
      RETURN_IF_ERROR(ParseYamlGroup(name, kv.second, file, 0, &ignored));
    }
    return absl::OkStatus();
  }

  absl::Status GroupKey(const YAML::Node& key, const std::string& file, std::string* name) {
    if (!key.IsScalar() || key.Scalar().empty()) {
      return ErrorAt(PosOf(file, key), "Invalid group name supplied, expected a string");
    }
    *name = key.Scalar();
    return absl::OkStatus();
  }

  // Returns in *added the group name (empty when the data was skipped, as Ansible warns).
  absl::Status ParseYamlGroup(const std::string& group, const YAML::Node& data,
                              const std::string& file, int depth, std::string* added) {
    added->clear();
    if (depth > 100) return ErrorAt(PosOf(file, data), "group nesting is too deep");
    if (!(data.IsMap() || data.IsNull())) return absl::OkStatus();  // Ansible: warning, skip
    inv_->EnsureGroup(group);
    *added = group;
    if (data.IsNull()) return absl::OkStatus();
    for (const char* section : {"vars", "children", "hosts"}) {
      YAML::Node s = data[section];
      if (s && !(s.IsMap() || s.IsNull() || s.IsScalar())) {
        return ErrorAt(PosOf(file, s),
                       absl::StrCat("Invalid \"", section, "\" entry for \"", group,
                                    "\" group, requires a dictionary, found \"",
                                    s.IsSequence() ? "list" : "scalar", "\" instead."));
      }
    }
    for (const auto& kv : data) {
      if (!kv.first.IsScalar()) continue;
      const std::string key = kv.first.Scalar();
      const YAML::Node& value = kv.second;
      // A plain string section value means {value: None}.
      if (value.IsScalar() && (key == "vars" || key == "children" || key == "hosts")) {
        if (key == "vars") {
          // Ansible turns `vars: name` into {name: None}.
          SetGroupVar(group, value.Scalar(), json(nullptr));
          continue;
        }
        if (key == "children") {
          std::string child;
          RETURN_IF_ERROR(ParseYamlGroup(value.Scalar(), YAML::Node(YAML::NodeType::Null), file,
                                         depth + 1, &child));
          RETURN_IF_ERROR(inv_->AddChild(group, child, PosOf(file, value).ToString()));
        } else {
          RETURN_IF_ERROR(AddYamlHost(group, value, YAML::Node(YAML::NodeType::Null), file));
        }
        continue;
      }
      if (!(value.IsMap() || value.IsNull())) continue;  // Ansible: warning, skip
      if (value.IsNull()) continue;
      if (key == "vars") {
        for (const auto& v : value) {
          if (!v.first.IsScalar()) return ErrorAt(PosOf(file, v.first), "bad variable name");
          ASSIGN_OR_RETURN(json j, YamlToJson(v.second, file));
          SetGroupVar(group, v.first.Scalar(), j);
        }
      } else if (key == "children") {
        for (const auto& c : value) {
          std::string child_name;
          RETURN_IF_ERROR(GroupKey(c.first, file, &child_name));
          std::string child;
          RETURN_IF_ERROR(ParseYamlGroup(child_name, c.second, file, depth + 1, &child));
          // Ansible adds the edge even for skipped data (the name comes back unchanged).
          if (child.empty()) {
            if (!inv_->HasGroup(child_name)) {
              return ErrorAt(PosOf(file, c.first),
                             absl::StrCat(child_name, " is not a known host nor group"));
            }
            child = child_name;
          }
          RETURN_IF_ERROR(inv_->AddChild(group, child, PosOf(file, c.first).ToString()));
        }
      } else if (key == "hosts") {
        for (const auto& h : value) {
          RETURN_IF_ERROR(AddYamlHost(group, h.first, h.second, file));
        }
      }
      // Other keys: Ansible warns and skips them.
    }
    return absl::OkStatus();
  }

  absl::Status AddYamlHost(const std::string& group, const YAML::Node& key, const YAML::Node& vars,
                           const std::string& file) {
    if (!key.IsScalar() || (IsPlainScalar(key) && !ResolvePlainScalar(key.Scalar()).is_string())) {
      return ErrorAt(
          PosOf(file, key),
          absl::StrCat("Host pattern ", key.IsScalar() ? key.Scalar() : "",
                       " must be a string. Enclose integers/floats in quotation marks."));
    }
    int port = -1;
    auto hosts = ExpandHostPattern(key.Scalar(), &port);
    if (!hosts.ok()) {
      return ErrorAt(PosOf(file, key), absl::StrCat("bad host pattern '", key.Scalar(),
                                                    "': ", hosts.status().message()));
    }
    json j = json::object();
    if (vars && !vars.IsNull()) {
      if (!vars.IsMap()) {
        return ErrorAt(PosOf(file, vars),
                       "Invalid data from file, expected dictionary for host variables");
      }
      ASSIGN_OR_RETURN(j, YamlToJson(vars, file));
    }
    for (const std::string& h : *hosts) AddHostWithVars(h, group, port, j);
    return absl::OkStatus();
  }

  Inventory* inv_;
};

// ---------------------------------------------------------------------------------------------

Inventory::Inventory() {
  EnsureGroup("all");
  EnsureGroup("ungrouped");
  groups_["all"].children.push_back("ungrouped");
  groups_["ungrouped"].parents.push_back("all");
}

InventoryGroup& Inventory::EnsureGroup(const std::string& name) {
  auto it = groups_.find(name);
  if (it != groups_.end()) return it->second;
  group_order_.push_back(name);
  InventoryGroup& g = groups_[name];
  g.name = name;
  return g;
}

InventoryHost& Inventory::EnsureHost(const std::string& name) {
  auto it = hosts_.find(name);
  if (it != hosts_.end()) return it->second;
  host_order_.push_back(name);
  InventoryHost& h = hosts_[name];
  h.name = name;
  return h;
}

absl::Status Inventory::AddChild(const std::string& parent, const std::string& child,
                                 const std::string& where) {
  if (parent == child) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": can't add group to itself: ", child));
  }
  InventoryGroup& p = EnsureGroup(parent);
  if (std::find(p.children.begin(), p.children.end(), child) != p.children.end()) {
    return absl::OkStatus();
  }
  // Refuse cycles: parent must not be a descendant of child.
  std::vector<std::string> stack = {child};
  std::set<std::string> seen;
  while (!stack.empty()) {
    std::string g = stack.back();
    stack.pop_back();
    if (g == parent) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": Adding group '", child,
                                                     "' as child to '", parent,
                                                     "' creates a recursive dependency loop."));
    }
    if (!seen.insert(g).second) continue;
    auto it = groups_.find(g);
    if (it != groups_.end()) {
      for (const auto& c : it->second.children) stack.push_back(c);
    }
  }
  groups_[parent].children.push_back(child);
  EnsureGroup(child).parents.push_back(parent);
  return absl::OkStatus();
}

void Inventory::AddHostToGroup(const std::string& group, const std::string& host) {
  InventoryGroup& g = EnsureGroup(group);
  if (std::find(g.hosts.begin(), g.hosts.end(), host) != g.hosts.end()) return;
  g.hosts.push_back(host);
  hosts_[host].groups.push_back(group);
}

void Inventory::RemoveHostFromGroup(const std::string& group, const std::string& host) {
  auto& gh = groups_[group].hosts;
  gh.erase(std::remove(gh.begin(), gh.end(), host), gh.end());
  auto& hg = hosts_[host].groups;
  hg.erase(std::remove(hg.begin(), hg.end(), group), hg.end());
}

void Inventory::Reconcile() {
  for (const std::string& name : group_order_) {
    if (name != "all" && groups_[name].parents.empty()) {
      groups_["all"].children.push_back(name);
      groups_[name].parents.push_back("all");
    }
  }
  for (const std::string& name : host_order_) {
    InventoryHost& h = hosts_[name];
    bool in_ungrouped = std::find(h.groups.begin(), h.groups.end(), "ungrouped") != h.groups.end();
    std::vector<std::string> all_groups = HostGroupsAll(name);
    if (in_ungrouped) {
      for (const auto& g : all_groups) {
        if (g != "all" && g != "ungrouped") {
          RemoveHostFromGroup("ungrouped", name);
          break;
        }
      }
    } else if (!h.implicit) {
      bool only_all = true;
      for (const auto& g : h.groups) {
        if (g != "all") only_all = false;
      }
      if (only_all) AddHostToGroup("ungrouped", name);
    }
  }
  ComputeDepths();
}

void Inventory::ComputeDepths() {
  // Longest path from `all`; groups form a DAG (AddChild refuses cycles).
  for (auto& [name, g] : groups_) g.depth = 0;
  bool changed = true;
  for (size_t round = 0; changed && round <= groups_.size(); ++round) {
    changed = false;
    for (auto& [name, g] : groups_) {
      for (const auto& c : g.children) {
        InventoryGroup& child = groups_[c];
        if (child.depth < g.depth + 1) {
          child.depth = g.depth + 1;
          changed = true;
        }
      }
    }
  }
}

const InventoryHost* Inventory::FindHost(const std::string& name) const {
  auto it = hosts_.find(name);
  return it == hosts_.end() ? nullptr : &it->second;
}

const InventoryGroup* Inventory::FindGroup(const std::string& name) const {
  auto it = groups_.find(name);
  return it == groups_.end() ? nullptr : &it->second;
}

std::vector<std::string> Inventory::GroupNames() const { return group_order_; }

std::vector<std::string> Inventory::GroupHosts(const std::string& group) const {
  std::vector<std::string> out;
  auto top = groups_.find(group);
  if (top == groups_.end()) return out;
  // Group._get_hosts: the group, its children, then breadth-first further down.
  std::vector<std::string> ordered = {group};
  for (const auto& c : top->second.children) ordered.push_back(c);
  std::set<std::string> seen = {group};
  std::vector<std::string> level = top->second.children;
  while (!level.empty()) {
    for (const auto& g : level) seen.insert(g);
    std::vector<std::string> next;
    std::set<std::string> next_set;
    for (const auto& g : level) {
      for (const auto& c : groups_.at(g).children) {
        if (!seen.count(c) && next_set.insert(c).second) {
          next.push_back(c);
          ordered.push_back(c);
        }
      }
    }
    level = std::move(next);
  }
  std::set<std::string> host_seen;
  for (const auto& g : ordered) {
    for (const auto& h : groups_.at(g).hosts) {
      if (!host_seen.insert(h).second) continue;
      if (group == "all" && hosts_.at(h).implicit) continue;
      out.push_back(h);
    }
  }
  return out;
}

std::vector<std::string> Inventory::Hosts() const { return GroupHosts("all"); }

std::vector<std::string> Inventory::HostGroupsAll(const std::string& host) const {
  std::set<std::string> out;
  auto it = hosts_.find(host);
  if (it == hosts_.end()) return {};
  std::vector<std::string> stack = it->second.groups;
  while (!stack.empty()) {
    std::string g = stack.back();
    stack.pop_back();
    if (!out.insert(g).second) continue;
    for (const auto& p : groups_.at(g).parents) stack.push_back(p);
  }
  return std::vector<std::string>(out.begin(), out.end());
}

std::vector<std::string> Inventory::GroupNamesOf(const std::string& host) const {
  std::vector<std::string> out;
  for (auto& g : HostGroupsAll(host)) {
    if (g != "all") out.push_back(g);
  }
  return out;
}

std::vector<std::string> Inventory::SortedGroupsOf(const std::string& host) const {
  std::vector<std::string> groups = GroupNamesOf(host);
  std::sort(groups.begin(), groups.end(), [this](const std::string& a, const std::string& b) {
    const InventoryGroup& ga = groups_.at(a);
    const InventoryGroup& gb = groups_.at(b);
    if (ga.depth != gb.depth) return ga.depth < gb.depth;
    if (ga.priority != gb.priority) return ga.priority < gb.priority;
    return a < b;
  });
  return groups;
}

namespace {

// host_group_vars: DIR/NAME (a file, or a directory walked in sorted order), NAME.yml,
// NAME.yaml, NAME.json; later files override earlier ones key by key.
void CollectDirVarsFiles(const std::string& dir, std::vector<std::string>* out, int depth) {
  if (depth > 20) return;
  for (const std::string& n : ListDir(dir)) {
    if (n[0] == '.' || EndsWith(n, "~")) continue;
    std::string full = dir + "/" + n;
    std::string ext = Extension(n);
    if (IsDir(full) && ext.empty()) {
      CollectDirVarsFiles(full, out, depth + 1);
    } else if (IsFile(full) && (ext.empty() || ext == ".yml" || ext == ".yaml" || ext == ".json")) {
      out->push_back(full);
    }
  }
}

absl::StatusOr<json> LoadEntityVars(const std::string& dir, const std::string& name) {
  json merged = json::object();
  if (name.empty() || name[0] == '/') return merged;
  std::vector<std::string> files;
  for (const char* ext : {"", ".yml", ".yaml", ".json"}) {
    std::string path = absl::StrCat(dir, "/", name, ext);
    if (IsDir(path)) {
      CollectDirVarsFiles(path, &files, 0);
    } else if (IsFile(path)) {
      files.push_back(path);
    }
  }
  for (const std::string& f : files) {
    ASSIGN_OR_RETURN(json vars, LoadVarsFile(f));
    for (auto& [k, v] : vars.items()) merged[k] = v;
  }
  return merged;
}

}  // namespace

absl::Status Inventory::LoadVarsDirEntries(VarsDir* vd) const {
  std::string gdir = vd->dir + "/group_vars";
  std::string hdir = vd->dir + "/host_vars";
  if (IsDir(gdir)) {
    for (const std::string& g : group_order_) {
      if (vd->group_vars.count(g)) continue;
      ASSIGN_OR_RETURN(json v, LoadEntityVars(gdir, g));
      vd->group_vars[g] = std::move(v);
    }
  }
  if (IsDir(hdir)) {
    std::vector<std::string> names = host_order_;
    for (const char* l : {"localhost", "127.0.0.1", "::1"}) names.push_back(l);
    for (const std::string& h : names) {
      if (vd->host_vars.count(h)) continue;
      ASSIGN_OR_RETURN(json v, LoadEntityVars(hdir, h));
      vd->host_vars[h] = std::move(v);
    }
  }
  return absl::OkStatus();
}

absl::Status Inventory::LoadAllVarsDirs() {
  for (auto& vd : inventory_dirs_) RETURN_IF_ERROR(LoadVarsDirEntries(&vd));
  for (auto& vd : playbook_dirs_) RETURN_IF_ERROR(LoadVarsDirEntries(&vd));
  return absl::OkStatus();
}

namespace {

constexpr size_t kMaxInventoryBytes = 16u << 20;

bool IgnoredInDirectory(const std::string& name) {
  if (name.empty() || name[0] == '.') return true;
  if (name == "host_vars" || name == "group_vars" || name == "vars_plugins") return true;
  for (const char* ext : {".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst",
                          ".orig", ".ini", ".cfg", ".retry"}) {
    if (EndsWith(name, ext)) return true;
  }
  return false;
}

absl::Status ParseSourcePath(InventoryParser* parser, const std::string& path, int depth) {
  if (depth > 10) return absl::InvalidArgumentError(path + ": inventory directories nest too deep");
  if (IsDir(path)) {
    for (const std::string& n : ListDir(path)) {
      if (IgnoredInDirectory(n)) continue;
      RETURN_IF_ERROR(ParseSourcePath(parser, path + "/" + n, depth + 1));
    }
    return absl::OkStatus();
  }
  // Executable files would be dynamic inventory scripts, which a controller must not run.
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat(path, ": inventory source not found"));
  }
  if (depth > 0 && (st.st_mode & 0111) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ":1:1: executable inventory scripts are not supported"));
  }
  ASSIGN_OR_RETURN(std::string text, ReadFile(path, kMaxInventoryBytes));
  return parser->ParseText(text, path);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Inventory>> Inventory::Load(const std::vector<std::string>& sources,
                                                           const std::string& playbook_dir) {
  std::unique_ptr<Inventory> inv(new Inventory());
  InventoryParser parser(inv.get());
  for (const std::string& src : sources) {
    RETURN_IF_ERROR(ParseSourcePath(&parser, src, 0));
    VarsDir vd;
    vd.dir = RealPath(IsDir(src) ? src : DirName(src));
    inv->inventory_dirs_.push_back(std::move(vd));
  }
  if (!playbook_dir.empty()) {
    VarsDir vd;
    vd.dir = RealPath(playbook_dir);
    inv->playbook_dirs_.push_back(std::move(vd));
  }
  inv->Reconcile();
  RETURN_IF_ERROR(inv->LoadAllVarsDirs());
  return inv;
}

absl::StatusOr<std::unique_ptr<Inventory>> Inventory::FromString(const std::string& text,
                                                                 const std::string& name) {
  std::unique_ptr<Inventory> inv(new Inventory());
  InventoryParser parser(inv.get());
  RETURN_IF_ERROR(parser.ParseText(text, name));
  inv->Reconcile();
  return inv;
}

InventoryHost Inventory::ImplicitLocalhost(const std::string& name) const {
  InventoryHost h;
  h.name = name;
  h.implicit = true;
  h.vars["ansible_connection"] = "local";
  return h;
}

absl::StatusOr<json> Inventory::HostVars(const std::string& host) const {
  InventoryHost implicit;
  const InventoryHost* h = FindHost(host);
  if (h == nullptr) {
    if (!IsLocalhostName(host)) return absl::NotFoundError(absl::StrCat("no such host: ", host));
    implicit = ImplicitLocalhost(host);
    h = &implicit;
  }
  json out = json::object();
  auto merge = [&out](const json& vars) {
    for (auto& [k, v] : vars.items()) out[k] = v;
  };
  auto dir_group = [&merge](const VarsDir& vd, const std::string& g) {
    auto it = vd.group_vars.find(g);
    if (it != vd.group_vars.end()) merge(it->second);
  };
  std::vector<std::string> groups = h->implicit ? std::vector<std::string>{} : SortedGroupsOf(host);
  // VARIABLE_PRECEDENCE's default order, then host vars.
  merge(groups_.at("all").vars);
  for (const auto& g : groups) merge(groups_.at(g).vars);
  for (const auto& vd : inventory_dirs_) dir_group(vd, "all");
  for (const auto& vd : playbook_dirs_) dir_group(vd, "all");
  for (const auto& vd : inventory_dirs_) {
    for (const auto& g : groups) dir_group(vd, g);
  }
  for (const auto& vd : playbook_dirs_) {
    for (const auto& g : groups) dir_group(vd, g);
  }
  merge(h->vars);
  for (const auto* dirs : {&inventory_dirs_, &playbook_dirs_}) {
    for (const auto& vd : *dirs) {
      auto it = vd.host_vars.find(host);
      if (it != vd.host_vars.end()) merge(it->second);
    }
  }
  return out;
}

absl::Status Inventory::AddHost(const std::string& host) {
  if (host.empty()) return absl::InvalidArgumentError("empty host name");
  if (HasHost(host)) return absl::OkStatus();
  EnsureHost(host);
  AddHostToGroup("ungrouped", host);
  return LoadAllVarsDirs();
}

absl::Status Inventory::AddAgentGroups(const std::string& host,
                                       const std::vector<std::string>& groups,
                                       bool add_missing_host) {
  if (!HasHost(host)) {
    if (!add_missing_host) return absl::NotFoundError(absl::StrCat("no such host: ", host));
    EnsureHost(host);
  }
  for (const std::string& g : groups) {
    if (g.empty()) return absl::InvalidArgumentError("empty group name");
    if (g == "all" || g == "ungrouped") continue;
    bool is_new = !HasGroup(g);
    EnsureGroup(g);
    if (is_new) RETURN_IF_ERROR(AddChild("all", g, "agent group"));
    AddHostToGroup(g, host);
  }
  // Re-run Ansible's reconcile rules for this host: a grouped host leaves `ungrouped`.
  InventoryHost& h = hosts_[host];
  bool has_real_group = false;
  for (const auto& g : h.groups) {
    if (g != "all" && g != "ungrouped") has_real_group = true;
  }
  if (has_real_group) {
    RemoveHostFromGroup("ungrouped", host);
  } else if (h.groups.empty()) {
    AddHostToGroup("ungrouped", host);
  }
  ComputeDepths();
  return LoadAllVarsDirs();
}

Universe Inventory::GetUniverse() const {
  Universe u;
  u.hosts = Hosts();
  for (const auto& g : group_order_) u.groups[g] = GroupHosts(g);
  for (const char* name : {"localhost", "127.0.0.1", "::1"}) {
    if (!HasHost(name)) u.implicit_hosts.push_back(name);
  }
  return u;
}

absl::StatusOr<json> Inventory::ToListJson() const {
  json out = json::object();
  std::set<std::string> seen;
  // cli/inventory.py json_inventory: direct hosts and children, empty groups dropped.
  std::function<void(const std::string&)> format = [&](const std::string& name) {
    const InventoryGroup& g = groups_.at(name);
    json entry = json::object();
    if (name != "all") {
      json hosts = json::array();
      for (const auto& h : g.hosts) {
        if (!hosts_.at(h).implicit) hosts.push_back(h);
      }
      if (!hosts.empty()) entry["hosts"] = hosts;
    }
    json children = json::array();
    for (const auto& c : g.children) {
      children.push_back(c);
      if (!seen.count(c)) {
        format(c);
        seen.insert(c);
      }
    }
    if (!children.empty()) entry["children"] = children;
    if (!entry.empty()) out[name] = entry;
  };
  format("all");
  json hostvars = json::object();
  for (const auto& h : Hosts()) {
    ASSIGN_OR_RETURN(json v, HostVars(h));
    if (!v.empty()) hostvars[h] = v;
  }
  out["_meta"]["hostvars"] = hostvars;
  return out;
}

}  // namespace tachyon::rollout
