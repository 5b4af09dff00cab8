// A platform whose locks only the platform seam can see (platform.h), for
// tests that prove the agent takes no lock behind the seam's back.
#ifndef OTA_TESTS_SUPPORT_IN_MEMORY_LOCKS_H_
#define OTA_TESTS_SUPPORT_IN_MEMORY_LOCKS_H_

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include "ota/common/platform.h"

namespace ota::testing {

// A platform whose locks live in this object's memory, not in the kernel:
// a FileLock of it conflicts only with FileLocks of the same object, with
// the same rules as flock (shared/exclusive, per object, dropped when the
// object goes). Code that took a real flock behind the seam's back would
// not see its locks, so tests run against it prove that everything goes
// through the seam. Rename notices are the default platform's.
class InMemoryLockPlatform : public Platform {
 public:
  Result<std::unique_ptr<FileLock>> OpenLock(const std::string& path, bool create,
                                             unsigned mode) override;
  Result<std::unique_ptr<RenameWatch>> WatchRenames(const std::string& dir) override;
  int locks_opened() const;

 private:
  friend class InMemoryLock;
  using Key = std::pair<unsigned long, unsigned long>;  // (device, inode)
  mutable std::mutex mu_;
  std::map<Key, std::set<const void*>> shared_;
  std::map<Key, const void*> exclusive_;
  int opened_ = 0;
};

}  // namespace ota::testing

#endif  // OTA_TESTS_SUPPORT_IN_MEMORY_LOCKS_H_
