// The command and shell modules (Ansible's ansible.builtin.command / shell, 2.14 semantics).
// command never uses a shell: the string is split like Python's shlex.split and each word is
// passed to execve as is (after Ansible's expandvars/expanduser, which only expands $NAME,
// ${NAME} of existing variables and a leading ~). shell runs `/bin/sh -c STRING`.

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/modules/args.h"
#include "agent/modules/module.h"
#include "agent/modules/os_util.h"
#include "agent/modules/result_util.h"
#include "agent/modules/shlex.h"
#include "common/status.h"

namespace tachyon::modules {
namespace {

class CommandModule : public Module {
 public:
  explicit CommandModule(bool shell) : shell_(shell) {}

  std::string_view Name() const override { return shell_ ? "shell" : "command"; }

  absl::Status Validate(const nlohmann::json& args) const override {
    nlohmann::json a;
    RETURN_IF_ERROR(Normalize(args, &a));
    RETURN_IF_ERROR(CheckArgs(Name(), a, Spec()));
    for (const char* b : {"_uses_shell", "stdin_add_newline", "strip_empty_ends"}) {
      absl::StatusOr<bool> v = BoolArg(a, b, true);
      if (!v.ok()) return v.status();
    }
    std::optional<std::string> raw = StrArg(a, "_raw_params");
    std::optional<std::vector<std::string>> argv = ListArg(a, "argv");
    bool have_raw = raw && !absl::StripAsciiWhitespace(*raw).empty();
    bool have_argv = argv && !argv->empty();
    if (!have_raw && !have_argv) return absl::InvalidArgumentError("no command given");
    if (raw && !raw->empty() && have_argv) {
      return absl::InvalidArgumentError("only command or argv can be given, not both");
    }
    if (!shell_ && have_raw) {
      absl::StatusOr<std::vector<std::string>> words = ShlexSplit(*raw);
      if (!words.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("cannot split command line: ", words.status().message()));
      }
    }
    return absl::OkStatus();
  }

  Prepared Prepare(const nlohmann::json& args, const std::string& cwd) const override {
    Prepared p;
    nlohmann::json a;
    Normalize(args, &a).IgnoreError();  // Validate already accepted these arguments
    nlohmann::json& r = p.result;
    r = {{"changed", false}, {"stdout", ""},     {"stderr", ""},
         {"rc", nullptr},    {"cmd", nullptr},   {"start", nullptr},
         {"end", nullptr},   {"delta", nullptr}, {"msg", ""}};

    std::optional<std::string> raw = StrArg(a, "_raw_params");
    if (raw && raw->empty()) raw.reset();
    std::vector<std::string> words = ListArg(a, "argv").value_or(std::vector<std::string>{});
    std::string shell_command;
    if (shell_) {
      if (raw) {
        r["cmd"] = *raw;
        shell_command = *raw;
      } else {
        r["cmd"] = words;
        std::vector<std::string> quoted;
        for (const std::string& w : words) quoted.push_back(ShellQuote(w));
        shell_command = absl::StrJoin(quoted, " ");
      }
    } else {
      if (raw) words = ShlexSplit(*raw).value_or(std::vector<std::string>{});
      r["cmd"] = words;
    }

    if (std::optional<std::string> chdir = StrArg(a, "chdir")) {
      std::string dir = ExpandUser(ExpandVars(*chdir));
      if (::chdir(dir.c_str()) != 0) {
        r["msg"] =
            absl::StrCat("Unable to change directory before execution: ", OsErrorText(errno, dir));
        return Failed(std::move(p));
      }
    }

    // Skips for idempotence, evaluated after chdir as Ansible does.
    if (std::optional<std::string> creates = StrArg(a, "creates")) {
      std::string path = ExpandUser(ExpandVars(*creates));
      if (GlobMatches(path)) {
        r["msg"] = absl::StrCat("Did not run command since '", path, "' exists");
        r["stdout"] = absl::StrCat("skipped, since ", path, " exists");
        r["rc"] = 0;
        return Skipped(std::move(p));
      }
    }
    if (std::optional<std::string> removes = StrArg(a, "removes")) {
      std::string path = ExpandUser(ExpandVars(*removes));
      if (!GlobMatches(path)) {
        r["msg"] = absl::StrCat("Did not run command since '", path, "' does not exist");
        r["stdout"] = absl::StrCat("skipped, since ", path, " does not exist");
        r["rc"] = 0;
        return Skipped(std::move(p));
      }
    }

    r["changed"] = true;
    if (CheckMode(a)) {
      // Ansible 2.14: not run; with creates/removes it reports the change it would make.
      r["msg"] = "Command would have run if not in check mode";
      r["rc"] = 0;
      if (!a.contains("creates") && !a.contains("removes")) {
        r["skipped"] = true;
        r["changed"] = false;
      }
      return Skipped(std::move(p));
    }
    ExecPlan exec;
    if (shell_) {
      std::string executable = StrArg(a, "executable").value_or("/bin/sh");
      exec.argv = {executable, "-c", shell_command};
    } else {
      for (const std::string& w : words) exec.argv.push_back(ExpandUser(ExpandVars(w)));
    }
    if (std::optional<std::string> stdin_data = StrArg(a, "stdin")) {
      if (BoolArg(a, "stdin_add_newline", true).value_or(true)) stdin_data->push_back('\n');
      exec.stdin_data = std::move(stdin_data);
    }
    p.exec = std::move(exec);
    r["_strip"] = BoolArg(a, "strip_empty_ends", true).value_or(true);
    return p;
  }

