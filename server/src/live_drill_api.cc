// POST /v1/live-drills: a live drill's outcome, measured by `otactl drill
// live` from the drill devices' signed reports, kept as a record of the
// server audit log (docs/drills.md, "Live drills").
#include <string>

#include "fleet_api.h"
#include "ota/manifest/canonical_json.h"

namespace ota::server {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxLiveDrillBody = 64 * 1024;
constexpr std::size_t kMaxStuckDevices = 100;

Error Invalid(const std::string& m) { return MakeError(ErrorCode::kInvalidArgument, m); }

bool IsCount(const json& v) {
  return v.is_number_unsigned() && v.get<std::uint64_t>() < (1ULL << 40);
}

// Whole seconds (the server's report times are whole seconds; audit
// records hold no floating-point numbers).
bool IsSecondsOrNull(const json& v) {
  return v.is_null() || (v.is_number_unsigned() && v.get<std::uint64_t>() < 1000000000ULL);
}

bool IsShortText(const json& v, std::size_t max) {
  return v.is_string() && !v.get_ref<const std::string&>().empty() &&
         v.get_ref<const std::string&>().size() <= max;
}

// The record's fields from the body, checked field by field.
Result<json> LiveDrillFields(std::string_view body) {
  manifest::JsonLimits limits;
  limits.max_bytes = kMaxLiveDrillBody;
  limits.max_depth = 4;
  OTA_ASSIGN_OR_RETURN(json doc, manifest::ParseJsonStrict(body, limits));
  if (!doc.is_object()) return Invalid("body must be a JSON object");
  static const char* kText[] = {"rollout_id",       "model", "drill_version",
                                "baseline_version", "tag",   "ordered_at"};
  static const char* kCounts[] = {"devices", "exposed", "back"};
  static const char* kSeconds[] = {"back_p50_seconds", "back_p95_seconds", "back_max_seconds"};
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const std::string& k = it.key();
    bool known = k == "stuck" || k == "passed";
    for (const char* n : kText) known |= k == n;
    for (const char* n : kCounts) known |= k == n;
    for (const char* n : kSeconds) known |= k == n;
    if (!known) return Invalid("unknown field " + k);
  }
  for (const char* n : kText) {
    if (!doc.contains(n) || !IsShortText(doc[n], 256)) {
      return Invalid(std::string(n) + " must be a string of 1 to 256 bytes");
    }
  }
  for (const char* n : kCounts) {
    if (!doc.contains(n) || !IsCount(doc[n])) return Invalid(std::string(n) + " must be a count");
  }
  for (const char* n : kSeconds) {
    if (!doc.contains(n) || !IsSecondsOrNull(doc[n])) {
      return Invalid(std::string(n) + " must be whole seconds or null");
    }
  }
  if (!doc.contains("passed") || !doc["passed"].is_boolean()) {
    return Invalid("passed must be true or false");
  }
  if (!doc.contains("stuck") || !doc["stuck"].is_array() ||
      doc["stuck"].size() > kMaxStuckDevices) {
    return Invalid("stuck must be an array of at most 100 {device_id, why}");
  }
  for (const json& s : doc["stuck"]) {
    if (!s.is_object() || s.size() != 2 || !s.contains("device_id") ||
        !IsShortText(s["device_id"], 128) || !s.contains("why") || !IsShortText(s["why"], 500)) {
      return Invalid("stuck must be an array of at most 100 {device_id, why}");
    }
  }
  if (doc["back"].get<std::uint64_t>() > doc["devices"].get<std::uint64_t>() ||
      doc["exposed"].get<std::uint64_t>() > doc["devices"].get<std::uint64_t>()) {
    return Invalid("exposed and back cannot exceed devices");
  }
  return doc;
}

}  // namespace

ApiResponse FleetApi::RecordLiveDrill(const std::string& actor, std::string_view body) {
  auto fields = LiveDrillFields(body);
  if (!fields.ok()) return ApiError(400, "bad-request", fields.error().message);
  const std::string rollout_id = (*fields)["rollout_id"];
  if (!IsValidDeviceId(rollout_id)) return ApiError(404, "not-found", "no such rollout");
  auto rec = store_.GetRollout(rollout_id);
  if (!rec.ok()) return ApiError(500, "internal", rec.error().message);
  if (!*rec) return ApiError(404, "not-found", "no rollout " + rollout_id);
  const manifest::RolloutManifest& m = (*rec)->manifest;
  // Only a rollout of a version marked as a drill's can carry a drill record.
  if (manifest::ToString(m.target.bundle_version).find("drill") == std::string::npos) {
    return ApiError(409, "not-a-drill",
                    "rollout " + rollout_id + " targets " +
                        manifest::ToString(m.target.bundle_version) +
                        ", not a drill version (its pre-release must name drill)");
  }
  if ((*fields)["model"] != m.model ||
      (*fields)["drill_version"] != manifest::ToString(m.target.bundle_version)) {
    return ApiError(400, "bad-request", "model and drill_version must be the rollout's");
  }
  ServerAuditRecord r;
  r.type = "live-drill";
  r.actor = "operator:" + actor;
  r.rollout_id = rollout_id;
  r.model = m.model;
  r.fields = *fields;
  auto seq = store_.AppendServerRecord(r);
  if (!seq.ok())
    return ApiError(500, "internal", "cannot record the drill: " + seq.error().message);
  return {201, json{{"audit_seq", *seq}}};
}

}  // namespace ota::server
