// The stat module (ansible.builtin.stat). Leaves out what needs more than stat(2) and a
// digest: mimetype/charset (get_mime), attributes/attr_flags/version (get_attributes: lsattr).

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "agent/modules/args.h"
#include "agent/modules/file_util.h"
#include "agent/modules/module.h"

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
    return s;
  }
};

}  // namespace

std::unique_ptr<Module> MakeStatModule() { return std::make_unique<StatModule>(); }

}  // namespace tachyon::modules
