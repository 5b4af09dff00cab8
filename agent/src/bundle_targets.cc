// Bundle targets in signed targets metadata: which versions and variants of
// a model the repository offers, and which variant this device takes.
#include <algorithm>

#include "agent_internal.h"
#include "ota/common/hash.h"
#include "ota/common/log.h"

namespace ota::agent {

namespace {

// Bundle targets of `model` (any version) with their parsed version and
// variant fields, skipping rejected digests and malformed entries.
std::vector<BundleTarget> AllBundles(const manifest::Targets& targets, const std::string& model,
                                     const std::vector<std::string>& rejected) {
  std::vector<BundleTarget> out;
  for (const auto& [path, file] : targets.targets) {
    auto custom = manifest::ParseTargetCustom(file.custom);
    if (!custom.ok()) {
      Log(LogLevel::kWarning, "agent", "target " + path + " skipped: " + custom.error().message);
      continue;
    }
    if (!custom->bundle || custom->bundle->name != model) continue;
    manifest::BundleTargetInfo& info = *custom->bundle;
    auto sha = file.hashes.find("sha256");
    if (sha == file.hashes.end() || !IsLowerHex(sha->second, 64)) continue;
    if (std::find(rejected.begin(), rejected.end(), sha->second) != rejected.end()) continue;
    out.push_back(BundleTarget{path, std::move(info.version), std::move(info.version_text), file,
                               sha->second, std::move(info.variant),
                               std::move(info.download_policy)});
  }
  return out;
}

}  // namespace

std::vector<manifest::Version> BundleVersions(const manifest::Targets& targets,
                                              const std::string& model,
                                              const std::vector<std::string>& rejected) {
  std::vector<manifest::Version> versions;
  for (BundleTarget& b : AllBundles(targets, model, rejected)) {
    const bool known = std::any_of(versions.begin(), versions.end(), [&](const auto& v) {
      return manifest::CompareVersions(v, b.version) == 0;
    });
    if (!known) versions.push_back(std::move(b.version));
  }
  std::sort(versions.begin(), versions.end(),
            [](const auto& a, const auto& b) { return manifest::CompareVersions(a, b) > 0; });
  return versions;
}

std::vector<BundleTarget> BundleVariants(const manifest::Targets& targets, const std::string& model,
                                         const manifest::Version& version,
                                         const std::vector<std::string>& rejected) {
  std::vector<BundleTarget> out;
  for (BundleTarget& b : AllBundles(targets, model, rejected)) {
    if (manifest::CompareVersions(b.version, version) == 0) out.push_back(std::move(b));
  }
  return out;
}

rollout::VariantPlan PlanBundleVariant(const std::vector<BundleTarget>& variants,
                                       const rollout::DeviceCapabilities& device,
                                       const std::vector<std::string>& installed,
                                       std::uint64_t space_margin_bytes) {
  std::vector<rollout::VariantCandidate> candidates;
  for (const BundleTarget& t : variants) {
    rollout::VariantCandidate c{t.path, t.variant, t.file.length};
    if (std::find(installed.begin(), installed.end(), t.sha256) != installed.end()) {
      c.download_bytes = 0;
      c.info.unpacked_size = 0;
    }
    candidates.push_back(std::move(c));
  }
  return rollout::PlanVariant(candidates, device, space_margin_bytes);
}

}  // namespace ota::agent
