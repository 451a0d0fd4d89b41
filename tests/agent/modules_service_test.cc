// service / systemd against a fake `systemctl` first in PATH that keeps each unit's state in
// files and logs its argv: the argv the module uses, idempotence and check mode.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include "agent/modules/module.h"
#include "tests/agent/module_test_util.h"

namespace tachyon::modules {
namespace {

using ::testing::HasSubstr;
using testing::RunModule;
using testing::Spit;
using testing::TempDir;
using testing::ValidateMessage;
using Json = nlohmann::json;

// Units exist when $FAKE_UNITS/NAME exists; NAME.active / NAME.enabled hold their state.
constexpr char kFakeSystemctl[] = R"(#!/bin/sh
echo "systemctl $*" >> "$FAKE_LOG"
verb=""; unit=""
for a; do case "$a" in --*) ;; *) if [ -z "$verb" ]; then verb="$a"; else unit="$a"; fi;; esac; done
d="$FAKE_UNITS"
case "$verb" in
  show)
    if [ ! -e "$d/$unit" ]; then printf 'Id=%s\nLoadState=not-found\nActiveState=inactive\n' "$unit"; exit 0; fi
    if [ -e "$d/$unit.active" ]; then s=active; else s=inactive; fi
    printf 'Id=%s\nLoadState=loaded\nActiveState=%s\nMainPID=0\n' "$unit" "$s";;
  is-enabled) if [ -e "$d/$unit.enabled" ]; then echo enabled; else echo disabled; exit 1; fi;;
  start|restart) [ "$unit" = bad ] && { echo "Job for bad failed." >&2; exit 1; }; : > "$d/$unit.active";;
  reload) ;;
  stop) rm -f "$d/$unit.active";;
  enable) : > "$d/$unit.enabled";;
  disable) rm -f "$d/$unit.enabled";;
  daemon-reload) ;;
  *) echo "unknown verb $verb" >&2; exit 1;;
esac
)";

class ServiceModuleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    units_ = dir_ / "units";
    Spit(dir_ / "bin/systemctl", kFakeSystemctl, 0755);
    Spit(units_ + "/nginx", "");
    Spit(units_ + "/bad", "");
    old_path_ = getenv("PATH");
    setenv("PATH", (dir_ / "bin" + ":/usr/bin:/bin").c_str(), 1);
    setenv("FAKE_UNITS", units_.c_str(), 1);
    setenv("FAKE_LOG", (dir_ / "log").c_str(), 1);
  }
  void TearDown() override {
    setenv("PATH", old_path_.c_str(), 1);
    unsetenv("FAKE_UNITS");
    unsetenv("FAKE_LOG");
  }
  std::string Log() { return ReadFile(dir_ / "log").value_or(""); }

  TempDir dir_;
  std::string units_, old_path_;
};

TEST_F(ServiceModuleTest, StartEnableIdempotentAndCheckMode) {
  Json check = RunModule(
      "systemd",
      {{"name", "nginx"}, {"state", "started"}, {"enabled", true}, {"_ansible_check_mode", true}});
  EXPECT_EQ(check["changed"], true);
  EXPECT_FALSE(PathExists(units_ + "/nginx.active"));
  EXPECT_THAT(Log(), ::testing::Not(HasSubstr("systemctl start")));

  Json r = RunModule("systemd", {{"name", "nginx"}, {"state", "started"}, {"enabled", true}});
  EXPECT_EQ(r["changed"], true);
  EXPECT_EQ(r["name"], "nginx");
  EXPECT_EQ(r["state"], "started");
  EXPECT_EQ(r["enabled"], true);
  EXPECT_EQ(r["status"]["ActiveState"], "inactive");  // as found, like Ansible's
  EXPECT_EQ(r["status"]["Id"], "nginx");
  EXPECT_THAT(Log(), HasSubstr("systemctl enable nginx\nsystemctl start nginx\n"));
  EXPECT_TRUE(PathExists(units_ + "/nginx.active"));

  Json again = RunModule("service", {{"name", "nginx"}, {"state", "started"}, {"enabled", true}});
  EXPECT_EQ(again["changed"], false);
  EXPECT_EQ(again["status"]["ActiveState"], "active");

  EXPECT_EQ(RunModule("systemd_service", {{"name", "nginx"}, {"state", "stopped"}})["changed"],
            true);
  EXPECT_FALSE(PathExists(units_ + "/nginx.active"));
  EXPECT_EQ(RunModule("systemd", {{"name", "nginx"}, {"state", "stopped"}})["changed"], false);
  // restarted always changes; reloaded starts a stopped service.
  EXPECT_EQ(RunModule("systemd", {{"name", "nginx"}, {"state", "reloaded"}})["changed"], true);
  EXPECT_THAT(Log(), HasSubstr("systemctl start nginx\n"));
  EXPECT_EQ(RunModule("systemd", {{"name", "nginx"},
                                  {"state", "restarted"},
                                  {"no_block", true},
                                  {"daemon_reload", true}})["changed"],
            true);
  EXPECT_THAT(Log(), HasSubstr("systemctl daemon-reload\n"));
  EXPECT_THAT(Log(), HasSubstr("systemctl --no-block restart nginx\n"));
}

TEST_F(ServiceModuleTest, Failures) {
  EXPECT_EQ(RunModule("systemd", {{"name", "nope"}, {"state", "started"}})["msg"],
            "Could not find the requested service nope: host");
  Json bad = RunModule("systemd", {{"name", "bad"}, {"state", "started"}});
  EXPECT_EQ(bad["failed"], true);
  EXPECT_EQ(bad["msg"], "Unable to start service bad: Job for bad failed.\n");
  EXPECT_EQ(ValidateMessage("service", {{"state", "started"}}), "missing required arguments: name");
  EXPECT_EQ(ValidateMessage("systemd", {{"name", "x"}}),
            "one of the following is required: state, enabled, masked, daemon_reload");
  EXPECT_EQ(ValidateMessage("systemd", {{"daemon_reload", true}}), "");
  EXPECT_EQ(ValidateMessage("systemd", {{"unit", "x"}, {"state", "running"}}),
            "value of state must be one of: reloaded, restarted, started, stopped, got: running");
}

}  // namespace
}  // namespace tachyon::modules
