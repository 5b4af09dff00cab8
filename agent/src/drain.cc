#include "ota/agent/drain.h"

#include <unistd.h>

#include "lease_files.h"

namespace ota::agent {
namespace {

using lease_files::OpenLock;

std::chrono::milliseconds Since(Clock& clock, std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock.Monotonic() - start);
}

// Waits until nobody holds the version or the deadline passes; true when
// it was free at the last probe.
Result<bool> WaitUnheld(FileLock& lock, const DrainOptions& options, Clock& clock,
                        std::chrono::steady_clock::time_point start) {
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool free, lock.TryExclusive());
    if (free) {
      lock.Unlock();
      return true;
    }
    if (Since(clock, start) >= options.deadline) return false;
    clock.SleepFor(options.poll);
  }
}

}  // namespace

std::string_view DrainPolicyName(DrainPolicy policy) {
  return policy == DrainPolicy::kDefer ? "defer" : "switch-new-first";
}

std::optional<DrainPolicy> ParseDrainPolicy(std::string_view name) {
  if (name == "defer") return DrainPolicy::kDefer;
  if (name == "switch-new-first") return DrainPolicy::kSwitchNewFirst;
  return std::nullopt;
}

Result<DrainReport> ActivateWithDrain(const std::string& state_dir, const std::string& /*model*/,
                                      const std::optional<std::string>& old_id,
                                      const std::string& new_id, const DrainOptions& options,
                                      Platform& platform, Clock& clock,
                                      const std::function<Status()>& do_switch) {
  const auto start = clock.Monotonic();
  DrainReport report;
  OTA_TRY(lease_files::EnsureLeaseDir(state_dir));
  // The new version's lease file exists before anyone can be pointed at it,
  // so apps that may not create files in leases/ can still lease it.
  { OTA_ASSIGN_OR_RETURN(auto created, OpenLock(platform, state_dir, new_id, true)); }
  if (!old_id || *old_id == new_id) {
    OTA_TRY(do_switch());
    report.switched = true;
    return report;
  }
  OTA_ASSIGN_OR_RETURN(std::unique_ptr<FileLock> old_lock,
                       OpenLock(platform, state_dir, *old_id, true));
  if (options.policy == DrainPolicy::kSwitchNewFirst) {
    OTA_TRY(do_switch());
    report.switched = true;
    OTA_ASSIGN_OR_RETURN(report.old_released, WaitUnheld(*old_lock, options, clock, start));
    report.waited = Since(clock, start);
    return report;
  }
  // kDefer: switch while holding the old version's lock exclusively, so no
  // session can start on it between "nobody holds it" and the switch.
  // Sessions that meet the lock re-read the pointer and get the new version.
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool free, old_lock->TryExclusive());
    if (free) {
      Status switched = do_switch();
      old_lock->Unlock();
      OTA_TRY(switched);
      report.switched = true;
      report.waited = Since(clock, start);
      return report;
    }
    if (Since(clock, start) >= options.deadline) {
      report.switched = false;
      report.old_released = false;
      report.waited = Since(clock, start);
      return report;
    }
    clock.SleepFor(options.poll);
  }
}

Result<bool> IsHeld(Platform& platform, const std::string& state_dir,
                    const std::string& version_id) {
  OTA_ASSIGN_OR_RETURN(std::unique_ptr<FileLock> lock,
                       OpenLock(platform, state_dir, version_id, false));
  if (lock == nullptr) return false;
  OTA_ASSIGN_OR_RETURN(bool free, lock->TryExclusive());
  if (free) lock->Unlock();
  return !free;
}

Result<bool> RemoveIfUnheld(Platform& platform, const std::string& state_dir,
                            const std::string& version_id, const std::function<Status()>& remove) {
  OTA_TRY(lease_files::EnsureLeaseDir(state_dir));
  OTA_ASSIGN_OR_RETURN(std::unique_ptr<FileLock> lock,
                       OpenLock(platform, state_dir, version_id, true));
  OTA_ASSIGN_OR_RETURN(bool free, lock->TryExclusive());
  if (!free) return false;
  // Holding the lock: an Acquire that read an old pointer fails its shared
  // lock and retries; one that locks after this returns finds the lease file
  // gone (a different inode) or no folder, and retries too.
  OTA_TRY(remove());
  (void)::unlink(lease_files::LockPath(state_dir, version_id).c_str());
  return true;
}

}  // namespace ota::agent
