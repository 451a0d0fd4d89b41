// A concurrency probe like Ansible's throttle integration test: 12 hosts run a task whose
// script counts the hosts inside it at once and fails beyond the limit. forks and throttle at
// 3, 5 and 8, under the linear and free strategies.

#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace tachyon::itest {
namespace {

TEST(ConcurrencyTest, ForksAndThrottleBoundHostsInsideATask) {
  Cluster cluster;
  ASSERT_TRUE(cluster.StartController());
  std::string inventory = "[fleet]\n";
  for (int i = 1; i <= 12; ++i) {
    std::string name = "node" + std::string(i < 10 ? "0" : "") + std::to_string(i);
    ASSERT_TRUE(cluster.StartAgent(name));
    inventory += name + "\n";
  }
  WriteFile(cluster.dir() + "/inv.ini", inventory);
  // The probe: enter (a file per host), count who is inside, record it, stay a moment so that
  // others can come in, leave. It fails when more than LIMIT hosts are inside.
  WriteFile(cluster.dir() + "/pb/files/probe.sh", R"(#!/bin/sh
dir=$1; limit=$2; me=$3
touch "$dir/in.$me"
n=$(ls "$dir" | grep -c '^in\.')
echo "$n" >> "$dir/seen"
sleep 0.2
rm -f "$dir/in.$me"
[ "$n" -le "$limit" ] || { echo "$n hosts inside, limit $limit" >&2; exit 1; }
)",
            0755);
  struct Case {
    std::string strategy;
    int forks;
    int throttle;  // 0: none
  };
  std::vector<Case> cases;
  for (const char* s : {"linear", "free"}) {
    for (int f : {3, 5, 8}) cases.push_back({s, f, 0});
    for (int t : {3, 5}) cases.push_back({s, 8, t});
  }
  int n = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.strategy + " forks=" + std::to_string(c.forks) +
                 " throttle=" + std::to_string(c.throttle));
    const int limit = c.throttle > 0 ? c.throttle : c.forks;
    std::string dir = cluster.dir() + "/probe" + std::to_string(n++);
    std::string pb = cluster.dir() + "/pb/site.yml";
    WriteFile(dir + "/.keep", "");
    WriteFile(pb, "- hosts: fleet\n  gather_facts: false\n  strategy: " + c.strategy +
                      "\n  tasks:\n    - script: probe.sh " + dir + " " + std::to_string(limit) +
                      " {{ inventory_hostname }}\n" +
                      (c.throttle > 0 ? "      throttle: " + std::to_string(c.throttle) + "\n"
                                      : std::string()));
    CliResult r = cluster.Cli(
        {"run", pb, "-i", cluster.dir() + "/inv.ini", "-f", std::to_string(c.forks)}, {}, 120);
    EXPECT_EQ(r.rc, 0) << r;
    std::ifstream seen(dir + "/seen");
    int max = 0, lines = 0;
    for (std::string line; std::getline(seen, line); ++lines) max = std::max(max, std::stoi(line));
    EXPECT_EQ(lines, 12) << "every host ran the probe once";
    EXPECT_LE(max, limit);
    EXPECT_GT(max, 1) << "hosts did run side by side";
  }
}

}  // namespace
}  // namespace tachyon::itest
