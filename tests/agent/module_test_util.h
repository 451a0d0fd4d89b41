#pragma once

// Helpers for module tests: a temp dir per test, and running a module the way the shim does
// (Validate, Prepare, the process if any, Finish) without a job engine.

#include <stdlib.h>
#include <unistd.h>

#include <string>

#include "absl/time/clock.h"
#include "agent/modules/module.h"
#include "agent/modules/os_util.h"
#include "common/fs.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace tachyon::modules::testing {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/tachyon-modules-test-XXXXXX";
    if (mkdtemp(tmpl) != nullptr) path_ = tmpl;
  }
  ~TempDir() { RemoveTree(path_).IgnoreError(); }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Validate must accept the arguments; then Prepare, the process (if any) and Finish.
inline nlohmann::json RunModule(const std::string& name, const nlohmann::json& args) {
  const Module* module = FindModule(name);
  EXPECT_NE(module, nullptr) << name;
  if (module == nullptr) return nullptr;
  absl::Status st = module->Validate(args);
  EXPECT_TRUE(st.ok()) << st;
  if (!st.ok()) return nullptr;
  char cwd[4096];
  std::string saved = getcwd(cwd, sizeof(cwd)) != nullptr ? cwd : "/";
  Prepared prepared = module->Prepare(args, "");
  nlohmann::json result;
  if (!prepared.exec) {
    result = prepared.result;
  } else {
    ProcessOutcome outcome;
    outcome.start = absl::Now();
    CommandOutput out = RunCommand(prepared.exec->argv);
    outcome.end = absl::Now();
    outcome.elapsed = outcome.end - outcome.start;
    outcome.exec_errno = out.exec_errno;
    outcome.exited = out.rc >= 0;
    outcome.exit_code = out.rc >= 0 ? out.rc : 0;
    outcome.term_signal = out.rc < 0 ? -out.rc : 0;
    outcome.stdout_data = out.stdout_data;
    outcome.stderr_data = out.stderr_data;
    result = module->Finish(prepared, outcome);
  }
  if (chdir(saved.c_str()) != 0) ADD_FAILURE() << "cannot go back to " << saved;
  return result;
}

// The Validate message for these arguments ("" when they are accepted).
inline std::string ValidateMessage(const std::string& name, const nlohmann::json& args) {
  const Module* module = FindModule(name);
  if (module == nullptr) return "no such module";
  return std::string(module->Validate(args).message());
}

inline std::string Slurp(const std::string& path) { return ReadFile(path).value_or("<missing>"); }

inline void Spit(const std::string& path, const std::string& data, mode_t mode = 0644) {
  ASSERT_TRUE(MakeDirs(path.substr(0, path.rfind('/')), 0755).ok()) << path;
  ASSERT_TRUE(WriteFileAtomic(path, data, mode).ok()) << path;
}

}  // namespace tachyon::modules::testing
