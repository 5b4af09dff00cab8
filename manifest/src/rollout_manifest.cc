// RolloutManifest: validation and the JSON form. Parsing is in
// rollout_manifest_parse.cc.
#include "ota/manifest/rollout_manifest.h"

#include <set>

#include "ota/manifest/tuf_metadata.h"
#include "rollout_manifest_internal.h"

namespace ota::manifest {
namespace {

using nlohmann::json;
using rollout_internal::Index;
using rollout_internal::Invalid;
using rollout_internal::IsToken;
using rollout_internal::Quote;

// Selector values and variants: 1..kMaxSelectorTextBytes bytes of printable
// text (no control characters).
Status CheckText(const std::string& field, const std::string& value) {
  if (value.empty()) return Invalid(field + " must not be empty");
  if (value.size() > kMaxSelectorTextBytes) {
    return Invalid(field + " is " + std::to_string(value.size()) +
                   " bytes long, more than the maximum of " +
                   std::to_string(kMaxSelectorTextBytes));
  }
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return Invalid(field + " contains a control character");
  }
  return Ok();
}

// A list that, when present, is non-empty, bounded, and free of repeats.
Status CheckList(const std::string& field, const std::vector<std::string>& values) {
  if (values.size() > kMaxSelectorValues) {
    return Invalid(field + " has " + std::to_string(values.size()) +
                   " entries, more than the maximum of " + std::to_string(kMaxSelectorValues));
  }
  std::set<std::string> seen;
  for (std::size_t i = 0; i < values.size(); ++i) {
    OTA_TRY(CheckText(Index(field, i), values[i]));
    if (!seen.insert(values[i]).second) {
      return Invalid(Index(field, i) + " " + Quote(values[i]) + " is listed twice");
    }
  }
  return Ok();
}

Status CheckRange(const std::string& field, const VersionRange& range) {
  Result<VersionRange> reparsed = ParseVersionRange(range.text);
  if (!reparsed.ok()) return Invalid(field + ": " + reparsed.error().message);
  return Ok();
}

Status CheckVersion(const std::string& field, const Version& v) {
  Result<Version> reparsed = ParseVersion(ToString(v));
  if (!reparsed.ok()) return Invalid(field + ": " + reparsed.error().message);
  return Ok();
}

Status CheckSelectors(const std::string& where, const StageSelectors& s) {
  for (const auto& [name, values] : s.attributes) {
    const std::string field = where + ".attributes." + name;
    if (!IsToken(name)) {
      return Invalid(where + ".attributes name " + Quote(name) +
                     " must match [a-z0-9][a-z0-9._-]{0,63}");
    }
    if (values.empty()) return Invalid(field + " must list at least one value");
    OTA_TRY(CheckList(field, values));
  }
  if (s.app_version) OTA_TRY(CheckRange(where + ".app_version", *s.app_version));
  OTA_TRY(CheckList(where + ".tags.any_of", s.tags_any_of));
  OTA_TRY(CheckList(where + ".tags.all_of", s.tags_all_of));
  OTA_TRY(CheckList(where + ".region", s.regions));
  return Ok();
}

Status CheckPercent(const std::string& field, std::uint32_t hundredths) {
  if (hundredths < 1 || hundredths > kFullPercentHundredths) {
    return Invalid(field + " must be more than 0 and at most 100, not " +
                   FormatPercent(hundredths));
  }
  return Ok();
}

Status CheckStages(const RolloutManifest& m) {
  if (m.stages.empty()) return Invalid("stages must list at least one stage");
  if (m.stages.size() > kMaxRolloutStages) {
    return Invalid("stages has " + std::to_string(m.stages.size()) +
                   " entries, more than the maximum of " + std::to_string(kMaxRolloutStages));
  }
  for (std::size_t i = 0; i < m.stages.size(); ++i) {
    const std::string where = Index("stages", i);
    const RolloutStage& stage = m.stages[i];
    OTA_TRY(CheckPercent(where + ".percent", stage.percent_hundredths));
    if (i > 0 && stage.percent_hundredths < m.stages[i - 1].percent_hundredths) {
      return Invalid(where + ".percent must not be below " + Index("stages", i - 1) + ".percent (" +
                     FormatPercent(m.stages[i - 1].percent_hundredths) + "), not " +
                     FormatPercent(stage.percent_hundredths));
    }
    OTA_TRY(CheckSelectors(where + ".selectors", stage.selectors));
    if (stage.min_soak_seconds > kMaxSoakSeconds) {
      return Invalid(where + ".min_soak_seconds must be at most " +
                     std::to_string(kMaxSoakSeconds) + " (366 days), not " +
                     std::to_string(stage.min_soak_seconds));
    }
  }
  if (m.current_stage >= m.stages.size()) {
    return Invalid("current_stage must be a stage index below " + std::to_string(m.stages.size()) +
                   ", not " + std::to_string(m.current_stage));
  }
  return Ok();
}

Status CheckRollback(const RolloutManifest& m) {
  const RollbackOrder& r = *m.rollback;
  OTA_TRY(CheckVersion("rollback.to_version", r.to_version));
  if (r.to_version == m.target.bundle_version) {
    return Invalid("rollback.to_version " + Quote(ToString(r.to_version)) +
                   " must differ from target.bundle_version");
  }
  switch (r.cohorts.kind) {
    case RollbackCohorts::Kind::kAll:
      break;
    case RollbackCohorts::Kind::kPercent:
      OTA_TRY(CheckPercent("rollback.cohorts.percent", r.cohorts.percent_hundredths));
      break;
    case RollbackCohorts::Kind::kStages: {
      if (r.cohorts.stages.empty()) {
        return Invalid("rollback.cohorts.stages must list at least one stage index");
      }
      std::set<std::size_t> seen;
      for (std::size_t i = 0; i < r.cohorts.stages.size(); ++i) {
        const std::size_t stage = r.cohorts.stages[i];
        const std::string field = Index("rollback.cohorts.stages", i);
        if (stage >= m.stages.size()) {
          return Invalid(field + " must be a stage index below " + std::to_string(m.stages.size()) +
                         ", not " + std::to_string(stage));
        }
        if (!seen.insert(stage).second) {
          return Invalid(field + " " + std::to_string(stage) + " is listed twice");
        }
      }
      break;
    }
  }
  return Ok();
}

json SelectorsToJson(const StageSelectors& s) {
  json j = json::object();
  if (!s.attributes.empty()) {
    json attributes = json::object();
    for (const auto& [name, values] : s.attributes) {
      attributes[name] = values.size() == 1 ? json(values[0]) : json(values);
    }
    j["attributes"] = std::move(attributes);
  }
  if (s.app_version) j["app_version"] = s.app_version->text;
  if (!s.tags_any_of.empty() || !s.tags_all_of.empty()) {
    json tags = json::object();
    if (!s.tags_any_of.empty()) tags["any_of"] = s.tags_any_of;
    if (!s.tags_all_of.empty()) tags["all_of"] = s.tags_all_of;
    j["tags"] = std::move(tags);
  }
  if (!s.regions.empty()) j["region"] = s.regions;
  return j;
}

// Whole percents as integers, the rest as the shortest decimal that reads
// back to the same double (nlohmann::json prints doubles that way).
json PercentToJson(std::uint32_t hundredths) {
  if (hundredths % 100 == 0) return json(hundredths / 100);
  return json(static_cast<double>(hundredths) / 100.0);
}

}  // namespace

