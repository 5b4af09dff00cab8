// rollouts/<model>.json: where a model's fleet should be (docs/formats.md,
// "Rollout manifest").
//
// One rollout manifest per model names the target bundle version, the stages
// that widen the set of devices moving to it, app-team pins, the operator
// state (active, paused, halted) and an optional rollback order. It is an
// ordinary TUF target at RolloutTargetPath(model), signed by the delegated
// "rollouts" role, so its bytes are verified before they are parsed here; the
// parser is still strict because a signing mistake must not become a fleet
// action. What a device does with it is decided by ota::rollout::Decide.
//
// Thread-safety: all functions are pure and may be called concurrently.
#ifndef OTA_MANIFEST_ROLLOUT_MANIFEST_H_
#define OTA_MANIFEST_ROLLOUT_MANIFEST_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ota/common/result.h"
#include "ota/manifest/download_policy.h"
#include "ota/manifest/version.h"
#include "ota/manifest/version_range.h"

namespace ota::manifest {

using TimePoint = std::chrono::system_clock::time_point;

// The value of "schema". A reader refuses any other value: a change that
// older readers must not misread gets a new schema name.
inline constexpr std::string_view kRolloutSchema = "modelota.rollout/1";
// Bounds that keep hostile or mistaken manifests cheap to reject.
inline constexpr std::size_t kMaxRolloutManifestBytes = 1u << 20;
inline constexpr std::size_t kMaxRolloutStages = 100;
inline constexpr std::size_t kMaxRolloutPins = 1000;
// Any list inside a selector (attribute values, tags, regions).
inline constexpr std::size_t kMaxSelectorValues = 1000;
inline constexpr std::size_t kMaxSelectorTextBytes = 256;
// 366 days: a longer soak is a typo, not a plan.
inline constexpr std::uint64_t kMaxSoakSeconds = 366ull * 24 * 3600;
// Percent in hundredths: 1 = 0.01%, 10000 = 100%.
inline constexpr std::uint32_t kFullPercentHundredths = 10000;

// Which devices a stage covers, besides its percent. Every present condition
// must hold; an empty StageSelectors matches every device.
struct StageSelectors {
  // Device attribute name -> accepted values (equality when one value,
  // membership when several). Names match [a-z0-9][a-z0-9._-]{0,63}.
  std::map<std::string, std::vector<std::string>> attributes;
  // The device's app version must be inside this range.
  std::optional<VersionRange> app_version;
  // The device must carry at least one of these tags (if non-empty) ...
  std::vector<std::string> tags_any_of;
  // ... and every one of these (if non-empty).
  std::vector<std::string> tags_all_of;
  // The device's region must be one of these (if non-empty).
  std::vector<std::string> regions;

  bool Empty() const {
    return attributes.empty() && !app_version && tags_any_of.empty() && tags_all_of.empty() &&
           regions.empty();
  }
};

struct RolloutStage {
  // 1..10000 (0.01% .. 100%); non-decreasing from one stage to the next.
  std::uint32_t percent_hundredths = 0;
  StageSelectors selectors;
  // How long the stage must run before the next one may start.
  std::uint64_t min_soak_seconds = 0;
};

struct RolloutTarget {
  Version bundle_version;
  // Bundle variants of that version the rollout ships (e.g. "q4", "q8");
  // empty means every variant. Unique.
  std::vector<std::string> variants;
};

// "App versions in this range use exactly this bundle version", whatever the
// stages say.
struct RolloutPin {
  VersionRange app_versions;
  Version bundle_version;
};

enum class RolloutState { kActive, kPaused, kHalted };

// Which devices a rollback order applies to.
struct RollbackCohorts {
  enum class Kind {
    kAll,      // "all"
    kStages,   // {"stages": [i, ...]}: the devices stage i covers
    kPercent,  // {"percent": p}: devices whose bucket is below p (hundredths)
  };
  Kind kind = Kind::kAll;
  std::vector<std::size_t> stages;       // kStages: unique, each < stages.size().
  std::uint32_t percent_hundredths = 0;  // kPercent: 1..10000.
};

struct RollbackOrder {
  // The version devices go back to; differs from target.bundle_version.
  Version to_version;
  RollbackCohorts cohorts;
};

struct RolloutManifest {
  // Salt of the cohort hash (ota::rollout::CohortBucket): a new rollout id
  // reshuffles the fleet. [a-z0-9][a-z0-9._-]{0,63}.
  std::string rollout_id;
  // The model name, as in bundle.json. [a-z0-9][a-z0-9._-]{0,63}.
  std::string model;
  // The manifest's own version, >= 1, raised by every change. A reader that
  // has seen version N refuses anything lower.
  std::uint64_t version = 0;
  RolloutTarget target;
  std::vector<RolloutStage> stages;  // 1..kMaxRolloutStages.
  std::size_t current_stage = 0;     // Index into stages.
  TimePoint stage_started_at{};      // Whole seconds, UTC.
  std::vector<RolloutPin> pins;      // First match wins.
  RolloutState state = RolloutState::kActive;
  std::optional<RollbackOrder> rollback;
  // Overrides of the bundle's shadow-test policy for this rollout, kept as
  // the JSON object it is; ota::shadow::ResolvePolicy interprets it.
  std::optional<nlohmann::json> shadow_policy;
  // Overrides of the download policy (ota/manifest/download_policy.h) for
  // devices taking this rollout's target.
  std::optional<DownloadPolicy> download_policy;
};

// The TUF target path of a model's rollout manifest: "rollouts/<model>.json".
std::string RolloutTargetPath(std::string_view model);

// "active", "paused", "halted".
std::string_view RolloutStateName(RolloutState state);

// Parses and validates rollout manifest text. Refuses invalid JSON, duplicate
// keys, documents over kMaxRolloutManifestBytes, the wrong "schema", missing
// required fields, wrong types and unknown fields at every level, then
// applies ValidateRolloutManifest.
// Errors: kInvalidArgument with one message naming the field, e.g.
// "stages[2].percent must be more than 0 and at most 100, not 150".
Result<RolloutManifest> ParseRolloutManifest(std::string_view json);

// The same for an already parsed JSON value.
Result<RolloutManifest> RolloutManifestFromJson(const nlohmann::json& json);

// Checks the rules that do not depend on JSON types: identifiers, versions,
// 1..kMaxRolloutStages stages with percents in 1..10000 that never decrease,
// soak at most kMaxSoakSeconds, current_stage inside stages, selector lists
// non-empty where present, unique and bounded, a rollback to a version other
// than the target naming existing stages.
// Errors: kInvalidArgument naming the field.
Status ValidateRolloutManifest(const RolloutManifest& manifest);

// The manifest as a JSON object. Requires a manifest that passes
// ValidateRolloutManifest. RolloutManifestFromJson(ToJson(m)) gives back m.
nlohmann::json ToJson(const RolloutManifest& manifest);

// Deterministic pretty JSON (two-space indent, keys sorted, trailing
// newline): the same manifest always gives the same bytes.
std::string SerializeRolloutManifest(const RolloutManifest& manifest);

// "12.5" for 1250, "1" for 100: the percent as written in the document.
std::string FormatPercent(std::uint32_t percent_hundredths);

}  // namespace ota::manifest

#endif  // OTA_MANIFEST_ROLLOUT_MANIFEST_H_
