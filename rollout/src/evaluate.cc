#include "ota/rollout/evaluate.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "ota/manifest/tuf_metadata.h"
#include "ota/rollout/bucket.h"

namespace ota::rollout {
namespace {

using manifest::RollbackCohorts;
using manifest::RolloutManifest;
using manifest::RolloutStage;
using manifest::RolloutState;
using manifest::StageSelectors;
using manifest::Version;

std::string V(const Version& v) { return manifest::ToString(v); }

// "1.00%": always two decimals, so reasons line up in logs.
std::string Percent(std::uint32_t hundredths) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%u.%02u%%", hundredths / 100, hundredths % 100);
  return buf;
}

std::string Join(const std::vector<std::string>& values) {
  std::string out;
  for (const std::string& v : values) out += (out.empty() ? "" : ", ") + v;
  return out;
}

bool CanRun(const DeviceFacts& device, const Version& v) {
  return std::any_of(device.runnable_versions.begin(), device.runnable_versions.end(),
                     [&](const Version& r) { return r == v; });
}

bool Contains(const std::vector<std::string>& values, const std::string& value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

bool InStageCohort(const RolloutManifest& m, std::size_t stage, std::uint32_t bucket,
                   const DeviceFacts& device) {
  return InStage(bucket, m.stages[stage].percent_hundredths) &&
         MatchesSelectors(m.stages[stage].selectors, device);
}

Decision Make(DecisionKind kind, std::optional<Version> version, std::string reason) {
  return Decision{kind, std::move(version), std::move(reason)};
}

std::string Installed(const InstalledState& installed) {
  return installed.version ? V(*installed.version) : std::string("nothing");
}

}  // namespace

std::string_view DecisionKindName(DecisionKind kind) {
  switch (kind) {
    case DecisionKind::kInstall:
      return "install";
    case DecisionKind::kStay:
      return "stay";
    case DecisionKind::kRollBack:
      return "roll-back";
    case DecisionKind::kPinned:
      return "pinned";
    case DecisionKind::kIncompatiblePin:
      return "incompatible-pin";
  }
  return "unknown";
}

bool MatchesSelectors(const StageSelectors& s, const DeviceFacts& device, std::string* why_not) {
  auto fail = [&](std::string reason) {
    if (why_not != nullptr) *why_not = std::move(reason);
    return false;
  };
  for (const auto& [name, accepted] : s.attributes) {
    auto it = device.attributes.find(name);
    if (it == device.attributes.end()) {
      return fail("attribute " + name + " is not set (wanted " + Join(accepted) + ")");
    }
    if (!Contains(accepted, it->second)) {
      return fail("attribute " + name + " \"" + it->second + "\" is not one of " + Join(accepted));
    }
  }
  if (s.app_version && !manifest::Satisfies(device.app_version, *s.app_version)) {
    return fail("app version " + V(device.app_version) + " is not in \"" + s.app_version->text +
                "\"");
  }
  if (!s.tags_any_of.empty() &&
      std::none_of(s.tags_any_of.begin(), s.tags_any_of.end(),
                   [&](const std::string& t) { return device.tags.count(t) != 0; })) {
    return fail("no tag is one of " + Join(s.tags_any_of));
  }
  for (const std::string& tag : s.tags_all_of) {
    if (device.tags.count(tag) == 0) return fail("tag " + tag + " is missing");
  }
  if (!s.regions.empty() && !Contains(s.regions, device.region)) {
    return fail("region \"" + device.region + "\" is not one of " + Join(s.regions));
  }
  return true;
}

bool InRollbackCohorts(const RolloutManifest& m, const RollbackCohorts& cohorts,
                       const DeviceFacts& device) {
  const std::uint32_t bucket = CohortBucket(device.device_id, m.rollout_id);
  switch (cohorts.kind) {
    case RollbackCohorts::Kind::kAll:
      return true;
    case RollbackCohorts::Kind::kPercent:
      return InStage(bucket, cohorts.percent_hundredths);
    case RollbackCohorts::Kind::kStages:
      return std::any_of(cohorts.stages.begin(), cohorts.stages.end(), [&](std::size_t stage) {
        return stage < m.stages.size() && InStageCohort(m, stage, bucket, device);
      });
  }
  return false;
}

Decision Decide(const RolloutManifest& m, const DeviceFacts& device,
                const InstalledState& installed, TimePoint now) {
  const Version& target = m.target.bundle_version;
  const bool on_target = installed.version && *installed.version == target;

  // 1. Pins: the app team's word beats the stages.
  for (std::size_t i = 0; i < m.pins.size(); ++i) {
    const manifest::RolloutPin& pin = m.pins[i];
    if (!manifest::Satisfies(device.app_version, pin.app_versions)) continue;
    const std::string which = "pin " + std::to_string(i) + " (app " + V(device.app_version) +
                              " in \"" + pin.app_versions.text + "\")";
    if (!CanRun(device, pin.bundle_version)) {
      return Make(DecisionKind::kIncompatiblePin, pin.bundle_version,
                  which + " names " + V(pin.bundle_version) + ", which this device cannot run");
    }
    const bool on_pin = installed.version && *installed.version == pin.bundle_version;
    if (m.state == RolloutState::kHalted && !on_pin) {
      return Make(DecisionKind::kStay, installed.version,
                  "rollout halted: " + which + " to " + V(pin.bundle_version) +
                      " not applied; staying on " + Installed(installed));
    }
    return Make(DecisionKind::kPinned, pin.bundle_version,
                which + " pins " + V(pin.bundle_version));
  }

  // 2. Rollback order.
  if (m.rollback && on_target) {
    const Version& to = m.rollback->to_version;
    if (!InRollbackCohorts(m, m.rollback->cohorts, device)) {
      return Make(
          DecisionKind::kStay, installed.version,
          "rollback of " + V(target) + " ordered for other cohorts; staying on " + V(target));
    }
    if (!CanRun(device, to)) {
      return Make(DecisionKind::kStay, installed.version,
                  "rollback to " + V(to) + " ordered, but this device cannot run " + V(to));
    }
    return Make(DecisionKind::kRollBack, to,
                "rollback of " + V(target) + " to " + V(to) + " ordered for this device");
  }

  // 3. Devices on the target keep it.
  if (on_target) {
    return Make(DecisionKind::kStay, installed.version, "already on target " + V(target));
  }

  // 4. Nobody newly enters a stopped rollout.
  if (m.rollback) {
    return Make(
        DecisionKind::kStay, installed.version,
        "target " + V(target) + " withdrawn by a rollback order to " + V(m.rollback->to_version));
  }
  if (m.state == RolloutState::kHalted) {
    return Make(DecisionKind::kStay, installed.version, "rollout halted");
  }
  if (m.state == RolloutState::kPaused) {
    return Make(DecisionKind::kStay, installed.version, "rollout paused: no device newly enters");
  }

  // 5. Stage membership.
  std::size_t stage = m.current_stage;
  if (now < m.stage_started_at) {
    if (stage == 0) {
      return Make(DecisionKind::kStay, installed.version,
                  "rollout starts at " + manifest::FormatExpires(m.stage_started_at));
    }
    --stage;
  }
  const RolloutStage& s = m.stages[stage];
  const std::uint32_t bucket = CohortBucket(device.device_id, m.rollout_id);
  const std::string stage_name =
      "stage " + std::to_string(stage) + " (" + Percent(s.percent_hundredths) + ")";
  if (!InStage(bucket, s.percent_hundredths)) {
    return Make(DecisionKind::kStay, installed.version,
                "bucket " + std::to_string(bucket) + " not in " + stage_name);
  }
  std::string why_not;
  if (!MatchesSelectors(s.selectors, device, &why_not)) {
    return Make(DecisionKind::kStay, installed.version,
                "selectors of " + stage_name + " do not match: " + why_not);
  }
  if (!CanRun(device, target)) {
    return Make(DecisionKind::kStay, installed.version,
                "in " + stage_name + ", but this device cannot run target " + V(target));
  }
  return Make(DecisionKind::kInstall, target,
              "bucket " + std::to_string(bucket) + " in " + stage_name + ": install " + V(target));
}

std::optional<std::size_t> FirstStageOf(const RolloutManifest& m, const DeviceFacts& device) {
  const std::uint32_t bucket = CohortBucket(device.device_id, m.rollout_id);
  for (std::size_t i = 0; i < m.stages.size(); ++i) {
    if (InStageCohort(m, i, bucket, device)) return i;
  }
  return std::nullopt;
}

TimePoint SoakEndsAt(const RolloutManifest& m) {
  const auto soak = std::chrono::seconds(m.stages[m.current_stage].min_soak_seconds);
  const auto soak_ticks = std::chrono::duration_cast<TimePoint::duration>(soak);
  if (m.stage_started_at > TimePoint::max() - soak_ticks) return TimePoint::max();
  return m.stage_started_at + soak_ticks;
}

bool NextStageAllowed(const RolloutManifest& m, TimePoint now) {
  if (m.current_stage + 1 >= m.stages.size()) return false;
  if (m.state != RolloutState::kActive || m.rollback) return false;
  const TimePoint ends = SoakEndsAt(m);
  return ends != TimePoint::max() && now >= ends;
}

}  // namespace ota::rollout
