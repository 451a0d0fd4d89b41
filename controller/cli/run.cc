// `tachyon run` and `tachyon rollout ...`: upload a playbook directory, then follow the
// rollout's events until it ends. Ctrl-C detaches (the rollout runs on in the controller).

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/fs.h"
#include "common/limits.h"
#include "controller/cli/commands.h"
#include "controller/cli/rpc.h"

namespace tachyon::cli {
namespace {

namespace v1 = tachyon::v1;
namespace fs = std::filesystem;
using nlohmann::json;

// What `run` uploads: the playbook's directory, plus inventories and -e @files from elsewhere.
class BundleBuilder {
 public:
  explicit BundleBuilder(v1::StartRolloutRequest* req) : req_(req) {}

  // Every regular file under `dir` (hidden names skipped), stored under `prefix`.
  std::string AddTree(const fs::path& dir, const std::string& prefix) {
    std::error_code ec;
    fs::recursive_directory_iterator it(dir, fs::directory_options::follow_directory_symlink, ec);
    if (ec) return absl::StrCat("cannot read ", dir.string(), ": ", ec.message());
    for (auto end = fs::recursive_directory_iterator(); it != end; it.increment(ec)) {
      if (ec) return absl::StrCat("cannot read ", dir.string(), ": ", ec.message());
      const std::string name = it->path().filename().string();
      if (!name.empty() && name[0] == '.') {
        if (it->is_directory()) it.disable_recursion_pending();
        continue;
      }
      if (!it->is_regular_file()) continue;
      std::string rel = fs::relative(it->path(), dir).generic_string();
      if (std::string err = AddFile(it->path(), prefix.empty() ? rel : prefix + "/" + rel);
          !err.empty()) {
        return err;
      }
    }
    return "";
  }

  std::string AddFile(const fs::path& path, const std::string& rel) {
    std::error_code ec;
    uintmax_t size = fs::file_size(path, ec);
    if (ec) return absl::StrCat("cannot read ", path.string(), ": ", ec.message());
    bytes_ += size + rel.size();
    if (bytes_ > kMaxBundleBytes || static_cast<size_t>(req_->files_size()) >= kMaxBundleFiles) {
      return absl::StrCat("the playbook directory is too large to upload (over ",
                          kMaxBundleBytes >> 20, " MiB or ", kMaxBundleFiles,
                          " files); tachyon run uploads the whole directory of the playbook, so "
                          "keep large files out of it");
    }
    auto content = ReadFile(path.string(), kMaxBundleBytes);
    if (!content.ok()) return std::string(content.status().message());
    auto* f = req_->add_files();
    f->set_path(rel);
    f->set_content(*std::move(content));
    auto perms = fs::status(path, ec).permissions();
    f->set_mode((perms & fs::perms::owner_exec) != fs::perms::none ? 0755 : 0644);
    return "";
  }

 private:
  v1::StartRolloutRequest* req_;
  size_t bytes_ = 0;
};

// Blocks the signals that end a watch, for this thread and every thread started after (gRPC's
// included), so that one thread can take them with sigwait.
sigset_t BlockWatchSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

// Streams a rollout's events to stdout until it ends, the controller goes away, or Ctrl-C.
int Watch(v1::ControlService::Stub* stub, const Connection& conn, Format format,
          const std::string& id, const sigset_t& signals) {
  grpc::ClientContext ctx;
  v1::EventsRequest req;
  req.set_rollout(id);
  req.set_follow(true);
  req.set_until_finished(true);
  const bool live = format == Format::kText && isatty(STDOUT_FILENO);
  RolloutPrinter printer(format);
  std::mutex mu;
  bool live_shown = false;
  auto task_started = std::chrono::steady_clock::now();
  auto clear_live = [&] {
    if (live_shown) std::cout << "\r\033[K";
    live_shown = false;
  };
  auto show_live = [&] {
    if (!live) return;
    double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - task_started).count();
    std::string line = printer.LiveLine(secs);
    clear_live();
    if (!line.empty()) {
      std::cout << line << std::flush;
      live_shown = true;
    }
  };

  std::atomic<bool> detached{false};
  std::thread signal_thread([&] {
    while (true) {
      timespec tick{1, 0};
      int sig = sigtimedwait(&signals, nullptr, &tick);
      if (sig == SIGUSR1) return;
      if (sig == SIGINT || sig == SIGTERM) {
        detached = true;
        ctx.TryCancel();
        return;
      }
      std::lock_guard<std::mutex> lock(mu);
      show_live();
    }
  });

