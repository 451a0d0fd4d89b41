#include "controller/rollout/kv_args.h"

#include <gtest/gtest.h>

namespace tachyon::rollout {
namespace {

using nlohmann::json;

TEST(KvArgsTest, FreeFormKeepsRawParamsVerbatim) {
  auto a = ParseModuleArgs("command", "echo 'a b' c=d chdir=/tmp");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(*a, (json{{"_raw_params", "echo 'a b' c=d"}, {"chdir", "/tmp"}}));
}

TEST(KvArgsTest, ShellOptions) {
  auto a = ParseModuleArgs("shell", "echo $HOME | wc -c executable=/bin/bash creates=/x");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ((*a)["_raw_params"], "echo $HOME | wc -c");
  EXPECT_EQ((*a)["executable"], "/bin/bash");
  EXPECT_EQ((*a)["creates"], "/x");
}

TEST(KvArgsTest, KeyValueModules) {
  auto a = ParseModuleArgs("ping", "data='hello world'");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, (json{{"data", "hello world"}}));
  EXPECT_FALSE(ParseModuleArgs("ping", "notkv").ok());
}

TEST(KvArgsTest, JsonArgs) {
  auto a = ParseModuleArgs("ping", R"({"data": "x"})");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, (json{{"data", "x"}}));
  EXPECT_FALSE(ParseModuleArgs("ping", "{broken").ok());
}

TEST(KvArgsTest, EmptyAndQuotes) {
  EXPECT_EQ(*ParseModuleArgs("command", "  "), json::object());
  EXPECT_FALSE(ParseModuleArgs("command", "echo 'unbalanced").ok());
  auto t = SplitArgs("a 'b c' \"d e\"");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->size(), 3u);
}

}  // namespace
}  // namespace tachyon::rollout