std::string RolloutTargetPath(std::string_view model) {
  return "rollouts/" + std::string(model) + ".json";
}

std::string_view RolloutStateName(RolloutState state) {
  switch (state) {
    case RolloutState::kActive:
      return "active";
    case RolloutState::kPaused:
      return "paused";
    case RolloutState::kHalted:
      return "halted";
  }
  return "unknown";
}

std::string FormatPercent(std::uint32_t hundredths) {
  std::string out = std::to_string(hundredths / 100);
  const std::uint32_t fraction = hundredths % 100;
  if (fraction != 0) {
    out += '.';
    out += static_cast<char>('0' + fraction / 10);
    if (fraction % 10 != 0) out += static_cast<char>('0' + fraction % 10);
  }
  return out;
}

Status ValidateRolloutManifest(const RolloutManifest& m) {
  if (!IsToken(m.rollout_id)) {
    return Invalid("rollout_id " + Quote(m.rollout_id) + " must match [a-z0-9][a-z0-9._-]{0,63}");
  }
  if (!IsToken(m.model)) {
    return Invalid("model " + Quote(m.model) + " must match [a-z0-9][a-z0-9._-]{0,63}");
  }
  if (m.version < 1) return Invalid("version must be at least 1, not 0");
  OTA_TRY(CheckVersion("target.bundle_version", m.target.bundle_version));
  OTA_TRY(CheckList("target.variants", m.target.variants));
  OTA_TRY(CheckStages(m));
  if (m.stage_started_at.time_since_epoch() % std::chrono::seconds(1) !=
      TimePoint::duration::zero()) {
    return Invalid("stage_started_at must be a whole number of seconds");
  }
  if (m.pins.size() > kMaxRolloutPins) {
    return Invalid("pins has " + std::to_string(m.pins.size()) +
                   " entries, more than the maximum of " + std::to_string(kMaxRolloutPins));
  }
  for (std::size_t i = 0; i < m.pins.size(); ++i) {
    OTA_TRY(CheckRange(Index("pins", i) + ".app_versions", m.pins[i].app_versions));
    OTA_TRY(CheckVersion(Index("pins", i) + ".bundle_version", m.pins[i].bundle_version));
  }
  if (m.rollback) OTA_TRY(CheckRollback(m));
  if (m.shadow_policy && !m.shadow_policy->is_object()) {
    return Invalid("shadow_policy must be an object");
  }
  return Ok();
}

