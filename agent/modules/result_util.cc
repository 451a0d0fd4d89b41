#include "agent/modules/result_util.h"

#include <cstdint>

#include "absl/strings/str_format.h"
#include "agent/modules/os_util.h"

namespace tachyon::modules {

std::string FormatPythonDatetime(absl::Time t, absl::TimeZone tz) {
  absl::TimeZone::CivilInfo ci = tz.At(t);
  int64_t micros = absl::ToInt64Microseconds(ci.subsecond);
  std::string out = absl::StrFormat("%04d-%02d-%02d %02d:%02d:%02d", ci.cs.year(), ci.cs.month(),
                                    ci.cs.day(), ci.cs.hour(), ci.cs.minute(), ci.cs.second());
  if (micros != 0) absl::StrAppendFormat(&out, ".%06d", micros);
  return out;
}

std::string FormatPythonTimedelta(absl::Duration d) {
  int64_t total_us = absl::ToInt64Microseconds(d);
  // Python normalises so that only `days` carries the sign; 0 <= seconds < 86400.
  int64_t days = total_us / 86400000000LL;
  int64_t rem = total_us % 86400000000LL;
  if (rem < 0) {
    rem += 86400000000LL;
    days -= 1;
  }
  int64_t us = rem % 1000000;
  int64_t secs = rem / 1000000;
  std::string out;
  if (days != 0) {
    absl::StrAppendFormat(&out, "%d day%s, ", days, (days == 1 || days == -1) ? "" : "s");
  }
  absl::StrAppendFormat(&out, "%d:%02d:%02d", secs / 3600, (secs / 60) % 60, secs % 60);
  if (us != 0) absl::StrAppendFormat(&out, ".%06d", us);
  return out;
}

namespace {

// Length of the valid UTF-8 sequence starting at s[i], 0 if invalid, -1 if it is a valid
// prefix cut off by the end of the input.
int Utf8SequenceLength(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  if (c < 0x80) return 1;
  int len;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  for (int k = 1; k < len; ++k) {
    if (i + k >= s.size()) return -1;
    unsigned char b = byte(i + k);
    unsigned char min = k == 1 ? lo : 0x80;
    unsigned char max = k == 1 ? hi : 0xBF;
    if (b < min || b > max) return 0;
  }
  return len;
}

}  // namespace

std::string SanitizeUtf8(std::string_view bytes, bool drop_partial_tail) {
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    int len = Utf8SequenceLength(bytes, i);
    if (len > 0) {
      out.append(bytes.substr(i, static_cast<size_t>(len)));
      i += static_cast<size_t>(len);
    } else if (len < 0 && drop_partial_tail) {
      break;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
  }
  return out;
}

std::vector<std::string> PythonSplitLines(std::string_view text) {
  std::vector<std::string> lines;
  size_t start = 0;
  size_t i = 0;
  while (i < text.size()) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    size_t sep = 0;
    if (c == '\n' || c == '\v' || c == '\f' || c == 0x1c || c == 0x1d || c == 0x1e) {
      sep = 1;
    } else if (c == '\r') {
      sep = (i + 1 < text.size() && text[i + 1] == '\n') ? 2 : 1;
    } else if (c == 0xC2 && i + 1 < text.size() &&
               static_cast<unsigned char>(text[i + 1]) == 0x85) {
      sep = 2;
    } else if (c == 0xE2 && i + 2 < text.size() &&
               static_cast<unsigned char>(text[i + 1]) == 0x80 &&
               (static_cast<unsigned char>(text[i + 2]) == 0xA8 ||
                static_cast<unsigned char>(text[i + 2]) == 0xA9)) {
      sep = 3;
    }
    if (sep == 0) {
      ++i;
      continue;
    }
    lines.emplace_back(text.substr(start, i - start));
    i += sep;
    start = i;
  }
  if (start < text.size()) lines.emplace_back(text.substr(start));
  return lines;
}

std::string RStripNewlines(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

nlohmann::json LowLevelExecuteResult(const ProcessOutcome& outcome) {
  nlohmann::json r = {{"changed", true}};
  r["stdout"] = SanitizeUtf8(outcome.stdout_data, outcome.stdout_truncated);
  r["stderr"] = SanitizeUtf8(outcome.stderr_data, outcome.stderr_truncated);
  if (outcome.stdout_truncated) r["stdout_truncated"] = true;
  if (outcome.stderr_truncated) r["stderr_truncated"] = true;
  r["rc"] = outcome.exec_errno != 0 ? outcome.exec_errno : outcome.ReturnCode();
  AddOutputLines(&r);
  if (outcome.exec_errno != 0) {
    r["failed"] = true;
    r["msg"] = OsErrorText(outcome.exec_errno, "/bin/sh");
  } else if (outcome.ReturnCode() != 0) {
    r["failed"] = true;
    r["msg"] = "non-zero return code";
  }
  return r;
}

}  // namespace tachyon::modules
