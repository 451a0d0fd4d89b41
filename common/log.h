#pragma once

// A tiny logging facade: one line per event on stderr, as text or JSON.
// Abseil 20220623 has no absl/log, and the daemons need `--log-format json`.

#include <sstream>
#include <string>
#include <string_view>

namespace tachyon {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };
enum class LogFormat { kText, kJson };

void SetLogFormat(LogFormat format);
void SetLogLevel(LogLevel level);
// Names the process in every line ("controller", "agent", "cli").
void SetLogComponent(std::string component);
bool LogEnabled(LogLevel level);

// Collects one message and writes it with a single write(2) when destroyed.
class LogLine {
 public:
  LogLine(LogLevel level, const char* file, int line);
  ~LogLine();
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;
  std::ostream& stream() { return stream_; }

 private:
  LogLevel level_;
  const char* file_;
  int line_;
  std::ostringstream stream_;
};

}  // namespace tachyon

// A for-statement (not an if/else) so `if (x) TLOG(Info) << ...;` never dangles an else.
#define TLOG(level)                                                                   \
  for (bool tachyon_log_once_ = ::tachyon::LogEnabled(::tachyon::LogLevel::k##level); \
       tachyon_log_once_; tachyon_log_once_ = false)                                  \
  ::tachyon::LogLine(::tachyon::LogLevel::k##level, __FILE__, __LINE__).stream()
