// The stat module (ansible.builtin.stat). get_mime runs `file --mime-type --mime-encoding`
// as Ansible does ("unknown" when there is no `file` program or it fails); get_attributes
// reads what `lsattr -vd` prints (Ansible runs lsattr) with the FS_IOC_GETVERSION and
// FS_IOC_GETFLAGS ioctls: version (a string), attr_flags in lsattr's order, attributes by
// name; null / "" / [] where the file system (or the file type) does not support them.

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "agent/modules/args.h"
#include "agent/modules/file_util.h"
#include "agent/modules/module.h"
#include "agent/modules/os_util.h"

namespace tachyon::modules {
namespace {

const std::vector<ArgSpec>& StatSpec() {
  static const auto* spec = new std::vector<ArgSpec>{
      {"path", ArgType::kPath, true, {"dest", "name"}},
      {"follow", ArgType::kBool},
      {"get_checksum", ArgType::kBool},
      {"get_md5", ArgType::kBool},
      {"checksum_algorithm",
       ArgType::kStr,
       false,
       {"checksum", "checksum_algo"},
       {"md5", "sha1", "sha224", "sha256", "sha384", "sha512"}},
      {"get_mime", ArgType::kBool, false, {"mime", "mime_type", "mime-type"}},
      {"get_attributes", ArgType::kBool, false, {"attr", "attributes"}},
  };
  return *spec;
}

// e2fsprogs' lib/e2p/pf.c flags_array: the order lsattr prints flags in.
struct AttrFlag {
  unsigned int bit;
  char letter;
};
constexpr AttrFlag kAttrFlags[] = {
    {0x00000001, 's'}, {0x00000002, 'u'}, {0x00000008, 'S'}, {0x00010000, 'D'},
    {0x00000010, 'i'}, {0x00000020, 'a'}, {0x00000040, 'd'}, {0x00000080, 'A'},
    {0x00000004, 'c'}, {0x00000800, 'E'}, {0x00004000, 'j'}, {0x00001000, 'I'},
    {0x00008000, 't'}, {0x00020000, 'T'}, {0x00080000, 'e'}, {0x00800000, 'C'},
    {0x02000000, 'x'}, {0x40000000, 'F'}, {0x10000000, 'N'}, {0x20000000, 'P'},
    {0x00100000, 'V'}, {0x00000400, 'm'},
};

// module_utils/common/file.py FILE_ATTRIBUTES (letters without a name are left out).
const char* AttrName(char c) {
  switch (c) {
    case 'A': return "noatime";
    case 'a': return "append";
    case 'c': return "compressed";
    case 'C': return "nocow";
    case 'd': return "nodump";
    case 'D': return "dirsync";
    case 'e': return "extents";
    case 'E': return "encrypted";
    case 'h': return "blocksize";
    case 'i': return "immutable";
    case 'I': return "indexed";
    case 'j': return "journalled";
    case 'N': return "inline";
    case 's': return "zero";
    case 'S': return "synchronous";
    case 't': return "notail";
    case 'T': return "blockroot";
    case 'u': return "undelete";
    case 'X': return "compressedraw";
    case 'Z': return "compresseddirty";
    default: return nullptr;
  }
}

void AddFileAttributes(const std::string& path, nlohmann::json* out) {
  (*out)["version"] = nullptr;
  (*out)["attributes"] = nlohmann::json::array();
  (*out)["attr_flags"] = "";
  // lsattr (fgetflags/fgetversion) only handles regular files and directories, opened without
  // following a final symlink; it prints nothing unless both ioctls work.
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) return;
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return;
  unsigned int version = 0;
  int flags = 0;
  bool ok = ::ioctl(fd, FS_IOC_GETVERSION, &version) == 0 &&
            ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
  ::close(fd);
  if (!ok) return;
  std::string letters;
  nlohmann::json names = nlohmann::json::array();
  for (const AttrFlag& f : kAttrFlags) {
    if ((static_cast<unsigned int>(flags) & f.bit) == 0) continue;
    letters.push_back(f.letter);
    if (const char* name = AttrName(f.letter)) names.push_back(name);
  }
  (*out)["version"] = std::to_string(version);
  (*out)["attr_flags"] = letters;
  (*out)["attributes"] = names;
}

void AddMimeType(const std::string& path, nlohmann::json* out) {
  (*out)["mimetype"] = "unknown";
  (*out)["charset"] = "unknown";
  // out.rsplit(':', 1)[1].split(';') must give exactly two parts, as Ansible unpacks them.
  CommandOutput r = RunCommand({"file", "--mime-type", "--mime-encoding", path}, absl::Seconds(60));
  if (r.exec_errno != 0 || r.rc != 0) return;
  size_t colon = r.stdout_data.rfind(':');
  if (colon == std::string::npos) return;
  std::string rest = r.stdout_data.substr(colon + 1);
  size_t semi = rest.find(';');
  if (semi == std::string::npos || rest.find(';', semi + 1) != std::string::npos) return;
  std::string charset = rest.substr(semi + 1);
  size_t eq = charset.find('=');
  if (eq == std::string::npos) return;
  size_t eq2 = charset.find('=', eq + 1);
  (*out)["mimetype"] = std::string(absl::StripAsciiWhitespace(rest.substr(0, semi)));
  (*out)["charset"] = std::string(absl::StripAsciiWhitespace(
      charset.substr(eq + 1, eq2 == std::string::npos ? std::string::npos : eq2 - eq - 1)));
}

double Seconds(const struct timespec& ts) {
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

class StatModule : public InlineModule {
 public:
  std::string_view Name() const override { return "stat"; }

  absl::Status Validate(const nlohmann::json& args) const override {
    return ParseArgs(Name(), args, StatSpec()).status();
  }

  Prepared Prepare(const nlohmann::json& args, const std::string& cwd) const override {
    Prepared p;
    nlohmann::json a = ParseArgs(Name(), args, StatSpec()).value_or(nlohmann::json::object());
    p.result = {{"changed", false}, {"stat", Stat(a)}};
    return p;
  }

 private:
  static nlohmann::json Stat(const nlohmann::json& a) {
    std::string path = StrArg(a, "path").value_or("");
    bool follow = Flag(a, "follow");
    struct stat st;
    int rc = follow ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st);
    if (rc != 0) return {{"exists", false}};
    mode_t m = st.st_mode;
    nlohmann::json s = {
        {"exists", true},
        {"path", path},
        {"mode", ModeString(m)},
        {"isdir", S_ISDIR(m)},
        {"ischr", S_ISCHR(m)},
        {"isblk", S_ISBLK(m)},
        {"isreg", S_ISREG(m)},
        {"isfifo", S_ISFIFO(m)},
        {"islnk", S_ISLNK(m)},
        {"issock", S_ISSOCK(m)},
        {"uid", st.st_uid},
        {"gid", st.st_gid},
        {"size", st.st_size},
        {"inode", st.st_ino},
        {"dev", st.st_dev},
        {"nlink", st.st_nlink},
        {"atime", Seconds(st.st_atim)},
        {"mtime", Seconds(st.st_mtim)},
        {"ctime", Seconds(st.st_ctim)},
        {"wusr", (m & S_IWUSR) != 0},
        {"rusr", (m & S_IRUSR) != 0},
        {"xusr", (m & S_IXUSR) != 0},
        {"wgrp", (m & S_IWGRP) != 0},
        {"rgrp", (m & S_IRGRP) != 0},
        {"xgrp", (m & S_IXGRP) != 0},
        {"woth", (m & S_IWOTH) != 0},
        {"roth", (m & S_IROTH) != 0},
        {"xoth", (m & S_IXOTH) != 0},
        {"isuid", (m & S_ISUID) != 0},
        {"isgid", (m & S_ISGID) != 0},
        {"blocks", st.st_blocks},
        {"block_size", st.st_blksize},
        {"device_type", (S_ISCHR(m) || S_ISBLK(m)) ? st.st_rdev : 0},
        {"readable", ::access(path.c_str(), R_OK) == 0},
        {"writeable", ::access(path.c_str(), W_OK) == 0},
        {"executable", ::access(path.c_str(), X_OK) == 0},
        {"pw_name", UserName(st.st_uid)},
        {"gr_name", GroupName(st.st_gid)},
    };
    if (S_ISLNK(m)) {
      char buf[PATH_MAX];
      ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf));
      if (n >= 0) s["lnk_target"] = std::string(buf, static_cast<size_t>(n));
      char* real = realpath(path.c_str(), nullptr);
      if (real != nullptr) {
        s["lnk_source"] = std::string(real);
        std::free(real);
      }
    }
    if (S_ISREG(m) && Flag(a, "get_checksum", true) && s["readable"].get<bool>()) {
      std::string algorithm = StrArg(a, "checksum_algorithm").value_or("sha1");
      absl::StatusOr<std::string> sum = FileDigest(path, algorithm);
      if (sum.ok()) s["checksum"] = *sum;
    }
    // Both on the path as given (a symlink itself, even with follow), as Ansible does.
    if (Flag(a, "get_mime", true)) AddMimeType(path, &s);
    if (Flag(a, "get_attributes", true)) AddFileAttributes(path, &s);
    return s;
  }
};

}  // namespace

std::unique_ptr<Module> MakeStatModule() { return std::make_unique<StatModule>(); }

}  // namespace tachyon::modules
