// The deployment plan (RAUC's install plan): everything an update decides
// before a byte is fetched, from signed metadata and the device's state:
// the variant, a delta to try first with the full bundle as its fallback,
// the disk space the worst case needs, the version to return to, and the
// rollout's shadow policy. Computed by the check, saved with the deployment
// (deployments.plan_json) and followed by its steps, so a deployment resumed
// after a restart does what was planned, not what newer metadata suggests.
#ifndef OTA_AGENT_SRC_DEPLOYMENT_PLAN_H_
#define OTA_AGENT_SRC_DEPLOYMENT_PLAN_H_

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "ota/agent/agent.h"
#include "ota/common/result.h"
#include "ota/manifest/target_custom.h"
#include "ota/manifest/tuf_metadata.h"

namespace ota::agent {

// A signed delta target that rebuilds a deployment's bundle from the
// installed version (docs/architecture.md "Delta updates").
struct DeltaTarget {
  std::string path;
  manifest::TargetFile file;
  std::string sha256;
  // A compact delta (format 3) carries none of the ids and digests its
  // signed target lists; manifest_sha256 vouches for the bundle.json it
  // rebuilds.
  bool compact = false;
  std::string manifest_sha256;
  std::optional<manifest::ContainerHead> head;  // Container deltas, when signed.
};

// The smallest signed delta from `previous_id` to the bundle `target_id`
// (target path `target_path`, `bundle_length` bytes) that is smaller than
// the bundle; nullopt when there is none or no previous version.
std::optional<DeltaTarget> ChooseDelta(const manifest::Targets& targets,
                                       const std::string& target_path, const std::string& target_id,
                                       std::uint64_t bundle_length, const std::string& previous_id);

struct PlanInputs {
  std::string version;
  std::string variant;
  std::string target_path;
  std::string target_id;
  std::uint64_t bundle_bytes = 0;
  std::optional<std::uint64_t> unpacked_bytes;  // Signed; else taken as the bundle's size.
  std::optional<DeltaTarget> delta;
  std::string previous_id;
  std::string previous_version;
  std::uint64_t space_margin_bytes = 0;
  std::optional<nlohmann::json> shadow_policy;
  // Overrides of the agent's download policy: the bundle target's, then the
  // rollout manifest's.
  std::optional<manifest::DownloadPolicy> bundle_download_policy;
  std::optional<manifest::DownloadPolicy> rollout_download_policy;
};

DeploymentPlan MakePlan(const PlanInputs& in);

// The plan as saved: DeploymentPlan's fields and, with a delta, its signed
// target entry, so that the steps need no newer metadata to follow it.
std::string SavePlan(const DeploymentPlan& plan, const std::optional<DeltaTarget>& delta);

// Reads a saved plan's delta (nullopt: the plan has none). Errors:
// kInvalidArgument when the text is not a plan this build wrote.
Result<std::optional<DeltaTarget>> PlannedDelta(const std::string& saved);

// What a saved plan says about its downloads: the policy it overrides the
// agent's with (nullopt: the agent's own) and the free space it needs (0
// when the plan does not say). Errors: kInvalidArgument when the plan's
// policy is malformed.
struct PlannedDownload {
  std::optional<manifest::DownloadPolicy> policy;
  std::uint64_t space_needed = 0;
};
Result<PlannedDownload> PlannedDownloadTerms(const std::string& saved);

// DeploymentPlan as the JSON `ota-agent check --json` prints.
nlohmann::json PlanJson(const DeploymentPlan& plan);

}  // namespace ota::agent

#endif  // OTA_AGENT_SRC_DEPLOYMENT_PLAN_H_
