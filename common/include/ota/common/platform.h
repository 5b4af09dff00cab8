// Platform seam: the operating-system services that are not plain file I/O.
// Advisory file locks (flock(2) on POSIX) back session leases and the state
// folder's single-writer lock; rename notices (inotify on Linux) back the
// "new version active" subscriptions. A port to a system without them (iOS
// has flock but no inotify) replaces them here, in one place, and tests
// substitute fakes. Part of Env (env.h). Implemented in library ota_common.
#ifndef OTA_COMMON_PLATFORM_H_
#define OTA_COMMON_PLATFORM_H_

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ota/common/result.h"

namespace ota {

// One open lockable file. Locks belong to this object, not to the process:
// two FileLocks on the same file conflict even inside one process (flock's
// "open file description" semantics), and destroying the object drops its
// lock, as the kernel does for a process that dies.
class FileLock {
 public:
  virtual ~FileLock() = default;
  // Non-blocking. true: taken; false: another holder's lock conflicts.
  virtual Result<bool> TryShared() = 0;
  virtual Result<bool> TryExclusive() = 0;
  virtual void Unlock() = 0;
  // True when `path` still names the file this object has open (it was not
  // removed, or removed and created again, meanwhile).
  virtual bool StillAt(const std::string& path) const = 0;
};

// Notices of entries renamed into one directory.
class RenameWatch {
 public:
  virtual ~RenameWatch() = default;
  // Blocks until something may have been renamed into the directory, or
  // until Wake. Returns nullopt after Wake; otherwise the names renamed in,
  // where an empty list means "anything may have changed: look again at
  // every entry" (what a polling implementation returns).
  virtual Result<std::optional<std::vector<std::string>>> Wait() = 0;
  // From any thread: the Wait in progress (or the next one) returns nullopt.
  virtual void Wake() = 0;
};

class Platform {
 public:
  virtual ~Platform() = default;
  // Opens `path` for locking. With `create`, creates it (with `mode`) when
  // missing; without, a missing file gives nullptr (not an error).
  virtual Result<std::unique_ptr<FileLock>> OpenLock(const std::string& path, bool create,
                                                     unsigned mode = 0644) = 0;
  // Starts watching `dir`. kNotFound when it does not exist.
  virtual Result<std::unique_ptr<RenameWatch>> WatchRenames(const std::string& dir) = 0;
};

// The process's platform: flock locks; inotify notices on Linux, polling
// (every 500 ms) elsewhere. Lives for the whole process.
Platform& DefaultPlatform();

// flock locks with a polling watch: Wait returns an empty list every
// `interval`, for systems (or tests) without rename notices.
std::unique_ptr<Platform> MakePollingPlatform(std::chrono::milliseconds interval);

}  // namespace ota

#endif  // OTA_COMMON_PLATFORM_H_
