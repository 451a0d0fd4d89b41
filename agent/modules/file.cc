// The file module (ansible.builtin.file): states absent, file, directory, touch, link, hard,
// with owner/group/mode (octal or symbolic) and recurse. Results follow Ansible 2.14: `path`
// for absent/file/directory, `dest` (and `src`) for touch/link/hard, plus the path's info
// (uid, gid, owner, group, mode, state, size). Check mode computes `changed` without acting.

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/modules/args.h"
#include "agent/modules/file_util.h"
#include "agent/modules/module.h"
#include "agent/modules/os_util.h"
#include "common/fs.h"

namespace tachyon::modules {
namespace {

const std::vector<ArgSpec>& FileSpec() {
  static const auto* spec = new std::vector<ArgSpec>(WithFileCommonArgs({
      {"path", ArgType::kPath, true, {"dest", "name"}},
      {"state", ArgType::kStr, false, {}, {"absent", "directory", "file", "hard", "link", "touch"}},
      {"src", ArgType::kPath},
      {"recurse", ArgType::kBool},
      {"force", ArgType::kBool},
      {"follow", ArgType::kBool},
      {"modification_time", ArgType::kStr},
      {"modification_time_format", ArgType::kStr},
      {"access_time", ArgType::kStr},
      {"access_time_format", ArgType::kStr},
      {"_original_basename", ArgType::kStr},
      {"_diff_peek", ArgType::kStr},
  }));
  return *spec;
}

// Ansible's get_state: absent, link, directory, hard (a file with nlink > 1) or file.
std::string PathState(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return "absent";
  if (S_ISLNK(st.st_mode)) return "link";
  if (S_ISDIR(st.st_mode)) return "directory";
  if (st.st_nlink > 1) return "hard";
  return "file";
}

// file.py's initial_diff: {before: {path}, after: {path}}, with the states when they differ
// and, for a directory about to be removed, what it holds (os.walk order: each directory's
// subdirectories then its files, top-down, in readdir order).
void WalkList(const std::string& dir, nlohmann::json* dirs, nlohmann::json* files) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  std::vector<std::string> subdirs;
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    std::string full = dir + "/" + name;
    struct stat st;
    // os.walk sorts with DirEntry.is_dir(), which follows symlinks, but only descends into
    // real directories (followlinks=False).
    if (::stat(full.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      dirs->push_back(full);
      struct stat lst;
      if (::lstat(full.c_str(), &lst) == 0 && S_ISDIR(lst.st_mode)) subdirs.push_back(full);
    } else {
      files->push_back(full);
    }
  }
  ::closedir(d);
  for (const auto& sub : subdirs) WalkList(sub, dirs, files);
}

nlohmann::json InitialDiff(const std::string& path, const std::string& state,
                           const std::string& prev) {
  nlohmann::json diff = {{"before", {{"path", path}}}, {"after", {{"path", path}}}};
  if (prev != state) {
    diff["before"]["state"] = prev;
    diff["after"]["state"] = state;
    if (state == "absent" && prev == "directory") {
      nlohmann::json dirs = nlohmann::json::array(), files = nlohmann::json::array();
      WalkList(path, &dirs, &files);
      diff["before"]["path_content"] = {{"directories", dirs}, {"files", files}};
    }
  }
  return diff;
}

double NowSeconds() {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double StatSeconds(const struct timespec& ts) {
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

nlohmann::json Failure(const std::string& msg, const std::string& path) {
  return {{"failed", true}, {"changed", false}, {"msg", msg}, {"path", path}};
}

// Applies attrs to everything below `dir` (not following links), as recurse=yes does.
struct RecurseState {
  const FileAttrs* attrs;
  bool check;
  bool changed = false;
  absl::Status error;
};
RecurseState* g_recurse = nullptr;  // nftw has no user pointer; the shim is single-threaded

int RecurseVisit(const char* path, const struct stat*, int, struct FTW* ftw) {
  if (ftw->level == 0) return 0;
  absl::StatusOr<bool> c =
      ApplyFileAttrs(path, *g_recurse->attrs, false, g_recurse->check, nullptr);
  if (!c.ok()) {
    g_recurse->error = c.status();
    return 1;
  }
  g_recurse->changed |= *c;
  return 0;
}

class FileModule : public InlineModule {
 public:
  std::string_view Name() const override { return "file"; }

  absl::Status Validate(const nlohmann::json& args) const override {
    absl::StatusOr<nlohmann::json> a = ParseArgs(Name(), args, FileSpec());
    if (!a.ok()) return a.status();
    std::string state = StrArg(*a, "state").value_or("");
    if (a->contains("src") && !state.empty() && state != "link" && state != "hard") {
      return absl::InvalidArgumentError("src option requires state to be 'link' or 'hard'");
    }
    if (Flag(*a, "recurse") && !state.empty() && state != "directory") {
      return absl::InvalidArgumentError("recurse option requires state to be 'directory'");
    }
    return absl::OkStatus();
  }

  Prepared Prepare(const nlohmann::json& args, const std::string& cwd) const override {
    Prepared p;
    p.result = Run(ParseArgs(Name(), args, FileSpec()).value_or(nlohmann::json::object()));
    return p;
  }

 private:
  static nlohmann::json Run(const nlohmann::json& a) {
    std::string path = StrArg(a, "path").value_or("");
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    const bool check = CheckMode(a);
    const bool follow = Flag(a, "follow", true);
    const std::string prev = PathState(path);
    std::string state = StrArg(a, "state").value_or("");
    if (state.empty()) {
      if (prev != "absent") {
        state = prev;
      } else if (Flag(a, "recurse")) {
        state = "directory";
      } else {
        state = "file";
      }
    }
    FileAttrs attrs = FileAttrsFromArgs(a);
    if (state == "absent") return Absent(path, prev, check);
    if (state == "file") return File(path, prev, attrs, follow, check);
    if (state == "directory") return Directory(a, path, prev, attrs, follow, check);
    if (state == "touch") return Touch(path, prev, attrs, follow, check);
    return Link(a, path, prev, attrs, state == "hard", check);
  }

  static nlohmann::json Absent(const std::string& path, const std::string& prev, bool check) {
    nlohmann::json r = {{"changed", prev != "absent"}, {"path", path}, {"state", "absent"}};
    if (prev == "absent") return r;
    r["diff"] = InitialDiff(path, "absent", prev);
    if (check) {
      // exit_json's add_path_info: the path still exists, so its info replaces state.
      AddPathInfo(path, &r);
      return r;
    }
    absl::Status st = prev == "directory" ? RemoveTree(path) : absl::OkStatus();
    if (prev != "directory" && ::unlink(path.c_str()) != 0) {
      st = absl::InternalError(OsErrorTextStr(errno, path));
    }
    if (!st.ok()) return Failure(absl::StrCat("rmtree failed: ", st.message()), path);
    return r;
  }

  static nlohmann::json File(const std::string& path, const std::string& prev,
                             const FileAttrs& attrs, bool follow, bool check) {
    if (prev == "absent") {
      return {{"failed", true},
              {"changed", false},
              {"msg", absl::StrCat("file (", path, ") is absent, cannot continue")},
              {"path", path},
              {"state", "absent"}};
    }
    std::string target = path;
    if (prev == "link" && follow) {
      char* real = realpath(path.c_str(), nullptr);
      if (real != nullptr) {
        target = real;
        std::free(real);
      }
    }
    std::string target_state = PathState(target);
    if (target_state != "file" && target_state != "hard") {
      nlohmann::json r = {
          {"failed", true},
          {"changed", false},
          {"msg", absl::StrCat("file (", path, ") is ", target_state, ", cannot continue")},
          {"path", path}};
      AddPathInfo(path, &r);
      return r;
    }
    nlohmann::json diff = InitialDiff(target, "file", target_state);
    return Attributes(target, attrs, follow, check, "path", &diff);
  }

  static nlohmann::json Directory(const nlohmann::json& a, const std::string& path,
                                  const std::string& prev, const FileAttrs& attrs, bool follow,
                                  bool check) {
    bool changed = false;
    std::string target = path;
    std::string target_prev = prev;
    if (prev == "link" && follow) {
      if (char* real = realpath(path.c_str(), nullptr)) {
        target = real;
        std::free(real);
        target_prev = PathState(target);
      }
    }
    nlohmann::json diff = InitialDiff(target, "directory", target_prev);
    if (prev == "absent") {
      changed = true;
      if (check) {
        // add_path_info adds nothing for a missing path: no state.
        return {{"changed", true}, {"path", path}, {"diff", diff}};
      }
      // Each missing component is created and gets the attributes, as Ansible does.
      std::string cur = path[0] == '/' ? "" : ".";
      size_t pos = 0;
      while (pos < path.size()) {
        size_t next = path.find('/', pos + 1);
        if (next == std::string::npos) next = path.size();
        cur = path.substr(0, next);
        pos = next;
        if (cur.empty() || IsDirectory(cur)) continue;
        if (::mkdir(cur.c_str(), DefaultDirMode()) != 0 && errno != EEXIST) {
          return Failure(absl::StrCat("There was an issue creating ", cur,
                                      " as requested: ", OsErrorTextStr(errno, cur)),
                         path);
        }
        absl::StatusOr<bool> c = ApplyFileAttrs(cur, attrs, follow, false, &diff);
        if (!c.ok()) return FileAttrFailure(c.status(), path);
      }
    } else if (prev != "directory" && !(prev == "link" && follow && IsDirectory(path))) {
      return Failure(absl::StrCat(path, " already exists as a ", prev), path);
    }
    if (Flag(a, "recurse")) {
      RecurseState rs{&attrs, check, false, absl::OkStatus()};
      g_recurse = &rs;
      nftw(path.c_str(), RecurseVisit, 16, FTW_PHYS);
      g_recurse = nullptr;
      if (!rs.error.ok()) return FileAttrFailure(rs.error, path);
      changed |= rs.changed;
    }
    // The attributes were set on each new directory above (noted in the diff).
    nlohmann::json r = Attributes(path, attrs, follow, check, "path",
                                  prev == "absent" ? nullptr : &diff);
    if (!r.value("failed", false)) {
      r["changed"] = r["changed"].get<bool>() || changed;
      r["diff"] = diff;
    }
    return r;
  }

  static nlohmann::json Touch(const std::string& path, const std::string& prev,
                              const FileAttrs& attrs, bool follow, bool check) {
    if (check) {
      nlohmann::json r = {{"changed", true}, {"dest", path}};
      AddPathInfo(path, &r);
      if (prev != "absent") r["diff"] = InitialDiff(path, "touch", prev);
      return r;
    }
    if (prev == "absent") {
      int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, DefaultFileMode());
      if (fd < 0) {
        return Failure(absl::StrCat("Error, could not touch target: ", OsErrorTextStr(errno, path)),
                       path);
      }
      ::close(fd);
    }
    // As execute_touch: the attributes, then update_timestamp_for_file with 'now', whose diff
    // has the previous times (stat, float seconds) and the time it set (time.time()).
    nlohmann::json diff = InitialDiff(path, "touch", prev);
    absl::StatusOr<bool> c = ApplyFileAttrs(path, attrs, follow, false, &diff);
    if (!c.ok()) return FileAttrFailure(c.status(), path);
    struct stat before;
    bool have_before = ::stat(path.c_str(), &before) == 0;
    double now = NowSeconds();
    if (::utimensat(AT_FDCWD, path.c_str(), nullptr, follow ? 0 : AT_SYMLINK_NOFOLLOW) != 0) {
      return Failure(absl::StrCat("Error while updating modification or access time: ",
                                  OsErrorTextStr(errno, path)),
                     path);
    }
    if (have_before) {
      double mtime = StatSeconds(before.st_mtim), atime = StatSeconds(before.st_atim);
      if (mtime != now) {
        diff["before"]["mtime"] = mtime;
        diff["after"]["mtime"] = now;
      }
      if (atime != now) {
        diff["before"]["atime"] = atime;
        diff["after"]["atime"] = now;
      }
    }
    nlohmann::json r = {{"changed", true}, {"dest", path}};
    AddPathInfo(path, &r);
    r["diff"] = diff;
    return r;
  }

  static nlohmann::json Link(const nlohmann::json& a, const std::string& path,
                             const std::string& prev, const FileAttrs& attrs, bool hard,
                             bool check) {
    std::optional<std::string> src = StrArg(a, "src");
    const bool force = Flag(a, "force");
    const char* kind = hard ? "hard link" : "symlink";
    if (!src) {
      if (!hard && prev == "link") {
        char buf[PATH_MAX];
        ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf));
        nlohmann::json r = {{"changed", false}, {"dest", path}};
        r["src"] = n >= 0 ? nlohmann::json(std::string(buf, static_cast<size_t>(n))) : nullptr;
        AddPathInfo(path, &r);
        r["diff"] = InitialDiff(path, "link", prev);
        return r;
      }
      return Failure(
          absl::StrCat("src is required for creating new ", hard ? "hardlinks" : "symlinks"), path);
    }
    // A relative symlink source is relative to the link's directory.
    std::string abs_src = *src;
    if (!hard && !abs_src.empty() && abs_src[0] != '/') {
      std::string dir = DirName(path);
      abs_src = (dir.empty() ? "." : dir) + "/" + abs_src;
    }
    bool src_exists = PathExists(abs_src) || PathState(abs_src) == "link";
    if (hard && !src_exists) return Failure("src does not exist", path);
    if (!hard && !src_exists && !force) {
      return Failure(absl::StrCat("src file does not exist, use \"force=yes\" if you really want "
                                  "to create the link: ",
                                  abs_src),
                     path);
    }
    bool changed = false;
    bool replace = false;
    nlohmann::json diff = InitialDiff(path, hard ? "hard" : "link", prev);
    if (prev == "absent") {
      changed = true;
    } else if (prev == "link") {
      // A link replaced by another link (or by a hard link): the diff shows both targets.
      char buf[PATH_MAX];
      ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf));
      std::string old = n >= 0 ? std::string(buf, static_cast<size_t>(n)) : "";
      if (n < 0 || old != *src) {
        changed = replace = true;
        diff["before"]["src"] = old;
        diff["after"]["src"] = *src;
      }
    } else if (hard && (prev == "hard" || prev == "file")) {
      struct stat a_st, b_st;
      bool same = ::stat(path.c_str(), &a_st) == 0 && ::stat(src->c_str(), &b_st) == 0 &&
                  a_st.st_dev == b_st.st_dev && a_st.st_ino == b_st.st_ino;
      if (!same) {
        if (prev == "file" && !force) {
          return Failure(absl::StrCat("refusing to convert from file to hard link for ", path),
                         path);
        }
        changed = replace = true;
      }
    } else if (prev == "directory") {
      if (!force) {
        return Failure(absl::StrCat("refusing to convert from directory to ", kind, " for ", path),
                       path);
      }
      if (!check && ::rmdir(path.c_str()) != 0) {
        return Failure(
            absl::StrCat("the directory ", path, " is not empty, refusing to convert it"), path);
      }
      changed = true;
    } else {
      if (!force) {
        return Failure(absl::StrCat("refusing to convert from ", prev, " to ", kind, " for ", path),
                       path);
      }
      changed = replace = true;
    }
    if (changed && !check) {
      // A temp name and a rename, so the path never goes missing when a link is replaced.
      std::string tmp = replace ? absl::StrCat(path, ".", getpid(), ".tachyon_tmp") : path;
      int rc = hard ? ::link(src->c_str(), tmp.c_str()) : ::symlink(src->c_str(), tmp.c_str());
      if (rc != 0) {
        return Failure(absl::StrCat("Error while linking: ", OsErrorTextStr(errno, path)), path);
      }
      if (replace && ::rename(tmp.c_str(), path.c_str()) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        return Failure(absl::StrCat("Error while replacing: ", OsErrorTextStr(err, path)), path);
      }
    }
    if (!check || prev != "absent") {
      bool exists = PathState(path) != "absent";
      if (exists) {
        absl::StatusOr<bool> c = ApplyFileAttrs(path, attrs, hard, check, &diff);
        if (!c.ok()) return FileAttrFailure(c.status(), path);
        changed |= *c;
      }
    }
    nlohmann::json r = {{"changed", changed}, {"dest", path}, {"src", *src}};
    AddPathInfo(path, &r);
    r["diff"] = diff;
    return r;
  }

  // Sets the attributes and reports the path's info under `key` ("path" or "dest").
  static nlohmann::json Attributes(const std::string& path, const FileAttrs& attrs, bool follow,
                                   bool check, const char* key, nlohmann::json* diff) {
    absl::StatusOr<bool> c = ApplyFileAttrs(path, attrs, follow, check, diff);
    if (!c.ok()) {
      nlohmann::json r = FileAttrFailure(c.status(), path);
      AddPathInfo(path, &r);
      return r;
    }
    nlohmann::json r = {{"changed", *c}, {key, path}};
    AddPathInfo(path, &r);
    if (diff != nullptr) r["diff"] = *diff;
    return r;
  }
};

}  // namespace

std::unique_ptr<Module> MakeFileModule() { return std::make_unique<FileModule>(); }

}  // namespace tachyon::modules
