#include "controller/rollout/inventory.h"

#include <dirent.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace tachyon::rollout {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kTestdata = TACHYON_ROLLOUT_TESTDATA;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string FirstLine(const std::string& path) {
  std::string s = Slurp(path);
  return s.substr(0, s.find('\n'));
}

std::vector<std::string> OracleCases() {
  std::vector<std::string> cases;
  std::string dir = kTestdata + "/inventory";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return cases;
  while (struct dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n[0] != '.') cases.push_back(n);
  }
  closedir(d);
  std::sort(cases.begin(), cases.end());
  return cases;
}

// Each case's expected.json is `ansible-inventory --list` output (inventory_oracle.sh).
class InventoryOracleTest : public ::testing::TestWithParam<std::string> {};

TEST_P(InventoryOracleTest, MatchesAnsibleInventoryList) {
  std::string dir = kTestdata + "/inventory/" + GetParam() + "/";
  std::string playbook_dir;
  if (access((dir + "PLAYBOOK_DIR").c_str(), F_OK) == 0) {
    playbook_dir = dir + FirstLine(dir + "PLAYBOOK_DIR");
  }
  auto inv = Inventory::Load({dir + FirstLine(dir + "SOURCE")}, playbook_dir);
  ASSERT_TRUE(inv.ok()) << inv.status();
  auto ours = (*inv)->ToListJson();
  ASSERT_TRUE(ours.ok()) << ours.status();
  json expected = json::parse(Slurp(dir + "expected.json"));
  EXPECT_EQ(ours->dump(2), expected.dump(2));
}

// Host order matters: it is the order of `hosts: all`, of groups, and so of serial batches.
TEST_P(InventoryOracleTest, HostOrderMatchesAnsible) {
  std::string dir = kTestdata + "/inventory/" + GetParam() + "/";
  auto inv = Inventory::Load({dir + FirstLine(dir + "SOURCE")});
  ASSERT_TRUE(inv.ok()) << inv.status();
  json expected = json::parse(Slurp(dir + "expected_hosts.json"));
  json ours = json::object();
  ours["all"] = (*inv)->Hosts();
  for (const std::string& g : (*inv)->GroupNames()) ours["group:" + g] = (*inv)->GroupHosts(g);
  EXPECT_EQ(ours.dump(2), expected.dump(2));
}

INSTANTIATE_TEST_SUITE_P(Cases, InventoryOracleTest, ::testing::ValuesIn(OracleCases()));

TEST(InventoryOracleTest, HasAtLeastTenCases) { EXPECT_GE(OracleCases().size(), 10u); }

std::unique_ptr<Inventory> Parse(const std::string& text, const std::string& name = "hosts.ini") {
  auto inv = Inventory::FromString(text, name);
  EXPECT_TRUE(inv.ok()) << inv.status();
  return inv.ok() ? std::move(*inv) : nullptr;
}

std::string ParseError(const std::string& text, const std::string& name = "hosts.ini") {
  auto inv = Inventory::FromString(text, name);
  EXPECT_FALSE(inv.ok());
  return inv.ok() ? "" : std::string(inv.status().message());
}

TEST(IniValueTest, LiteralEvalTyping) {
  EXPECT_EQ(IniValue("1"), json(1));
  EXPECT_EQ(IniValue("-3"), json(-3));
  EXPECT_EQ(IniValue("1.5").dump(), "1.5");
  EXPECT_EQ(IniValue("True"), json(true));
  EXPECT_EQ(IniValue("true"), json("true"));
  EXPECT_EQ(IniValue("None"), json(nullptr));
  EXPECT_EQ(IniValue("'x'"), json("x"));
  EXPECT_EQ(IniValue("01"), json("01"));
  EXPECT_EQ(IniValue("0o17"), json(15));
  EXPECT_EQ(IniValue("[1, 'a', (2, 3)]"), json::parse(R"([1, "a", [2, 3]])"));
  EXPECT_EQ(IniValue("{'a': {1: None}}"), json::parse(R"({"a": {"1": null}})"));
  EXPECT_EQ(IniValue("'a' 'b'"), json("ab"));
  EXPECT_EQ(IniValue("r'\\n'"), json("\\n"));
  EXPECT_EQ(IniValue("1+2"), json("1+2"));
  EXPECT_EQ(IniValue("--1"), json("--1"));
  EXPECT_EQ(IniValue("f'x'"), json("f'x'"));
  EXPECT_EQ(IniValue(""), json(""));
}

