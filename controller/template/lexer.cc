#include "controller/template/lexer.h"

#include <cctype>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "controller/template/value.h"

namespace tachyon::tmpl {
namespace {

#define RETURN_STATUS(expr)                 \
  do {                                      \
    absl::Status s_ = (expr);               \
    if (!s_.ok()) return s_;                \
  } while (0)

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool IsNameStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Python's "unicode-escape" decoding, which Jinja applies to string literals.
std::string DecodeEscapes(std::string_view raw) {
  std::string out;
  for (size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c != '\\' || i + 1 >= raw.size()) {
      out.push_back(c);
      continue;
    }
    const char e = raw[++i];
    switch (e) {
      case 'n': out.push_back('\n'); break;
      case 't': out.push_back('\t'); break;
      case 'r': out.push_back('\r'); break;
      case 'a': out.push_back('\a'); break;
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'v': out.push_back('\v'); break;
      case '\\': out.push_back('\\'); break;
      case '\'': out.push_back('\''); break;
      case '"': out.push_back('"'); break;
      case '\n': break;
      case 'x':
      case 'u':
      case 'U': {
        const size_t n = e == 'x' ? 2 : (e == 'u' ? 4 : 8);
        if (i + n < raw.size()) {
          const std::string hex(raw.substr(i + 1, n));
          char* end = nullptr;
          const unsigned long cp = std::strtoul(hex.c_str(), &end, 16);
          if (hex.size() == n && end == hex.c_str() + n) {
            out += EncodeUtf8(std::u32string(1, static_cast<char32_t>(cp)));
            i += n;
            break;
          }
        }
        out.push_back('\\');
        out.push_back(e);
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          int value = e - '0';
          for (int k = 0; k < 2 && i + 1 < raw.size() && raw[i + 1] >= '0' && raw[i + 1] <= '7'; ++k) {
            value = value * 8 + (raw[++i] - '0');
          }
          out += EncodeUtf8(std::u32string(1, static_cast<char32_t>(value)));
        } else {
          out.push_back('\\');
          out.push_back(e);
        }
    }
  }
  return out;
}

class Lexer {
 public:
  Lexer(std::string_view source, std::string_view name, const LexerOptions& options)
      : src_(source), name_(name), options_(options) {}

  absl::StatusOr<std::vector<Token>> Run() {
    while (pos_ < src_.size()) {
      const size_t tag = FindTag(pos_);
      if (tag > pos_) EmitData(src_.substr(pos_, tag - pos_), pos_);
      if (tag >= src_.size()) break;
      Advance(tag);
      const char kind = src_[pos_ + 1];
      // A '-' right after the opening delimiter strips whitespace before the tag.
      const bool strip_before = pos_ + 2 < src_.size() && src_[pos_ + 2] == '-';
      if (strip_before) StripTrailingData();
      if (kind == '#') {
        RETURN_STATUS(LexComment());
      } else if (kind == '%' && IsRawBegin()) {
        RETURN_STATUS(LexRaw());
      } else {
        RETURN_STATUS(LexTag(kind == '{'));
      }
    }
    tokens_.push_back(Token{TokenType::kEof, "", line_, col_});
    return std::move(tokens_);
  }

 private:
  absl::Status Error(std::string_view message, int line, int col) {
    return absl::InvalidArgumentError(
        absl::StrFormat("template error in %s at line %d, column %d: %s", name_, line, col, message));
  }

  size_t FindTag(size_t from) const {
    for (size_t i = from; i + 1 < src_.size(); ++i) {
      if (src_[i] == '{' && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) {
        return i;
      }
    }
    return src_.size();
  }

  // Moves to `to`, keeping line and column for error messages.
  void Advance(size_t to) {
    for (; pos_ < to && pos_ < src_.size(); ++pos_) {
      if (src_[pos_] == '\n') {
        ++line_;
        col_ = 1;
      } else {
        ++col_;
      }
    }
  }

  void EmitData(std::string_view text, size_t at) {
    (void)at;
    tokens_.push_back(Token{TokenType::kData, std::string(text), line_, col_});
    Advance(pos_ + text.size());
  }

  void StripTrailingData() {
    if (tokens_.empty() || tokens_.back().type != TokenType::kData) return;
    std::string& text = tokens_.back().value;
    while (!text.empty() && IsSpace(text.back())) text.pop_back();
    if (text.empty()) tokens_.pop_back();
  }

  // After a closing delimiter: '-' strips all following whitespace; trim_blocks eats one
  // newline after block and comment tags.
  void AfterTagEnd(bool strip_after, bool is_block) {
    if (strip_after) {
      size_t p = pos_;
      while (p < src_.size() && IsSpace(src_[p])) ++p;
      Advance(p);
    } else if (is_block && options_.trim_blocks && pos_ < src_.size() && src_[pos_] == '\n') {
      Advance(pos_ + 1);
    }
  }

