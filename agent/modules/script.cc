// The script module (ansible.builtin.script). The controller reads the script from its files
// and sends it along: `_tachyon_script_b64` (the body, base64), `_tachyon_script_name` (its
// base name) and `_raw_params` (the arguments after the script's path, quoting intact). The
// shim writes it into a private temp dir (0700, the file 0700), runs
// `/bin/sh -c 'PATH ARGS'` (or `EXECUTABLE PATH ARGS`) as Ansible's action plugin does, and
// removes the dir in Finish.

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "agent/modules/args.h"
#include "agent/modules/module.h"
#include "agent/modules/os_util.h"
#include "agent/modules/result_util.h"
#include "common/fs.h"

namespace tachyon::modules {
namespace {

const std::vector<ArgSpec>& ScriptSpec() {
  static const auto* spec = new std::vector<ArgSpec>{
      {"_raw_params", ArgType::kStr},
      {"_tachyon_script_b64", ArgType::kStr, true},
      {"_tachyon_script_name", ArgType::kStr, true},
      {"chdir", ArgType::kStr},
      {"creates", ArgType::kStr},
      {"removes", ArgType::kStr},
      {"executable", ArgType::kStr},
      {"decrypt", ArgType::kBool},
  };
  return *spec;
}

class ScriptModule : public Module {
 public:
  std::string_view Name() const override { return "script"; }

  absl::Status Validate(const nlohmann::json& args) const override {
    absl::StatusOr<nlohmann::json> a = ParseArgs(Name(), args, ScriptSpec());
    if (!a.ok()) return a.status();
    std::string body;
    if (!absl::Base64Unescape(*StrArg(*a, "_tachyon_script_b64"), &body)) {
      return absl::InvalidArgumentError("_tachyon_script_b64 is not valid base64");
    }
    std::string name = *StrArg(*a, "_tachyon_script_name");
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
      return absl::InvalidArgumentError("_tachyon_script_name must be a plain file name");
    }
    return absl::OkStatus();
  }

  Prepared Prepare(const nlohmann::json& args, const std::string& cwd) const override {
    Prepared p;
    nlohmann::json a = ParseArgs(Name(), args, ScriptSpec()).value_or(nlohmann::json::object());
    nlohmann::json& r = p.result;
    r = {{"changed", false}};
    // Ansible tests creates/removes before chdir (on the remote, as given).
    if (std::optional<std::string> creates = StrArg(a, "creates")) {
      if (GlobMatches(ExpandUser(*creates))) {
        r["skipped"] = true;
        r["msg"] = absl::StrCat(*creates, " exists, matching creates option");
        return p;
      }
    }
    if (std::optional<std::string> removes = StrArg(a, "removes")) {
      if (!GlobMatches(ExpandUser(*removes))) {
        r["skipped"] = true;
        r["msg"] = absl::StrCat(*removes, " does not exist, matching removes option");
        return p;
      }
    }
    if (CheckMode(a)) {
      if (a.contains("creates") || a.contains("removes")) {
        r["changed"] = true;
      } else {
        r["skipped"] = true;
        r["msg"] = "Check mode is not supported for this task.";
      }
      return p;
    }
    if (std::optional<std::string> chdir = StrArg(a, "chdir")) {
      std::string dir = ExpandUser(*chdir);
      if (::chdir(dir.c_str()) != 0) {
        r["failed"] = true;
        r["msg"] =
            absl::StrCat("Unable to change directory before execution: ", OsErrorText(errno, dir));
        return p;
      }
    }
    std::string body;
    absl::Base64Unescape(StrArg(a, "_tachyon_script_b64").value_or(""), &body);
    const char* tmp_root = std::getenv("TMPDIR");
    std::string tmpl = absl::StrCat(tmp_root != nullptr && *tmp_root ? tmp_root : "/tmp",
                                    "/tachyon-script-XXXXXX");
    if (mkdtemp(tmpl.data()) == nullptr) {  // mkdtemp makes it 0700
      r["failed"] = true;
      r["msg"] = absl::StrCat("cannot create a temp dir for the script: ", std::strerror(errno));
      return p;
    }
    std::string path = absl::StrCat(tmpl, "/", StrArg(a, "_tachyon_script_name").value_or("s"));
    absl::Status st = WriteFileAtomic(path, body, 0700);
    if (!st.ok()) {
      RemoveTree(tmpl).IgnoreError();
      r["failed"] = true;
      r["msg"] = absl::StrCat("cannot write the script: ", st.message());
      return p;
    }
    std::string command = ShellQuote(path);
    std::string rest(absl::StripAsciiWhitespace(StrArg(a, "_raw_params").value_or("")));
    if (!rest.empty()) absl::StrAppend(&command, " ", rest);
    if (std::optional<std::string> executable = StrArg(a, "executable")) {
      command = absl::StrCat(*executable, " ", command);
    }
    r["_tmpdir"] = tmpl;
    p.exec = ExecPlan{{"/bin/sh", "-c", command}, std::nullopt};
    return p;
  }

  nlohmann::json Finish(const Prepared& prepared, const ProcessOutcome& outcome) const override {
    RemoveTree(prepared.result.value("_tmpdir", "")).IgnoreError();
    return LowLevelExecuteResult(outcome);
  }
};

}  // namespace

std::unique_ptr<Module> MakeScriptModule() { return std::make_unique<ScriptModule>(); }

}  // namespace tachyon::modules
