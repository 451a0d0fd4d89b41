#include <algorithm>

#include "absl/strings/str_cat.h"
#include "controller/template/eval.h"

namespace tachyon::tmpl {

absl::StatusOr<std::regex> CompileRegex(const std::string& pattern, const RegexOptions& options) {
  // Translate the Python-only syntax that playbooks use: named groups and inline flags.
  std::string p;
  bool icase = options.ignorecase;
  bool multiline = options.multiline;
  size_t i = 0;
  while (pattern.compare(i, 2, "(?") == 0 && i + 2 < pattern.size() &&
         std::string_view("imsx").find(pattern[i + 2]) != std::string_view::npos) {
    const size_t close = pattern.find(')', i);
    if (close == std::string::npos) break;
    for (size_t k = i + 2; k < close; ++k) {
      if (pattern[k] == 'i') icase = true;
      if (pattern[k] == 'm') multiline = true;
    }
    i = close + 1;
  }
  for (; i < pattern.size(); ++i) {
    if (pattern[i] == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[i + 1];
      if (e == 'A') {
        p += "^";
      } else if (e == 'Z') {
        p += "$";
      } else {
        p += pattern.substr(i, 2);
      }
      ++i;
      continue;
    }
    if (pattern.compare(i, 4, "(?P<") == 0) {
      const size_t close = pattern.find('>', i);
      if (close == std::string::npos) return absl::InvalidArgumentError("bad named group");
      p += "(";
      i = close;
      continue;
    }
    if (pattern.compare(i, 4, "(?P=") == 0) {
      return absl::UnimplementedError("named back-references (?P=name) are not supported");
    }
    if (pattern.compare(i, 3, "(?<") == 0 && i + 3 < pattern.size() &&
        (pattern[i + 3] == '=' || pattern[i + 3] == '!')) {
      return absl::UnimplementedError("look-behind assertions are not supported in regular expressions");
    }
    p.push_back(pattern[i]);
  }
  // std::regex's compiler recurses per nesting level, and it parses back-reference numbers and
  // repetition counts into a `long` without overflow checks (UBSan finds `\\22222...`), so
  // both are bounded before it sees the pattern.
  int depth = 0, max_depth = 0;
  for (size_t k = 0; k < p.size(); ++k) {
    const auto digits_at = [&p](size_t from) {
      size_t n = 0;
      while (from + n < p.size() && std::isdigit(static_cast<unsigned char>(p[from + n]))) ++n;
      return n;
    };
    if (p[k] == '\\') {
      if (digits_at(k + 1) > 2) return absl::InvalidArgumentError(absl::StrCat("invalid group reference in '", pattern, "'"));
      ++k;
    } else if (p[k] == '{' && digits_at(k + 1) > 0) {
      for (size_t q = k + 1; q < p.size() && p[q] != '}'; q += std::max<size_t>(1, digits_at(q))) {
        if (digits_at(q) > 4) {
          return absl::InvalidArgumentError(absl::StrCat("repetition count too large in '", pattern, "'"));
        }
      }
    } else if (p[k] == '(') {
      max_depth = std::max(max_depth, ++depth);
    } else if (p[k] == ')') {
      --depth;
    }
  }
  if (max_depth > 50 || p.size() > 4096) {
    return absl::ResourceExhaustedError("regular expression is too large or nested too deeply");
  }
  auto flags = std::regex::ECMAScript;
  if (icase) flags |= std::regex::icase;
  if (multiline) flags |= std::regex::multiline;
  try {
    // The polynomial (breadth-first) executor keeps stack use independent of the input length;
    // the default backtracking one recurses per character. It cannot do back-references.
    return std::regex(p, flags | std::regex_constants::__polynomial);
  } catch (const std::regex_error&) {
  }
  try {
    return std::regex(p, flags);
  } catch (const std::regex_error& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid regular expression '", pattern, "': ", e.what()));
  }
}

absl::Status CheckRegexInput(const std::regex& re, size_t length) {
  const bool backtracking = !(re.flags() & std::regex_constants::__polynomial);
  const size_t limit = backtracking ? kMaxBacktrackingRegexInput : kMaxRegexInput;
  if (length > limit) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "regular expression input of ", length, " bytes exceeds the limit of ", limit, " bytes"));
  }
  return absl::OkStatus();
}

std::map<std::string, int> NamedGroups(const std::string& pattern) {
  std::map<std::string, int> names;
  int group = 0;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\') {
      ++i;
    } else if (in_class) {
      if (c == ']') in_class = false;
    } else if (c == '[') {
      in_class = true;
    } else if (c == '(') {
      if (pattern.compare(i, 4, "(?P<") == 0) {
        const size_t close = pattern.find('>', i);
        if (close == std::string::npos) break;
        names[pattern.substr(i + 4, close - i - 4)] = ++group;
      } else if (i + 1 >= pattern.size() || pattern[i + 1] != '?') {
        ++group;
      }
    }
  }
  return names;
}

absl::StatusOr<std::string> PythonReplacement(const std::string& repl,
                                              const std::map<std::string, int>& names) {
  std::string out;
  for (size_t i = 0; i < repl.size(); ++i) {
    const char c = repl[i];
    if (c == '$') {
      out += "$$";
    } else if (c == '\\' && i + 1 < repl.size()) {
      const char e = repl[i + 1];
      if (std::isdigit(static_cast<unsigned char>(e))) {
        out += "$";
        out.push_back(e);
        ++i;
      } else if (e == 'g' && i + 2 < repl.size() && repl[i + 2] == '<') {
        const size_t close = repl.find('>', i);
        if (close == std::string::npos) return absl::InvalidArgumentError("missing >, unterminated name");
        const std::string ref = repl.substr(i + 3, close - i - 3);
        if (!ref.empty() && std::all_of(ref.begin(), ref.end(), ::isdigit)) {
          out += "$" + ref;
        } else if (auto it = names.find(ref); it != names.end()) {
          out += absl::StrCat("$", it->second);
        } else {
          return absl::InvalidArgumentError(absl::StrCat("unknown group name '", ref, "'"));
        }
        i = close;
      } else if (e == 'n') {
        out.push_back('\n');
        ++i;
      } else if (e == 't') {
        out.push_back('\t');
        ++i;
      } else if (e == '\\') {
        out.push_back('\\');
        ++i;
      } else {
        out.push_back(c);
      }
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace tachyon::tmpl