  auto reader = stub->Events(&ctx, req);
  v1::Event e;
  while (reader->Read(&e)) {
    std::lock_guard<std::mutex> lock(mu);
    if (e.type() == "task_started") task_started = std::chrono::steady_clock::now();
    std::string out = printer.OnEvent(e.type(), e.host(), Parse(e.data_json()));
    clear_live();
    std::cout << out;
    show_live();
    std::cout << std::flush;
  }
  grpc::Status st = reader->Finish();
  pthread_kill(signal_thread.native_handle(), SIGUSR1);
  signal_thread.join();
  {
    std::lock_guard<std::mutex> lock(mu);
    clear_live();
    std::cout << std::flush;
  }
  if (detached) {
    std::cerr << "\ndetached: rollout " << id
              << " keeps running on the controller; re-attach with: tachyon rollout watch " << id
              << "\n";
    return 0;
  }
  if (printer.finished()) {
    if (!printer.error().empty()) std::cerr << "ERROR! " << printer.error() << "\n";
    return printer.rc();
  }
  if (!st.ok()) {
    int rc = ReportRpcError(conn, st);
    std::cerr << "tachyon: rollout " << id
              << " goes on in the controller; re-attach with: tachyon rollout watch " << id << "\n";
    return rc;
  }
  std::cerr << "tachyon: the event stream of rollout " << id << " ended early\n";
  return 1;
}

json InfoJson(const v1::RolloutInfo& r) {
  json out = {{"id", r.id()},           {"state", r.state()},     {"playbook", r.playbook()},
              {"created", r.created()}, {"updated", r.updated()}, {"rc", r.rc()}};
  if (!r.recap_json().empty()) out["hosts"] = Parse(r.recap_json());
  return out;
}

}  // namespace

int RunPlaybook(const Connection& conn, Format format, const RunOptions& options) {
  std::error_code ec;
  fs::path playbook = fs::absolute(options.playbook, ec);
  if (ec || !fs::is_regular_file(playbook, ec)) {
    std::cerr << "ERROR! the playbook: " << options.playbook << " could not be found\n";
    return 5;
  }
  playbook = fs::weakly_canonical(playbook, ec);
  fs::path root = playbook.parent_path();
  v1::StartRolloutRequest req;
  BundleBuilder bundle(&req);
  if (std::string err = bundle.AddTree(root, ""); !err.empty()) {
    std::cerr << "tachyon: " << err << "\n";
    return 5;
  }
  req.set_playbook(playbook.filename().string());
  req.set_origin(root.string());
  int n = 0;
  for (const auto& inv : options.inventories) {
    fs::path p = fs::absolute(inv, ec);
    if (!fs::exists(p, ec)) {
      if (inv.find(',') != std::string::npos) {  // "host1,host2," as Ansible takes it
        req.add_inventories(inv);
        continue;
      }
      std::cerr << "tachyon: the inventory " << inv << " does not exist\n";
      return 5;
    }
    p = fs::weakly_canonical(p, ec);
    std::string rel = fs::relative(p, root, ec).generic_string();
    if (!ec && !rel.empty() && rel.rfind("..", 0) != 0) {
      req.add_inventories(rel);  // already in the bundle
      continue;
    }
    // Elsewhere: upload it with the group_vars/ and host_vars/ that sit next to it.
    std::string prefix = absl::StrCat(".tachyon/inventory/", n++);
    std::string err;
    if (fs::is_directory(p, ec)) {
      err = bundle.AddTree(p, prefix);
      req.add_inventories(prefix);
    } else {
      std::string name = p.filename().string();
      err = bundle.AddFile(p, prefix + "/" + name);
      for (const char* sub : {"group_vars", "host_vars"}) {
        fs::path d = p.parent_path() / sub;
        if (err.empty() && fs::is_directory(d, ec)) err = bundle.AddTree(d, prefix + "/" + sub);
      }
      req.add_inventories(prefix + "/" + name);
    }
    if (!err.empty()) {
      std::cerr << "tachyon: " << err << "\n";
      return 5;
    }
  }
  int m = 0;
  for (const auto& e : options.extra_vars) {
    if (!e.empty() && e[0] == '@') {
      fs::path p = fs::absolute(e.substr(1), ec);
      if (!fs::is_regular_file(p, ec)) {
        std::cerr << "ERROR! file " << e.substr(1) << " does not exist (-e " << e << ")\n";
        return 5;
      }
      std::string rel = absl::StrCat(".tachyon/extra_vars/", m++, "-", p.filename().string());
      if (std::string err = bundle.AddFile(p, rel); !err.empty()) {
        std::cerr << "tachyon: " << err << "\n";
        return 5;
      }
      req.add_extra_vars("@" + rel);
    } else {
      req.add_extra_vars(e);
    }
  }
  req.set_limit(options.limit);
  req.set_forks(static_cast<uint32_t>(options.forks > 0 ? options.forks : 5));
  req.set_check(options.check);
  req.set_diff(options.diff);
  for (const auto& t : options.tags) req.add_tags(t);
  for (const auto& t : options.skip_tags) req.add_skip_tags(t);
  req.set_verbosity(static_cast<uint32_t>(options.verbosity));

  sigset_t signals = BlockWatchSignals();
  TACHYON_STUB_OR_RETURN(stub, conn);
  v1::StartRolloutResponse resp;
  {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    grpc::Status st = stub->StartRollout(&ctx, req, &resp);
    if (st.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
      std::cerr << "ERROR! " << st.error_message() << "\n";
      return 4;
    }
    if (!st.ok()) return ReportRpcError(conn, st);
  }
  if (options.detach) {
    if (format == Format::kJson) {
      std::cout << Dump(json{{"rollout_id", resp.rollout_id()}}) << "\n";
    } else {
      std::cout << resp.rollout_id() << "\n";
    }
    return 0;
  }
  if (format == Format::kText) {
    std::cerr << "rollout " << resp.rollout_id() << " (Ctrl-C detaches; it keeps running)\n";
  }
  return Watch(stub.get(), conn, format, resp.rollout_id(), signals);
}

