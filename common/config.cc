#include "common/config.h"

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/fs.h"
#include "common/status.h"

namespace tachyon {
namespace {

// Config files are a page of flags; anything this large is a mistake.
constexpr size_t kMaxConfigBytes = 1u << 20;

// Keys that make no sense in a file: they would recurse or end the program.
bool IsReservedKey(const std::string& key) {
  return key == "config" || key == "help" || key == "help-all" || key == "version";
}

std::string Where(const std::string& path, const YAML::Mark& mark) {
  // yaml-cpp counts from 0; editors and compilers count from 1.
  if (mark.is_null()) return path;
  return absl::StrCat(path, ":", mark.line + 1, ":", mark.column + 1);
}

// One parse of `args` (argv[0] included). CLI11 reports everything, help included, by throwing;
// here it becomes a Status.
absl::Status ParseOnce(CLI::App& app, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  argv.reserve(args.size());
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::CallForHelp&) {
    // help() shows the subcommand that was being parsed, as CLI11's own exit() does.
    return absl::CancelledError(app.help());
  } catch (const CLI::CallForAllHelp&) {
    return absl::CancelledError(app.help("", CLI::AppFormatMode::All));
  } catch (const CLI::CallForVersion& e) {
    return absl::CancelledError(absl::StrCat(e.what(), "\n"));
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return absl::CancelledError("");
    return absl::InvalidArgumentError(
        absl::StrCat(e.what(), "\nRun with --help for more information."));
  } catch (const CLI::Error& e) {
    return absl::InvalidArgumentError(e.what());
  }
  return absl::OkStatus();
}

// The option a config key names, and the spelling to pass it by: `state-dir` or `state_dir` ->
// "--state-dir". The key's own spelling is kept so that `no-color: true` means --no-color.
CLI::Option* FindOption(CLI::App& app, const std::string& key, std::string* flag) {
  for (const std::string& name : {"--" + key, "--" + absl::StrReplaceAll(key, {{"_", "-"}})}) {
    if (CLI::Option* opt = app.get_option_no_throw(name)) {
      *flag = name;
      return opt;
    }
  }
  return nullptr;
}

// Turns one key's value into command-line words, "--name=value" so that a value starting with a
// dash is never mistaken for an option.
absl::Status AppendArgs(const std::string& path, const std::string& key, const std::string& name,
                        const YAML::Node& value, const CLI::Option& opt,
                        std::vector<std::string>* out) {
  const bool is_flag = opt.get_expected_max() == 0;
  auto scalar = [&](const YAML::Node& node) -> absl::Status {
    if (!node.IsScalar()) {
      return absl::InvalidArgumentError(
          absl::StrCat(Where(path, node.Mark()), ": key \"", key, "\": expected ",
                       is_flag ? "true or false" : "a value", ", not a mapping or list"));
    }
    if (is_flag) {
      bool on = false;
      if (!YAML::convert<bool>::decode(node, on)) {
        return absl::InvalidArgumentError(absl::StrCat(Where(path, node.Mark()), ": key \"", key,
                                                       "\" is a flag: expected true or false"));
      }
      // CLI11 accepts an explicit value on a flag, so `false` can turn off a default-on flag.
      out->push_back(on ? name : name + "=false");
      return absl::OkStatus();
    }
    out->push_back(absl::StrCat(name, "=", node.Scalar()));
    return absl::OkStatus();
  };

  if (value.IsNull()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(path, value.Mark()), ": key \"", key, "\" has no value"));
  }
  if (value.IsSequence()) {
    if (opt.get_items_expected_max() <= 1 && !is_flag) {
      return absl::InvalidArgumentError(absl::StrCat(
          Where(path, value.Mark()), ": key \"", key, "\" takes one value, not a list"));
    }
    if (is_flag) {
      return absl::InvalidArgumentError(absl::StrCat(Where(path, value.Mark()), ": key \"", key,
                                                     "\" is a flag: expected true or false"));
    }
    for (const YAML::Node& item : value) RETURN_IF_ERROR(scalar(item));
    return absl::OkStatus();
  }
  return scalar(value);
}

// Reads `path` and returns the arguments it contributes: only for options that the command line
// left unset, so that a flag beats the file.
absl::StatusOr<std::vector<std::string>> ArgsFromConfigFile(CLI::App& app,
                                                            const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path, kMaxConfigBytes);
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        absl::StrCat("cannot read config file: ", text.status().message()));
  }
  YAML::Node root;
  try {
    root = YAML::Load(*text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(path, e.mark), ": invalid YAML: ", e.msg));
  }
  std::vector<std::string> args;
  if (root.IsNull()) return args;  // an empty file sets nothing
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(absl::StrCat(
        Where(path, root.Mark()), ": a config file must be a mapping of option names to values"));
  }
  try {
    for (const auto& entry : root) {
      const YAML::Node& key_node = entry.first;
      if (!key_node.IsScalar()) {
        return absl::InvalidArgumentError(
            absl::StrCat(Where(path, key_node.Mark()), ": keys must be option names"));
      }
      const std::string key = key_node.Scalar();
      std::string name;
      CLI::Option* opt = IsReservedKey(key) ? nullptr : FindOption(app, key, &name);
      if (opt == nullptr || opt == app.get_help_ptr() || opt == app.get_version_ptr()) {
        return absl::InvalidArgumentError(absl::StrCat(Where(path, key_node.Mark()),
                                                       ": unknown key \"", key,
                                                       "\" in config file ", path));
      }
      if (opt->count() > 0) continue;  // given on the command line: it wins
      RETURN_IF_ERROR(AppendArgs(path, key, name, entry.second, *opt, &args));
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(Where(path, e.mark), ": ", e.msg));
  }
  return args;
}

}  // namespace

absl::Status ParseCommandLine(CLI::App& app, int argc, const char* const* argv) {
  std::vector<std::string> args(argv, argv + argc);
  if (args.empty()) args.push_back(app.get_name());
  CLI::Option* config = app.get_option_no_throw("--config");
  if (config == nullptr) return ParseOnce(app, args);

  absl::Status first = ParseOnce(app, args);
  if (absl::IsCancelled(first)) return first;
  // A required flag may be missing only because the file has it: CLI11 checks requirements
  // after it has counted every argument, so the counts below are complete either way, and the
  // second parse reports whatever error is still real.
  if (config->count() == 0) return first;
  const std::string path = config->results().back();

  ASSIGN_OR_RETURN(std::vector<std::string> file_args, ArgsFromConfigFile(app, path));
  std::vector<std::string> merged;
  merged.reserve(args.size() + file_args.size());
  merged.push_back(args[0]);
  merged.insert(merged.end(), file_args.begin(), file_args.end());
  merged.insert(merged.end(), args.begin() + 1, args.end());
  app.clear();
  absl::Status second = ParseOnce(app, merged);
  if (!second.ok() && !absl::IsCancelled(second) && !file_args.empty()) {
    // The bad value may have come from the file; say so, since CLI11's message cannot.
    return absl::Status(second.code(), absl::StrCat(second.message(),
                                                    "\n(Values were also read from config file ",
                                                    path, ".)"));
  }
  return second;
}

}  // namespace tachyon
