#pragma once

// Size limits shared by both ends of the wire. Every network read is bounded by these.

#include <cstddef>

namespace tachyon {

// gRPC max receive/send message size on every channel and server.
inline constexpr size_t kMaxMessageBytes = 8u << 20;
// Module arguments of one job, as JSON.
inline constexpr size_t kMaxArgsBytes = 1u << 20;
// stdout/stderr carried inline in one result (each).
inline constexpr size_t kMaxInlineOutputBytes = 1u << 20;
// Hello: groups and their names.
inline constexpr size_t kMaxGroups = 64;
inline constexpr size_t kMaxGroupNameBytes = 128;
inline constexpr size_t kMaxFactsBytes = 64u << 10;
inline constexpr size_t kMaxKnownJids = 100000;
// Ad-hoc exec.
inline constexpr size_t kMaxPatternBytes = 4096;
inline constexpr size_t kMaxArgv = 4096;
// `tachyon run`: the uploaded playbook directory (all files, their paths included) must fit in
// one message, and so many files at most.
inline constexpr size_t kMaxBundleBytes = 7u << 20;
inline constexpr size_t kMaxBundleFiles = 10000;
// Events replayed per read of the log.
inline constexpr size_t kEventPageSize = 512;

}  // namespace tachyon