json ToJson(const RolloutManifest& m) {
  json j = json::object();
  j["schema"] = kRolloutSchema;
  j["rollout_id"] = m.rollout_id;
  j["model"] = m.model;
  j["version"] = m.version;
  json target = {{"bundle_version", ToString(m.target.bundle_version)}};
  if (!m.target.variants.empty()) target["variants"] = m.target.variants;
  j["target"] = std::move(target);
  json stages = json::array();
  for (const RolloutStage& stage : m.stages) {
    json s = {{"percent", PercentToJson(stage.percent_hundredths)},
              {"min_soak_seconds", stage.min_soak_seconds}};
    if (!stage.selectors.Empty()) s["selectors"] = SelectorsToJson(stage.selectors);
    stages.push_back(std::move(s));
  }
  j["stages"] = std::move(stages);
  j["current_stage"] = m.current_stage;
  j["stage_started_at"] = FormatExpires(m.stage_started_at);
  if (!m.pins.empty()) {
    json pins = json::array();
    for (const RolloutPin& pin : m.pins) {
      pins.push_back({{"app_versions", pin.app_versions.text},
                      {"bundle_version", ToString(pin.bundle_version)}});
    }
    j["pins"] = std::move(pins);
  }
  j["state"] = RolloutStateName(m.state);
  if (m.rollback) {
    json cohorts;
    switch (m.rollback->cohorts.kind) {
      case RollbackCohorts::Kind::kAll:
        cohorts = "all";
        break;
      case RollbackCohorts::Kind::kStages:
        cohorts = {{"stages", m.rollback->cohorts.stages}};
        break;
      case RollbackCohorts::Kind::kPercent:
        cohorts = {{"percent", PercentToJson(m.rollback->cohorts.percent_hundredths)}};
        break;
    }
    j["rollback"] = {{"to_version", ToString(m.rollback->to_version)},
                     {"cohorts", std::move(cohorts)}};
  }
  if (m.shadow_policy) j["shadow_policy"] = *m.shadow_policy;
  if (m.download_policy) j["download_policy"] = ToJson(*m.download_policy);
  return j;
}

std::string SerializeRolloutManifest(const RolloutManifest& m) {
  // nlohmann::json objects are std::map-backed, so keys come out sorted.
  return ToJson(m).dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace ota::manifest
