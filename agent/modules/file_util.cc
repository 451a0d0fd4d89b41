#include "agent/modules/file_util.h"

#include <fcntl.h>
#include <grp.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "agent/modules/args.h"
#include "agent/modules/os_util.h"

namespace tachyon::modules {
namespace {

struct FdCloser {
  void operator()(const int* fd) const {
    if (*fd >= 0) close(*fd);
    delete fd;
  }
};

// Python's int(s, 8) on a string of octal digits.
std::optional<mode_t> ParseOctal(std::string_view s) {
  if (s.empty() || s.size() > 7) return std::nullopt;
  mode_t m = 0;
  for (char c : s) {
    if (c < '0' || c > '7') return std::nullopt;
    m = m * 8 + static_cast<mode_t>(c - '0');
  }
  return m;
}

// One clause of a symbolic mode ("u+x", "go=rX", "a-w") applied to `mode`.
std::optional<mode_t> ApplySymbolicClause(std::string_view clause, mode_t mode, bool is_dir) {
  size_t op_at = clause.find_first_of("+-=");
  if (op_at == std::string_view::npos) return std::nullopt;
  std::string_view users = clause.substr(0, op_at);
  char op = clause[op_at];
  std::string_view perms = clause.substr(op_at + 1);
  for (char u : users) {
    if (std::strchr("ugoa", u) == nullptr) return std::nullopt;
  }
  if (users.empty() || users.find('a') != std::string_view::npos) users = "ugo";
  // perms: [rwxXst]* or a single u/g/o (copy that class's bits).
  bool copy = perms.size() == 1 && std::strchr("ugo", perms[0]) != nullptr;
  if (!copy) {
    for (char c : perms) {
      if (std::strchr("rwxXst", c) == nullptr) return std::nullopt;
    }
  }
  mode_t perm_bits = mode & 07777;
  for (char u : users) {
    int shift = u == 'u' ? 6 : (u == 'g' ? 3 : 0);
    mode_t special = u == 'u' ? 04000 : (u == 'g' ? 02000 : 01000);
    mode_t bits = 0;
    if (copy) {
      int from = perms[0] == 'u' ? 6 : (perms[0] == 'g' ? 3 : 0);
      bits = ((perm_bits >> from) & 7) << shift;
    } else {
      for (char c : perms) {
        if (c == 'r') bits |= 4 << shift;
        if (c == 'w') bits |= 2 << shift;
        if (c == 'x') bits |= 1 << shift;
        if (c == 'X' && (is_dir || (perm_bits & 0111) != 0)) bits |= 1 << shift;
        if (c == 's' && u != 'o') bits |= special;
        if (c == 't' && u == 'o') bits |= special;
      }
    }
    mode_t class_mask = (7 << shift) | special;
    if (op == '+') {
      mode |= bits;
    } else if (op == '-') {
      mode &= ~bits;
    } else {
      mode = (mode & ~class_mask) | bits;
    }
  }
  return mode;
}

std::string Hex(const unsigned char* bytes, unsigned int len) {
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) absl::StrAppendFormat(&hex, "%02x", bytes[i]);
  return hex;
}

// A user (or group) id from a name or a number; nullopt when the name is unknown.
std::optional<uint32_t> LookupId(const std::string& name, bool group) {
  uint32_t n;
  if (absl::SimpleAtoi(name, &n)) return n;
  if (group) {
    struct group* gr = getgrnam(name.c_str());
    if (gr != nullptr) return gr->gr_gid;
  } else {
    struct passwd* pw = getpwnam(name.c_str());
    if (pw != nullptr) return pw->pw_uid;
  }
  return std::nullopt;
}

}  // namespace

std::vector<ArgSpec> WithFileCommonArgs(std::vector<ArgSpec> spec) {
  for (ArgSpec common : std::vector<ArgSpec>{
           {"mode", ArgType::kRaw},
           {"owner", ArgType::kStr},
           {"group", ArgType::kStr},
           {"attributes", ArgType::kStr, false, {"attr"}},
           {"selevel", ArgType::kStr},
           {"serole", ArgType::kStr},
           {"setype", ArgType::kStr},
           {"seuser", ArgType::kStr},
           {"unsafe_writes", ArgType::kBool},
       }) {
    spec.push_back(std::move(common));
  }
  return spec;
}

std::string UserName(uid_t uid) {
  struct passwd* pw = getpwuid(uid);
  return pw != nullptr ? std::string(pw->pw_name) : absl::StrCat(uid);
}

std::string GroupName(gid_t gid) {
  struct group* gr = getgrgid(gid);
  return gr != nullptr ? std::string(gr->gr_name) : absl::StrCat(gid);
}

std::string ModeString(mode_t mode) { return absl::StrFormat("0%03o", mode & 07777); }

