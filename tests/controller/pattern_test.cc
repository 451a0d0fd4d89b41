#include "controller/rollout/pattern.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tachyon::rollout {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

HostUniverse Fleet() {
  HostUniverse u;
  u.hosts = {"db01", "db02", "web01", "web02", "web03", "lb"};
  u.groups["all"] = u.hosts;
  u.groups["db"] = {"db01", "db02"};
  u.groups["web"] = {"web01", "web02", "web03"};
  u.groups["prod"] = {"db01", "web01", "web02"};
  u.groups["ungrouped"] = {"lb"};
  return u;
}

std::vector<std::string> Match(const std::string& p) {
  auto r = MatchPattern(p, Fleet());
  EXPECT_TRUE(r.ok()) << p << ": " << r.status();
  return r.ok() ? *r : std::vector<std::string>{};
}

TEST(PatternTest, AllAndStar) {
  EXPECT_EQ(Match("all").size(), 6u);
  EXPECT_EQ(Match("*").size(), 6u);
}

TEST(PatternTest, NamesAndGroupsKeepInventoryOrder) {
  EXPECT_THAT(Match("web02"), ElementsAre("web02"));
  EXPECT_THAT(Match("web"), ElementsAre("web01", "web02", "web03"));
  EXPECT_THAT(Match("web:db"), ElementsAre("db01", "db02", "web01", "web02", "web03"));
  EXPECT_THAT(Match("web,db01"), ElementsAre("db01", "web01", "web02", "web03"));
}

TEST(PatternTest, IntersectionAndExclusion) {
  EXPECT_THAT(Match("web:&prod"), ElementsAre("web01", "web02"));
  EXPECT_THAT(Match("all:!web"), ElementsAre("db01", "db02", "lb"));
  EXPECT_THAT(Match("prod:!db:&web"), ElementsAre("web01", "web02"));
  // An exclusion alone means "all but".
  EXPECT_THAT(Match("!web"), ElementsAre("db01", "db02", "lb"));
}

TEST(PatternTest, Globs) {
  EXPECT_THAT(Match("web0*"), ElementsAre("web01", "web02", "web03"));
  EXPECT_THAT(Match("*01"), ElementsAre("db01", "web01"));
  EXPECT_THAT(Match("web0[1-2]"), ElementsAre("web01", "web02"));  // a class, not a subscript
  EXPECT_THAT(Match("d?"), ElementsAre("db01", "db02"));           // group name glob
}

TEST(PatternTest, Regex) { EXPECT_THAT(Match("~web0[13]"), ElementsAre("web01", "web03")); }

TEST(PatternTest, Subscripts) {
  EXPECT_THAT(Match("web[0]"), ElementsAre("web01"));
  EXPECT_THAT(Match("web[-1]"), ElementsAre("web03"));
  EXPECT_THAT(Match("web[0:1]"), ElementsAre("web01", "web02"));  // inclusive, as Ansible
  EXPECT_THAT(Match("web[1:]"), ElementsAre("web02", "web03"));
  EXPECT_THAT(Match("web[7]"), IsEmpty());
  EXPECT_THAT(Match("web[1:2]:db[0]"), ElementsAre("db01", "web02", "web03"));
}

TEST(PatternTest, UnknownMatchesNothing) {
  EXPECT_THAT(Match("nosuch"), IsEmpty());
  EXPECT_THAT(Match("nosuch*"), IsEmpty());
}

TEST(PatternTest, ImplicitLocalhostMatchesOnlyByName) {
  HostUniverse u = Fleet();
  u.implicit_hosts = {"localhost"};
  EXPECT_EQ(MatchPattern("all", u)->size(), 6u);
  EXPECT_THAT(*MatchPattern("local*", u), IsEmpty());
  EXPECT_THAT(*MatchPattern("localhost", u), ElementsAre("localhost"));
  EXPECT_THAT(*MatchPattern("web[0]:localhost", u), ElementsAre("web01", "localhost"));
}

TEST(PatternTest, MalformedIsAnError) {
  EXPECT_FALSE(MatchPattern("", Fleet()).ok());
  EXPECT_FALSE(MatchPattern("~[unclosed", Fleet()).ok());
  EXPECT_FALSE(MatchPattern("web:!", Fleet()).ok());
}

}  // namespace
}  // namespace tachyon::rollout
