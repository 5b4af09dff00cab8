// Delta bundles (container and compact forms) applied to an installed base
// version, as a device does after a download: the delta's header, its edit
// of bundle.json, the payload's windows and transforms. Whatever the bytes,
// the apply must fail cleanly or produce files that match the target
// bundle.json it checked them against, and must leave the base untouched.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>

#include "fuzz_fixtures.h"
#include "fuzz_support.h"
#include "ota/bundle/delta.h"
#include "ota/common/filesystem.h"

namespace {

struct World {
  std::unique_ptr<ota::FileSystem> fs = ota::MakePosixFileSystem();
  ota::fuzz::Versions versions;
  std::string target_manifest_sha256;
  std::uintmax_t base_model_size = 0;
};

World& TheWorld() {
  static World* world = [] {
    auto* w = new World;
    auto v = ota::fuzz::MakeVersions(*w->fs, ota::fuzz::ScratchDir() + "/versions");
    ota::fuzz::Require(v.ok(), "cannot build the base and target versions");
    w->versions = std::move(*v);
    w->target_manifest_sha256 = ota::bundle::ManifestSha256(w->versions.target);
    w->base_model_size = std::filesystem::file_size(w->versions.base_dir + "/model.gguf");
    return w;
  }();
  return *world;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  World& w = TheWorld();
  FuzzedDataProvider in(data, size);
  const int facts_kind = in.ConsumeIntegralInRange<int>(0, 2);
  const std::string delta = in.ConsumeRemainingBytesAsString();
  const std::string path = ota::fuzz::ScratchDir() + "/delta.otab";
  std::ofstream(path, std::ios::binary | std::ios::trunc) << delta;
  const std::string out = ota::fuzz::ScratchDir() + "/applied";
  ota::bundle::SignedDeltaFacts facts{ota::fuzz::kBaseId, ota::fuzz::kTargetId,
                                      w.target_manifest_sha256};
  if (facts_kind == 1) facts.manifest_sha256 = std::string(64, 'f');
  ota::bundle::UnpackLimits limits;
  limits.max_total_bytes = 16u << 20;
  auto applied =
      ota::bundle::ApplyDeltaBundleFile(*w.fs, path, w.versions.base_dir, ota::fuzz::kBaseId, out,
                                        limits, std::nullopt, facts_kind == 2 ? nullptr : &facts);
  if (applied.ok()) {
    ota::fuzz::Require(std::filesystem::exists(out + "/bundle.json"),
                       "an applied delta left no bundle.json");
  } else {
    ota::fuzz::Require(!std::filesystem::exists(out), "a failed apply left its output folder");
  }
  ota::fuzz::Require(
      std::filesystem::file_size(w.versions.base_dir + "/model.gguf") == w.base_model_size,
      "the apply changed the base version");
  std::error_code ec;
  std::filesystem::remove_all(out, ec);
  return 0;
}
