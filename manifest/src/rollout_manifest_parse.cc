// JSON -> RolloutManifest: types, required and unknown fields. The rules that
// do not depend on JSON types live in ValidateRolloutManifest.
#include <cmath>
#include <initializer_list>
#include <set>
#include <utility>

#include "ota/manifest/canonical_json.h"
#include "ota/manifest/download_policy.h"
#include "ota/manifest/rollout_manifest.h"
#include "ota/manifest/tuf_metadata.h"
#include "rollout_manifest_internal.h"

namespace ota::manifest {
namespace {

using nlohmann::json;
using rollout_internal::Index;
using rollout_internal::Invalid;
using rollout_internal::Quote;

constexpr std::size_t kMaxJsonDepth = 16;

std::string Field(const std::string& where, std::string_view key) {
  return where.empty() ? std::string(key) : where + "." + std::string(key);
}

std::string Article(json::value_t type) {
  const bool vowel = type == json::value_t::object || type == json::value_t::array;
  return (vowel ? "an " : "a ") + std::string(json(type).type_name());
}

Status CheckObject(const json& j, const std::string& where,
                   std::initializer_list<std::string_view> known) {
  if (!j.is_object()) {
    return Invalid((where.empty() ? std::string("the rollout manifest") : where) +
                   " must be an object, not " + j.type_name());
  }
  for (const auto& item : j.items()) {
    if (std::find(known.begin(), known.end(), item.key()) == known.end()) {
      return Invalid((where.empty() ? std::string("the rollout manifest") : where) +
                     " has the unknown field " + Quote(item.key()));
    }
  }
  return Ok();
}

// The member `key` of `j`, or nullptr if absent and optional.
Result<const json*> Find(const json& j, std::string_view key, const std::string& where,
                         json::value_t type, bool required) {
  auto it = j.find(key);
  if (it == j.end()) {
    if (required) return Invalid(Field(where, key) + " is missing");
    return static_cast<const json*>(nullptr);
  }
  if (it->type() != type) {
    return Invalid(Field(where, key) + " must be " + Article(type) + ", not " + it->type_name());
  }
  return &*it;
}

Result<std::string> String(const json& j, std::string_view key, const std::string& where) {
  OTA_ASSIGN_OR_RETURN(const json* v, Find(j, key, where, json::value_t::string, true));
  return v->get<std::string>();
}

Result<std::uint64_t> Uint(const json& j, std::string_view key, const std::string& where) {
  auto it = j.find(key);
  const std::string field = Field(where, key);
  if (it == j.end()) return Invalid(field + " is missing");
  if (it->is_number_unsigned()) return it->get<std::uint64_t>();
  if (it->is_number_integer()) return Invalid(field + " must not be negative, not " + it->dump());
  if (it->is_number_float()) {
    return Invalid(field + " must be a whole number without fraction or exponent, not " +
                   it->dump());
  }
  return Invalid(field + " must be a non-negative integer, not " + it->type_name());
}

Result<Version> SemVer(const json& j, std::string_view key, const std::string& where) {
  OTA_ASSIGN_OR_RETURN(std::string text, String(j, key, where));
  Result<Version> v = ParseVersion(text);
  if (!v.ok()) return Invalid(Field(where, key) + " " + Quote(text) + ": " + v.error().message);
  return std::move(*v);
}

Result<VersionRange> Range(const json& j, std::string_view key, const std::string& where) {
  OTA_ASSIGN_OR_RETURN(std::string text, String(j, key, where));
  Result<VersionRange> r = ParseVersionRange(text);
  if (!r.ok()) return Invalid(Field(where, key) + ": " + r.error().message);
  return std::move(*r);
}

// A JSON number 0 < p <= 100 with at most two decimal places, in hundredths.
Result<std::uint32_t> Percent(const json& value, const std::string& field) {
  if (!value.is_number()) {
    return Invalid(field + " must be a number, not " + std::string(value.type_name()));
  }
  const double p = value.get<double>();
  if (!(p > 0.0 && p <= 100.0)) {
    return Invalid(field + " must be more than 0 and at most 100, not " + value.dump());
  }
  const double hundredths = p * 100.0;
  const double rounded = std::round(hundredths);
  if (std::fabs(hundredths - rounded) > 1e-6) {
    return Invalid(field + " must have at most two decimal places, not " + value.dump());
  }
  return static_cast<std::uint32_t>(rounded);
}

// An array of strings, kept in document order.
Result<std::vector<std::string>> Strings(const json& j, std::string_view key,
                                         const std::string& where) {
  OTA_ASSIGN_OR_RETURN(const json* v, Find(j, key, where, json::value_t::array, true));
  const std::string field = Field(where, key);
  if (v->size() > kMaxSelectorValues) {
    return Invalid(field + " has " + std::to_string(v->size()) +
                   " entries, more than the maximum of " + std::to_string(kMaxSelectorValues));
  }
  if (v->empty()) return Invalid(field + " must list at least one value (or be left out)");
  std::vector<std::string> out;
  for (std::size_t i = 0; i < v->size(); ++i) {
    const json& item = (*v)[i];
    if (!item.is_string()) {
      return Invalid(Index(field, i) + " must be a string, not " + item.type_name());
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

Result<StageSelectors> ParseSelectors(const json& j, const std::string& where) {
  OTA_TRY(CheckObject(j, where, {"attributes", "app_version", "tags", "region"}));
  StageSelectors s;
  OTA_ASSIGN_OR_RETURN(const json* attributes,
                       Find(j, "attributes", where, json::value_t::object, false));
  if (attributes != nullptr) {
    if (attributes->empty()) {
      return Invalid(where +
                     ".attributes must name at least one attribute (leave it out to "
                     "match every device)");
    }
    for (const auto& item : attributes->items()) {
      const std::string field = where + ".attributes." + item.key();
      if (item.value().is_string()) {
        s.attributes[item.key()] = {item.value().get<std::string>()};
      } else if (item.value().is_array()) {
        OTA_ASSIGN_OR_RETURN(s.attributes[item.key()],
                             Strings(*attributes, item.key(), where + ".attributes"));
      } else {
        return Invalid(field + " must be a string or an array of strings, not " +
                       item.value().type_name());
      }
    }
  }
  if (j.contains("app_version")) {
    OTA_ASSIGN_OR_RETURN(s.app_version, Range(j, "app_version", where));
  }
  OTA_ASSIGN_OR_RETURN(const json* tags, Find(j, "tags", where, json::value_t::object, false));
  if (tags != nullptr) {
    const std::string tags_where = where + ".tags";
    OTA_TRY(CheckObject(*tags, tags_where, {"any_of", "all_of"}));
    if (tags->empty()) return Invalid(tags_where + " must hold any_of, all_of or both");
    if (tags->contains("any_of")) {
      OTA_ASSIGN_OR_RETURN(s.tags_any_of, Strings(*tags, "any_of", tags_where));
    }
    if (tags->contains("all_of")) {
      OTA_ASSIGN_OR_RETURN(s.tags_all_of, Strings(*tags, "all_of", tags_where));
    }
  }
  if (j.contains("region")) {
    OTA_ASSIGN_OR_RETURN(s.regions, Strings(j, "region", where));
  }
  return s;
}

Result<RolloutStage> ParseStage(const json& j, const std::string& where) {
  OTA_TRY(CheckObject(j, where, {"percent", "selectors", "min_soak_seconds"}));
  RolloutStage stage;
  auto percent = j.find("percent");
  if (percent == j.end()) return Invalid(where + ".percent is missing");
  OTA_ASSIGN_OR_RETURN(stage.percent_hundredths, Percent(*percent, where + ".percent"));
  OTA_ASSIGN_OR_RETURN(const json* selectors,
                       Find(j, "selectors", where, json::value_t::object, false));
  if (selectors != nullptr) {
    OTA_ASSIGN_OR_RETURN(stage.selectors, ParseSelectors(*selectors, where + ".selectors"));
  }
  OTA_ASSIGN_OR_RETURN(stage.min_soak_seconds, Uint(j, "min_soak_seconds", where));
  return stage;
}

Result<RolloutState> ParseState(const json& j) {
  OTA_ASSIGN_OR_RETURN(std::string state, String(j, "state", ""));
  if (state == "active") return RolloutState::kActive;
  if (state == "paused") return RolloutState::kPaused;
  if (state == "halted") return RolloutState::kHalted;
  return Invalid("state " + Quote(state) + " must be one of active, paused, halted");
}

Result<RollbackCohorts> ParseCohorts(const json& j) {
  const std::string where = "rollback.cohorts";
  RollbackCohorts cohorts;
  if (j.is_string()) {
    if (j.get<std::string>() != "all") {
      return Invalid(where + " " + Quote(j.get<std::string>()) +
                     " must be \"all\", {\"stages\": [...]} or {\"percent\": p}");
    }
    cohorts.kind = RollbackCohorts::Kind::kAll;
    return cohorts;
  }
  if (!j.is_object()) {
    return Invalid(where + " must be \"all\" or an object, not " + std::string(j.type_name()));
  }
  OTA_TRY(CheckObject(j, where, {"stages", "percent"}));
  if (j.size() != 1) return Invalid(where + " must hold exactly one of stages, percent");
  if (j.contains("percent")) {
    cohorts.kind = RollbackCohorts::Kind::kPercent;
    OTA_ASSIGN_OR_RETURN(cohorts.percent_hundredths, Percent(j["percent"], where + ".percent"));
    return cohorts;
  }
  cohorts.kind = RollbackCohorts::Kind::kStages;
  OTA_ASSIGN_OR_RETURN(const json* stages, Find(j, "stages", where, json::value_t::array, true));
  if (stages->size() > kMaxRolloutStages) {
    return Invalid(where + ".stages has more than " + std::to_string(kMaxRolloutStages) +
                   " entries");
  }
  for (std::size_t i = 0; i < stages->size(); ++i) {
    const json& item = (*stages)[i];
    if (!item.is_number_unsigned()) {
      return Invalid(Index(where + ".stages", i) +
                     " must be a stage index (an integer >= 0), not " + item.dump());
    }
    cohorts.stages.push_back(static_cast<std::size_t>(item.get<std::uint64_t>()));
  }
  return cohorts;
}

Result<RollbackOrder> ParseRollback(const json& j) {
  OTA_TRY(CheckObject(j, "rollback", {"to_version", "cohorts"}));
  RollbackOrder order;
  OTA_ASSIGN_OR_RETURN(order.to_version, SemVer(j, "to_version", "rollback"));
  auto cohorts = j.find("cohorts");
  if (cohorts == j.end()) return Invalid("rollback.cohorts is missing");
  OTA_ASSIGN_OR_RETURN(order.cohorts, ParseCohorts(*cohorts));
  return order;
}

Result<RolloutTarget> ParseTarget(const json& j) {
  OTA_TRY(CheckObject(j, "target", {"bundle_version", "variants"}));
  RolloutTarget target;
  OTA_ASSIGN_OR_RETURN(target.bundle_version, SemVer(j, "bundle_version", "target"));
  if (j.contains("variants")) {
    OTA_ASSIGN_OR_RETURN(target.variants, Strings(j, "variants", "target"));
  }
  return target;
}

}  // namespace

Result<RolloutManifest> RolloutManifestFromJson(const json& j) {
  OTA_TRY(CheckObject(
      j, "",
      {"schema", "rollout_id", "model", "version", "target", "stages", "current_stage",
       "stage_started_at", "pins", "state", "rollback", "shadow_policy", "download_policy"}));
  OTA_ASSIGN_OR_RETURN(std::string schema, String(j, "schema", ""));
  if (schema != kRolloutSchema) {
    return Invalid("schema " + Quote(schema) + " is not supported (expected \"" +
                   std::string(kRolloutSchema) + "\")");
  }
  RolloutManifest m;
  OTA_ASSIGN_OR_RETURN(m.rollout_id, String(j, "rollout_id", ""));
  OTA_ASSIGN_OR_RETURN(m.model, String(j, "model", ""));
  OTA_ASSIGN_OR_RETURN(m.version, Uint(j, "version", ""));

  OTA_ASSIGN_OR_RETURN(const json* target, Find(j, "target", "", json::value_t::object, true));
  OTA_ASSIGN_OR_RETURN(m.target, ParseTarget(*target));

  OTA_ASSIGN_OR_RETURN(const json* stages, Find(j, "stages", "", json::value_t::array, true));
  if (stages->size() > kMaxRolloutStages) {
    return Invalid("stages has " + std::to_string(stages->size()) +
                   " entries, more than the maximum of " + std::to_string(kMaxRolloutStages));
  }
  for (std::size_t i = 0; i < stages->size(); ++i) {
    OTA_ASSIGN_OR_RETURN(RolloutStage stage, ParseStage((*stages)[i], Index("stages", i)));
    m.stages.push_back(std::move(stage));
  }
  OTA_ASSIGN_OR_RETURN(std::uint64_t current, Uint(j, "current_stage", ""));
  m.current_stage = static_cast<std::size_t>(current);

  OTA_ASSIGN_OR_RETURN(std::string started, String(j, "stage_started_at", ""));
  Result<TimePoint> started_at = ParseExpires(started);
  if (!started_at.ok()) {
    return Invalid("stage_started_at " + Quote(started) +
                   " must be a UTC time of the form YYYY-MM-DDTHH:MM:SSZ");
  }
  if (*started_at == TimePoint::max()) {
    return Invalid("stage_started_at " + Quote(started) +
                   " is later than this system's clock can represent");
  }
  m.stage_started_at = *started_at;

  OTA_ASSIGN_OR_RETURN(const json* pins, Find(j, "pins", "", json::value_t::array, false));
  if (pins != nullptr) {
    if (pins->size() > kMaxRolloutPins) {
      return Invalid("pins has " + std::to_string(pins->size()) +
                     " entries, more than the maximum of " + std::to_string(kMaxRolloutPins));
    }
    for (std::size_t i = 0; i < pins->size(); ++i) {
      const std::string where = Index("pins", i);
      const json& pin = (*pins)[i];
      OTA_TRY(CheckObject(pin, where, {"app_versions", "bundle_version"}));
      RolloutPin p;
      OTA_ASSIGN_OR_RETURN(p.app_versions, Range(pin, "app_versions", where));
      OTA_ASSIGN_OR_RETURN(p.bundle_version, SemVer(pin, "bundle_version", where));
      m.pins.push_back(std::move(p));
    }
  }
  OTA_ASSIGN_OR_RETURN(m.state, ParseState(j));
  OTA_ASSIGN_OR_RETURN(const json* rollback, Find(j, "rollback", "", json::value_t::object, false));
  if (rollback != nullptr) {
    OTA_ASSIGN_OR_RETURN(RollbackOrder order, ParseRollback(*rollback));
    m.rollback = std::move(order);
  }
  OTA_ASSIGN_OR_RETURN(const json* shadow,
                       Find(j, "shadow_policy", "", json::value_t::object, false));
  if (shadow != nullptr) m.shadow_policy = *shadow;
  OTA_ASSIGN_OR_RETURN(const json* download,
                       Find(j, "download_policy", "", json::value_t::object, false));
  if (download != nullptr) {
    OTA_ASSIGN_OR_RETURN(m.download_policy, ParseDownloadPolicy(*download, "download_policy"));
  }
  OTA_TRY(ValidateRolloutManifest(m));
  return m;
}

Result<RolloutManifest> ParseRolloutManifest(std::string_view text) {
  JsonLimits limits;
  limits.max_bytes = kMaxRolloutManifestBytes;
  limits.max_depth = kMaxJsonDepth;
  Result<json> j = ParseJsonStrict(text, limits);
  if (!j.ok()) return Invalid("rollout manifest: " + j.error().message);
  return RolloutManifestFromJson(*j);
}

}  // namespace ota::manifest
