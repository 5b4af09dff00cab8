#include "ota/rollout/controller.h"

#include <array>
#include <cmath>
#include <cstdio>

#include "ota/manifest/tuf_metadata.h"
#include "ota/rollout/evaluate.h"

namespace ota::rollout {
namespace {

using nlohmann::json;

constexpr std::array<std::string_view, kDevicePhaseCount> kPhaseNames = {
    "downloading", "shadow_pass", "shadow_fail", "activated",
    "confirmed",   "rolled_back", "failed",      "incompatible"};

std::string Percent(double value) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f%%", value);
  return buf;
}

Error Invalid(const std::string& message) {
  return MakeError(ErrorCode::kInvalidArgument, message);
}

Result<double> ReadPercent(const json& obj, const char* name, const std::string& where,
                           double fallback) {
  auto it = obj.find(name);
  if (it == obj.end()) return fallback;
  if (!it->is_number()) return Invalid(where + name + " must be a number from 0 to 100");
  double v = it->get<double>();
  if (!std::isfinite(v) || v < 0 || v > 100) {
    return Invalid(where + name + " must be a number from 0 to 100");
  }
  return v;
}

Result<std::uint64_t> ReadCount(const json& obj, const char* name, const std::string& where,
                                std::uint64_t fallback) {
  auto it = obj.find(name);
  if (it == obj.end()) return fallback;
  if (!it->is_number_integer() ||
      (it->is_number_integer() && !it->is_number_unsigned() && it->get<std::int64_t>() < 0)) {
    return Invalid(where + name + " must be a non-negative integer");
  }
  std::uint64_t v = it->get<std::uint64_t>();
  if (v > 1'000'000'000) return Invalid(where + name + " must be at most 1000000000");
  return v;
}

Result<StagePolicy> ParseStagePolicy(const json& obj, const std::string& where,
                                     const StagePolicy& base) {
  if (!obj.is_object()) return Invalid(where + " must be an object");
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    const std::string& k = it.key();
    if (k != "success_percent" && k != "min_reporting" && k != "error_percent" &&
        k != "max_errors" && k != "on_error") {
      return Invalid(where + ": unknown field " + k);
    }
  }
  const std::string prefix = where + ".";
  StagePolicy p;
  OTA_ASSIGN_OR_RETURN(p.success_percent,
                       ReadPercent(obj, "success_percent", prefix, base.success_percent));
  OTA_ASSIGN_OR_RETURN(p.error_percent,
                       ReadPercent(obj, "error_percent", prefix, base.error_percent));
  OTA_ASSIGN_OR_RETURN(p.min_reporting,
                       ReadCount(obj, "min_reporting", prefix, base.min_reporting));
  OTA_ASSIGN_OR_RETURN(p.max_errors, ReadCount(obj, "max_errors", prefix, base.max_errors));
  if (p.min_reporting == 0) return Invalid(prefix + "min_reporting must be at least 1");
  p.on_error = base.on_error;
  if (auto it = obj.find("on_error"); it != obj.end()) {
    if (*it == "pause") {
      p.on_error = ErrorAction::kPause;
    } else if (*it == "halt") {
      p.on_error = ErrorAction::kHalt;
    } else {
      return Invalid(prefix + "on_error must be \"pause\" or \"halt\"");
    }
  }
  return p;
}

json StagePolicyJson(const StagePolicy& p) {
  return {{"success_percent", p.success_percent},
          {"min_reporting", p.min_reporting},
          {"error_percent", p.error_percent},
          {"max_errors", p.max_errors},
          {"on_error", p.on_error == ErrorAction::kHalt ? "halt" : "pause"}};
}

ControllerDecision OnError(const StagePolicy& p, std::string reason) {
  return {p.on_error == ErrorAction::kHalt ? ControllerAction::kHalt : ControllerAction::kPause,
          std::move(reason)};
}

}  // namespace

std::string_view DevicePhaseName(DevicePhase phase) {
  return kPhaseNames[static_cast<std::size_t>(phase)];
}

