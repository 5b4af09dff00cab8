// Can this device run that bundle variant, and which variant should it get?
//
// The agent probes the device (agent/), the signed targets metadata lists the
// variants of a version with their requirements (manifest/
// variant_requirements.h), and PlanVariant decides, before any download, as
// a pure function: plan, then act. Nothing here reads a clock, a file or the
// network.
//
// Thread-safety: all functions are pure and may be called concurrently.
#ifndef OTA_ROLLOUT_CAPABILITY_H_
#define OTA_ROLLOUT_CAPABILITY_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ota/manifest/variant_requirements.h"
#include "ota/manifest/version.h"

namespace ota::rollout {

// What a device offers. Probed by the agent; any value may be overridden by
// the agent's configuration (mobile apps supply their own facts).
struct DeviceCapabilities {
  std::uint64_t total_ram_bytes = 0;
  std::uint64_t available_ram_bytes = 0;
  std::uint64_t free_disk_bytes = 0;   // On the store's filesystem.
  std::string cpu_arch;                // e.g. "x86_64", "aarch64"
  std::set<std::string> cpu_features;  // e.g. "avx2", "avx512", "neon", "dotprod"
  std::string os;                      // e.g. "linux", "android", "macos"
  std::optional<manifest::Version> os_version;
  std::set<std::string> accelerators;                 // e.g. "gpu", "cuda", "rocm", "metal"
  std::map<std::string, manifest::Version> runtimes;  // name -> version
  std::optional<manifest::Version> app_version;
  // Rollout selector facts (evaluate.h DeviceFacts); variant requirements do
  // not look at them. Supplied by the agent's facts file, never probed.
  std::set<std::string> tags;
  std::string region;                             // Empty: unknown.
  std::map<std::string, std::string> attributes;  // e.g. {"soc": "sm8650"}
};

// The first requirement `device` does not meet, as one readable line (e.g.
// "needs 6.0 GiB of RAM, the device has 4.0 GiB"), or nullopt if it meets
// them all. A condition on a fact the device does not know (no OS version, no
// app version) fails.
std::optional<std::string> UnmetRequirement(const manifest::VariantRequirements& requirements,
                                            const DeviceCapabilities& device);

// One variant of the version the device should install.
struct VariantCandidate {
  std::string target_path;  // The TUF target, for the caller.
  manifest::VariantInfo info;
  std::uint64_t download_bytes = 0;  // Bundle bytes still to store.
};

struct VariantPlan {
  // Index into the candidates of the chosen variant; nullopt: incompatible.
  std::optional<std::size_t> chosen;
  // Why each candidate was turned down, in candidate order ("" for the
  // chosen one and for candidates never looked at).
  std::vector<std::string> rejections;
  // One line: why the chosen variant, or why none fits, e.g.
  // `no variant fits: "q8": needs 6.0 GiB of RAM, ...; "q4": needs ...`.
  std::string reason;
  // No variant chosen, but at least one met every requirement and only
  // lacked disk space: worth retrying once space is freed.
  bool blocked_by_space = false;
};

// Picks the candidate with the highest rank (the earliest one on ties) whose
// requirements hold and whose download plus unpacked size plus
// `space_margin_bytes` fits in the device's free disk space. A candidate
// without unpacked_size is assumed to unpack to its download size.
VariantPlan PlanVariant(const std::vector<VariantCandidate>& candidates,
                        const DeviceCapabilities& device, std::uint64_t space_margin_bytes);

// "4.0 GiB", "512 MiB", "17 bytes": sizes for messages.
std::string FormatBytes(std::uint64_t bytes);

// A version from loosely written text, for OS and runtime versions: the
// leading numeric parts, e.g. "6.1.0-13-amd64" -> 6.1.0, "14" -> 14.0.0,
// "10.0.19045" -> 10.0.19045. nullopt if the text starts with no number.
std::optional<manifest::Version> LooseVersion(const std::string& text);

}  // namespace ota::rollout

#endif  // OTA_ROLLOUT_CAPABILITY_H_