  absl::Status LexComment() {
    const int line = line_, col = col_;
    const size_t end = src_.find("#}", pos_ + 2);
    if (end == std::string_view::npos) return Error("Missing end of comment tag", line, col);
    const bool strip_after = end > pos_ + 2 && src_[end - 1] == '-';
    Advance(end + 2);
    AfterTagEnd(strip_after, true);
    return absl::OkStatus();
  }

  // `{% raw %}` with optional '-' on either side.
  bool IsRawBegin() const {
    size_t p = pos_ + 2;
    if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) ++p;
    while (p < src_.size() && IsSpace(src_[p])) ++p;
    if (src_.compare(p, 3, "raw") != 0) return false;
    p += 3;
    return p < src_.size() && (IsSpace(src_[p]) || src_[p] == '%' || src_[p] == '-');
  }

  absl::Status LexRaw() {
    const int line = line_, col = col_;
    size_t p = src_.find("raw", pos_) + 3;
    while (p < src_.size() && IsSpace(src_[p])) ++p;
    bool strip_after = false;
    if (p < src_.size() && src_[p] == '-') {
      strip_after = true;
      ++p;
    }
    if (src_.compare(p, 2, "%}") != 0) return Error("expected end of raw tag", line, col);
    Advance(p + 2);
    if (strip_after) AfterTagEnd(true, true);
    // Find `{%[-+]? endraw [-]?%}`.
    for (size_t q = src_.find("{%", pos_); q != std::string_view::npos; q = src_.find("{%", q + 1)) {
      size_t r = q + 2;
      const bool strip_before = r < src_.size() && src_[r] == '-';
      if (r < src_.size() && (src_[r] == '-' || src_[r] == '+')) ++r;
      while (r < src_.size() && IsSpace(src_[r])) ++r;
      if (src_.compare(r, 6, "endraw") != 0) continue;
      r += 6;
      while (r < src_.size() && IsSpace(src_[r])) ++r;
      bool end_strip = false;
      if (r < src_.size() && src_[r] == '-') {
        end_strip = true;
        ++r;
      }
      if (src_.compare(r, 2, "%}") != 0) continue;
      std::string text(src_.substr(pos_, q - pos_));
      if (strip_before) {
        while (!text.empty() && IsSpace(text.back())) text.pop_back();
      }
      if (!text.empty()) tokens_.push_back(Token{TokenType::kData, text, line_, col_});
      Advance(r + 2);
      AfterTagEnd(end_strip, true);
      return absl::OkStatus();
    }
    return Error("Missing end of raw directive", line, col);
  }