  nlohmann::json Finish(const Prepared& prepared, const ProcessOutcome& outcome) const override {
    if (outcome.exec_errno != 0) {
      // run_command's `except OSError` when Popen raises: fail_json(rc=errno, stdout=b'',
      // stderr=b'', msg=str(e), cmd=_clean_args(args)): nothing ran, so changed is false and
      // there is no start/end/delta; cmd is the argv (expanded, with the shell's `-c` for
      // shell) joined with shlex.quote.
      std::vector<std::string> quoted;
      for (const std::string& w : prepared.exec->argv) quoted.push_back(ShellQuote(w));
      nlohmann::json r = {{"changed", false},
                          {"failed", true},
                          {"rc", outcome.exec_errno},
                          {"stdout", ""},
                          {"stderr", ""},
                          {"cmd", absl::StrJoin(quoted, " ")},
                          {"msg", OsErrorText(outcome.exec_errno, prepared.exec->argv.front())}};
      AddOutputLines(&r);
      return r;
    }
    nlohmann::json r = prepared.result;
    bool strip = r.value("_strip", true);
    r.erase("_strip");
    r["start"] = FormatPythonDatetime(outcome.start);
    r["end"] = FormatPythonDatetime(outcome.end);
    r["delta"] = FormatPythonTimedelta(outcome.elapsed);
    std::string out = SanitizeUtf8(outcome.stdout_data, outcome.stdout_truncated);
    std::string err = SanitizeUtf8(outcome.stderr_data, outcome.stderr_truncated);
    if (strip) {
      out = RStripNewlines(std::move(out));
      err = RStripNewlines(std::move(err));
    }
    r["stdout"] = std::move(out);
    r["stderr"] = std::move(err);
    if (outcome.stdout_truncated) r["stdout_truncated"] = true;
    if (outcome.stderr_truncated) r["stderr_truncated"] = true;
    int rc = outcome.ReturnCode();
    r["rc"] = rc;
    r["failed"] = rc != 0;
    if (rc != 0) r["msg"] = "non-zero return code";
    AddOutputLines(&r);
    return r;
  }

 private:
  static const std::vector<ArgSpec>& Spec() {
    static const auto* spec = new std::vector<ArgSpec>{
        {"_raw_params", ArgType::kStr},
        {"_uses_shell", ArgType::kBool},
        {"argv", ArgType::kList},
        {"chdir", ArgType::kStr},
        {"executable", ArgType::kStr},
        {"creates", ArgType::kStr},
        {"removes", ArgType::kStr},
        {"stdin", ArgType::kStr},
        {"stdin_add_newline", ArgType::kBool},
        {"strip_empty_ends", ArgType::kBool},
    };
    return *spec;
  }

  // Ansible's task parser turns `cmd:` of command/shell into `_raw_params` before the module
  // sees it; do the same so the module speaks only Ansible's argument spec.
  static absl::Status Normalize(const nlohmann::json& args, nlohmann::json* out) {
    *out = args.is_null() ? nlohmann::json::object() : args;
    if (!out->is_object()) return absl::OkStatus();  // CheckArgs reports it
    auto cmd = out->find("cmd");
    if (cmd == out->end()) return absl::OkStatus();
    if (out->contains("_raw_params") && !(*out)["_raw_params"].is_null()) {
      return absl::InvalidArgumentError("parameters are mutually exclusive: cmd|_raw_params");
    }
    nlohmann::json value = *cmd;
    out->erase(cmd);
    (*out)["_raw_params"] = std::move(value);
    return absl::OkStatus();
  }

  static Prepared Skipped(Prepared p) {
    p.result["failed"] = false;
    AddOutputLines(&p.result);
    return p;
  }

  static Prepared Failed(Prepared p) {
    p.result["failed"] = true;
    AddOutputLines(&p.result);
    return p;
  }

  bool shell_;
};

}  // namespace

std::unique_ptr<Module> MakeCommandModule() { return std::make_unique<CommandModule>(false); }
std::unique_ptr<Module> MakeShellModule() { return std::make_unique<CommandModule>(true); }

}  // namespace tachyon::modules
