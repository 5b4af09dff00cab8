// The lease folder's files and the flock primitives shared by the app side
// (leases.cc) and the agent side (drain.cc). See ota/agent/leases.h.
#ifndef OTA_AGENT_SRC_LEASE_FILES_H_
#define OTA_AGENT_SRC_LEASE_FILES_H_

#include <optional>
#include <string>

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

// An open lease file. Closing it drops whatever lock it held.
class LockFile {
 public:
  // Opens the version's lock file, creating it when `create` (mode 0644).
  // nullopt-like: fd() < 0 with ok status when it does not exist and !create.
  static Result<LockFile> Open(const std::string& state_dir, const std::string& version_id,
                               bool create);
  LockFile(LockFile&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  LockFile& operator=(LockFile&& other) noexcept;
  LockFile(const LockFile&) = delete;
  LockFile& operator=(const LockFile&) = delete;
  ~LockFile();

  bool exists() const { return fd_ >= 0; }
  // Non-blocking: true when the lock was taken, false when someone else's
  // lock conflicts. kIo for other failures.
  Result<bool> TryShared();
  Result<bool> TryExclusive();
  void Unlock();
  // True when `path` still names the inode this descriptor has open (the
  // file was not removed and recreated in between).
  bool StillAt(const std::string& path) const;
  // Hands the descriptor over (the caller closes it).
  int Release();

 private:
  explicit LockFile(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace ota::agent::lease_files

#endif  // OTA_AGENT_SRC_LEASE_FILES_H_
