#include "ota/agent/conditions.h"

#include <time.h>

#include <cstdio>
#include <utility>

namespace ota::agent {
namespace {

using manifest::DownloadPolicy;
using manifest::DownloadRule;
using manifest::HostConditions;
using manifest::NetworkKind;
using manifest::TimeWindow;

constexpr std::uint64_t kMaxConditionsFileBytes = 64 * 1024;

std::string Mib(std::uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

bool InWindow(const TimeWindow& w, std::uint32_t minute) {
  if (w.start_minute < w.end_minute) return minute >= w.start_minute && minute < w.end_minute;
  return minute >= w.start_minute || minute < w.end_minute;  // Wraps past midnight.
}

// The first requirement of `rule` the conditions miss ("" when all are met).
std::string UnmetRequirement(const DownloadRule& rule, const HostConditions& c) {
  if (rule.unmetered && c.network != NetworkKind::kUnmetered) return "needs an unmetered network";
  if (rule.charging && !c.charging) return "needs the device charging";
  if (rule.idle && !c.idle) return "needs the device idle";
  if (rule.min_battery_percent > 0 && c.battery_percent &&
      *c.battery_percent < rule.min_battery_percent) {
    return "needs the battery at " + std::to_string(rule.min_battery_percent) + "% or more (now " +
           std::to_string(*c.battery_percent) + "%)";
  }
  return "";
}

}  // namespace

std::uint32_t LocalMinuteOfDay(std::chrono::system_clock::time_point now,
                               std::optional<std::int32_t> utc_offset_minutes) {
  const std::int64_t unix_seconds =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  std::int64_t offset_seconds = 0;
  if (utc_offset_minutes) {
    offset_seconds = std::int64_t{*utc_offset_minutes} * 60;
  } else {
    const time_t t = static_cast<time_t>(unix_seconds);
    struct tm local {};
    if (localtime_r(&t, &local) != nullptr) offset_seconds = local.tm_gmtoff;
  }
  std::int64_t minute = ((unix_seconds + offset_seconds) / 60) % (24 * 60);
  if (minute < 0) minute += 24 * 60;
  return static_cast<std::uint32_t>(minute);
}

std::optional<std::string> DownloadBlocked(const DownloadPolicy& policy, const HostConditions& c,
                                           std::uint64_t bytes, std::uint64_t space_needed,
                                           std::chrono::system_clock::time_point now) {
  if (c.network == NetworkKind::kNone) return std::string("no network");
  if (c.free_storage_bytes && *c.free_storage_bytes < space_needed) {
    return "needs " + Mib(space_needed) + " of free storage (the host reports " +
           Mib(*c.free_storage_bytes) + ")";
  }
  if (policy.rules) {
    for (const DownloadRule& rule : *policy.rules) {
      if (bytes <= rule.above_bytes) continue;
      const std::string unmet = UnmetRequirement(rule, c);
      if (!unmet.empty()) {
        return unmet + " (download " + Mib(bytes) +
               (rule.above_bytes > 0 ? ", above " + Mib(rule.above_bytes) + ")" : ")");
      }
    }
  }
  if (policy.windows && !policy.windows->empty()) {
    const std::uint32_t minute = LocalMinuteOfDay(now, c.utc_offset_minutes);
    std::string listed;
    for (const TimeWindow& w : *policy.windows) {
      if (InWindow(w, minute)) return std::nullopt;
      listed += (listed.empty() ? "" : ", ") + manifest::FormatLocalTime(w.start_minute) + "-" +
                manifest::FormatLocalTime(w.end_minute);
    }
    return "outside the download windows (local time " + manifest::FormatLocalTime(minute) +
           "; windows " + listed + ")";
  }
  return std::nullopt;
}

ConditionsSource ConditionsFromFile(FileSystem& fs, std::string path) {
  return [&fs, path = std::move(path)]() -> Result<HostConditions> {
    auto text = fs.ReadFile(path, kMaxConditionsFileBytes);
    if (!text.ok()) {
      return MakeError(ErrorCode::kRetryLater,
                       "conditions file " + path + ": " + text.error().message);
    }
    auto parsed = manifest::ParseHostConditions(*text);
    if (!parsed.ok()) {
      return MakeError(ErrorCode::kRetryLater,
                       "conditions file " + path + ": " + parsed.error().message);
    }
    return parsed;
  };
}

}  // namespace ota::agent
