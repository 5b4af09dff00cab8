// The JSON documents a device trusts only after a signature or hash check,
// parsed as if hostile anyway: bundle.json, rollout manifests, eval sets and
// the custom data of signed targets; the drill scenarios operators write; and
// the download policies and device conditions apps and hosts hand over.
// The first byte picks the parser. What is accepted must survive a round
// trip through its own serializer.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_support.h"
#include "ota/manifest/bundle_manifest.h"
#include "ota/manifest/download_policy.h"
#include "ota/manifest/drill_scenario.h"
#include "ota/manifest/rollout_manifest.h"
#include "ota/manifest/target_custom.h"
#include "ota/manifest/version.h"
#include "ota/manifest/version_range.h"
#include "ota/shadow/eval_set.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ota::manifest;
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 9) {
    case 0: {
      auto m = ParseBundleManifest(text);
      if (m.ok()) {
        auto again = BundleManifestFromJson(BundleManifestToJson(*m));
        ota::fuzz::Require(again.ok(), "a parsed bundle.json does not parse after ToJson");
      }
      break;
    }
    case 1: {
      auto m = ParseRolloutManifest(text);
      if (m.ok()) {
        auto again = RolloutManifestFromJson(ToJson(*m));
        ota::fuzz::Require(again.ok(), "a parsed rollout manifest does not parse after ToJson");
      }
      break;
    }
    case 2:
      (void)ota::shadow::ParseEvalSet(text, {{"prompts/t.txt", "Say {{x}} and {{ y }}."}});
      break;
    case 3:
      if (auto v = ParseVersion(text); v.ok()) {
        ota::fuzz::Require(ParseVersion(ToString(*v)).ok(), "a version does not round-trip");
      }
      break;
    case 5: {
      const auto json = nlohmann::json::parse(text, nullptr, false);
      if (!json.is_discarded()) (void)ParseTargetCustom(json);
      break;
    }
    case 6:
      (void)ParseDrillScenario(text);
      break;
    case 7:
      if (auto c = ParseHostConditions(text); c.ok()) {
        auto again = ParseHostConditions(ToJson(*c).dump());
        ota::fuzz::Require(again.ok() && *again == *c, "device conditions do not round-trip");
      }
      break;
    case 8: {
      const auto json = nlohmann::json::parse(text, nullptr, false);
      if (json.is_discarded()) break;
      if (auto p = ParseDownloadPolicy(json, "policy"); p.ok()) {
        auto again = ParseDownloadPolicy(ToJson(*p), "policy");
        ota::fuzz::Require(again.ok() && *again == *p, "a download policy does not round-trip");
      }
      break;
    }
    default:
      if (auto r = ParseVersionRange(text); r.ok()) {
        ota::fuzz::Require(ParseVersionRange(ToString(*r)).ok(), "a range does not round-trip");
      }
      break;
  }
  return 0;
}
