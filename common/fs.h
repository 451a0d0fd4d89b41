#pragma once

// File helpers that every component shares: atomic, permission-tight writes and bounded reads.

#include <sys/types.h>

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tachyon {

// How much a write must survive. kDurable: power loss and kernel panics too (fsync of the file
// before the rename, and of its directory after). kCrashSafe: a crash of any process, not of
// the machine (no fsync; the rename still makes the write all-or-nothing). Use kCrashSafe only
// for files that describe live processes (pid files, a running job's status), which a power
// loss makes meaningless anyway: each fsync costs from 0.15 ms on an idle disk to 10 ms on a
// busy one.
enum class Durability { kDurable, kCrashSafe };

// Writes `data` to `path` atomically: a temp file in the same directory, (fsync,) rename,
// (then fsync of the directory). The file is created with `mode` (default 0600).
absl::Status WriteFileAtomic(const std::string& path, const std::string& data, mode_t mode = 0600,
                             Durability durability = Durability::kDurable);

// Reads a whole file, refusing files larger than `max_bytes`.
absl::StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes = 64u << 20);

// Reads at most `max_bytes` from the start of a file; sets *truncated when the file is longer.
absl::StatusOr<std::string> ReadFilePrefix(const std::string& path, size_t max_bytes,
                                           bool* truncated);

// mkdir -p with `mode` for every directory created.
absl::Status MakeDirs(const std::string& path, mode_t mode = 0700);

// rm -rf; a missing path is OK.
absl::Status RemoveTree(const std::string& path);

bool PathExists(const std::string& path);

// This process's executable (/proc/self/exe), or `fallback` when it cannot be read; the
// daemons re-exec themselves as job shims.
std::string SelfExePath(const std::string& fallback);
// stat(2) follows links: a link to a directory is a directory here.
bool IsDirectory(const std::string& path);
bool IsRegularFile(const std::string& path);

// An errno value as a Status, with context: "open /x: No such file or directory".
absl::Status ErrnoStatus(int err, const std::string& what);

}  // namespace tachyon