std::optional<DevicePhase> ParseDevicePhase(std::string_view name) {
  for (std::size_t i = 0; i < kPhaseNames.size(); ++i) {
    if (kPhaseNames[i] == name) return static_cast<DevicePhase>(i);
  }
  return std::nullopt;
}

std::optional<DevicePhase> PhaseForEvent(const json& event) {
  if (!event.is_object()) return std::nullopt;
  auto type_it = event.find("type");
  if (type_it == event.end() || !type_it->is_string()) return std::nullopt;
  const std::string& type = type_it->get_ref<const std::string&>();
  if (type == "state") {
    auto st = event.find("state");
    if (st == event.end() || !st->is_string()) return std::nullopt;
    const std::string& s = st->get_ref<const std::string&>();
    // "staged", "draining" and "activating": the names of older agents.
    if (s == "downloading" || s == "verifying" || s == "capability-check" || s == "shadowing" ||
        s == "switching" || s == "staged" || s == "draining" || s == "activating") {
      return DevicePhase::kDownloading;
    }
    if (s == "confirming") return DevicePhase::kActivated;
    if (s == "committed") return DevicePhase::kConfirmed;
    if (s == "rolling-back") return DevicePhase::kRolledBack;
    if (s == "failed") {
      auto code = event.find("error_code");
      if (code != event.end() && code->is_string() && *code == "incompatible") {
        return DevicePhase::kIncompatible;
      }
      return DevicePhase::kFailed;
    }
    return std::nullopt;
  }
  if (type == "shadow-result") {
    auto v = event.find("verdict");
    if (v == event.end() || !v->is_string()) return std::nullopt;
    if (*v == "pass") return DevicePhase::kShadowPass;
    if (*v == "fail") return DevicePhase::kShadowFail;
    return std::nullopt;
  }
  if (type == "insufficient-space" || type == "incompatible") return DevicePhase::kIncompatible;
  if (type == "activated") return DevicePhase::kActivated;
  if (type == "confirmed") return DevicePhase::kConfirmed;
  if (type == "rolled-back") return DevicePhase::kRolledBack;
  if (type == "failed") return DevicePhase::kFailed;
  return std::nullopt;
}

DevicePhase PhaseAfter(std::optional<DevicePhase> previous, DevicePhase next) {
  if (previous == DevicePhase::kRolledBack && next == DevicePhase::kFailed) {
    return DevicePhase::kRolledBack;
  }
  // A candidate refused by its shadow test ends the deployment as failed
  // (error code incompatible: never retried on this device); the refusal is
  // what the rollout must count, as an error.
  if (previous == DevicePhase::kShadowFail &&
      (next == DevicePhase::kFailed || next == DevicePhase::kIncompatible)) {
    return DevicePhase::kShadowFail;
  }
  return next;
}

std::uint64_t StageCounts::Reporting() const {
  std::uint64_t n = 0;
  for (std::uint64_t c : by_phase) n += c;
  return n;
}

std::uint64_t StageCounts::Errors() const {
  return Count(DevicePhase::kShadowFail) + Count(DevicePhase::kRolledBack) +
         Count(DevicePhase::kFailed);
}

Result<ControllerPolicy> ParseControllerPolicy(const json& obj) {
  if (!obj.is_object()) return Invalid("policy must be an object");
  ControllerPolicy policy;
  json defaults = json::object();
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    const std::string& k = it.key();
    if (k == "approval" || k == "stages") continue;
    defaults[k] = it.value();
  }
  OTA_ASSIGN_OR_RETURN(policy.defaults, ParseStagePolicy(defaults, "policy", StagePolicy{}));
  if (auto it = obj.find("approval"); it != obj.end()) {
    if (*it == "manual") {
      policy.manual_approval = true;
    } else if (*it != "auto") {
      return Invalid("policy.approval must be \"auto\" or \"manual\"");
    }
  }
  if (auto it = obj.find("stages"); it != obj.end()) {
    if (!it->is_array() || it->size() > manifest::kMaxRolloutStages) {
      return Invalid("policy.stages must be an array of at most " +
                     std::to_string(manifest::kMaxRolloutStages) + " objects");
    }
    for (std::size_t i = 0; i < it->size(); ++i) {
      OTA_ASSIGN_OR_RETURN(
          StagePolicy p,
          ParseStagePolicy((*it)[i], "policy.stages[" + std::to_string(i) + "]", policy.defaults));
      policy.stages.push_back(p);
    }
  }
  return policy;
}

