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
#include "ota/manifest/tuf_metadata.h"
#include "ota/manifest/version.h"
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
};

// Newest bundle target of `model` in the signed targets, skipping digests in
// `rejected` (artifacts that already failed integrity checks on this device).
std::optional<BundleTarget> SelectNewestBundle(const manifest::Targets& targets,
                                               const std::string& model,
                                               const std::vector<std::string>& rejected);

// Everything a deployment step needs.
struct AgentContext {
  Env& env;
  AgentOptions options;
  std::string server_url;
  std::string device_id;
  StateDb& db;
  VersionStore& store;
  verifier::Updater& updater;
};

// JSON for one event of the outgoing report queue.
std::string EventJson(const AgentContext& ctx, const std::string& type, const DeploymentRow* row,
                      const nlohmann::json& extra);

// Runs (or resumes) one deployment to a terminal state or to a pause (a
// transient failure that leaves it in place for the next cycle).
UpdateOutcome RunDeployment(AgentContext& ctx, DeploymentRow row, const DownloadProgress& progress);

std::int64_t UnixNow(const Env& env);

}  // namespace ota::agent

#endif  // OTA_AGENT_SRC_AGENT_INTERNAL_H_