TEST(HostRangeTest, Expansion) {
  EXPECT_THAT(*ExpandHostRange("web[01:03]"), ElementsAre("web01", "web02", "web03"));
  EXPECT_THAT(*ExpandHostRange("db-[a:c]"), ElementsAre("db-a", "db-b", "db-c"));
  EXPECT_THAT(*ExpandHostRange("x[1:10:4]"), ElementsAre("x1", "x5", "x9"));
  EXPECT_THAT(*ExpandHostRange("r[1:2]-[a:b]"), ElementsAre("r1-a", "r1-b", "r2-a", "r2-b"));
  EXPECT_FALSE(ExpandHostRange("w[1:2:3:4]").ok());
  EXPECT_FALSE(ExpandHostRange("w[01:100]").ok());  // unequal widths
  EXPECT_FALSE(ExpandHostRange("w[c:a]").ok());
  EXPECT_FALSE(ExpandHostRange("w[1:]").ok());
}

TEST(InventoryTest, OrderGroupsAndUniverse) {
  auto inv =
      Parse("solo\n[web]\nweb[1:2]\n[db]\ndb1\n[prod:children]\nweb\ndb\n[prod:vars]\nenv=prod\n");
  ASSERT_NE(inv, nullptr);
  EXPECT_THAT(inv->Hosts(), ElementsAre("solo", "web1", "web2", "db1"));
  EXPECT_THAT(inv->GroupHosts("prod"), ElementsAre("web1", "web2", "db1"));
  EXPECT_THAT(inv->GroupHosts("ungrouped"), ElementsAre("solo"));
  EXPECT_THAT(inv->GroupNamesOf("web1"), ElementsAre("prod", "web"));
  Universe u = inv->GetUniverse();
  EXPECT_EQ(u.hosts, inv->Hosts());
  EXPECT_THAT(u.groups["all"], ElementsAre("solo", "web1", "web2", "db1"));
  EXPECT_THAT(u.groups["db"], ElementsAre("db1"));
  EXPECT_THAT(u.implicit_hosts, ElementsAre("localhost", "127.0.0.1", "::1"));
  auto vars = inv->HostVars("db1");
  ASSERT_TRUE(vars.ok());
  EXPECT_EQ((*vars)["env"], "prod");
}

TEST(InventoryTest, ImplicitLocalhostOnlyWhenReferenced) {
  auto inv = Parse("[all:vars]\nx=1\n[web]\nweb1\n");
  ASSERT_NE(inv, nullptr);
  EXPECT_FALSE(inv->HasHost("localhost"));
  EXPECT_THAT(inv->Hosts(), ElementsAre("web1"));
  auto vars = inv->HostVars("localhost");
  ASSERT_TRUE(vars.ok()) << vars.status();
  EXPECT_EQ((*vars)["ansible_connection"], "local");
  EXPECT_EQ((*vars)["x"], 1);
  EXPECT_FALSE(inv->HostVars("nope").ok());
}

TEST(InventoryTest, AgentGroups) {
  auto inv = Parse("web1\n[db]\ndb1\n");
  ASSERT_NE(inv, nullptr);
  ASSERT_TRUE(inv->AddAgentGroups("web1", {"canary", "db"}).ok());
  EXPECT_THAT(inv->GroupHosts("canary"), ElementsAre("web1"));
  EXPECT_THAT(inv->GroupHosts("db"), ElementsAre("db1", "web1"));
  EXPECT_TRUE(inv->GroupHosts("ungrouped").empty());
  EXPECT_FALSE(inv->AddAgentGroups("ghost", {"x"}).ok());
  ASSERT_TRUE(inv->AddAgentGroups("ghost", {"x"}, /*add_missing_host=*/true).ok());
  EXPECT_THAT(inv->GroupHosts("x"), ElementsAre("ghost"));
  ASSERT_TRUE(inv->AddHost("bare").ok());
  EXPECT_THAT(inv->GroupHosts("ungrouped"), ElementsAre("bare"));
  EXPECT_THAT(inv->Hosts(), ElementsAre("bare", "db1", "web1", "ghost"));
}

TEST(InventoryTest, YamlDetectedWithoutExtension) {
  auto inv = Parse("all:\n  hosts:\n    h1:\n      n: 010\n", "inventory");
  ASSERT_NE(inv, nullptr);
  EXPECT_EQ((*inv->HostVars("h1"))["n"], 8);  // YAML 1.1 octal, as PyYAML
}

