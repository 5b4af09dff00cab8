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

// Opens the version's lease file through the platform seam, creating it
// (mode 0644) when `create`; nullptr (with an ok status) when it is missing
// and !create. Destroying the lock drops whatever it held.
Result<std::unique_ptr<FileLock>> OpenLock(Platform& platform, const std::string& state_dir,
                                           const std::string& version_id, bool create);

}  // namespace ota::agent::lease_files

#endif  // OTA_AGENT_SRC_LEASE_FILES_H_
