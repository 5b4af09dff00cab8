// TUF metadata files as a device receives them: the envelope, then the typed
// parser of each role, and canonical JSON of what was accepted.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_support.h"
#include "ota/manifest/canonical_json.h"
#include "ota/manifest/tuf_metadata.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ota::manifest;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto envelope = ParseEnvelope(bytes, 1u << 20);
  if (!envelope.ok()) return 0;
  const nlohmann::json& s = envelope->signed_json;
  (void)MetadataType(s);
  if (auto root = ParseRoot(s); root.ok()) (void)ToJson(*root);
  if (auto t = ParseTimestamp(s); t.ok()) (void)ToJson(*t);
  if (auto snap = ParseSnapshot(s); snap.ok()) (void)ToJson(*snap);
  if (auto targets = ParseTargets(s); targets.ok()) (void)ToJson(*targets);
  // What verification signs: canonical JSON must be stable under a parse.
  // The OLPC form writes control characters in strings as they are, which no
  // strict JSON parser takes back, so those documents are only encoded.
  auto canonical = CanonicalJson(s);
  const bool has_controls =
      canonical.ok() && std::any_of(canonical->begin(), canonical->end(),
                                    [](char c) { return static_cast<unsigned char>(c) < 0x20; });
  if (canonical.ok() && !has_controls) {
    auto again = ParseJsonStrict(*canonical);
    ota::fuzz::Require(again.ok(), "canonical JSON does not parse");
    auto twice = CanonicalJson(*again);
    ota::fuzz::Require(twice.ok() && *twice == *canonical, "canonical JSON is not stable");
  }
  return 0;
}
