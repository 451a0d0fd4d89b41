#include "controller/rollout/ini_syntax.h"

#include <cctype>
#include <regex>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tachyon::rollout {

using nlohmann::json;

namespace {

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
            AppendUtf8(static_cast<uint32_t>(std::stoul(hex, nullptr, 16)), out);
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
            AppendUtf8(static_cast<uint32_t>(std::stoul(hex, nullptr, 16)), out);
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
              AppendUtf8(static_cast<uint32_t>(v), out);
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

}  // namespace

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

absl::StatusOr<std::vector<std::string>> ExpandHostPattern(const std::string& pattern, int* port,
                                                           size_t max_hosts) {
  if (pattern.size() > kMaxIniRegexLine)
    return absl::InvalidArgumentError("host pattern is too long");
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
  return ExpandHostRange(host, max_hosts);
}

json IniValue(const std::string& text) {
  json out;
  PyLiteralParser parser(text);
  if (parser.ParseAll(&out)) return out;
  return json(text);
}

absl::StatusOr<std::vector<std::string>> ExpandHostRange(const std::string& line,
                                                         size_t max_hosts) {
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
    if (step > 0 && static_cast<unsigned long long>((e - b) / step) > max_hosts) {
      return absl::InvalidArgumentError(
          absl::StrCat("host range expands to more than ", max_hosts, " hosts"));
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
      auto more = ExpandHostRange(name, max_hosts);
      if (!more.ok()) return more.status();
      hosts.insert(hosts.end(), more->begin(), more->end());
    } else {
      hosts.push_back(name);
    }
    if (hosts.size() > max_hosts) {
      return absl::InvalidArgumentError(
          absl::StrCat("host range expands to more than ", max_hosts, " hosts"));
    }
  }
  return hosts;
}

void AppendUtf8(uint32_t cp, std::string* out) {
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

}  // namespace tachyon::rollout