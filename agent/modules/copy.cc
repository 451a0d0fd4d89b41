// The copy module (ansible.builtin.copy), also what `template` runs on the host: the
// controller renders the template (or reads copy's `src` from its files) and sends the bytes
// as `_tachyon_content_b64` with the source's base name in `_tachyon_src_name`. With
// `remote_src: true` the controller leaves `src` alone and it names a file on this host.
// Everything happens in Prepare: no process is started.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "agent/modules/args.h"
#include "agent/modules/file_util.h"
#include "agent/modules/module.h"
#include "agent/modules/os_util.h"
#include "agent/modules/result_util.h"
#include "agent/modules/shlex.h"
#include "common/fs.h"

namespace tachyon::modules {
namespace {

// A text diff is left out above this size, as Ansible's max_diff_size (104448) does.
constexpr size_t kMaxDiffBytes = 104448;

const std::vector<ArgSpec>& CopySpec() {
  static const auto* spec = new std::vector<ArgSpec>(WithFileCommonArgs({
      {"_original_basename", ArgType::kStr},
      {"_tachyon_content_b64", ArgType::kStr},
      {"_tachyon_src_name", ArgType::kStr},
      {"backup", ArgType::kBool},
      {"checksum", ArgType::kStr},
      {"content", ArgType::kRaw},
      {"dest", ArgType::kPath},
      {"directory_mode", ArgType::kRaw},
      {"follow", ArgType::kBool},
      {"force", ArgType::kBool, false, {"thirsty"}},
      {"local_follow", ArgType::kBool},
      {"remote_src", ArgType::kBool},
      {"src", ArgType::kPath},
      {"validate", ArgType::kStr},
  }));
  return *spec;
}

bool IsText(const std::string& s) {
  return s.size() <= kMaxDiffBytes && s.find('\0') == std::string::npos && SanitizeUtf8(s) == s;
}

nlohmann::json Fail(const std::string& msg) {
  return {{"failed", true}, {"changed", false}, {"msg", msg}};
}

class CopyModule : public InlineModule {
 public:
  std::string_view Name() const override { return "copy"; }

  absl::Status Validate(const nlohmann::json& args) const override {
    absl::StatusOr<nlohmann::json> a = ParseArgs(Name(), args, CopySpec());
    if (!a.ok()) return a.status();
    if (!a->contains("dest")) return absl::InvalidArgumentError("dest is required");
    bool have_b64 = a->contains("_tachyon_content_b64");
    bool have_content = a->contains("content");
    bool have_src = a->contains("src");
    if (!have_b64 && !have_content && !have_src) {
      return absl::InvalidArgumentError("src (or content) is required");
    }
    if (have_content && (have_src || have_b64)) {
      return absl::InvalidArgumentError("src and content are mutually exclusive");
    }
    if (have_b64) {
      std::string data;
      if (!absl::Base64Unescape(*StrArg(*a, "_tachyon_content_b64"), &data)) {
        return absl::InvalidArgumentError("_tachyon_content_b64 is not valid base64");
      }
    }
    if (auto v = StrArg(*a, "validate"); v && v->find("%s") == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("validate must contain %s: ", *v));
    }
    if (a->contains("mode")) {
      absl::StatusOr<mode_t> m = ResolveMode((*a)["mode"], S_IFREG | 0644);
      if (!m.ok() && (*a)["mode"] != "preserve") {
        return absl::InvalidArgumentError(
            absl::StrCat("mode must be in octal or symbolic form: ", m.status().message()));
      }
    }
    return absl::OkStatus();
  }

  Prepared Prepare(const nlohmann::json& args, const std::string& cwd) const override {
    Prepared p;
    p.result = Run(ParseArgs(Name(), args, CopySpec()).value_or(nlohmann::json::object()));
    return p;
  }

