#include "ota/manifest/download_policy.h"

#include <cstdio>
#include <initializer_list>

#include "json_fields.h"

namespace ota::manifest {
namespace {

using internal::Fields;
using nlohmann::json;

constexpr std::size_t kMaxConditionsBytes = 64 * 1024;
constexpr std::int32_t kMaxUtcOffsetMinutes = 14 * 60;

Status OnlyKnownMembers(const Fields& f, const json& obj,
                        std::initializer_list<const char*> known) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool found = false;
    for (const char* k : known) found = found || it.key() == k;
    if (!found) return f.Invalid(it.key(), "is not a known member");
  }
  return Ok();
}

Result<bool> OptionalBool(const Fields& f, const char* name, bool fallback) {
  if (!f.Has(name)) return fallback;
  return f.Bool(name);
}

// "HH:MM" (00:00 to 23:59) as minutes after midnight.
Result<std::uint32_t> ClockMinutes(const Fields& f, const char* name) {
  OTA_ASSIGN_OR_RETURN(std::string text, f.String(name));
  unsigned h = 0;
  unsigned m = 0;
  char rest = 0;
  if (text.size() != 5 || text[2] != ':' ||
      std::sscanf(text.c_str(), "%2u:%2u%c", &h, &m, &rest) != 2 || h > 23 || m > 59) {
    return f.Invalid(name,
                     "must be a local time \"HH:MM\" from 00:00 to 23:59, not \"" + text + "\"");
  }
  return static_cast<std::uint32_t>(h * 60 + m);
}

Result<DownloadRule> ParseRule(const json& j, const std::string& what) {
  OTA_ASSIGN_OR_RETURN(Fields f, Fields::Of(j, what));
  OTA_TRY(OnlyKnownMembers(f, j,
                           {"above_bytes", "network", "charging", "idle", "min_battery_percent"}));
  DownloadRule r;
  if (f.Has("above_bytes")) {
    OTA_ASSIGN_OR_RETURN(r.above_bytes, f.Uint("above_bytes"));
  }
  if (f.Has("network")) {
    OTA_ASSIGN_OR_RETURN(std::string network, f.String("network"));
    if (network != "unmetered" && network != "any") {
      return f.Invalid("network", "must be \"unmetered\" or \"any\", not \"" + network + "\"");
    }
    r.unmetered = network == "unmetered";
  }
  OTA_ASSIGN_OR_RETURN(r.charging, OptionalBool(f, "charging", false));
  OTA_ASSIGN_OR_RETURN(r.idle, OptionalBool(f, "idle", false));
  if (f.Has("min_battery_percent")) {
    OTA_ASSIGN_OR_RETURN(std::uint64_t pct, f.Uint("min_battery_percent"));
    if (pct > 100) return f.Invalid("min_battery_percent", "must be at most 100");
    r.min_battery_percent = static_cast<std::uint32_t>(pct);
  }
  if (!r.unmetered && !r.charging && !r.idle && r.min_battery_percent == 0) {
    return MakeError(ErrorCode::kInvalidArgument,
                     what +
                         " requires nothing (give network, charging, idle or "
                         "min_battery_percent)");
  }
  return r;
}

Result<TimeWindow> ParseWindow(const json& j, const std::string& what) {
  OTA_ASSIGN_OR_RETURN(Fields f, Fields::Of(j, what));
  OTA_TRY(OnlyKnownMembers(f, j, {"from", "to"}));
  TimeWindow w;
  OTA_ASSIGN_OR_RETURN(w.start_minute, ClockMinutes(f, "from"));
  OTA_ASSIGN_OR_RETURN(w.end_minute, ClockMinutes(f, "to"));
  if (w.start_minute == w.end_minute) {
    return MakeError(ErrorCode::kInvalidArgument,
                     what +
                         " is empty (\"from\" equals \"to\"); leave \"windows\" empty for "
                         "any time");
  }
  return w;
}

template <typename T, typename ParseOne>
Result<std::vector<T>> ParseList(const Fields& f, const char* name, std::size_t max,
                                 const ParseOne& parse_one) {
  OTA_ASSIGN_OR_RETURN(const json* arr, f.Array(name));
  if (arr->size() > max) {
    return f.Invalid(name, "has " + std::to_string(arr->size()) + " entries; at most " +
                               std::to_string(max) + " are allowed");
  }
  std::vector<T> out;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    OTA_ASSIGN_OR_RETURN(
        T one, parse_one((*arr)[i], f.what() + "." + name + "[" + std::to_string(i) + "]"));
    out.push_back(one);
  }
  return out;
}

}  // namespace

std::string FormatLocalTime(std::uint32_t minute_of_day) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02u:%02u", minute_of_day / 60 % 24, minute_of_day % 60);
  return buf;
}

DownloadPolicy DefaultDownloadPolicy() {
  DownloadPolicy p;
  DownloadRule metered;
  metered.above_bytes = std::uint64_t{50} << 20;
  metered.unmetered = true;
  DownloadRule charging;
  charging.above_bytes = std::uint64_t{500} << 20;
  charging.charging = true;
  p.rules = std::vector<DownloadRule>{metered, charging};
  p.windows = std::vector<TimeWindow>{};
  p.max_bytes_per_second = 0;
  return p;
}

