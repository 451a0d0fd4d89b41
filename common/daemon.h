#pragma once

// Flag handling shared by the daemons' main(): --config, --log-format, --help, --version.

#include <string>

#include "CLI/CLI.hpp"

namespace tachyon {

struct DaemonFlags {
  std::string config;
  std::string log_format = "text";
  std::string log_level = "info";
};

// Adds --config, --log-format, --log-level and --version to `app`.
void AddDaemonFlags(CLI::App& app, DaemonFlags* flags);

// Parses argv (config file included) and applies the log flags. Returns -1 to continue, or the
// exit code main() should return (0 after --help/--version, 5 for bad options).
int ParseDaemonCommandLine(CLI::App& app, const DaemonFlags& flags, int argc, char** argv,
                           const char* component);

}  // namespace tachyon
