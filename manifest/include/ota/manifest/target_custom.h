// A signed target's custom data (docs/formats.md "Target custom data",
// "Delta targets", "Variants and requirements"), parsed once into validated
// types: the agent never reads a target's raw JSON.
//
// Thread-safety: pure functions.
#ifndef OTA_MANIFEST_TARGET_CUSTOM_H_
#define OTA_MANIFEST_TARGET_CUSTOM_H_

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "ota/common/result.h"
#include "ota/manifest/download_policy.h"
#include "ota/manifest/variant_requirements.h"
#include "ota/manifest/version.h"

namespace ota::manifest {

// A bundle container's head: the bytes before its first chunk (preamble and
// stored header), by length and SHA-256. Signed beside the file's own
// digest, it lets a device trust the chunk table, and through it each chunk,
// before the whole file has arrived.
struct ContainerHead {
  std::uint64_t length = 0;
  std::string sha256;  // 64 lower-case hex digits.
  bool operator==(const ContainerHead&) const = default;
};

// Largest head a publisher may sign: the 56-byte preamble and a header of at
// most 16 MiB (docs/formats.md "Bundle container").
inline constexpr std::uint64_t kMaxContainerHeadLength = 56 + (std::uint64_t{16} << 20);

// custom.modelota: a full bundle of one version (and variant) of a model.
struct BundleTargetInfo {
  std::string name;
  Version version;
  std::string version_text;  // As signed.
  VariantInfo variant;
  std::optional<ContainerHead> head;
  // The publisher's download policy for this bundle (`otactl publish
  // --download-policy`), between the agent's and the rollout's.
  std::optional<DownloadPolicy> download_policy;
};

// custom.modelota_delta (a container delta) or custom.modelota_compact_delta.
struct DeltaTargetInfo {
  bool compact = false;
  std::string name;
  std::string version;
  std::string delta_from;  // Base bundle's SHA-256 (64 hex).
  std::string delta_to;    // Rebuilt bundle's SHA-256 (64 hex).
  std::string delta_of;    // Target path of the full bundle it rebuilds.
  // Compact only: SHA-256 (64 hex) of the rebuilt canonical bundle.json.
  std::string manifest_sha256;
  // Container only, when published.
  std::optional<ContainerHead> head;
};

// What ModelOTA reads from one target's custom object. Both empty: not a
// ModelOTA target (other tools' targets share the repository).
struct TargetCustom {
  std::optional<BundleTargetInfo> bundle;
  std::optional<DeltaTargetInfo> delta;
};

// Parses a target's custom object (null or absent: both empty). Members
// other than modelota, modelota_delta and modelota_compact_delta are left
// to other readers; inside those, unknown members are ignored (older agents
// must keep reading newer targets). Errors (kInvalidArgument, naming the
// field): a ModelOTA member that is not an object, a missing or mistyped
// field, a version that is not SemVer, digests that are not 64 lower-case
// hex, variant fields (ParseVariantInfo), a malformed head
// (ParseContainerHead), or a target that is both a bundle and a delta.
Result<TargetCustom> ParseTargetCustom(const nlohmann::json& custom);

// Reads "head" from a custom.modelota or custom.modelota_delta object:
// absent gives nullopt (targets published before heads were signed).
// Present, it must be {"length": 57..kMaxContainerHeadLength, "sha256": 64
// lower-case hex} with no other member.
// Errors: kInvalidArgument naming the field, e.g. `head: "sha256" must be ...`.
Result<std::optional<ContainerHead>> ParseContainerHead(const nlohmann::json& info);

}  // namespace ota::manifest

#endif  // OTA_MANIFEST_TARGET_CUSTOM_H_
