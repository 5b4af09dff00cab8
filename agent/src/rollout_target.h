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

namespace ota::agent {

// The bundle to deploy for `model`, or nullopt to change nothing.
//  - No rollout manifest for the model (the role does not list
//    rollouts/<model>.json): the newest signed bundle, as before rollouts.
//  - Otherwise: the version rollout::Decide picks for this device (its
//    bucket, the stage, pins, rollback orders, pause/halt), if a signed,
//    non-rejected bundle of that version exists; nullopt for stay.
// The manifest must match its signed length and sha256 and have a version
// no lower than the highest this device has seen (kept in the settings).
// Errors: kRetryLater (network), kIntegrity (hash/length, unparsable
// manifest or one for another model), kSecurity (a lower manifest version).
Result<std::optional<BundleTarget>> ChooseBundle(AgentContext& ctx, const std::string& model,
                                                 const std::optional<std::string>& installed,
                                                 const std::vector<std::string>& rejected);

}  // namespace ota::agent

#endif  // OTA_AGENT_SRC_ROLLOUT_TARGET_H_
