// The lease folder's files and the lock primitives shared by the app side
// (leases.cc) and the agent side (drain.cc). See ota/agent/leases.h.
#ifndef OTA_AGENT_SRC_LEASE_FILES_H_
#define OTA_AGENT_SRC_LEASE_FILES_H_

#include <memory>
#include <optional>
#include <string>

#include "ota/common/platform.h"
#include "ota/common/result.h"

namespace ota::agent::lease_files {

inline constexpr char kLeaseDir[] = "leases";
inline constexpr char kSettingsFile[] = "settings.json";

std::string LockPath(const std::string& state_dir, const std::string& version_id);

// Creates <state>/leases if missing (agent side; state folders made by
// builds before leases lack it).
Status EnsureLeaseDir(const std::string& state_dir);

// The id <state>/active/<model> names, read with one readlink. nullopt when
// the model has no pointer; kIntegrity when the pointer is malformed.
Result<std::optional<std::string>> ReadActiveId(const std::string& state_dir,
                                                const std::string& model);

// An open lease file (a FileLock of the platform seam). Destroying it drops
// whatever lock it held.
class LockFile {
 public:
  // Opens the version's lock file, creating it when `create` (mode 0644).
  // exists() is false (with an ok status) when it is missing and !create.
  static Result<LockFile> Open(Platform& platform, const std::string& state_dir,
                               const std::string& version_id, bool create);

  bool exists() const { return lock_ != nullptr; }
  // Non-blocking: true when the lock was taken, false when someone else's
  // lock conflicts. kIo for other failures.
  Result<bool> TryShared() { return lock_->TryShared(); }
  Result<bool> TryExclusive() { return lock_->TryExclusive(); }
  void Unlock() { lock_->Unlock(); }
  // True when `path` still names the file this object has open (it was not
  // removed and recreated in between).
  bool StillAt(const std::string& path) const { return lock_->StillAt(path); }
  // Hands the lock over (to a Lease).
  std::unique_ptr<FileLock> Release() { return std::move(lock_); }

 private:
  explicit LockFile(std::unique_ptr<FileLock> lock) : lock_(std::move(lock)) {}
  std::unique_ptr<FileLock> lock_;
};

}  // namespace ota::agent::lease_files

#endif  // OTA_AGENT_SRC_LEASE_FILES_H_
