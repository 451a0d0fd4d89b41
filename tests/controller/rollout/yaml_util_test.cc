#include "controller/rollout/yaml_util.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tachyon::rollout {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

json Convert(const std::string& text) {
  auto node = ParseYaml(text, "t.yml");
  EXPECT_TRUE(node.ok()) << node.status();
  if (!node.ok()) return json();
  auto j = YamlToJson(*node, "t.yml");
  EXPECT_TRUE(j.ok()) << j.status();
  return j.ok() ? *j : json();
}

TEST(YamlUtilTest, PyYamlScalarTyping) {
  EXPECT_EQ(ResolvePlainScalar("yes"), json(true));
  EXPECT_EQ(ResolvePlainScalar("Off"), json(false));
  EXPECT_EQ(ResolvePlainScalar("y"), json("y"));
  EXPECT_EQ(ResolvePlainScalar("010"), json(8));
  EXPECT_EQ(ResolvePlainScalar("0x1F"), json(31));
  EXPECT_EQ(ResolvePlainScalar("-0b11"), json(-3));
  EXPECT_EQ(ResolvePlainScalar("1:30"), json(90));
  EXPECT_EQ(ResolvePlainScalar("1e3"), json("1e3"));
  EXPECT_EQ(ResolvePlainScalar("1.0e+3").dump(), "1000.0");
  EXPECT_EQ(ResolvePlainScalar("~"), json(nullptr));
  EXPECT_EQ(ResolvePlainScalar(""), json(nullptr));
  EXPECT_EQ(ResolvePlainScalar("08"), json("08"));
  EXPECT_EQ(ResolvePlainScalar("99999999999999999999"), json("99999999999999999999"));
}

TEST(YamlUtilTest, QuotedTaggedMergedAndUnsafe) {
  EXPECT_EQ(Convert("a: '1'\nb: !!str 2\nc: !!int '3'\nd: !unsafe '{{ x }}'\n"),
            json::parse(R"({"a": "1", "b": "2", "c": 3, "d": "{{ x }}"})"));
  EXPECT_EQ(Convert("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n"),
            json::parse(R"({"base": {"x": 1, "y": 2}, "m": {"x": 1, "y": 3}})"));
}

TEST(YamlUtilTest, ErrorsCarryPositions) {
  auto bad = ParseYaml("a: [1, 2\n", "t.yml");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("t.yml:"));
  auto multi = ParseYaml("a: 1\n---\nb: 2\n", "t.yml");
  ASSERT_FALSE(multi.ok());
  EXPECT_THAT(std::string(multi.status().message()), HasSubstr("single YAML document"));
  // yaml-cpp 0.7's LoadAll never returns on these; ParseYaml must.
  for (const char* hang : {",a]\n", ",\n", "a\n,\n"}) (void)ParseYaml(hang, "t.yml");
  auto node = ParseYaml("x:\n  secret: !vault |\n    $ANSIBLE_VAULT;1.1;AES256\n", "t.yml");
  ASSERT_TRUE(node.ok());
  auto j = YamlToJson(*node, "t.yml");
  ASSERT_FALSE(j.ok());
  EXPECT_THAT(std::string(j.status().message()), HasSubstr("t.yml:2:11: vault"));
}

}  // namespace
}  // namespace tachyon::rollout
