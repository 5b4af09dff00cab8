// The variant set: <out-dir>/variants.json, written by `otactl variants
// build` and read by `otactl publish --variants-from` (docs/formats.md,
// "Variant set (variants.json)"). It lists the bundles of one release that
// passed their gate, with the variant fields their targets will carry.
#ifndef OTA_TOOLS_VARIANT_SET_H_
#define OTA_TOOLS_VARIANT_SET_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ota/common/result.h"

namespace ota::tools {

inline constexpr std::string_view kVariantSetFile = "variants.json";
inline constexpr std::string_view kVariantSetSchema = "modelota.variants/1";

struct VariantSetEntry {
  std::string variant;  // Variant name (the quantization type).
  std::int64_t rank = 0;
  std::string bundle;           // File name of the bundle, in the set's folder.
  nlohmann::json requirements;  // The target's "requires" object.
  nlohmann::json info;          // Informational: file type, sizes, shadow figures.
};

struct VariantSet {
  std::string name;
  std::string version;
  std::vector<VariantSetEntry> variants;
};

nlohmann::json VariantSetToJson(const VariantSet& set);

// Errors: kInvalidArgument naming the member, e.g. "variants.json:
// variants[1].bundle must be a file name in the same folder". Checks the
// schema, that the list is non-empty, names and bundles are unique, bundle
// names have no '/' and are not "." or "..". The variant fields themselves
// are checked by the publisher (manifest::ParseVariantInfo).
Result<VariantSet> ParseVariantSet(std::string_view text);

}  // namespace ota::tools

#endif  // OTA_TOOLS_VARIANT_SET_H_
