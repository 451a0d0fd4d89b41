#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace tachyon {
namespace {

std::atomic<LogFormat> g_format{LogFormat::kText};
std::atomic<LogLevel> g_level{LogLevel::kInfo};
std::string* g_component = new std::string("tachyon");

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

const char* Basename(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash ? slash + 1 : path;
}

}  // namespace

void SetLogFormat(LogFormat format) { g_format = format; }
void SetLogLevel(LogLevel level) { g_level = level; }
void SetLogComponent(std::string component) { *g_component = std::move(component); }
bool LogEnabled(LogLevel level) { return level >= g_level.load(); }

LogLine::LogLine(LogLevel level, const char* file, int line)
    : level_(level), file_(file), line_(line) {}

LogLine::~LogLine() {
  std::string ts = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  std::string out;
  if (g_format.load() == LogFormat::kJson) {
    nlohmann::json j = {{"ts", ts},
                        {"level", LevelName(level_)},
                        {"component", *g_component},
                        {"src", std::string(Basename(file_)) + ":" + std::to_string(line_)},
                        {"msg", stream_.str()}};
    out = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    out = ts + " " + LevelName(level_) + " " + *g_component + " " + Basename(file_) + ":" +
          std::to_string(line_) + "] " + stream_.str();
  }
  out.push_back('\n');
  // One write keeps concurrent lines whole; a failed log write has nowhere to be reported.
  ssize_t ignored = ::write(STDERR_FILENO, out.data(), out.size());
  (void)ignored;
}

}  // namespace tachyon
