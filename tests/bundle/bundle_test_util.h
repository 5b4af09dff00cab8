// Shared code for the bundle tests: input data, a byte-level view of a bundle
// written independently of the product code (so tests check the documented
// layout, not the writer against itself), and a FileSystem wrapper that
// records mutations and injects write failures.
#ifndef OTA_TESTS_BUNDLE_BUNDLE_TEST_UTIL_H_
#define OTA_TESTS_BUNDLE_BUNDLE_TEST_UTIL_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gguf_synth.h"
#include "ota/bundle/bundle.h"
#include "ota/common/env.h"
#include "ota/common/filesystem.h"
#include "test_support.h"

namespace ota::bundle::testing {

std::string RandomBytes(std::size_t n, std::uint64_t seed);
// Text-like bytes that zstd shrinks well.
std::string CompressibleBytes(std::size_t n);
std::string LittleEndian(std::uint64_t value, int bytes);

// A bundle cut into its parts per docs/formats.md.
struct RawBundle {
  std::string magic;
  std::uint32_t format = 0;
  std::uint32_t flags = 0;
  std::uint64_t header_len = 0;
  std::string header_text;
  nlohmann::json header;
  std::string chunks;  // Everything after the header.
};
RawBundle SplitBundle(const std::string& bytes);
// Reassembles with header_len and the header SHA-256 recomputed from `header`.
std::string JoinBundle(const RawBundle& raw);
// Same, from explicit header text (for texts nlohmann would normalise).
std::string JoinBundleText(const RawBundle& raw, const std::string& header_text);

// A deterministic Random (tests only): the same seed gives the same bytes.
class SeededRandom : public Random {
 public:
  explicit SeededRandom(std::uint64_t seed) : state_(seed) {}
  void Fill(std::span<std::uint8_t> out) override;
  std::uint64_t Uniform(std::uint64_t bound) override;

 private:
  std::uint64_t Next();
  std::uint64_t state_;
};

// A small llama-shaped model (4 layers, width 64, 512-token vocabulary) for
// delta tests: quick to build, yet with every kind of tensor.
ota::testing::SynthShape TinySynthShape(
    ota::testing::SynthType type = ota::testing::SynthType::kF16);

// A bundle.json with the given name/version; files are set by PackBundle.
manifest::BundleManifest BaseManifest(const std::string& model_file = "model.gguf");

// Feeds `bytes` in pieces of `piece` bytes (0: all at once), then Finish.
Result<manifest::BundleManifest> UnpackBytes(FileSystem& fs, const std::string& bytes,
                                             const std::string& out_dir, std::size_t piece = 0,
                                             const UnpackLimits& limits = {},
                                             std::optional<RecipientPrivateKey> key = std::nullopt);

// Forwards to a real FileSystem, recording the path of every call that
// creates, changes or removes something, and failing Append calls once
// `fail_appends_after` appends have succeeded (-1: never).
class RecordingFileSystem : public ForwardingFileSystem {
 public:
  explicit RecordingFileSystem(FileSystem& base) : ForwardingFileSystem(base) {}
  std::vector<std::string> mutations;
  int fail_appends_after = -1;

  Result<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path, bool append,
                                                     unsigned mode) override;
  Status CreateDirs(const std::string& path) override {
    mutations.push_back(path);
    return base().CreateDirs(path);
  }
  Status Rename(const std::string& from, const std::string& to) override {
    mutations.push_back(from);
    mutations.push_back(to);
    return base().Rename(from, to);
  }
  Status Remove(const std::string& path) override {
    mutations.push_back(path);
    return base().Remove(path);
  }
  Status RemoveAll(const std::string& path) override {
    mutations.push_back(path);
    return base().RemoveAll(path);
  }
  Status CreateSymlink(const std::string& target, const std::string& link) override {
    mutations.push_back(link);
    return base().CreateSymlink(target, link);
  }

 private:
  int appends_ = 0;
  friend class FailingWritableFile;
};

}  // namespace ota::bundle::testing

#endif  // OTA_TESTS_BUNDLE_BUNDLE_TEST_UTIL_H_
