#include "common/config.h"

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "common/fs.h"
#include "gtest/gtest.h"

namespace tachyon {
namespace {

// A daemon-shaped app: the flags of tachyon-agent, plus a flag and a required option.
struct Flags {
  std::string config;
  std::string controller = "127.0.0.1:7443";
  std::string state_dir;
  std::vector<std::string> groups;
  std::string log_format = "text";
  int port = 0;
  bool verbose = false;
  bool color = true;
  std::string secret;
};

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tachyon-config-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    app_.set_version_flag("--version", "tachyon-agent 0.1.0");
    app_.add_option("--config", flags_.config, "YAML config file");
    app_.add_option("--controller", flags_.controller);
    app_.add_option("--state-dir", flags_.state_dir)->required();
    app_.add_option("--group", flags_.groups);
    app_.add_option("--log-format", flags_.log_format);
    app_.add_option("--port", flags_.port);
    app_.add_flag("--verbose", flags_.verbose);
    app_.add_flag("--color,!--no-color", flags_.color);
    app_.add_option("--secret", flags_.secret)->group("");  // hidden
  }
  void TearDown() override { ASSERT_TRUE(RemoveTree(root_).ok()); }

  std::string WriteConfig(const std::string& text) {
    std::string path = root_ + "/agent.yaml";
    EXPECT_TRUE(WriteFileAtomic(path, text, 0600).ok());
    return path;
  }

  absl::Status Parse(std::vector<std::string> args) {
    args.insert(args.begin(), "tachyon-agent");
    std::vector<const char*> argv;
    for (const std::string& a : args) argv.push_back(a.c_str());
    return ParseCommandLine(app_, static_cast<int>(argv.size()), argv.data());
  }

  std::string root_;
  Flags flags_;
  CLI::App app_{"test daemon", "tachyon-agent"};
};

TEST_F(ConfigTest, CommandLineAloneWorks) {
  ASSERT_TRUE(Parse({"--state-dir", "/var/lib/x", "--group", "a", "--group", "b"}).ok());
  EXPECT_EQ(flags_.state_dir, "/var/lib/x");
  EXPECT_EQ(flags_.groups, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(flags_.controller, "127.0.0.1:7443");
}

TEST_F(ConfigTest, FileValuesApply) {
  std::string path = WriteConfig(
      "controller: ctl.example.com:7443\n"
      "state-dir: /var/lib/tachyon\n"
      "log_format: json\n"           // underscores are accepted too
      "port: 9000\n"
      "verbose: true\n"
      "color: false\n"
      "secret: -starts-with-dash\n"  // hidden options work, and dashes are not options
      "group: [web, db]\n");
  absl::Status st = Parse({"--config", path});
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(flags_.controller, "ctl.example.com:7443");
  EXPECT_EQ(flags_.state_dir, "/var/lib/tachyon");  // a required option may come from the file
  EXPECT_EQ(flags_.log_format, "json");
  EXPECT_EQ(flags_.port, 9000);
  EXPECT_TRUE(flags_.verbose);
  EXPECT_FALSE(flags_.color);
  EXPECT_EQ(flags_.secret, "-starts-with-dash");
  EXPECT_EQ(flags_.groups, (std::vector<std::string>{"web", "db"}));
}

TEST_F(ConfigTest, BlockSequencesForRepeatedOptions) {
  std::string path = WriteConfig("state-dir: /s\ngroup:\n  - web\n  - db\n  - cache\n");
  ASSERT_TRUE(Parse({"--config=" + path}).ok());
  EXPECT_EQ(flags_.groups, (std::vector<std::string>{"web", "db", "cache"}));
  // A single scalar is one value of a repeated option.
  app_.clear();
  path = WriteConfig("state-dir: /s\ngroup: solo\n");
  ASSERT_TRUE(Parse({"--config", path}).ok());
  EXPECT_EQ(flags_.groups, (std::vector<std::string>{"solo"}));
}

TEST_F(ConfigTest, FlagBeatsFile) {
  std::string path = WriteConfig(
      "state-dir: /from-file\n"
      "controller: file:1\n"
      "group: [file1, file2]\n"
      "verbose: false\n");
  absl::Status st = Parse({"--state-dir", "/from-flag", "--config", path, "--group", "flag",
                           "--verbose"});
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(flags_.state_dir, "/from-flag");
  EXPECT_EQ(flags_.controller, "file:1");
  // The command line replaces a repeated option's file values; it does not merge with them.
  EXPECT_EQ(flags_.groups, (std::vector<std::string>{"flag"}));
  EXPECT_TRUE(flags_.verbose);
}

TEST_F(ConfigTest, UnknownKeyNamesKeyAndFile) {
  std::string path = WriteConfig("state-dir: /s\nstat-dir: /typo\n");
  absl::Status st = Parse({"--config", path});
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(st.message(), "stat-dir")) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), path)) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), path + ":2:1")) << st;
}

TEST_F(ConfigTest, ReservedKeysAreUnknown) {
  for (const char* key : {"config", "help", "version"}) {
    std::string path = WriteConfig(std::string("state-dir: /s\n") + key + ": x\n");
    absl::Status st = Parse({"--config", path});
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << key;
    EXPECT_TRUE(absl::StrContains(st.message(), key)) << st;
    app_.clear();
  }
}

