#include "in_memory_locks.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ota::testing {
namespace {
bool KeyOf(const std::string& path, std::pair<unsigned long, unsigned long>* key) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  *key = {static_cast<unsigned long>(st.st_dev), static_cast<unsigned long>(st.st_ino)};
  return true;
}
}  // namespace

class InMemoryLock : public FileLock {
 public:
  InMemoryLock(InMemoryLockPlatform* owner, InMemoryLockPlatform::Key key)
      : owner_(owner), key_(key) {}
  ~InMemoryLock() override { Unlock(); }
  Result<bool> TryShared() override {
    std::lock_guard<std::mutex> lock(owner_->mu_);
    auto ex = owner_->exclusive_.find(key_);
    if (ex != owner_->exclusive_.end() && ex->second != this) return false;
    if (ex != owner_->exclusive_.end()) owner_->exclusive_.erase(ex);  // Converts, as flock.
    owner_->shared_[key_].insert(this);
    return true;
  }
  Result<bool> TryExclusive() override {
    std::lock_guard<std::mutex> lock(owner_->mu_);
    auto ex = owner_->exclusive_.find(key_);
    if (ex != owner_->exclusive_.end() && ex->second != this) return false;
    auto& readers = owner_->shared_[key_];
    for (const void* holder : readers) {
      if (holder != this) return false;
    }
    readers.erase(this);
    owner_->exclusive_[key_] = this;
    return true;
  }
  void Unlock() override {
    std::lock_guard<std::mutex> lock(owner_->mu_);
    owner_->shared_[key_].erase(this);
    auto ex = owner_->exclusive_.find(key_);
    if (ex != owner_->exclusive_.end() && ex->second == this) owner_->exclusive_.erase(ex);
  }
  bool StillAt(const std::string& path) const override {
    InMemoryLockPlatform::Key now;
    return KeyOf(path, &now) && now == key_;
  }

 private:
  InMemoryLockPlatform* owner_;
  InMemoryLockPlatform::Key key_;
};

Result<std::unique_ptr<FileLock>> InMemoryLockPlatform::OpenLock(const std::string& path,
                                                                 bool create, unsigned mode) {
  Key key;
  if (!KeyOf(path, &key)) {
    if (!create) return std::unique_ptr<FileLock>();
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, static_cast<mode_t>(mode));
    if (fd < 0) return MakeError(ErrorCode::kIo, "cannot create " + path);
    ::close(fd);
    if (!KeyOf(path, &key)) return MakeError(ErrorCode::kIo, "cannot stat " + path);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++opened_;
  }
  return std::unique_ptr<FileLock>(std::make_unique<InMemoryLock>(this, key));
}

Result<std::unique_ptr<RenameWatch>> InMemoryLockPlatform::WatchRenames(const std::string& dir) {
  return DefaultPlatform().WatchRenames(dir);
}

int InMemoryLockPlatform::locks_opened() const {
  std::lock_guard<std::mutex> lock(mu_);
  return opened_;
}

}  // namespace ota::testing