 private:
  static nlohmann::json Run(const nlohmann::json& a) {
    const bool check = CheckMode(a);
    const bool want_diff = DiffMode(a);
    std::string dest = StrArg(a, "dest").value_or("");
    const bool from_content = a.contains("content");
    std::string data;
    std::string src_name = StrArg(a, "_tachyon_src_name").value_or("");
    if (from_content) {
      const nlohmann::json& c = a["content"];
      // Ansible's action plugin writes non-string content as JSON.
      data = c.is_string() ? c.get<std::string>() : c.dump();
    } else if (a.contains("_tachyon_content_b64")) {
      absl::Base64Unescape(StrArg(a, "_tachyon_content_b64").value_or(""), &data);
    } else {
      std::string src = StrArg(a, "src").value_or("");
      if (IsDirectory(src)) return Fail("Remote copy of directories is not supported");
      absl::StatusOr<std::string> read = ReadWholeFile(src);
      if (!read.ok()) return Fail(absl::StrCat("Source ", src, " not found"));
      data = std::move(*read);
      src_name = BaseName(src);
    }

    if (absl::EndsWith(dest, "/") || IsDirectory(dest)) {
      if (from_content) return Fail("can not use content with a dir as dest");
      if (src_name.empty()) return Fail("no source file name to copy into the directory");
      if (!IsDirectory(dest) && !check) {
        mode_t dmode = DefaultDirMode();
        if (a.contains("directory_mode")) {
          dmode = ResolveMode(a["directory_mode"], S_IFDIR | dmode).value_or(dmode);
        }
        absl::Status st = MakeDirs(dest, dmode);
        if (!st.ok()) return Fail(std::string(st.message()));
      }
      if (!absl::EndsWith(dest, "/")) dest.push_back('/');
      dest += src_name;
    }
    std::string dir = DirName(dest);
    if (!dir.empty() && !IsDirectory(dir) && !check) {
      return Fail(absl::StrCat("Destination directory ", dir, " does not exist"));
    }

    struct stat st;
    const bool exists = ::stat(dest.c_str(), &st) == 0;
    if (exists && !Flag(a, "force", true)) {
      return {{"changed", false}, {"dest", dest}, {"src", src_name}};
    }
    if (exists && S_ISDIR(st.st_mode)) return Fail("can not use content with a dir as dest");

    std::string checksum = DigestOf(data, "sha1").value_or("");
    std::string old_checksum;
    if (exists) {
      absl::StatusOr<std::string> old = FileDigest(dest, "sha1");
      if (!old.ok()) return Fail(std::string(old.status().message()));
      old_checksum = *old;
    }
    FileAttrs attrs = FileAttrsFromArgs(a);
    nlohmann::json r = {{"changed", false}};

    if (checksum != old_checksum) {
      nlohmann::json content_diff;
      if (want_diff) {
        std::string before;
        if (exists) before = ReadWholeFile(dest, kMaxDiffBytes + 1).value_or("");
        if (IsText(before) && IsText(data)) {
          content_diff = {{"before", before}, {"after", data}};
          if (exists) content_diff["before_header"] = dest;
          content_diff["after_header"] = src_name.empty() ? dest : src_name;
        } else {
          content_diff = {{"dst_binary", exists ? 1 : 0}, {"src_binary", 1}};
        }
      }
      if (check) {
        r["changed"] = true;
        r["diff"] = want_diff ? nlohmann::json::array({content_diff}) : nlohmann::json::array();
        return r;
      }
      std::string backup_file;
      if (Flag(a, "backup") && exists) {
        absl::StatusOr<std::string> b = BackupFile(dest);
        if (!b.ok()) return Fail(std::string(b.status().message()));
        backup_file = *b;
      }
      if (std::optional<std::string> validate = StrArg(a, "validate")) {
        nlohmann::json failure = Validated(*validate, dest, data);
        if (!failure.is_null()) return failure;
      }
      absl::StatusOr<std::string> tmp = ReplaceFile(dest, data);
      if (!tmp.ok()) return Fail(std::string(tmp.status().message()));
      absl::StatusOr<bool> attr_changed = ApplyFileAttrs(dest, attrs, true, false, nullptr);
      if (!attr_changed.ok()) return FileAttrFailure(attr_changed.status(), dest);
      r["changed"] = true;
      r["checksum"] = checksum;
      r["md5sum"] = DigestOf(data, "md5").value_or("");
      r["dest"] = dest;
      r["src"] = *tmp;
      if (!backup_file.empty()) r["backup_file"] = backup_file;
      AddPathInfo(dest, &r);
      // The copy action starts its result with diff: [] and adds the content diff only in
      // diff mode; the copy module's own result has no diff.
      r["diff"] = want_diff ? nlohmann::json::array({content_diff}) : nlohmann::json::array();
      return r;
    }

    // Same content: only the attributes may change (Ansible hands over to the file module).
    nlohmann::json diff = {{"before", {{"path", dest}}}, {"after", {{"path", dest}}}};
    absl::StatusOr<bool> attr_changed =
        ApplyFileAttrs(dest, attrs, Flag(a, "follow"), check, &diff);
    if (!attr_changed.ok()) return FileAttrFailure(attr_changed.status(), dest);
    r["changed"] = *attr_changed;
    r["checksum"] = checksum;
    r["dest"] = dest;
    r["path"] = dest;
    AddPathInfo(dest, &r);
    // The file module's diff, which it always returns.
    r["diff"] = diff;
    return r;
  }

  // Runs `validate` (its %s replaced by a temp copy of the new content, in dest's directory)
  // without a shell, as Ansible does; null if it passed, else the failure result.
  static nlohmann::json Validated(const std::string& validate, const std::string& dest,
                                  const std::string& data) {
    std::string dir = DirName(dest).empty() ? "." : DirName(dest);
    std::string tmp = absl::StrCat(dir, "/.tachyon_validate", BaseName(dest), ".XXXXXX");
    int fd = mkostemp(tmp.data(), O_CLOEXEC);
    if (fd < 0)
      return Fail(absl::StrCat("cannot create a temp file: ", OsErrorTextStr(errno, dir)));
    bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
    ::close(fd);
    nlohmann::json failure;
    absl::StatusOr<std::vector<std::string>> argv =
        ShlexSplit(absl::StrReplaceAll(validate, {{"%s", tmp}}));
    if (!ok || !argv.ok()) {
      failure = Fail(absl::StrCat("failed to validate: ", validate));
    } else {
      CommandOutput out = RunCommand(*argv);
      if (out.rc != 0 || out.exec_errno != 0) {
        failure = {{"failed", true},
                   {"changed", false},
                   {"msg", absl::StrCat("failed to validate")},
                   {"exit_status", out.rc},
                   {"stdout", SanitizeUtf8(out.stdout_data)},
                   {"stderr", SanitizeUtf8(out.stderr_data)}};
      }
    }
    ::unlink(tmp.c_str());
    return failure;
  }
};

}  // namespace

std::unique_ptr<Module> MakeCopyModule() { return std::make_unique<CopyModule>(); }

}  // namespace tachyon::modules