TEST(InventoryTest, ErrorsNamePosition) {
  EXPECT_THAT(ParseError("[web]\nok\n[web:nope]\n"),
              HasSubstr("hosts.ini:3:1: Section [web:nope] has unknown type: nope"));
  EXPECT_THAT(ParseError("[web]\n  web[1:2:3:4]\n"),
              HasSubstr("hosts.ini:2:3: bad host pattern 'web[1:2:3:4]': host range must be"));
  EXPECT_THAT(
      ParseError("[web]\nh1 novalue\n"),
      HasSubstr("hosts.ini:2:1: Expected key=value host variable assignment, got: novalue"));
  EXPECT_THAT(ParseError("[a b]\n"), HasSubstr("hosts.ini:1:1: Invalid section entry: '[a b]'"));
  EXPECT_THAT(ParseError("[p:children]\nmissing\n"),
              HasSubstr("hosts.ini:2:1: Section [p:children] includes undefined group: missing"));
  EXPECT_THAT(ParseError("[x:vars]\na=1\n"),
              HasSubstr("hosts.ini:1:1: Section [x:vars] not valid for undefined group: x"));
  EXPECT_THAT(ParseError("[web]\nh1 a=\"unterminated\n"), HasSubstr("No closing quotation"));
  EXPECT_THAT(ParseError("all:\n  hosts: [a, b]\n", "hosts.yml"),
              HasSubstr("hosts.yml:2:10: Invalid \"hosts\" entry for \"all\" group"));
  EXPECT_THAT(ParseError("all:\n  hosts:\n    h1: {a: [1, 2}\n", "hosts.yml"),
              HasSubstr("hosts.yml:3:"));
  EXPECT_THAT(ParseError("all:\n  hosts:\n    12:\n", "hosts.yml"),
              HasSubstr("hosts.yml:3:5: Host pattern 12 must be a string"));
  // Without an extension, YAML content still gets the YAML error, not an INI one.
  EXPECT_THAT(ParseError("all:\n  hosts:\n    12:\n", "hosts"),
              HasSubstr("hosts:3:5: Host pattern 12 must be a string"));
  EXPECT_THAT(ParseError("[web]\nh1 novalue\n", "hosts"),
              HasSubstr("hosts:2:1: Expected key=value"));
  EXPECT_THAT(ParseError("[" + std::string(100000, 'a') + "]\n"), HasSubstr("too long"));
  EXPECT_THAT(ParseError("[g]\n" + std::string(100000, 'h') + "\n"), HasSubstr("too long"));
  EXPECT_THAT(ParseError("[a:children]\nb\n[b:children]\na\n"),
              HasSubstr("recursive dependency loop"));
}

TEST(InventoryTest, HostLimitsGiveAPositionedError) {
  // Real limits: one range may name 100000 hosts, and the inventory may hold 100000.
  EXPECT_THAT(ParseError("[g]\nh[0:100000]\n"),
              HasSubstr("hosts.ini:2:1: bad host pattern 'h[0:100000]': host range expands to "
                        "more than 100000 hosts"));
  EXPECT_THAT(ParseError("[g]\na[0:59999]\nb[0:59999]\n"),
              HasSubstr("hosts.ini:3:1: inventory has more than 100000 hosts"));
  EXPECT_THAT(ParseError("all:\n  hosts:\n    a[0:59999]:\n    b[0:59999]:\n", "hosts.yml"),
              HasSubstr("hosts.yml:4:5: inventory has more than 100000 hosts"));

  // A file that repeats one range in many groups is bounded by the count of host lines.
  InventoryLimits small;
  small.max_hosts = 100;
  small.max_host_entries = 250;
  std::string text;
  for (int g = 0; g < 3; ++g) text += "[g" + std::to_string(g) + "]\nh[1:100]\n";
  auto inv = Inventory::FromString(text, "hosts.ini", small);
  ASSERT_FALSE(inv.ok());
  EXPECT_THAT(inv.status().message(),
              HasSubstr("hosts.ini:6:1: inventory lists more than 250 hosts (counting repeats)"));
  text.resize(text.rfind("[g2]"));
  inv = Inventory::FromString(text, "hosts.ini", small);
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ((*inv)->GroupHosts("g1").size(), 100u);
}

TEST(InventoryTest, LargeRangeInTwoGroupsLeavesUngrouped) {
  // 50000 hosts listed ungrouped, then all of them in a group: each leaves `ungrouped`, and
  // membership checks stay linear (they were quadratic in the group's size).
  auto inv = Inventory::FromString("h[0:49999]\n[g]\nh[0:49999]\n", "hosts.ini");
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ((*inv)->GroupHosts("g").size(), 50000u);
  EXPECT_TRUE((*inv)->GroupHosts("ungrouped").empty());
  EXPECT_EQ((*inv)->Hosts().size(), 50000u);
}

}  // namespace
}  // namespace tachyon::rollout