TEST_F(ConfigTest, YamlSyntaxErrorNamesFileLineAndColumn) {
  std::string path = WriteConfig("state-dir: /s\ngroup: [a, b\nport: 1\n");
  absl::Status st = Parse({"--config", path});
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(st.message(), path + ":")) << st;
  // The exact column is yaml-cpp's; what matters is FILE:LINE:COL.
  std::string rest(st.message().substr(path.size()));
  int line = 0, col = 0;
  EXPECT_EQ(std::sscanf(rest.c_str(), ":%d:%d", &line, &col), 2) << st;
  EXPECT_GE(line, 2) << st;
  EXPECT_GE(col, 1) << st;

  path = WriteConfig("state-dir: /s\n  bad: indent\n");
  st = Parse({"--config", path});
  EXPECT_TRUE(absl::StrContains(st.message(), path + ":2:")) << st;
}

TEST_F(ConfigTest, BadValuesAreClearErrors) {
  std::string path = WriteConfig("state-dir: [a, b]\n");
  absl::Status st = Parse({"--config", path});
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(st.message(), "state-dir")) << st;
  app_.clear();

  path = WriteConfig("state-dir: /s\nverbose: maybe\n");
  st = Parse({"--config", path});
  EXPECT_TRUE(absl::StrContains(st.message(), "true or false")) << st;
  app_.clear();

  path = WriteConfig("state-dir: /s\nport: {a: 1}\n");
  st = Parse({"--config", path});
  EXPECT_TRUE(absl::StrContains(st.message(), "port")) << st;
  app_.clear();

  path = WriteConfig("state-dir: /s\nport: eighty\n");
  st = Parse({"--config", path});
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(st.message(), "port")) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), path)) << st;
  app_.clear();

  path = WriteConfig("- just\n- a list\n");
  st = Parse({"--config", path, "--state-dir", "/s"});
  EXPECT_TRUE(absl::StrContains(st.message(), "mapping")) << st;
  app_.clear();

  path = WriteConfig("state-dir:\n");
  st = Parse({"--config", path});
  EXPECT_TRUE(absl::StrContains(st.message(), "no value")) << st;
}

TEST_F(ConfigTest, NegatedFlagKeys) {
  std::string path = WriteConfig("state-dir: /s\nno-color: true\n");
  ASSERT_TRUE(Parse({"--config", path}).ok());
  EXPECT_FALSE(flags_.color);
  app_.clear();
  flags_.color = true;
  path = WriteConfig("state-dir: /s\ncolor: no\n");  // YAML 1.1 booleans, as Ansible users write them
  ASSERT_TRUE(Parse({"--config", path}).ok());
  EXPECT_FALSE(flags_.color);
}

TEST_F(ConfigTest, EmptyFileSetsNothing) {
  std::string path = WriteConfig("");
  ASSERT_TRUE(Parse({"--config", path, "--state-dir", "/s"}).ok());
  EXPECT_EQ(flags_.controller, "127.0.0.1:7443");
}

TEST_F(ConfigTest, MissingFileIsAClearError) {
  std::string path = root_ + "/nope.yaml";
  absl::Status st = Parse({"--config", path, "--state-dir", "/s"});
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(st.message(), "config file")) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), path)) << st;
}

TEST_F(ConfigTest, MissingRequiredStillFails) {
  std::string path = WriteConfig("controller: x:1\n");
  absl::Status st = Parse({"--config", path});
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(st.message(), "state-dir")) << st;
  app_.clear();
  st = Parse({});
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(st.message(), "state-dir")) << st;
}

TEST_F(ConfigTest, BadFlagIsInvalidArgument) {
  absl::Status st = Parse({"--state-dir", "/s", "--bogus"});
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(st.message(), "--bogus")) << st;
}

TEST_F(ConfigTest, HelpAndVersionAreCancelledWithText) {
  absl::Status st = Parse({"--help"});
  EXPECT_EQ(st.code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(absl::StrContains(st.message(), "--state-dir")) << st;
  app_.clear();
  st = Parse({"--version"});
  EXPECT_EQ(st.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(st.message(), "tachyon-agent 0.1.0\n");
  app_.clear();
  // Help wins even when the config file is broken, so a user can always read it.
  std::string path = WriteConfig("nonsense: [\n");
  st = Parse({"--config", path, "--help"});
  EXPECT_EQ(st.code(), absl::StatusCode::kCancelled);
}

TEST(ConfigNoConfigOption, SubcommandHelpAndParsing) {
  CLI::App app{"cli", "tachyon"};
  std::string dir;
  CLI::App* pki = app.add_subcommand("pki", "PKI commands");
  CLI::App* init = pki->add_subcommand("init", "make a CA");
  init->add_option("--dir", dir, "where the PKI lives")->required();
  const char* argv[] = {"tachyon", "pki", "init", "--dir", "/x"};
  ASSERT_TRUE(ParseCommandLine(app, 5, argv).ok());
  EXPECT_EQ(dir, "/x");
  EXPECT_TRUE(init->parsed());

  app.clear();
  const char* help[] = {"tachyon", "pki", "init", "--help"};
  absl::Status st = ParseCommandLine(app, 4, help);
  EXPECT_EQ(st.code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(absl::StrContains(st.message(), "--dir")) << st;
}

}  // namespace
}  // namespace tachyon