absl::StatusOr<mode_t> ResolveMode(const nlohmann::json& mode, mode_t current) {
  if (mode.is_number_integer()) return static_cast<mode_t>(mode.get<int64_t>()) & 07777;
  std::string s = ScalarToString(mode).value_or("");
  if (std::optional<mode_t> octal = ParseOctal(s)) return *octal & 07777;
  mode_t result = current & 07777;
  bool is_dir = S_ISDIR(current);
  for (absl::string_view clause : absl::StrSplit(s, ',')) {
    std::optional<mode_t> next =
        ApplySymbolicClause(std::string_view(clause.data(), clause.size()), result, is_dir);
    if (!next) {
      return absl::InvalidArgumentError(absl::StrCat("bad symbolic permission for mode: ", s));
    }
    result = *next;
  }
  return result;
}

mode_t DefaultFileMode() {
  mode_t mask = umask(022);
  umask(mask);
  return 0666 & ~mask;
}

mode_t DefaultDirMode() {
  mode_t mask = umask(022);
  umask(mask);
  return 0777 & ~mask;
}

void AddPathInfo(const std::string& path, nlohmann::json* result) {
  struct stat follow_st;
  struct stat st;
  if (::stat(path.c_str(), &follow_st) != 0 || ::lstat(path.c_str(), &st) != 0) {
    (*result)["state"] = "absent";
    return;
  }
  (*result)["uid"] = st.st_uid;
  (*result)["gid"] = st.st_gid;
  (*result)["owner"] = UserName(st.st_uid);
  (*result)["group"] = GroupName(st.st_gid);
  (*result)["mode"] = ModeString(st.st_mode);
  if (S_ISLNK(st.st_mode)) {
    (*result)["state"] = "link";
  } else if (S_ISDIR(st.st_mode)) {
    (*result)["state"] = "directory";
  } else if (st.st_nlink > 1) {
    (*result)["state"] = "hard";
  } else {
    (*result)["state"] = "file";
  }
  (*result)["size"] = st.st_size;
}

FileAttrs FileAttrsFromArgs(const nlohmann::json& args) {
  FileAttrs attrs;
  auto mode = args.find("mode");
  if (mode != args.end() && !mode->is_null() && *mode != "preserve") attrs.mode = *mode;
  attrs.owner = StrArg(args, "owner");
  attrs.group = StrArg(args, "group");
  return attrs;
}

absl::StatusOr<bool> ApplyFileAttrs(const std::string& path, const FileAttrs& attrs, bool follow,
                                    bool check_mode, nlohmann::json* diff) {
  struct stat st;
  int rc = follow ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st);
  if (rc != 0) {
    return absl::NotFoundError(absl::StrCat("path ", path, " does not exist"));
  }
  bool changed = false;
  auto note = [&](const char* key, const nlohmann::json& before, const nlohmann::json& after) {
    if (diff == nullptr) return;
    (*diff)["before"][key] = before;
    (*diff)["after"][key] = after;
  };
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  if (attrs.owner) {
    std::optional<uint32_t> id = LookupId(*attrs.owner, false);
    if (!id) {
      return absl::InvalidArgumentError(
          absl::StrCat("chown failed: failed to look up user ", *attrs.owner));
    }
    if (*id != st.st_uid) uid = *id;
  }
  if (attrs.group) {
    std::optional<uint32_t> id = LookupId(*attrs.group, true);
    if (!id) {
      return absl::InvalidArgumentError(
          absl::StrCat("chgrp failed: failed to look up group ", *attrs.group));
    }
    if (*id != st.st_gid) gid = *id;
  }
  if (uid != static_cast<uid_t>(-1) || gid != static_cast<gid_t>(-1)) {
    if (uid != static_cast<uid_t>(-1)) note("owner", st.st_uid, uid);
    if (gid != static_cast<gid_t>(-1)) note("group", st.st_gid, gid);
    changed = true;
    if (!check_mode) {
      int r = follow ? ::chown(path.c_str(), uid, gid) : ::lchown(path.c_str(), uid, gid);
      if (r != 0) {
        return absl::PermissionDeniedError(absl::StrCat(
            uid != static_cast<uid_t>(-1) ? "chown" : "chgrp", " failed: ", std::strerror(errno)));
      }
    }
  }
  if (attrs.mode) {
    absl::StatusOr<mode_t> want = ResolveMode(*attrs.mode, st.st_mode);
    if (!want.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("mode must be in octal or symbolic form\n", want.status().message()));
    }
    if ((st.st_mode & 07777) != *want && !S_ISLNK(st.st_mode)) {
      note("mode", ModeString(st.st_mode), ModeString(*want));
      changed = true;
      if (!check_mode && ::chmod(path.c_str(), *want) != 0) {
        return absl::PermissionDeniedError(absl::StrCat("chmod failed: ", std::strerror(errno)));
      }
    }
  }
  return changed;
}