  absl::Status LexTag(bool is_variable) {
    const int start_line = line_, start_col = col_;
    tokens_.push_back(Token{is_variable ? TokenType::kVariableBegin : TokenType::kBlockBegin,
                            "", line_, col_});
    size_t p = pos_ + 2;
    if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) ++p;
    Advance(p);
    const char close = is_variable ? '}' : '%';
    int depth = 0;  // Brackets open inside the tag: '}}' inside a dict literal does not close it.
    while (true) {
      while (pos_ < src_.size() && IsSpace(src_[pos_])) Advance(pos_ + 1);
      if (pos_ >= src_.size()) {
        return Error(is_variable ? "unexpected end of template, expected 'end of print statement'."
                                 : "unexpected end of template, expected 'end of statement block'.",
                     start_line, start_col);
      }
      const char c = src_[pos_];
      if (depth == 0) {
        if (c == '-' && pos_ + 2 < src_.size() && src_[pos_ + 1] == close && src_[pos_ + 2] == '}') {
          tokens_.push_back(Token{is_variable ? TokenType::kVariableEnd : TokenType::kBlockEnd,
                                  "", line_, col_});
          Advance(pos_ + 3);
          AfterTagEnd(true, !is_variable);
          return absl::OkStatus();
        }
        if (c == close && pos_ + 1 < src_.size() && src_[pos_ + 1] == '}') {
          tokens_.push_back(Token{is_variable ? TokenType::kVariableEnd : TokenType::kBlockEnd,
                                  "", line_, col_});
          Advance(pos_ + 2);
          AfterTagEnd(false, !is_variable);
          return absl::OkStatus();
        }
      }
      const int line = line_, col = col_;
      if (IsNameStart(c)) {
        size_t e = pos_;
        while (e < src_.size() && IsNameChar(src_[e])) ++e;
        tokens_.push_back(Token{TokenType::kName, std::string(src_.substr(pos_, e - pos_)), line, col});
        Advance(e);
        continue;
      }
      if (std::isdigit(static_cast<unsigned char>(c))) {
        RETURN_STATUS(LexNumber());
        continue;
      }
      if (c == '\'' || c == '"') {
        size_t e = pos_ + 1;
        while (e < src_.size() && src_[e] != c) {
          if (src_[e] == '\\') ++e;
          ++e;
        }
        if (e >= src_.size()) return Error("unexpected char " + Repr(Json(std::string(1, c))), line, col);
        const std::string_view raw = src_.substr(pos_ + 1, e - pos_ - 1);
        std::string value = (is_variable && options_.raw_strings_in_variables &&
                             raw.find('\\') != std::string_view::npos)
                                ? std::string(raw)
                                : DecodeEscapes(raw);
        tokens_.push_back(Token{TokenType::kString, std::move(value), line, col});
        Advance(e + 1);
        continue;
      }
      static constexpr std::string_view kTwoCharOps[] = {"//", "**", "==", "!=", "<=", ">="};
      bool matched = false;
      for (std::string_view op : kTwoCharOps) {
        if (src_.compare(pos_, 2, op) == 0) {
          tokens_.push_back(Token{TokenType::kOperator, std::string(op), line, col});
          Advance(pos_ + 2);
          matched = true;
          break;
        }
      }
      if (matched) continue;
      static constexpr std::string_view kOneCharOps = "+-/*%~[](){}<>=.:|,;";
      if (kOneCharOps.find(c) != std::string_view::npos) {
        if (c == '(' || c == '[' || c == '{') ++depth;
        if ((c == ')' || c == ']' || c == '}') && depth > 0) --depth;
        tokens_.push_back(Token{TokenType::kOperator, std::string(1, c), line, col});
        Advance(pos_ + 1);
        continue;
      }
      return Error(absl::StrCat("unexpected char ", Repr(Json(std::string(1, c)))), line, col);
    }
  }

  absl::Status LexNumber() {
    const int line = line_, col = col_;
    size_t e = pos_;
    auto digits = [&](auto pred) {
      while (e < src_.size() && (pred(src_[e]) || (src_[e] == '_' && e + 1 < src_.size() && pred(src_[e + 1])))) ++e;
    };
    auto is_digit = [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)) != 0; };
    if (src_[e] == '0' && e + 1 < src_.size() &&
        (src_[e + 1] == 'x' || src_[e + 1] == 'o' || src_[e + 1] == 'b')) {
      const char base_char = src_[e + 1];
      const int base = base_char == 'x' ? 16 : (base_char == 'o' ? 8 : 2);
      e += 2;
      const size_t start = e;
      digits([&](char ch) { return std::isxdigit(static_cast<unsigned char>(ch)) != 0; });
      std::string text;
      for (size_t i = start; i < e; ++i) {
        if (src_[i] != '_') text.push_back(src_[i]);
      }
      tokens_.push_back(Token{TokenType::kInteger,
                              absl::StrCat(std::strtoll(text.c_str(), nullptr, base)), line, col});
      Advance(e);
      return absl::OkStatus();
    }
    digits(is_digit);
    bool is_float = false;
    if (e + 1 < src_.size() && src_[e] == '.' && is_digit(src_[e + 1])) {
      is_float = true;
      ++e;
      digits(is_digit);
    }
    if (e < src_.size() && (src_[e] == 'e' || src_[e] == 'E')) {
      size_t f = e + 1;
      if (f < src_.size() && (src_[f] == '+' || src_[f] == '-')) ++f;
      if (f < src_.size() && is_digit(src_[f])) {
        is_float = true;
        e = f;
        digits(is_digit);
      }
    }
    std::string text;
    for (size_t i = pos_; i < e; ++i) {
      if (src_[i] != '_') text.push_back(src_[i]);
    }
    tokens_.push_back(Token{is_float ? TokenType::kFloat : TokenType::kInteger, text, line, col});
    Advance(e);
    return absl::OkStatus();
  }
#undef RETURN_STATUS

  std::string_view src_;
  std::string_view name_;
  LexerOptions options_;
  size_t pos_ = 0;
  int line_ = 1;
  int col_ = 1;
  std::vector<Token> tokens_;
};

}  // namespace

absl::StatusOr<std::vector<Token>> Tokenize(std::string_view source, std::string_view name,
                                            const LexerOptions& options) {
  // Jinja drops one trailing newline of the source (keep_trailing_newline=False).
  if (!source.empty() && source.back() == '\n') source.remove_suffix(1);
  return Lexer(source, name, options).Run();
}

}  // namespace tachyon::tmpl
