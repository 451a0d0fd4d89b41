// The lineinfile module (ansible.builtin.lineinfile), following 2.14's present()/absent()
// step by step. Patterns are Python `re` patterns run by std::regex (see py_regex.h for the
// differences); each line is searched without its "\n", which gives Python's `$` behaviour.

#include <stdlib.h>
#include <sys/stat.h>

#include <cstdlib>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/modules/args.h"
#include "agent/modules/file_util.h"
#include "agent/modules/module.h"
#include "agent/modules/py_regex.h"
#include "common/fs.h"

namespace tachyon::modules {
namespace {

const std::vector<ArgSpec>& LineInFileSpec() {
  static const auto* spec = new std::vector<ArgSpec>(WithFileCommonArgs({
      {"path", ArgType::kPath, true, {"dest", "destfile", "name"}},
      {"state", ArgType::kStr, false, {}, {"absent", "present"}},
      {"regexp", ArgType::kStr, false, {"regex"}},
      {"search_string", ArgType::kStr},
      {"line", ArgType::kStr, false, {"value"}},
      {"insertafter", ArgType::kStr},
      {"insertbefore", ArgType::kStr},
      {"backrefs", ArgType::kBool},
      {"create", ArgType::kBool},
      {"backup", ArgType::kBool},
      {"firstmatch", ArgType::kBool},
      {"validate", ArgType::kStr},
  }));
  return *spec;
}

nlohmann::json Fail(const std::string& msg) {
  return {{"failed", true}, {"changed", false}, {"msg", msg}};
}

// Python's bytes.readlines(): lines with their "\n".
std::vector<std::string> ReadLines(const std::string& data) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < data.size()) {
    size_t nl = data.find('\n', start);
    size_t end = nl == std::string::npos ? data.size() : nl + 1;
    lines.push_back(data.substr(start, end - start));
    start = end;
  }
  return lines;
}

