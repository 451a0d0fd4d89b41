#include "common/daemon.h"

#include <iostream>

#include "absl/status/status.h"
#include "common/config.h"
#include "common/log.h"

namespace tachyon {

void AddDaemonFlags(CLI::App& app, DaemonFlags* flags) {
  app.add_option("--config", flags->config, "YAML file with flag values (a flag beats the file)");
  app.add_option("--log-format", flags->log_format, "text or json")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option("--log-level", flags->log_level, "debug, info, warning or error")
      ->check(CLI::IsMember({"debug", "info", "warning", "error"}));
  app.set_version_flag("--version", std::string("tachyon ") + TACHYON_VERSION);
}

int ParseDaemonCommandLine(CLI::App& app, const DaemonFlags& flags, int argc, char** argv,
                           const char* component) {
  absl::Status st = ParseCommandLine(app, argc, argv);
  if (absl::IsCancelled(st)) {
    std::cout << st.message();
    if (!st.message().empty() && st.message().back() != '\n') std::cout << "\n";
    return 0;
  }
  if (!st.ok()) {
    std::cerr << component << ": " << st.message() << "\n";
    return 5;
  }
  SetLogComponent(component);
  SetLogFormat(flags.log_format == "json" ? LogFormat::kJson : LogFormat::kText);
  if (flags.log_level == "debug") SetLogLevel(LogLevel::kDebug);
  if (flags.log_level == "warning") SetLogLevel(LogLevel::kWarning);
  if (flags.log_level == "error") SetLogLevel(LogLevel::kError);
  return -1;
}

}  // namespace tachyon