DownloadPolicy OverlayDownloadPolicy(const DownloadPolicy& base, const DownloadPolicy& over) {
  DownloadPolicy p = base;
  if (over.rules) p.rules = over.rules;
  if (over.windows) p.windows = over.windows;
  if (over.max_bytes_per_second) p.max_bytes_per_second = over.max_bytes_per_second;
  return p;
}

Result<DownloadPolicy> ParseDownloadPolicy(const json& j, std::string_view what) {
  OTA_ASSIGN_OR_RETURN(Fields f, Fields::Of(j, std::string(what)));
  OTA_TRY(OnlyKnownMembers(f, j, {"rules", "windows", "max_bytes_per_second"}));
  DownloadPolicy p;
  if (f.Has("rules")) {
    OTA_ASSIGN_OR_RETURN(p.rules,
                         ParseList<DownloadRule>(f, "rules", kMaxDownloadRules, ParseRule));
  }
  if (f.Has("windows")) {
    OTA_ASSIGN_OR_RETURN(p.windows,
                         ParseList<TimeWindow>(f, "windows", kMaxTimeWindows, ParseWindow));
  }
  if (f.Has("max_bytes_per_second")) {
    OTA_ASSIGN_OR_RETURN(p.max_bytes_per_second, f.Uint("max_bytes_per_second"));
  }
  return p;
}

json ToJson(const DownloadPolicy& policy) {
  json j = json::object();
  if (policy.rules) {
    json rules = json::array();
    for (const DownloadRule& r : *policy.rules) {
      json one = {{"above_bytes", r.above_bytes}};
      if (r.unmetered) one["network"] = "unmetered";
      if (r.charging) one["charging"] = true;
      if (r.idle) one["idle"] = true;
      if (r.min_battery_percent > 0) one["min_battery_percent"] = r.min_battery_percent;
      rules.push_back(std::move(one));
    }
    j["rules"] = std::move(rules);
  }
  if (policy.windows) {
    json windows = json::array();
    for (const TimeWindow& w : *policy.windows) {
      windows.push_back(
          {{"from", FormatLocalTime(w.start_minute)}, {"to", FormatLocalTime(w.end_minute)}});
    }
    j["windows"] = std::move(windows);
  }
  if (policy.max_bytes_per_second) j["max_bytes_per_second"] = *policy.max_bytes_per_second;
  return j;
}

std::string_view NetworkKindName(NetworkKind kind) {
  switch (kind) {
    case NetworkKind::kNone:
      return "none";
    case NetworkKind::kMetered:
      return "metered";
    case NetworkKind::kUnmetered:
      return "unmetered";
  }
  return "unmetered";
}

Result<HostConditions> ParseHostConditions(std::string_view text) {
  const std::string what = "device conditions";
  if (text.size() > kMaxConditionsBytes) {
    return MakeError(ErrorCode::kInvalidArgument,
                     what + " are " + std::to_string(text.size()) + " bytes; at most " +
                         std::to_string(kMaxConditionsBytes) + " are allowed");
  }
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return MakeError(ErrorCode::kInvalidArgument, what + " are not JSON");
  OTA_ASSIGN_OR_RETURN(Fields f, Fields::Of(j, what));
  OTA_TRY(OnlyKnownMembers(f, j,
                           {"network", "charging", "idle", "battery_percent", "free_storage_bytes",
                            "utc_offset_minutes"}));
  HostConditions c;
  if (f.Has("network")) {
    OTA_ASSIGN_OR_RETURN(std::string network, f.String("network"));
    if (network == "none") {
      c.network = NetworkKind::kNone;
    } else if (network == "metered") {
      c.network = NetworkKind::kMetered;
    } else if (network == "unmetered") {
      c.network = NetworkKind::kUnmetered;
    } else {
      return f.Invalid("network",
                       "must be \"none\", \"metered\" or \"unmetered\", not \"" + network + "\"");
    }
  }
  OTA_ASSIGN_OR_RETURN(c.charging, OptionalBool(f, "charging", true));
  OTA_ASSIGN_OR_RETURN(c.idle, OptionalBool(f, "idle", true));
  if (f.Has("battery_percent")) {
    OTA_ASSIGN_OR_RETURN(std::uint64_t pct, f.Uint("battery_percent"));
    if (pct > 100) return f.Invalid("battery_percent", "must be at most 100");
    c.battery_percent = static_cast<std::uint32_t>(pct);
  }
  if (f.Has("free_storage_bytes")) {
    OTA_ASSIGN_OR_RETURN(c.free_storage_bytes, f.Uint("free_storage_bytes"));
  }
  if (f.Has("utc_offset_minutes")) {
    const json& v = f.Raw("utc_offset_minutes");
    if (!v.is_number_integer() || v.get<std::int64_t>() < -kMaxUtcOffsetMinutes ||
        v.get<std::int64_t>() > kMaxUtcOffsetMinutes) {
      return f.Invalid("utc_offset_minutes", "must be an integer from -840 to 840");
    }
    c.utc_offset_minutes = static_cast<std::int32_t>(v.get<std::int64_t>());
  }
  return c;
}

json ToJson(const HostConditions& c) {
  json j = {{"network", NetworkKindName(c.network)}, {"charging", c.charging}, {"idle", c.idle}};
  if (c.battery_percent) j["battery_percent"] = *c.battery_percent;
  if (c.free_storage_bytes) j["free_storage_bytes"] = *c.free_storage_bytes;
  if (c.utc_offset_minutes) j["utc_offset_minutes"] = *c.utc_offset_minutes;
  return j;
}

}  // namespace ota::manifest
