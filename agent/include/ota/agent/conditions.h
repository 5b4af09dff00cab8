// Download conditions (docs/app-integration.md "Download conditions"): what a
// download needs (ota/manifest/download_policy.h) against what the host
// reports about the device, and the clock's local time for windows.
#ifndef OTA_AGENT_CONDITIONS_H_
#define OTA_AGENT_CONDITIONS_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "ota/common/filesystem.h"
#include "ota/common/result.h"
#include "ota/manifest/download_policy.h"

namespace ota::agent {

// What the host reports now; an error makes downloads wait (its message is
// the reason given).
using ConditionsSource = std::function<Result<manifest::HostConditions>()>;

// Why a download of `bytes`, needing `space_needed` bytes free, may not start
// (or go on) at `now` under `policy` and `conditions`; nullopt when it may.
// The reason names the first unmet requirement, e.g. "needs an unmetered
// network (download 600.0 MiB, above 50.0 MiB)" or "outside the download
// windows (local time 14:05; windows 01:00-05:00)".
std::optional<std::string> DownloadBlocked(const manifest::DownloadPolicy& policy,
                                           const manifest::HostConditions& conditions,
                                           std::uint64_t bytes, std::uint64_t space_needed,
                                           std::chrono::system_clock::time_point now);

// Minutes after local midnight at `now`: UTC plus `utc_offset_minutes`, or
// the system time zone's offset when absent.
std::uint32_t LocalMinuteOfDay(std::chrono::system_clock::time_point now,
                               std::optional<std::int32_t> utc_offset_minutes);

// Conditions read from a small JSON file the host rewrites (the daemon's
// --conditions-file; manifest::ParseHostConditions). A missing, unreadable
// or malformed file is an error: downloads wait and the message says why.
ConditionsSource ConditionsFromFile(FileSystem& fs, std::string path);

}  // namespace ota::agent

#endif  // OTA_AGENT_CONDITIONS_H_