std::string RStripCrLf(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// The line as Python's re.search sees it for `$`: without one trailing "\n".
std::string SearchText(const std::string& line) {
  return !line.empty() && line.back() == '\n' ? line.substr(0, line.size() - 1) : line;
}

class LineInFileModule : public InlineModule {
 public:
  std::string_view Name() const override { return "lineinfile"; }

  absl::Status Validate(const nlohmann::json& args) const override {
    absl::StatusOr<nlohmann::json> a = ParseArgs(Name(), args, LineInFileSpec());
    if (!a.ok()) return a.status();
    for (const auto& pair : std::vector<std::vector<std::string>>{{"insertbefore", "insertafter"},
                                                                  {"regexp", "search_string"},
                                                                  {"backrefs", "search_string"}}) {
      absl::Status st = CheckMutuallyExclusive(*a, pair);
      if (!st.ok()) return st;
    }
    for (const char* key : {"regexp", "insertafter", "insertbefore"}) {
      std::optional<std::string> pattern = StrArg(*a, key);
      if (!pattern || *pattern == "BOF" || *pattern == "EOF") continue;
      absl::StatusOr<PyRegex> re = CompilePyRegex(*pattern);
      if (!re.ok()) return re.status();
    }
    return absl::OkStatus();
  }

  Prepared Prepare(const nlohmann::json& args, const std::string& cwd) const override {
    Prepared p;
    p.result = Run(ParseArgs(Name(), args, LineInFileSpec()).value_or(nlohmann::json::object()));
    return p;
  }

 private:
  static nlohmann::json Run(const nlohmann::json& a) {
    std::string path = StrArg(a, "path").value_or("");
    if (IsDirectory(path)) {
      nlohmann::json r = Fail(absl::StrCat("Path ", path, " is a directory !"));
      r["rc"] = 256;
      return r;
    }
    std::optional<std::string> regexp = StrArg(a, "regexp");
    std::optional<std::string> search = StrArg(a, "search_string");
    std::optional<std::string> line = StrArg(a, "line");
    if (StrArg(a, "state").value_or("present") == "present") {
      if (Flag(a, "backrefs") && !regexp) return Fail("regexp is required with backrefs=true");
      if (!line) return Fail("line is required with state=present");
      std::optional<std::string> before = StrArg(a, "insertbefore");
      std::optional<std::string> after = StrArg(a, "insertafter");
      if (!before && !after) after = "EOF";
      return Present(a, path, regexp, search, *line, after, before);
    }
    if (!regexp && !search && !line) {
      return Fail("one of line, search_string, or regexp is required with state=absent");
    }
    return Absent(a, path, regexp, search, line.value_or(""));
  }

  static nlohmann::json Present(const nlohmann::json& a, const std::string& path,
                                const std::optional<std::string>& regexp,
                                const std::optional<std::string>& search, const std::string& line,
                                const std::optional<std::string>& insertafter,
                                const std::optional<std::string>& insertbefore) {
    const bool check = CheckMode(a);
    const bool firstmatch = Flag(a, "firstmatch");
    nlohmann::json diff = {{"before", ""},
                           {"after", ""},
                           {"before_header", absl::StrCat(path, " (content)")},
                           {"after_header", absl::StrCat(path, " (content)")}};
    std::vector<std::string> lines;
    const bool existed = PathExists(path);
    if (!existed) {
      if (!Flag(a, "create")) {
        nlohmann::json r = Fail(absl::StrCat("Destination ", path, " does not exist !"));
        r["rc"] = 257;
        return r;
      }
      std::string dir = DirName(path);
      if (!dir.empty() && !PathExists(dir) && !check) {
        absl::Status st = MakeDirs(dir, DefaultDirMode());
        if (!st.ok()) return Fail(absl::StrCat("Error creating ", dir, " (", st.message(), ")"));
      }
    } else {
      absl::StatusOr<std::string> data = ReadWholeFile(path);
      if (!data.ok()) return Fail(std::string(data.status().message()));
      lines = ReadLines(*data);
    }
    if (DiffMode(a)) diff["before"] = absl::StrJoin(lines, "");

    std::optional<PyRegex> re_match;
    std::optional<PyRegex> re_ins;
    if (regexp) re_match = *CompilePyRegex(*regexp);
    if (insertafter && *insertafter != "BOF" && *insertafter != "EOF") {
      re_ins = *CompilePyRegex(*insertafter);
    } else if (insertbefore && *insertbefore != "BOF") {
      re_ins = *CompilePyRegex(*insertbefore);
    }

    long index0 = -1, index1 = -1;
    bool matched = false;
    std::smatch match;
    std::vector<std::string> texts;  // keeps the strings `match` points into alive
    texts.reserve(lines.size());
    for (const std::string& l : lines) texts.push_back(SearchText(l));
    bool exact_line_match = false;
    if (re_match) {
      for (size_t i = 0; i < texts.size(); ++i) {
        std::smatch m;
        if (std::regex_search(texts[i], m, re_match->re)) {
          index0 = static_cast<long>(i);
          match = m;
          matched = true;
          if (firstmatch) break;
        }
      }
    }
    if (search) {
      for (size_t i = 0; i < lines.size(); ++i) {
        if (lines[i].find(*search) != std::string::npos) {
          index0 = static_cast<long>(i);
          matched = true;
          if (firstmatch) break;
        }
      }
    }
    if (!matched) {
      for (size_t i = 0; i < lines.size(); ++i) {
        if (line == RStripCrLf(lines[i])) {
          index0 = static_cast<long>(i);
          exact_line_match = true;
        } else if (re_ins && std::regex_search(texts[i], re_ins->re)) {
          if (insertafter) {
            index1 = static_cast<long>(i) + 1;
            if (firstmatch) break;
          }
          if (insertbefore) {
            index1 = static_cast<long>(i);
            if (firstmatch) break;
          }
        }
      }
    }

    std::string msg;
    bool changed = false;
    const bool backrefs = Flag(a, "backrefs");
    auto stripped = [&](long i) { return RStripCrLf(lines[static_cast<size_t>(i)]); };
    auto insert = [&](long at, const std::string& text) {
      lines.insert(lines.begin() + at, text);
      msg = "line added";
      changed = true;
    };
    if (index0 != -1) {
      std::string new_line =
          backrefs && matched && re_match ? ExpandPyTemplate(match, *re_match, line) : line;
      if (new_line.empty() || new_line.back() != '\n') new_line += '\n';
      if (!regexp && !search && !matched && !exact_line_match) {
        // Cannot happen: index0 is set only by a match. Kept as in Ansible's code.
      } else if (lines[static_cast<size_t>(index0)] != new_line) {
        lines[static_cast<size_t>(index0)] = new_line;
        msg = "line replaced";
        changed = true;
      }
    } else if (backrefs) {
      // A backrefs regexp that matches nothing leaves the file alone.
    } else if ((insertbefore && *insertbefore == "BOF") || (insertafter && *insertafter == "BOF")) {
      insert(0, line + "\n");
    } else if ((insertafter && *insertafter == "EOF") || index1 == -1) {
      if (!lines.empty() && lines.back().back() != '\n' && lines.back().back() != '\r') {
        lines.push_back("\n");
      }
      insert(static_cast<long>(lines.size()), line + "\n");
    } else if (insertafter && index1 != -1) {
      if (static_cast<long>(lines.size()) == index1) {
        if (stripped(index1 - 1) != line) insert(index1, line + "\n");
      } else if (line != stripped(index1)) {
        insert(index1, line + "\n");
      }
    } else {
      insert(index1, line + "\n");
    }
    if (DiffMode(a)) diff["after"] = absl::StrJoin(lines, "");
    return Write(a, path, lines, changed, msg, diff, std::nullopt);
  }

  static nlohmann::json Absent(const nlohmann::json& a, const std::string& path,
                               const std::optional<std::string>& regexp,
                               const std::optional<std::string>& search, const std::string& line) {
    if (!PathExists(path)) return {{"changed", false}, {"msg", "file not present"}};
    absl::StatusOr<std::string> data = ReadWholeFile(path);
    if (!data.ok()) return Fail(std::string(data.status().message()));
    std::vector<std::string> lines = ReadLines(*data);
    nlohmann::json diff = {{"before", DiffMode(a) ? *data : ""},
                           {"after", ""},
                           {"before_header", absl::StrCat(path, " (content)")},
                           {"after_header", absl::StrCat(path, " (content)")}};
    std::optional<PyRegex> re;
    if (regexp) re = *CompilePyRegex(*regexp);
    std::vector<std::string> kept;
    int found = 0;
    for (const std::string& l : lines) {
      bool hit;
      if (re) {
        hit = std::regex_search(SearchText(l), re->re);
      } else if (search) {
        hit = l.find(*search) != std::string::npos;
      } else {
        hit = line == RStripCrLf(l);
      }
      if (hit) {
        ++found;
      } else {
        kept.push_back(l);
      }
    }
    if (DiffMode(a)) diff["after"] = absl::StrJoin(kept, "");
    std::string msg = found > 0 ? absl::StrCat(found, " line(s) removed") : "";
    return Write(a, path, kept, found > 0, msg, diff, found);
  }

  // Writes the lines when they changed (backup first), then the file attributes; the result.
  static nlohmann::json Write(const nlohmann::json& a, const std::string& path,
                              const std::vector<std::string>& lines, bool changed, std::string msg,
                              const nlohmann::json& diff, std::optional<int> found) {
    const bool check = CheckMode(a);
    std::string backup;
    if (changed && !check) {
      if (Flag(a, "backup") && PathExists(path)) {
        absl::StatusOr<std::string> b = BackupFile(path);
        if (!b.ok()) return Fail(std::string(b.status().message()));
        backup = *b;
      }
      // Like Ansible's write_changes, the file a symlink points to is what gets replaced.
      std::string target = path;
      if (char* real = realpath(path.c_str(), nullptr)) {
        target = real;
        std::free(real);
      }
      absl::StatusOr<std::string> tmp = ReplaceFile(target, absl::StrJoin(lines, ""));
      if (!tmp.ok()) return Fail(std::string(tmp.status().message()));
    }
    nlohmann::json r = {{"changed", changed}, {"msg", msg}, {"backup", backup}};
    if (found) r["found"] = *found;
    if (check && !found && !PathExists(path)) {
      // present() in check mode for a file it would create: exit_json(diff=diff), the
      // content diff alone (a dict, not the list).
      r["diff"] = diff;
      return r;
    }
    nlohmann::json attr_diff = {{"before_header", absl::StrCat(path, " (file attributes)")},
                                {"after_header", absl::StrCat(path, " (file attributes)")}};
    if (PathExists(path)) {
      absl::StatusOr<bool> attrs =
          ApplyFileAttrs(path, FileAttrsFromArgs(a), true, check, &attr_diff);
      if (!attrs.ok()) return FileAttrFailure(attrs.status(), path);
      if (*attrs) {
        if (changed) msg += " and ";
        msg += "ownership, perms or SE linux context changed";
        r["changed"] = true;
        r["msg"] = msg;
      }
    }
    // Always there, as in Ansible: out of diff mode the content before/after are "".
    r["diff"] = nlohmann::json::array({diff, attr_diff});
    return r;
  }
};

}  // namespace

std::unique_ptr<Module> MakeLineInFileModule() { return std::make_unique<LineInFileModule>(); }

}  // namespace tachyon::modules