nlohmann::json FileAttrFailure(const absl::Status& status, const std::string& path) {
  std::string msg(status.message());
  nlohmann::json r = {{"failed", true}, {"changed", false}, {"path", path}};
  size_t nl = msg.find('\n');
  if (nl != std::string::npos) {
    r["details"] = msg.substr(nl + 1);
    msg = msg.substr(0, nl);
  }
  r["msg"] = msg;
  return r;
}

absl::StatusOr<std::string> DigestOf(std::string_view data, const std::string& algorithm) {
  const EVP_MD* md = EVP_get_digestbyname(algorithm.c_str());
  if (md == nullptr) return absl::InvalidArgumentError("unknown digest " + algorithm);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out, &len, md, nullptr) != 1) {
    return absl::InternalError("digest failed");
  }
  return Hex(out, len);
}

// Reads a file chunk by chunk into `sink`; false from the sink stops with that status.
static absl::Status ReadChunks(const std::string& path,
                               const std::function<absl::Status(const char*, size_t)>& sink) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(OsErrorTextStr(errno, path));
  std::unique_ptr<int, FdCloser> closer(new int(fd));
  char buf[65536];
  while (true) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::InternalError(OsErrorTextStr(errno, path));
    if (n == 0) return absl::OkStatus();
    absl::Status st = sink(buf, static_cast<size_t>(n));
    if (!st.ok()) return st;
  }
}

absl::StatusOr<std::string> FileDigest(const std::string& path, const std::string& algorithm) {
  const EVP_MD* md = EVP_get_digestbyname(algorithm.c_str());
  if (md == nullptr) return absl::InvalidArgumentError("unknown digest " + algorithm);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1) {
    return absl::InternalError("digest failed");
  }
  absl::Status st = ReadChunks(path, [&](const char* data, size_t size) {
    EVP_DigestUpdate(ctx.get(), data, size);
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), out, &len);
  return Hex(out, len);
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path, size_t max_bytes) {
  std::string data;
  absl::Status st = ReadChunks(path, [&](const char* chunk, size_t size) {
    if (data.size() + size > max_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat(path, " is larger than ", max_bytes, " bytes"));
    }
    data.append(chunk, size);
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return data;
}

static absl::Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::InternalError(OsErrorTextStr(errno, path));
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> BackupFile(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return std::string();
  time_t now = time(nullptr);
  struct tm tm;
  localtime_r(&now, &tm);
  char stamp[64];
  strftime(stamp, sizeof(stamp), "%Y-%m-%d@%H:%M:%S~", &tm);
  std::string backup = absl::StrCat(path, ".", getpid(), ".", stamp);
  auto fail = [&](const std::string& why) {
    return absl::InternalError(
        absl::StrCat("Could not make backup of ", path, " to ", backup, ": ", why));
  };
  absl::StatusOr<std::string> data = ReadWholeFile(path);
  if (!data.ok()) return fail(std::string(data.status().message()));
  int fd = open(backup.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return fail(OsErrorTextStr(errno, backup));
  std::unique_ptr<int, FdCloser> closer(new int(fd));
  absl::Status st_w = WriteAll(fd, *data, backup);
  if (!st_w.ok()) return fail(std::string(st_w.message()));
  (void)!fchown(fd, st.st_uid, st.st_gid);
  fchmod(fd, st.st_mode & 07777);
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  futimens(fd, times);
  return backup;
}

absl::StatusOr<std::string> ReplaceFile(const std::string& dest, std::string_view data) {
  std::string dir = DirName(dest);
  if (dir.empty()) dir = ".";
  std::string tmp = absl::StrCat(dir, "/.tachyon_tmp", BaseName(dest), ".XXXXXX");
  int fd = mkostemp(tmp.data(), O_CLOEXEC);  // 0600
  if (fd < 0) return absl::InternalError(OsErrorTextStr(errno, dir));
  std::unique_ptr<int, FdCloser> closer(new int(fd));
  absl::Status st = WriteAll(fd, data, tmp);
  struct stat old;
  if (st.ok()) {
    if (::stat(dest.c_str(), &old) == 0) {
      (void)!fchown(fd, old.st_uid, old.st_gid);
      fchmod(fd, old.st_mode & 07777);
    } else {
      fchmod(fd, DefaultFileMode());
    }
    if (fsync(fd) != 0) st = absl::InternalError(OsErrorTextStr(errno, tmp));
  }
  if (st.ok() && ::rename(tmp.c_str(), dest.c_str()) != 0) {
    st = absl::InternalError(
        absl::StrCat("Could not replace file: ", tmp, " to ", dest, ": ", std::strerror(errno)));
  }
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return tmp;
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  std::string head = path.substr(0, slash + 1);
  // Python strips trailing slashes unless the head is all slashes.
  if (head.find_first_not_of('/') != std::string::npos) {
    while (!head.empty() && head.back() == '/') head.pop_back();
  }
  return head;
}

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace tachyon::modules
