#include "rollout_target.h"

#include "ota/shadow/policy.h"

#include "device_probe.h"
#include "ota/common/hash.h"
#include "ota/common/log.h"
#include "ota/manifest/rollout_manifest.h"
#include "ota/rollout/evaluate.h"
#include "ota/shadow/policy.h"

namespace ota::agent {
namespace {

Result<manifest::RolloutManifest> FetchManifest(AgentContext& ctx, const std::string& path,
                                                const manifest::TargetFile& info) {
  auto sha = info.hashes.find("sha256");
  if (sha == info.hashes.end()) {
    return MakeError(ErrorCode::kIntegrity, path + " is listed without a sha256 hash");
  }
  if (info.length > manifest::kMaxRolloutManifestBytes) {
    return MakeError(ErrorCode::kIntegrity, path + " is listed larger than " +
                                                std::to_string(manifest::kMaxRolloutManifestBytes) +
                                                " bytes");
  }
  HttpRequest request;
  request.url = ctx.updater.TargetUrl(path, info);
  request.max_body_bytes = info.length;
  OTA_ASSIGN_OR_RETURN(HttpResponse response, ctx.env.http->Fetch(request));
  if (response.status != 200) {
    return MakeError(ErrorCode::kRetryLater,
                     "GET " + path + " answered HTTP " + std::to_string(response.status));
  }
  if (response.body.size() != info.length || Sha256Hex(response.body) != sha->second) {
    return MakeError(ErrorCode::kIntegrity, path + " does not match its signed length and hash");
  }
  auto m = manifest::ParseRolloutManifest(response.body);
  if (!m.ok()) return MakeError(ErrorCode::kIntegrity, path + ": " + m.error().message);
  return m;
}

}  // namespace

Result<VersionChoice> ChooseVersion(AgentContext& ctx, const std::string& model,
                                    const std::optional<std::string>& installed,
                                    const std::vector<manifest::Version>& runnable,
                                    const rollout::DeviceCapabilities& device) {
  VersionChoice choice;
  const std::string path = manifest::RolloutTargetPath(model);
  auto info = ctx.updater.GetTargetInfo(path);
  if (!info.ok() && info.error().code == ErrorCode::kNotFound) return choice;
  if (!info.ok()) return std::move(info).error();
  OTA_ASSIGN_OR_RETURN(manifest::RolloutManifest m, FetchManifest(ctx, path, *info));
  if (m.model != model) {
    return MakeError(ErrorCode::kIntegrity, path + " is for model " + m.model);
  }
  const std::string seen_key = "rollout_manifest_version:" + model;
  OTA_ASSIGN_OR_RETURN(auto seen, ctx.db.GetSetting(seen_key));
  if (seen && !seen->empty() && std::stoull(*seen) > m.version) {
    return MakeError(ErrorCode::kSecurity, path + " version " + std::to_string(m.version) +
                                               " is lower than version " + *seen + " seen before");
  }
  OTA_TRY(ctx.db.SetSetting(seen_key, std::to_string(m.version)));

  const rollout::DeviceFacts facts = RolloutFacts(ctx.device_id, device, runnable);
  rollout::InstalledState state;
  if (installed) {
    auto v = manifest::ParseVersion(*installed);
    if (v.ok()) state.version = *v;
  }
  const rollout::Decision d = rollout::Decide(m, facts, state, ctx.env.clock->Now());
  Log(LogLevel::kDebug, "agent",
      model + ": rollout " + m.rollout_id + " v" + std::to_string(m.version) + ": " +
          std::string(rollout::DecisionKindName(d.kind)) + " (" + d.reason + ")");
  if (d.kind == rollout::DecisionKind::kIncompatiblePin && d.version) {
    // Reported once per rollout and pinned version: the pin is never forced,
    // and the operator sees which devices it cannot serve.
    const std::string key = "rollout_incompatible_pin:" + model;
    const std::string mark = m.rollout_id + "@" + manifest::ToString(*d.version);
    OTA_ASSIGN_OR_RETURN(auto reported, ctx.db.GetSetting(key));
    if (!reported || *reported != mark) {
      OTA_TRY(ctx.db.QueueEvent(EventJson(ctx, "incompatible-pin", nullptr,
                                          {{"model", model},
                                           {"rollout_id", m.rollout_id},
                                           {"pinned_version", manifest::ToString(*d.version)},
                                           {"reason", d.reason}})));
      OTA_TRY(ctx.db.SetSetting(key, mark));
    }
  }
  choice.from_manifest = true;
  choice.reason = d.reason;
  choice.shadow_policy = m.shadow_policy;
  choice.download_policy = m.download_policy;
  if (d.kind == rollout::DecisionKind::kRollBack) {
    // An ordered rollback returns to a version the fleet ran before; a shadow
    // test would only delay the recovery (and yield to every app session).
    // The skip is recorded with this reason like any other.
    std::string why = "rollback order of rollout " + m.rollout_id + ": " + d.reason;
    if (why.size() > shadow::kMaxSkipReasonBytes) {
      why.resize(shadow::kMaxSkipReasonBytes);
      // Never end inside a UTF-8 sequence.
      while (!why.empty() && (static_cast<unsigned char>(why.back()) & 0x80) != 0) why.pop_back();
    }
    choice.shadow_policy = nlohmann::json{{"skip", why}};
  }
  if (d.kind != rollout::DecisionKind::kStay && d.kind != rollout::DecisionKind::kIncompatiblePin) {
    choice.version = d.version;
  }
  return choice;
}

}  // namespace ota::agent
