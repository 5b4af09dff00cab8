// Internals shared by the agent's source files.
#ifndef OTA_AGENT_SRC_AGENT_INTERNAL_H_
#define OTA_AGENT_SRC_AGENT_INTERNAL_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "downloader.h"
#include "ota/agent/agent.h"
#include "ota/manifest/target_custom.h"
#include "ota/manifest/tuf_metadata.h"
#include "ota/manifest/variant_requirements.h"
#include "ota/manifest/version.h"
#include "ota/rollout/capability.h"
#include "ota/runtime_adapter/runtime_registry.h"
#include "ota/verifier/updater.h"
#include "state_db.h"
#include "version_store.h"

namespace ota::agent {

// A signed target that carries a bundle of a tracked model.
struct BundleTarget {
  std::string path;
  manifest::Version version;
  std::string version_text;
  manifest::TargetFile file;
  std::string sha256;
  manifest::VariantInfo variant;  // Variant name, rank, size, requirements.
  std::optional<manifest::DownloadPolicy> download_policy;  // The publisher's.
};

// The versions of `model` in the signed targets, newest first, skipping
// digests in `rejected` (artifacts that already failed on this device) and
// targets whose variant fields are malformed.
std::vector<manifest::Version> BundleVersions(const manifest::Targets& targets,
                                              const std::string& model,
                                              const std::vector<std::string>& rejected);

// The bundle targets of `model` at `version`: one per published variant, in
// target path order, with the same filters.
std::vector<BundleTarget> BundleVariants(const manifest::Targets& targets, const std::string& model,
                                         const manifest::Version& version,
                                         const std::vector<std::string>& rejected);

// Which variant of `variants` this device should install (rollout::
// PlanVariant): `installed` ids cost no download and no space.
rollout::VariantPlan PlanBundleVariant(const std::vector<BundleTarget>& variants,
                                       const rollout::DeviceCapabilities& device,
                                       const std::vector<std::string>& installed,
                                       std::uint64_t space_margin_bytes);

// Everything a deployment step needs.
struct AgentContext {
  Env& env;
  AgentOptions options;
  std::string server_url;
  std::string device_id;
  StateDb& db;
  VersionStore& store;
  verifier::Updater& updater;
  // The runtimes this agent can run models with (capability check, load check).
  const runtime_adapter::RuntimeRegistry& runtimes;
};

// JSON for one event of the outgoing report queue.
std::string EventJson(const AgentContext& ctx, const std::string& type, const DeploymentRow* row,
                      const nlohmann::json& extra);

// Runs (or resumes) one deployment to a terminal state or to a pause (a
// transient failure that leaves it in place for the next cycle).
UpdateOutcome RunDeployment(AgentContext& ctx, DeploymentRow row, const DownloadProgress& progress);

std::int64_t UnixNow(const Env& env);

// One signed target to fetch into a part file (target_fetch.cc).
struct TargetFetch {
  std::string url;
  std::string part;
  std::uint64_t length = 0;
  // A bundle container (full bundle or container delta): checked piece by
  // piece as it arrives, against signed_head when the target has one.
  bool container = false;
  std::optional<manifest::ContainerHead> signed_head;
  // When it may be fetched: the effective policy, and the free space the
  // deployment needs (for the host's free storage report).
  manifest::DownloadPolicy policy;
  std::uint64_t space_needed = 0;
  // Takes the checked pieces as they arrive (DownloadOptions::checked_sink).
  CheckedSink* checked_sink = nullptr;
};

// The container head signed in a bundle target's custom data; nullopt when
// it has none. (A delta's head comes with the plan's DeltaTarget.)
std::optional<manifest::ContainerHead> SignedHead(const manifest::TargetFile& file);

// Downloads `target` with the agent's download options (DownloadResumable),
// once the download conditions allow it (kRetryLater "waiting to download:
// ..." until then), under the app's cancellation and the policy's cap,
// filling `stats`. A Retry-After longer than one run waits is kept in the
// state database: until it has passed, FetchTarget returns kRetryLater
// without contacting the server.
Status FetchTarget(AgentContext& ctx, const TargetFetch& target, const ProgressCallback& progress,
                   DownloadStats& stats);

// The settings key holding a deployment's rollout shadow_policy override.
inline std::string ShadowPolicyKey(std::int64_t deployment_id) {
  return "shadow_policy/" + std::to_string(deployment_id);
}

// The shadowing state (shadow_step.cc): the candidate against the version the
// device runs, when bundle.json asks for it. kRetryLater pauses the
// deployment (an app needed the runtime, mirrored samples still missing, or
// an inconclusive run the policy retries); kIncompatible rejects it.
Status RunShadowStep(AgentContext& ctx, const DeploymentRow& row, const std::string& from_version);

}  // namespace ota::agent

#endif  // OTA_AGENT_SRC_AGENT_INTERNAL_H_
