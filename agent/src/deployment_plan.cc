#include "deployment_plan.h"

#include "ota/common/checked_math.h"
#include "ota/common/hash.h"

namespace ota::agent {

std::optional<DeltaTarget> ChooseDelta(const manifest::Targets& targets,
                                       const std::string& target_path, const std::string& target_id,
                                       std::uint64_t bundle_length,
                                       const std::string& previous_id) {
  if (previous_id.empty()) return std::nullopt;
  std::optional<DeltaTarget> best;
  for (const auto& [path, file] : targets.targets) {
    auto custom = manifest::ParseTargetCustom(file.custom);
    if (!custom.ok() || !custom->delta) continue;
    const manifest::DeltaTargetInfo& d = *custom->delta;
    if (d.delta_of != target_path || d.delta_from != previous_id || d.delta_to != target_id) {
      continue;
    }
    auto sha = file.hashes.find("sha256");
    if (sha == file.hashes.end() || !IsLowerHex(sha->second, 64)) continue;
    // A delta no smaller than the bundle it rebuilds is not worth it.
    if (file.length >= bundle_length) continue;
    // Of several deltas for the same step, the smallest.
    if (best && best->file.length <= file.length) continue;
    best = DeltaTarget{path, file, sha->second, d.compact, d.manifest_sha256, d.head};
  }
  return best;
}

DeploymentPlan MakePlan(const PlanInputs& in) {
  DeploymentPlan p;
  p.version = in.version;
  p.variant = in.variant;
  p.target_path = in.target_path;
  p.target_id = in.target_id;
  p.bundle_bytes = in.bundle_bytes;
  if (in.delta) {
    p.delta_path = in.delta->path;
    p.delta_id = in.delta->sha256;
    p.delta_bytes = in.delta->file.length;
    p.delta_compact = in.delta->compact;
  }
  p.download_bytes = in.delta ? p.delta_bytes : p.bundle_bytes;
  // The worst case: the delta fails and the full bundle is fetched beside
  // the unpacked copy.
  const std::uint64_t unpacked = in.unpacked_bytes.value_or(in.bundle_bytes);
  p.space_needed =
      CheckedSum({in.bundle_bytes, unpacked, in.space_margin_bytes}).value_or(UINT64_MAX);
  p.rollback_id = in.previous_id;
  p.rollback_version = in.previous_version;
  if (in.shadow_policy) p.shadow_policy = in.shadow_policy->dump();
  if (in.bundle_download_policy || in.rollout_download_policy) {
    const manifest::DownloadPolicy merged = manifest::OverlayDownloadPolicy(
        in.bundle_download_policy.value_or(manifest::DownloadPolicy{}),
        in.rollout_download_policy.value_or(manifest::DownloadPolicy{}));
    p.download_policy = manifest::ToJson(merged).dump();
  }
  return p;
}

nlohmann::json PlanJson(const DeploymentPlan& p) {
  nlohmann::json j = {{"version", p.version},
                      {"target", p.target_path},
                      {"target_id", p.target_id},
                      {"bundle_bytes", p.bundle_bytes},
                      {"download_bytes", p.download_bytes},
                      {"space_needed", p.space_needed}};
  if (!p.variant.empty()) j["variant"] = p.variant;
  if (!p.delta_path.empty()) {
    j["delta"] = {{"target", p.delta_path},
                  {"target_id", p.delta_id},
                  {"bytes", p.delta_bytes},
                  {"form", p.delta_compact ? "compact" : "container"},
                  {"fallback", "full bundle"}};
  }
  if (!p.rollback_id.empty()) {
    j["rollback_to"] = {{"version", p.rollback_version}, {"id", p.rollback_id}};
  }
  if (!p.shadow_policy.empty()) {
    j["shadow_policy"] = nlohmann::json::parse(p.shadow_policy, nullptr, false);
  }
  if (!p.download_policy.empty()) {
    j["download_policy"] = nlohmann::json::parse(p.download_policy, nullptr, false);
  }
  return j;
}

std::string DeploymentPlanJson(const DeploymentPlan& plan) { return PlanJson(plan).dump(); }

std::string SavePlan(const DeploymentPlan& plan, const std::optional<DeltaTarget>& delta) {
  nlohmann::json j = {{"schema", "modelota.plan/1"}, {"plan", PlanJson(plan)}};
  if (delta) j["delta_target"] = manifest::ToJson(delta->file);
  return j.dump();
}

Result<std::optional<DeltaTarget>> PlannedDelta(const std::string& saved) {
  auto bad = [](const std::string& why) {
    return MakeError(ErrorCode::kInvalidArgument, "saved deployment plan: " + why);
  };
  const nlohmann::json j = nlohmann::json::parse(saved, nullptr, false);
  const auto schema = j.is_object() ? j.find("schema") : j.end();
  if (!j.is_object() || schema == j.end() || *schema != "modelota.plan/1") {
    return bad("unknown form");
  }
  const auto target = j.find("delta_target");
  if (target == j.end()) return std::optional<DeltaTarget>();
  const auto plan = j.find("plan");
  if (plan == j.end() || !plan->is_object() || !plan->contains("delta")) {
    return bad("a delta target without its plan entry");
  }
  const nlohmann::json& d = (*plan)["delta"];
  if (!d.is_object() || !d.contains("target") || !d["target"].is_string()) {
    return bad("malformed delta entry");
  }
  OTA_ASSIGN_OR_RETURN(manifest::TargetFile file, manifest::ParseTargetFile(*target));
  auto custom = manifest::ParseTargetCustom(file.custom);
  if (!custom.ok() || !custom->delta) return bad("the delta's custom data does not parse");
  auto sha = file.hashes.find("sha256");
  if (sha == file.hashes.end() || !IsLowerHex(sha->second, 64)) return bad("no sha256");
  const manifest::DeltaTargetInfo& info = *custom->delta;
  return std::optional<DeltaTarget>(DeltaTarget{d["target"].get<std::string>(), file, sha->second,
                                                info.compact, info.manifest_sha256, info.head});
}

Result<PlannedDownload> PlannedDownloadTerms(const std::string& saved) {
  PlannedDownload terms;
  const nlohmann::json j = nlohmann::json::parse(saved, nullptr, false);
  if (!j.is_object() || !j.contains("plan") || !j["plan"].is_object()) return terms;
  const nlohmann::json& plan = j["plan"];
  if (plan.contains("space_needed") && plan["space_needed"].is_number_unsigned()) {
    terms.space_needed = plan["space_needed"].get<std::uint64_t>();
  }
  if (plan.contains("download_policy")) {
    OTA_ASSIGN_OR_RETURN(terms.policy, manifest::ParseDownloadPolicy(plan["download_policy"],
                                                                     "the plan's download_policy"));
  }
  return terms;
}

}  // namespace ota::agent