json ToJson(const ControllerPolicy& policy) {
  json out = StagePolicyJson(policy.defaults);
  out["approval"] = policy.manual_approval ? "manual" : "auto";
  out["stages"] = json::array();
  for (const StagePolicy& p : policy.stages) out["stages"].push_back(StagePolicyJson(p));
  return out;
}

std::string_view ControllerActionName(ControllerAction action) {
  switch (action) {
    case ControllerAction::kNone:
      return "none";
    case ControllerAction::kAdvance:
      return "advance";
    case ControllerAction::kAwaitApproval:
      return "await-approval";
    case ControllerAction::kPause:
      return "pause";
    case ControllerAction::kHalt:
      return "halt";
    case ControllerAction::kRefuseAdvance:
      return "refuse-advance";
  }
  return "none";
}

ControllerDecision EvaluateStage(const manifest::RolloutManifest& m, const ControllerPolicy& policy,
                                 const StageCounts& c, manifest::TimePoint now) {
  if (m.state != manifest::RolloutState::kActive) {
    return {ControllerAction::kNone,
            "rollout is " + std::string(manifest::RolloutStateName(m.state))};
  }
  if (m.rollback) return {ControllerAction::kNone, "a rollback order is in force"};
  const StagePolicy& p = policy.ForStage(m.current_stage);
  const std::uint64_t reporting = c.Reporting();
  const std::uint64_t errors = c.Errors();
  if (p.max_errors > 0 && errors >= p.max_errors) {
    return OnError(
        p, std::to_string(errors) + " errors >= max_errors " + std::to_string(p.max_errors));
  }
  if (reporting > 0 && reporting >= p.min_reporting) {
    const double rate = 100.0 * static_cast<double>(errors) / static_cast<double>(reporting);
    if (errors > 0 && rate >= p.error_percent) {
      return OnError(p, std::to_string(errors) + " errors of " + std::to_string(reporting) +
                            " reporting (" + Percent(rate) + ") >= " + Percent(p.error_percent));
    }
  }
  if (m.current_stage + 1 >= m.stages.size()) {
    return {ControllerAction::kNone, "final stage"};
  }
  if (reporting > c.targeted) {
    return {ControllerAction::kRefuseAdvance,
            std::to_string(reporting) + " devices report about stage " +
                std::to_string(m.current_stage) + " but it targets only " +
                std::to_string(c.targeted) + ": not advancing on counts that cannot be trusted"};
  }
  const manifest::TimePoint soak_end = SoakEndsAt(m);
  if (now < soak_end) {
    return {ControllerAction::kNone, "soaking until " + manifest::FormatExpires(soak_end)};
  }
  if (reporting < p.min_reporting) {
    return {ControllerAction::kNone, "waiting for " + std::to_string(p.min_reporting) +
                                         " reporting devices, have " + std::to_string(reporting)};
  }
  const double success =
      100.0 * static_cast<double>(c.Successes()) / static_cast<double>(reporting);
  if (success < p.success_percent) {
    return {ControllerAction::kNone, std::to_string(c.Successes()) + " confirmed of " +
                                         std::to_string(reporting) + " reporting (" +
                                         Percent(success) + ") < " + Percent(p.success_percent)};
  }
  std::string why = std::to_string(c.Successes()) + " confirmed of " + std::to_string(reporting) +
                    " reporting (" + Percent(success) + ") >= " + Percent(p.success_percent);
  if (policy.manual_approval) return {ControllerAction::kAwaitApproval, why};
  return {ControllerAction::kAdvance, why};
}

}  // namespace ota::rollout
