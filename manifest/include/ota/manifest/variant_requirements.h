// What a bundle variant needs from a device (docs/formats.md, "Variants and
// requirements").
//
// A model version may be published as several bundles, its variants (for
// example a Q4_0 build for small devices and a Q8_0 build for the others).
// Each bundle's signed TUF target entry carries, under custom.modelota:
//   "variant": "q8",          the variant's name (optional)
//   "rank": 20,               preference, higher first (optional, default 0)
//   "unpacked_size": 123,     bytes the unpacked bundle takes (optional)
//   "requires": {...}         the requirements below (optional)
// The device decides before it downloads anything, from signed metadata only.
//
// Thread-safety: all functions are pure and may be called concurrently.
#ifndef OTA_MANIFEST_VARIANT_REQUIREMENTS_H_
#define OTA_MANIFEST_VARIANT_REQUIREMENTS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ota/common/result.h"
#include "ota/manifest/version_range.h"

namespace ota::manifest {

inline constexpr std::size_t kMaxRequirementListItems = 64;
inline constexpr std::size_t kMaxVariantNameBytes = 32;

struct RuntimeRequirement {
  std::string name;                     // e.g. "llama.cpp"
  std::optional<VersionRange> version;  // Absent: any version.
};

// Every present condition must hold. Absent conditions hold on every device.
struct VariantRequirements {
  std::optional<std::uint64_t> min_ram_bytes;            // total RAM
  std::optional<std::uint64_t> min_available_ram_bytes;  // RAM free right now
  std::vector<std::string> cpu_arch;                     // any of, e.g. "x86_64", "aarch64"
  std::vector<std::string> cpu_features;                 // all of, e.g. "avx2", "dotprod"
  std::vector<std::string> os;                           // any of, e.g. "linux", "android"
  std::optional<VersionRange> os_version;
  std::vector<std::string> accelerators;  // any of, e.g. "cuda", "metal", "gpu"
  std::optional<RuntimeRequirement> runtime;
  std::optional<VersionRange> app_version;
};

// The variant fields of one target entry's custom.modelota object.
struct VariantInfo {
  std::string variant;  // Empty: the version's only (unnamed) variant.
  std::int64_t rank = 0;
  std::optional<std::uint64_t> unpacked_size;
  VariantRequirements requirements;  // The "requires" object.
};

// Parses the "requires" object. Refuses unknown fields, wrong types, empty or
// over-long lists (kMaxRequirementListItems), empty or duplicate list items,
// items with control characters, and invalid version ranges.
// Errors: kInvalidArgument naming the field, e.g. `requires.min_ram: must be
// an integer`.
Result<VariantRequirements> ParseVariantRequirements(const nlohmann::json& json);

// Reads "variant", "rank", "unpacked_size" and "requires" from a target's
// custom.modelota object; other members are ignored (they belong to other
// readers). variant: [a-z0-9][a-z0-9._-]{0,31}; rank: an integer in
// [-1000000, 1000000].
Result<VariantInfo> ParseVariantInfo(const nlohmann::json& modelota);

// The "requires" object (only present conditions). Round-trips through
// ParseVariantRequirements.
nlohmann::json VariantRequirementsToJson(const VariantRequirements& requirements);

}  // namespace ota::manifest

#endif  // OTA_MANIFEST_VARIANT_REQUIREMENTS_H_
