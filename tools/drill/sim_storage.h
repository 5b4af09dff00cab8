// The disk of simulated devices in fleet drills: a FileSystem over another
// whose files and folders it shares, but which syncs nothing.
#ifndef OTA_TOOLS_DRILL_SIM_STORAGE_H_
#define OTA_TOOLS_DRILL_SIM_STORAGE_H_

#include <memory>

#include "ota/common/filesystem.h"

namespace ota::drill {

// `base`'s files and folders, but Sync and SyncDir succeed at once and
// Durable() is false, so the agents' databases skip their syncs too. A
// drill models devices, not their disks; a power cut is simulated above it
// (DroppingFileSystem), by what was synced, not by what reached the disk.
std::unique_ptr<FileSystem> MakeSimStorage(FileSystem& base);

}  // namespace ota::drill

#endif  // OTA_TOOLS_DRILL_SIM_STORAGE_H_
