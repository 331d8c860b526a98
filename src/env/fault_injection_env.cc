// Copyright (c) Quiver authors.

#include "env/fault_injection_env.h"

#include <filesystem>

namespace quiver {
namespace {

std::string DirOf(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

class FaultWritableFile final : public WritableFile {
 public:
  FaultWritableFile(FaultInjectionEnv* env, std::string path, std::unique_ptr<WritableFile> base)
      : env_(env), path_(std::move(path)), base_(std::move(base)) {}

  Status Append(const void* data, std::size_t n) override {
    bool lie = false;
    Status s = env_->Intercept(FaultInjectionEnv::Op::kWrite, path_, &lie);
    if (!s.ok() || lie) return s;
    s = base_->Append(data, n);
    if (s.ok()) env_->RecordAppend(path_, n);
    return s;
  }
  Status Sync() override {
    Status s = env_->Intercept(FaultInjectionEnv::Op::kSync, path_);
    if (!s.ok()) return s;
    s = base_->Sync();
    if (s.ok()) env_->RecordSync(path_);
    return s;
  }
  Status Close() override { return base_->Close(); }

 private:
  FaultInjectionEnv* env_;
  std::string path_;
  std::unique_ptr<WritableFile> base_;
};

class FaultSequentialFile final : public SequentialFile {
 public:
  FaultSequentialFile(FaultInjectionEnv* env, std::string path,
                      std::unique_ptr<SequentialFile> base)
      : env_(env), path_(std::move(path)), base_(std::move(base)) {}

  Status Read(std::size_t n, void* buffer, std::size_t* read) override {
    Status s = env_->Intercept(FaultInjectionEnv::Op::kRead, path_);
    if (!s.ok()) return s;
    return base_->Read(n, buffer, read);
  }

 private:
  FaultInjectionEnv* env_;
  std::string path_;
  std::unique_ptr<SequentialFile> base_;
};

}  // namespace

void FaultInjectionEnv::FailNth(Op op, int n, Error error) {
  std::lock_guard<std::mutex> lock(mu_);
  armed_op_ = op;
  armed_at_ = counts_[op] + n;
  armed_error_ = error;
  fired_ = false;
}

int FaultInjectionEnv::Count(Op op) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = counts_.find(op);
  return it == counts_.end() ? 0 : it->second;
}

bool FaultInjectionEnv::Fired() const {
  std::lock_guard<std::mutex> lock(mu_);
  return fired_;
}

Status FaultInjectionEnv::Intercept(Op op, const std::string& path, bool* lie) {
  std::lock_guard<std::mutex> lock(mu_);
  const int count = ++counts_[op];
  if (armed_at_ == 0 || op != armed_op_ || count != armed_at_) return Status::Ok();
  armed_at_ = 0;
  fired_ = true;
  if (armed_error_ == Error::kLie && lie != nullptr) {
    *lie = true;
    return Status::Ok();
  }
  // kLie on an operation that cannot lie fails it with EIO.
  const char* what = armed_error_ == Error::kENOSPC ? "No space left on device (injected ENOSPC)"
                                                    : "Input/output error (injected EIO)";
  return Status::IOError(path + ": " + what);
}

void FaultInjectionEnv::RecordAppend(const std::string& path, std::uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  files_[path].size += bytes;
}

void FaultInjectionEnv::RecordSync(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  files_[path].synced_size = files_[path].size;
}

Result<std::unique_ptr<WritableFile>> FaultInjectionEnv::NewWritableFile(const std::string& path) {
  Status s = Intercept(Op::kOpenWrite, path);
  if (!s.ok()) return s;
  const bool existed = base_->FileExists(path);
  auto base = base_->NewWritableFile(path);
  if (!base.ok()) return base.status();
  {
    std::lock_guard<std::mutex> lock(mu_);
    files_[path] = FileState{};
    if (!existed) unsynced_creates_[DirOf(path)].push_back(path);
  }
  return std::unique_ptr<WritableFile>(new FaultWritableFile(this, path, std::move(base).value()));
}

Result<std::unique_ptr<SequentialFile>> FaultInjectionEnv::NewSequentialFile(
    const std::string& path) {
  Status s = Intercept(Op::kOpenRead, path);
  if (!s.ok()) return s;
  auto base = base_->NewSequentialFile(path);
  if (!base.ok()) return base.status();
  return std::unique_ptr<SequentialFile>(
      new FaultSequentialFile(this, path, std::move(base).value()));
}

Result<std::vector<std::string>> FaultInjectionEnv::ListDir(const std::string& path) {
  Status s = Intercept(Op::kListDir, path);
  if (!s.ok()) return s;
  return base_->ListDir(path);
}

Result<std::uint64_t> FaultInjectionEnv::FileSize(const std::string& path) {
  Status s = Intercept(Op::kFileSize, path);
  if (!s.ok()) return s;
  return base_->FileSize(path);
}

Status FaultInjectionEnv::RenameFile(const std::string& from, const std::string& to) {
  Status s = Intercept(Op::kRename, from);
  if (!s.ok()) return s;
  s = base_->RenameFile(from, to);
  if (!s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(from);
  if (it != files_.end()) {
    files_[to] = it->second;
    files_.erase(it);
  }
  unsynced_renames_[DirOf(to)].push_back({from, to});
  return Status::Ok();
}

Status FaultInjectionEnv::RemoveFile(const std::string& path) {
  Status s = Intercept(Op::kRemove, path);
  if (!s.ok()) return s;
  s = base_->RemoveFile(path);
  if (s.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    files_.erase(path);
  }
  return s;
}

Status FaultInjectionEnv::SyncDir(const std::string& path) {
  Status s = Intercept(Op::kSyncDir, path);
  if (!s.ok()) return s;
  s = base_->SyncDir(path);
  if (s.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    unsynced_creates_.erase(path);
    unsynced_renames_.erase(path);
  }
  return s;
}

Status FaultInjectionEnv::DropUnsyncedData() {
  std::lock_guard<std::mutex> lock(mu_);
  std::error_code ec;
  // Undo renames, newest first, then drop unsynced bytes and creations.
  for (auto& [dir, renames] : unsynced_renames_) {
    for (auto it = renames.rbegin(); it != renames.rend(); ++it) {
      std::filesystem::rename(it->to, it->from, ec);
      auto state = files_.find(it->to);
      if (state != files_.end()) {
        files_[it->from] = state->second;
        files_.erase(state);
      }
    }
  }
  for (auto& [path, state] : files_) {
    if (state.size != state.synced_size && std::filesystem::exists(path, ec)) {
      std::filesystem::resize_file(path, state.synced_size, ec);
      if (ec) return Status::IOError("truncate " + path + ": " + ec.message());
    }
  }
  for (auto& [dir, created] : unsynced_creates_) {
    for (const std::string& path : created) std::filesystem::remove(path, ec);
  }
  unsynced_renames_.clear();
  unsynced_creates_.clear();
  files_.clear();
  return Status::Ok();
}

}  // namespace quiver