int RunRolloutWatch(const Connection& conn, Format format, const std::string& id) {
  sigset_t signals = BlockWatchSignals();
  TACHYON_STUB_OR_RETURN(stub, conn);
  {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    v1::RolloutRequest req;
    req.set_id(id);
    v1::RolloutInfo info;
    grpc::Status st = stub->GetRollout(&ctx, req, &info);
    if (!st.ok()) return ReportRpcError(conn, st);
  }
  return Watch(stub.get(), conn, format, id, signals);
}

int RunRolloutList(const Connection& conn, Format format) {
  TACHYON_STUB_OR_RETURN(stub, conn);
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  v1::ListRolloutsResponse resp;
  grpc::Status st = stub->ListRollouts(&ctx, v1::ListRolloutsRequest(), &resp);
  if (!st.ok()) return ReportRpcError(conn, st);
  if (format == Format::kText) {
    std::cout << absl::StrFormat("%-8s %-9s %-4s %-27s %s\n", "ID", "STATE", "RC", "CREATED",
                                 "PLAYBOOK");
  }
  for (const auto& r : resp.rollouts()) {
    if (format == Format::kJson) {
      std::cout << Dump(InfoJson(r)) << "\n";
    } else {
      std::cout << absl::StrFormat("%-8s %-9s %-4s %-27s %s\n", r.id(), r.state(),
                                   r.rc() < 0 ? "-" : absl::StrCat(r.rc()), r.created(),
                                   r.playbook());
    }
  }
  return 0;
}

int RunRolloutShow(const Connection& conn, Format format, const std::string& id) {
  TACHYON_STUB_OR_RETURN(stub, conn);
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  v1::RolloutRequest req;
  req.set_id(id);
  v1::RolloutInfo r;
  grpc::Status st = stub->GetRollout(&ctx, req, &r);
  if (!st.ok()) return ReportRpcError(conn, st);
  if (format == Format::kJson) {
    std::cout << Dump(InfoJson(r)) << "\n";
    return 0;
  }
  std::cout << "id:       " << r.id() << "\nstate:    " << r.state()
            << "\nplaybook: " << r.playbook() << "\ncreated:  " << r.created()
            << "\nupdated:  " << r.updated()
            << "\nrc:       " << (r.rc() < 0 ? std::string("-") : absl::StrCat(r.rc())) << "\n";
  if (!r.recap_json().empty()) {
    RolloutPrinter printer(Format::kText);
    std::cout << printer.OnEvent("rollout_finished", "",
                                 json{{"hosts", Parse(r.recap_json())}, {"rc", r.rc()}});
  }
  return 0;
}

int RunRolloutAction(const Connection& conn, Format format, const std::string& id,
                     const std::string& action, bool kill) {
  TACHYON_STUB_OR_RETURN(stub, conn);
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  v1::RolloutRequest req;
  req.set_id(id);
  req.set_kill(kill);
  v1::RolloutInfo r;
  grpc::Status st = action == "pause"    ? stub->PauseRollout(&ctx, req, &r)
                    : action == "resume" ? stub->ResumeRollout(&ctx, req, &r)
                                         : stub->AbortRollout(&ctx, req, &r);
  if (!st.ok()) return ReportRpcError(conn, st);
  if (format == Format::kJson) {
    std::cout << Dump(InfoJson(r)) << "\n";
  } else if (action == "abort") {
    std::cout << "rollout " << id << ": abort requested" << (kill ? " (running jobs killed)" : "")
              << "; nothing new starts, and it ends once running tasks are over\n";
  } else {
    std::cout << "rollout " << id << ": " << r.state() << "\n";
  }
  return 0;
}

}  // namespace tachyon::cli
