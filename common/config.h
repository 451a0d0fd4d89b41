#pragma once

// Command-line parsing shared by the three binaries, with every daemon flag also settable from a
// YAML config file (CONTRACT.md: "Every flag may also come from a YAML config file (--config
// FILE); a flag beats the file. Unknown keys in a config file are an error that names the key
// and the file.").

#include <CLI/CLI.hpp>

#include "absl/status/status.h"

namespace tachyon {

// Parses argv into `app`. When `app` has a "--config FILE" option and it was given, FILE must
// hold a YAML mapping whose keys are long option names without dashes (`state-dir:`, and
// `state_dir:` too): a scalar is one value, a sequence repeated values, a boolean sets or clears
// a flag. An option given on the command line (or through its environment variable) wins over the
// file, entirely: a repeated option's file values are dropped, not merged.
//
// Returns OK; or kCancelled for --help/--help-all/--version, with the text to print on stdout as
// its message (print it and exit 0); or another code whose message is for the user: a bad flag,
// an unknown key ("FILE:LINE:COL: unknown key ..."), a YAML syntax error (FILE:LINE:COL), or an
// unreadable file.
absl::Status ParseCommandLine(CLI::App& app, int argc, const char* const* argv);

}  // namespace tachyon
