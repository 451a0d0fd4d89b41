#pragma once

// File handling shared by copy, file, stat, lineinfile and wait_for, with Ansible's semantics
// and messages (module_utils/basic.py: add_path_info, set_*_if_different, backup_local,
// atomic_move).

#include <sys/stat.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/modules/args.h"
#include "nlohmann/json.hpp"

namespace tachyon::modules {

// `spec` plus Ansible's add_file_common_args: mode, owner, group, attributes (attr), selevel,
// serole, setype, seuser, unsafe_writes (the SELinux ones and attributes are accepted and
// ignored).
std::vector<ArgSpec> WithFileCommonArgs(std::vector<ArgSpec> spec);

// The user / group name of an id, or the id as a string when it has no name (as Ansible).
std::string UserName(uid_t uid);
std::string GroupName(gid_t gid);

// '0%03o' % S_IMODE(mode): "0644", "04755".
std::string ModeString(mode_t mode);

// The permission bits a `mode` argument asks for, given the path's current st_mode: an int
// (taken as is, like YAML's 0644), an octal string ("0644", "644") or a symbolic one
// ("u+x,g-w", "a=rX"). InvalidArgument "bad symbolic permission for mode: X" otherwise.
absl::StatusOr<mode_t> ResolveMode(const nlohmann::json& mode, mode_t current);

// 0666 & ~umask: the mode of a new file, as Python's open() would create it.
mode_t DefaultFileMode();
// 0777 & ~umask: the mode of a new directory.
mode_t DefaultDirMode();

// Ansible's add_path_info: adds uid, gid, owner, group, mode, state (file, directory, link,
// hard when nlink > 1), size of an existing path (lstat) to `result`, or state: absent.
void AddPathInfo(const std::string& path, nlohmann::json* result);

// The owner/group/mode arguments common to file-writing modules.
struct FileAttrs {
  std::optional<nlohmann::json> mode;  // "preserve" is dropped by FileAttrsFromArgs
  std::optional<std::string> owner;
  std::optional<std::string> group;
};
FileAttrs FileAttrsFromArgs(const nlohmann::json& args);

// Ansible's set_fs_attributes_if_different: changes owner, group and mode where they differ
// (follow: on the link's target, else on the link itself). In check mode nothing changes but
// the answer is the same. `diff` (may be null) gets before/after entries for what differs.
// Errors carry Ansible's message ("chown failed: failed to look up user x",
// "mode must be in octal or symbolic form" with the detail after a newline).
absl::StatusOr<bool> ApplyFileAttrs(const std::string& path, const FileAttrs& attrs, bool follow,
                                    bool check_mode, nlohmann::json* diff);

// The failure result for an ApplyFileAttrs error: msg, and details when the error has them.
nlohmann::json FileAttrFailure(const absl::Status& status, const std::string& path);

// Hex digest of data or of a file's content. `algorithm`: md5, sha1, sha224, sha256, sha384,
// sha512.
absl::StatusOr<std::string> DigestOf(std::string_view data, const std::string& algorithm);
absl::StatusOr<std::string> FileDigest(const std::string& path, const std::string& algorithm);

// Ansible's backup_local: copies `path` (mode, owner and times kept) to
// PATH.PID.YYYY-MM-DD@HH:MM:SS~ and returns that name.
absl::StatusOr<std::string> BackupFile(const std::string& path);

// Replaces `dest` atomically with `data`: a 0600 temp file in dest's directory, fsync, then
// the mode and ownership of the existing dest (or DefaultFileMode() for a new file), rename,
// fsync of the directory. Returns the temp name that was used (Ansible's "src").
absl::StatusOr<std::string> ReplaceFile(const std::string& dest, std::string_view data);

// Reads a whole regular file, at most `max_bytes`.
absl::StatusOr<std::string> ReadWholeFile(const std::string& path, size_t max_bytes = 256u << 20);

// Python's os.path.dirname / basename.
std::string DirName(const std::string& path);
std::string BaseName(const std::string& path);

}  // namespace tachyon::modules
