// Which bundle version a model should move to when its rollout manifest
// (rollouts/<model>.json, signed by the delegated "rollouts" role) exists:
// the manifest is fetched through the verified TUF path and
// ota::rollout::Decide chooses install / stay / roll back / pinned.
#ifndef OTA_AGENT_SRC_ROLLOUT_TARGET_H_
#define OTA_AGENT_SRC_ROLLOUT_TARGET_H_

#include <optional>
#include <string>
#include <vector>

#include "agent_internal.h"
#include "ota/rollout/capability.h"

namespace ota::agent {

// What the model's rollout manifest says this device should run.
struct VersionChoice {
  // False when the rollouts role lists no rollouts/<model>.json: then the
  // newest signed version, as before rollouts.
  bool from_manifest = false;
  // The version rollout::Decide picks (install, roll back, pinned); unset
  // for stay (and for a pin this device cannot run).
  std::optional<manifest::Version> version;
  std::string reason;
  // The manifest's shadow_policy override (applied by the shadowing state).
  std::optional<nlohmann::json> shadow_policy;
  // The manifest's download_policy override.
  std::optional<manifest::DownloadPolicy> download_policy;
};

// `runnable`: the versions this device can run (a variant of each fits).
// `device`: its facts (device-facts.json and the app version override); the
// app version, tags, region and attributes reach the stage selectors and pins.
// The manifest must match its signed length and sha256 and have a version
// no lower than the highest this device has seen (kept in the settings).
// Errors: kRetryLater (network), kIntegrity (hash/length, unparsable
// manifest or one for another model), kSecurity (a lower manifest version).
Result<VersionChoice> ChooseVersion(AgentContext& ctx, const std::string& model,
                                    const std::optional<std::string>& installed,
                                    const std::vector<manifest::Version>& runnable,
                                    const rollout::DeviceCapabilities& device);

}  // namespace ota::agent

#endif  // OTA_AGENT_SRC_ROLLOUT_TARGET_H_
