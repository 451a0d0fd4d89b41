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

// Expected values from ansible-core 2.14's splitter, e.g.
//   /usr/bin/python3 -c 'from ansible.parsing.splitter import parse_kv;
//     print(parse_kv("x=1\necho \"x is $x\"\n", check_raw=True))'
TEST(KvArgsTest, FreeFormKeepsLineBreaksAndSpacing) {
  // {'_raw_params': 'x=1\necho "x is $x"\n'}
  auto a = ParseModuleArgs("shell", "x=1\necho \"x is $x\"\n");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(*a, (json{{"_raw_params", "x=1\necho \"x is $x\"\n"}}));
  // 'echo  a   b' -> {'_raw_params': 'echo  a   b'}
  EXPECT_EQ(*ParseModuleArgs("command", "echo  a   b"), (json{{"_raw_params", "echo  a   b"}}));
  // 'echo "a\n b" c' -> {'_raw_params': 'echo "a\n b" c'}
  EXPECT_EQ(*ParseModuleArgs("command", "echo \"a\n b\" c"),
            (json{{"_raw_params", "echo \"a\n b\" c"}}));
  // 'echo a \\\n b' (a lone backslash continues the line) -> {'_raw_params': 'echo a b'}
  EXPECT_EQ(*ParseModuleArgs("shell", "echo a \\\n b"), (json{{"_raw_params", "echo a b"}}));
  // 'echo\n\nb' -> {'_raw_params': 'echo\n\nb'}
  EXPECT_EQ(*ParseModuleArgs("shell", "echo\n\nb"), (json{{"_raw_params", "echo\n\nb"}}));
  // ' echo a' -> {'_raw_params': 'echo a'}
  EXPECT_EQ(*ParseModuleArgs("shell", " echo a"), (json{{"_raw_params", "echo a"}}));
  // "printf '%s|%s\\n' \"a b\" c" -> kept verbatim, the \n escape included
  EXPECT_EQ(*ParseModuleArgs("command", "printf '%s|%s\\n' \"a b\" c"),
            (json{{"_raw_params", "printf '%s|%s\\n' \"a b\" c"}}));
}

TEST(KvArgsTest, EscapesAsParseKv) {
  // 'echo a\\=b' -> {'_raw_params': 'echo a=b'}
  EXPECT_EQ(*ParseModuleArgs("command", "echo a\\=b"), (json{{"_raw_params", "echo a=b"}}));
  // check_raw=False: 'msg="a\\nb" x=\'q\'' -> {'msg': 'a\nb', 'x': 'q'}
  EXPECT_EQ(*ParseModuleArgs("debug", "msg=\"a\\nb\" x='q'"),
            (json{{"msg", "a\nb"}, {"x", "q"}}));
  // check_raw=True keeps the original token: {'_raw_params': 'msg="a\\nb" x=\'q\''}
  EXPECT_EQ(*ParseModuleArgs("shell", "msg=\"a\\nb\" x='q'"),
            (json{{"_raw_params", "msg=\"a\\nb\" x='q'"}}));
  // "chdir='/tmp x' ls" -> {'chdir': '/tmp x', '_raw_params': 'ls'}
  EXPECT_EQ(*ParseModuleArgs("command", "chdir='/tmp x' ls"),
            (json{{"chdir", "/tmp x"}, {"_raw_params", "ls"}}));
}

TEST(KvArgsTest, SplitArgsAsAnsible) {
  // split_args("a {{ b }} c") -> ['a', '{{ b }}', 'c']
  EXPECT_EQ(*SplitArgs("a {{ b }} c"), (std::vector<std::string>{"a", "{{ b }}", "c"}));
  // split_args("a 'b c' \"d e\"") -> ['a', "'b c'", '"d e"']
  EXPECT_EQ(*SplitArgs("a 'b c' \"d e\""),
            (std::vector<std::string>{"a", "'b c'", "\"d e\""}));
  EXPECT_FALSE(SplitArgs("a {{ b").ok());
}

}  // namespace
}  // namespace tachyon::rollout
