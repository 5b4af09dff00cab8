// When a device may download an update (docs/formats.md "Download policy"),
// and what the host says about the device right now ("Device conditions"),
// parsed once into validated types.
//
// A policy comes from three places, each overriding the one before it field
// by field: the agent's defaults, the bundle's target (`otactl publish
// --download-policy`) and the rollout manifest. The agent decides with
// ota::agent::DownloadBlocked (ota/agent/conditions.h).
//
// Thread-safety: pure functions.
#ifndef OTA_MANIFEST_DOWNLOAD_POLICY_H_
#define OTA_MANIFEST_DOWNLOAD_POLICY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ota/common/result.h"

namespace ota::manifest {

// What a download larger than `above_bytes` needs. A download must satisfy
// every rule whose threshold it passes.
struct DownloadRule {
  std::uint64_t above_bytes = 0;
  bool unmetered = false;                 // "network": "unmetered"
  bool charging = false;                  // "charging": true
  bool idle = false;                      // "idle": true
  std::uint32_t min_battery_percent = 0;  // 0..100 (0: no requirement)
  bool operator==(const DownloadRule&) const = default;
};

// A range of local time, [start, end) in minutes after midnight; start >
// end wraps past midnight ("22:00" to "06:00"). start == end is refused.
struct TimeWindow {
  std::uint32_t start_minute = 0;
  std::uint32_t end_minute = 0;
  bool operator==(const TimeWindow&) const = default;
};

// "HH:MM" for minutes after midnight (as windows are written).
std::string FormatLocalTime(std::uint32_t minute_of_day);

inline constexpr std::size_t kMaxDownloadRules = 16;
inline constexpr std::size_t kMaxTimeWindows = 16;

// Each member absent: inherited from the level below (see above).
struct DownloadPolicy {
  std::optional<std::vector<DownloadRule>> rules;
  // Downloads start only inside one of these; an empty list: at any time.
  std::optional<std::vector<TimeWindow>> windows;
  // Bytes per second a download may use (0: no cap).
  std::optional<std::uint64_t> max_bytes_per_second;
  bool operator==(const DownloadPolicy&) const = default;
};

// The agent's built-in policy: unmetered networks above 50 MiB, charging
// above 500 MiB, any time, no cap. Conditions a host does not report count
// as met (HostConditions' defaults), so a Linux box on mains is unaffected.
DownloadPolicy DefaultDownloadPolicy();

// `over`'s members replace `base`'s.
DownloadPolicy OverlayDownloadPolicy(const DownloadPolicy& base, const DownloadPolicy& over);

// {"rules": [{"above_bytes": N, "network": "unmetered"|"any", "charging":
// bool, "idle": bool, "min_battery_percent": 0..100}, ...], "windows":
// [{"from": "HH:MM", "to": "HH:MM"}, ...], "max_bytes_per_second": N}.
// Unknown members, a rule that requires nothing, more than the maximum
// rules or windows, a malformed or empty window are refused.
// Errors: kInvalidArgument naming the field, prefixed with `what`.
Result<DownloadPolicy> ParseDownloadPolicy(const nlohmann::json& json, std::string_view what);
// The policy as JSON (only the members set). ParseDownloadPolicy gives it back.
nlohmann::json ToJson(const DownloadPolicy& policy);

enum class NetworkKind { kNone, kMetered, kUnmetered };

// What the host reports about the device (an app through the C API, or a
// status file a Linux host writes for the daemon). Members a host does not
// report keep these defaults, which meet every rule.
struct HostConditions {
  NetworkKind network = NetworkKind::kUnmetered;
  bool charging = true;
  bool idle = true;
  std::optional<std::uint32_t> battery_percent;  // 0..100
  std::optional<std::uint64_t> free_storage_bytes;
  // Local time is UTC plus this (-840..840 minutes); absent: the system's
  // time zone.
  std::optional<std::int32_t> utc_offset_minutes;
  bool operator==(const HostConditions&) const = default;
};

// {"network": "none"|"metered"|"unmetered", "charging": bool, "idle": bool,
// "battery_percent": 0..100, "free_storage_bytes": N, "utc_offset_minutes":
// -840..840}, every member optional; documents over 64 KiB and unknown
// members are refused. Errors: kInvalidArgument naming the field.
Result<HostConditions> ParseHostConditions(std::string_view json);
nlohmann::json ToJson(const HostConditions& conditions);

// "none", "metered", "unmetered".
std::string_view NetworkKindName(NetworkKind kind);

}  // namespace ota::manifest

#endif  // OTA_MANIFEST_DOWNLOAD_POLICY_H_
