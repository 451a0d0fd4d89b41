#include "controller/rollout/kv_args.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/module_names.h"
#include "controller/rollout/ini_syntax.h"

namespace tachyon::rollout {
namespace {

// The k=v options that free-form modules take out of their command line (Ansible's parse_kv).
const std::set<std::string>& RawParamOptions() {
  static const auto* kSet = new std::set<std::string>{
      "creates", "removes",           "chdir",           "executable", "warn",
      "stdin",   "stdin_add_newline", "strip_empty_ends"};
  return *kSet;
}

// ansible.parsing.quoting.unquote.
std::string Unquote(const std::string& s) {
  if (s.size() > 1 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front() &&
      s[s.size() - 2] != '\\') {
    return s.substr(1, s.size() - 2);
  }
  return s;
}

// splitter._get_quote_state: the quote still open after `token`, given the one open before.
char QuoteState(const std::string& token, char quote) {
  for (size_t i = 0; i < token.size(); ++i) {
    char c = token[i];
    if ((c == '"' || c == '\'') && (i == 0 || token[i - 1] != '\\')) {
      if (quote) {
        if (c == quote) quote = 0;
      } else {
        quote = c;
      }
    }
  }
  return quote;
}

// Python's str.count (non-overlapping).
int Count(const std::string& s, const std::string& sub) {
  int n = 0;
  for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
  return n;
}

// splitter._count_jinja2_blocks.
int JinjaDepth(const std::string& token, int depth, const char* open, const char* close) {
  int o = Count(token, open);
  int c = Count(token, close);
  if (o != c) {
    depth += o - c;
    if (depth < 0) depth = 0;
  }
  return depth;
}

// splitter._decode_escapes: \\ \' \" \a \b \f \n \r \t \v, \xHH, \uHHHH, \UHHHHHHHH (not \N{..}).
std::string DecodeEscapes(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 >= s.size()) {
      out.push_back(s[i]);
      continue;
    }
    char e = s[i + 1];
    static const std::string kSimple = "\\'\"abfnrtv";
    static const std::string kValue = "\\'\"\a\b\f\n\r\t\v";
    size_t simple = kSimple.find(e);
    if (simple != std::string::npos) {
      out.push_back(kValue[simple]);
      ++i;
      continue;
    }
    size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
    bool hex = digits > 0 && i + 2 + digits <= s.size();
    for (size_t k = 0; hex && k < digits; ++k) {
      if (!absl::ascii_isxdigit(static_cast<unsigned char>(s[i + 2 + k]))) hex = false;
    }
    if (hex) {
      uint32_t cp = static_cast<uint32_t>(std::stoul(s.substr(i + 2, digits), nullptr, 16));
      if (cp <= 0x10FFFF) {
        AppendUtf8(cp, &out);
        i += 1 + digits;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

// splitter.join_args: tokens rejoined with one space, except after a kept newline.
std::string JoinArgs(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty() && out.back() != '\n') out.push_back(' ');
    out += p;
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> SplitArgs(const std::string& args) {
  // A port of ansible.parsing.splitter.split_args (ansible-core 2.14): lines are split on
  // '\n' and then on single spaces; runs of spaces and the line breaks are kept on the token
  // before them, so that join_args gives the original text back; quotes and Jinja blocks
  // hold tokens together; a lone '\' ends a line without its newline. Where Ansible raises
  // IndexError (leading spaces or newlines), the leading whitespace is dropped instead.
  std::vector<std::string> params;
  std::vector<std::string> items = absl::StrSplit(args, '\n');
  char quote = 0;
  bool inside_quotes = false;
  int print_depth = 0, block_depth = 0, comment_depth = 0;
  for (size_t itemidx = 0; itemidx < items.size(); ++itemidx) {
    std::vector<std::string> tokens = absl::StrSplit(items[itemidx], ' ');
    bool line_continuation = false;
    for (size_t idx = 0; idx < tokens.size(); ++idx) {
      const std::string& token = tokens[idx];
      if (token.empty() && idx != 0) {
        if (!params.empty()) params.back() += ' ';
        continue;
      }
      if (token == "\\" && !inside_quotes) {
        line_continuation = true;
        continue;
      }
      bool was_inside_quotes = inside_quotes;
      quote = QuoteState(token, quote);
      inside_quotes = quote != 0;
      bool appended = false;
      const bool in_jinja = print_depth || block_depth || comment_depth;
      if (inside_quotes && !was_inside_quotes && !in_jinja) {
        params.push_back(token);
        appended = true;
      } else if (in_jinja || inside_quotes || was_inside_quotes) {
        if (params.empty()) params.emplace_back();
        if (idx == 0 && was_inside_quotes) {
          params.back() += token;
        } else if (tokens.size() > 1) {
          params.back() += (idx > 0 ? " " : "") + token;
        } else {
          params.back() += "\n" + token;
        }
        appended = true;
      }
      int prev = print_depth;
      print_depth = JinjaDepth(token, print_depth, "{{", "}}");
      if (print_depth != prev && !appended) {
        params.push_back(token);
        appended = true;
      }
      prev = block_depth;
      block_depth = JinjaDepth(token, block_depth, "{%", "%}");
      if (block_depth != prev && !appended) {
        params.push_back(token);
        appended = true;
      }
      prev = comment_depth;
      comment_depth = JinjaDepth(token, comment_depth, "{#", "#}");
      if (comment_depth != prev && !appended) {
        params.push_back(token);
        appended = true;
      }
      if (!(print_depth || block_depth || comment_depth) && !inside_quotes && !appended &&
          !token.empty()) {
        params.push_back(token);
      }
    }
    if (items.size() > 1 && itemidx != items.size() - 1 && !line_continuation && !params.empty()) {
      params.back() += '\n';
    }
  }
  if (print_depth || block_depth || comment_depth || inside_quotes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "failed at splitting arguments, either an unbalanced jinja2 block or quotes: ", args));
  }
  return params;
}

absl::StatusOr<nlohmann::json> ParseModuleArgs(const std::string& module, const std::string& args) {
  nlohmann::json out = nlohmann::json::object();
  std::string trimmed(absl::StripAsciiWhitespace(args));
  if (trimmed.empty()) return out;
  if (trimmed.front() == '{') {
    auto j = nlohmann::json::parse(trimmed, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      return absl::InvalidArgumentError(
          "module arguments start with '{' but are not a JSON object");
    }
    return j;
  }
  // parse_kv(args, check_raw=free_form), on the text as written: line breaks and runs of
  // spaces inside the free-form part stay as they are (a `shell: |` block keeps its lines).
  auto tokens = SplitArgs(args);
  if (!tokens.ok()) return tokens.status();
  const bool free_form = IsFreeFormModule(module);
  std::vector<std::string> raw;
  for (const auto& orig : *tokens) {
    std::string x = DecodeEscapes(orig);
    if (x.find('=') == std::string::npos) {
      raw.push_back(orig);
      continue;
    }
    // The first '=' after position 0 that is not escaped by a backslash.
    size_t pos = 0;
    while (true) {
      pos = x.find('=', pos + 1);
      if (pos == std::string::npos || x[pos - 1] != '\\') break;
    }
    if (pos == std::string::npos) {
      std::string unescaped;
      for (size_t i = 0; i < x.size(); ++i) {
        if (x[i] == '\\' && i + 1 < x.size() && x[i + 1] == '=') continue;
        unescaped.push_back(x[i]);
      }
      raw.push_back(unescaped);
      continue;
    }
    std::string key = x.substr(0, pos);
    if (free_form && !RawParamOptions().count(key)) {
      raw.push_back(orig);
      continue;
    }
    out[std::string(absl::StripAsciiWhitespace(key))] =
        Unquote(std::string(absl::StripAsciiWhitespace(x.substr(pos + 1))));
  }
  if (!raw.empty()) {
    if (!free_form) {
      return absl::InvalidArgumentError(absl::StrCat(
          "module '", module, "' takes key=value arguments; '", raw.front(), "' is not one"));
    }
    out["_raw_params"] = JoinArgs(raw);
  }
  return out;
}

}  // namespace tachyon::rollout
