// K-quant deltas: the field-by-field block transforms (exact on any bytes,
// one quant step is one small lane), their mapping from ggml types, and
// round trips on real Q4_K_M, Q8_0 and mixed files made by llama.cpp's
// quantizer.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "bundle_test_util.h"
#include "delta_payload.h"
#include "gguf_layout.h"
#include "kquant_blocks.h"
#include "ota/bundle/bundle.h"
#include "ota/bundle/delta.h"
#include "ota/common/hash.h"
#include "ota/runtime_adapter/model_synth.h"
#include "ota/runtime_adapter/quantize.h"
#include "test_support.h"

namespace ota::bundle {
namespace {

namespace rt = ota::runtime_adapter;
using ota::testing::ReadTestFile;
using ota::testing::TempDir;
using testing::BaseManifest;

constexpr DiffTransform kKQuantTransforms[] = {DiffTransform::kQ2K, DiffTransform::kQ3K,
                                               DiffTransform::kQ4K, DiffTransform::kQ5K,
                                               DiffTransform::kQ6K};

std::vector<std::uint8_t> Diff(DiffTransform t, std::uint32_t width,
                               const std::vector<std::uint8_t>& old_b,
                               const std::vector<std::uint8_t>& new_b) {
  std::vector<std::uint8_t> diff;
  MakeDiff(t, width, old_b, new_b, diff);
  return diff;
}

// Offsets of the non-zero bytes of `v`.
std::vector<std::size_t> NonZero(const std::vector<std::uint8_t>& v) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] != 0) out.push_back(i);
  }
  return out;
}

TEST(KQuantTransformTest, EveryTransformRoundTripsAnyBytes) {
  for (DiffTransform t : kKQuantTransforms) {
    const std::uint32_t width = KQuantBlockBytes(
        static_cast<KQuant>(static_cast<int>(t) - static_cast<int>(DiffTransform::kQ2K)));
    ASSERT_TRUE(TransformFitsWidth(t, width));
    EXPECT_FALSE(TransformFitsWidth(t, width + 1));
    EXPECT_FALSE(TransformFitsWidth(t, 34));
    for (std::size_t n : {std::size_t{0}, std::size_t{5}, std::size_t{width},
                          std::size_t{width * 3 + 7}, std::size_t{width * 40}}) {
      const auto old_b = ota::testing::PseudoBytes(n, n + 1),
                 new_b = ota::testing::PseudoBytes(n, n + 2);
      std::vector<std::uint8_t> diff = Diff(t, width, old_b, new_b);
      ASSERT_EQ(diff.size(), n);
      ApplyTransform(t, width, old_b, diff);
      EXPECT_EQ(diff, new_b) << "transform " << static_cast<int>(t) << " size " << n;
      // Equal blocks give an all-zero difference.
      EXPECT_TRUE(NonZero(Diff(t, width, old_b, old_b)).empty());
    }
  }
}

TEST(KQuantTransformTest, OneQuantStepIsOneSmallLane) {
  // Q4_K: weight 32 is the high nibble of qs[0] (byte 16); +1 codes as 2
  // in its lane of the low plane (byte 16 + 32 / 4, bits 0-1).
  std::vector<std::uint8_t> old_b = ota::testing::PseudoBytes(144, 3), new_b = old_b;
  old_b[16] = 0x35;
  new_b[16] = 0x45;
  auto d = Diff(DiffTransform::kQ4K, 144, old_b, new_b);
  EXPECT_EQ(NonZero(d), std::vector<std::size_t>{24});
  EXPECT_EQ(d[24], 2);
  // Q5_K: weight 0 from 15 to 16 flips its low nibble (qs[0], byte 48) and
  // its high bit (qh[0] bit 0, byte 16), but is one step: 2 in weight 0's
  // lane of the low plane (byte 16, bits 0-1).
  old_b = ota::testing::PseudoBytes(176, 4);
  old_b[48] = static_cast<std::uint8_t>((old_b[48] & 0xf0) | 0x0f);
  old_b[16] = static_cast<std::uint8_t>(old_b[16] & ~1u);
  new_b = old_b;
  new_b[48] = static_cast<std::uint8_t>(new_b[48] & 0xf0);
  new_b[16] = static_cast<std::uint8_t>(new_b[16] | 1u);
  d = Diff(DiffTransform::kQ5K, 176, old_b, new_b);
  EXPECT_EQ(NonZero(d), std::vector<std::size_t>{16});
  EXPECT_EQ(d[16], 2);
  // Q6_K: weight 0 (ql[0] low nibble, qh[0] bits 0-1) from 15 to 14.
  old_b = ota::testing::PseudoBytes(210, 5);
  old_b[0] = static_cast<std::uint8_t>((old_b[0] & 0xf0) | 0x0f);
  old_b[128] = static_cast<std::uint8_t>(old_b[128] & ~3u);
  new_b = old_b;
  new_b[0] = static_cast<std::uint8_t>((new_b[0] & 0xf0) | 0x0e);
  d = Diff(DiffTransform::kQ6K, 210, old_b, new_b);
  EXPECT_EQ(NonZero(d), std::vector<std::size_t>{0});
  EXPECT_EQ(d[0], 1);
  // Q4_K's packed 6-bit scales: scale 4 (low bits in byte 4 + 8, high bits
  // in the top of byte 4 + 0) from 15 to 16 is one step of its own lane.
  old_b = ota::testing::PseudoBytes(144, 6);
  old_b[12] = static_cast<std::uint8_t>((old_b[12] & 0xf0) | 0x0f);
  old_b[4] = static_cast<std::uint8_t>(old_b[4] & 0x3f);
  new_b = old_b;
  new_b[4] = static_cast<std::uint8_t>(new_b[4] | 0x40);
  new_b[12] = static_cast<std::uint8_t>(new_b[12] & 0xf0);
  d = Diff(DiffTransform::kQ4K, 144, old_b, new_b);
  EXPECT_EQ(NonZero(d), std::vector<std::size_t>{12});
  EXPECT_EQ(d[12], 2);
}

TEST(KQuantTransformTest, GgmlTypesMapToTheirSuperBlocks) {
  const std::map<std::uint32_t, std::pair<std::uint32_t, DiffTransform>> expected = {
      {10, {84, DiffTransform::kQ2K}},
      {11, {110, DiffTransform::kQ3K}},
      {12, {144, DiffTransform::kQ4K}},
      {13, {176, DiffTransform::kQ5K}},
      {14, {210, DiffTransform::kQ6K}}};
  for (const auto& [type, want] : expected) {
    EXPECT_EQ(GroupWidthForGgmlType(type), want.first) << type;
    ASSERT_FALSE(TransformsForGgmlType(type).empty());
    EXPECT_EQ(TransformsForGgmlType(type).front(), want.second) << type;
    EXPECT_FALSE(PlaneStartsForGgmlType(type).empty()) << type;
  }
  EXPECT_EQ(GroupWidthForGgmlType(15), 1u);  // Q8_K never appears in files.
}

// Real files: F16 masters synthesized, quantized by llama.cpp.
class KQuantFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!rt::ModelSynthesisAvailable()) GTEST_SKIP() << "built without llama.cpp";
    fs_ = MakePosixFileSystem();
  }

  // Writes the quantized model `name`.gguf from a master with `noise`.
  std::string Quantized(const std::string& name, rt::QuantType type, double noise,
                        std::vector<rt::TensorTypeOverride> tensor_types = {}) {
    rt::SynthOptions master;
    master.layers = 3;
    master.width = 256;
    master.ff = 512;
    master.noise = noise;
    master.noise_seed = noise > 0 ? 2 : 0;
    const std::string master_path = dir_.Sub(name + ".f16.gguf");
    EXPECT_OK(rt::SynthesizeModel(master, master_path));
    rt::QuantizeOptions q;
    q.type = type;
    q.threads = 1;
    q.tensor_types = std::move(tensor_types);
    const std::string out = dir_.Sub(name + ".gguf");
    EXPECT_OK(rt::QuantizeModel(master_path, out, q));
    return out;
  }

  // The ggml types of `path`'s tensors, by name.
  std::map<std::string, std::uint32_t> Types(const std::string& path) {
    auto file = std::move(fs_->OpenReadable(path)).value();
    auto layout = ScanGguf(*file, *file->Size());
    EXPECT_OK(layout);
    std::map<std::string, std::uint32_t> out;
    for (const GgufTensor& t : layout->tensors) out[t.name] = t.type;
    return out;
  }

  std::string Version(const std::string& name, const std::string& version,
                      const std::string& model) {
    manifest::BundleManifest m = BaseManifest();
    m.version = *manifest::ParseVersion(version);
    PackOptions options;
    options.chunk_size = kMinChunkSize;
    const std::string bundle = dir_.Sub(name + ".otab");
    EXPECT_OK(PackBundle(*fs_, m, {{"model.gguf", model, "model"}}, bundle, options));
    EXPECT_OK(UnpackBundleFile(*fs_, bundle, dir_.Sub(name), {}));
    return Sha256Hex(ReadTestFile(bundle));
  }

  // Builds and applies the delta old -> new; checks the output bit for bit.
  // Folders and files are named after `tag`.
  DeltaStats RoundTrip(const std::string& old_model, const std::string& new_model,
                       const std::string& tag) {
    DeltaOptions options;
    options.form = DeltaForm::kContainer;
    options.base_id = Version(tag + "-base", "1.0.0", old_model);
    options.target_id = Version(tag + "-target", "1.1.0", new_model);
    options.window = 256u << 10;
    options.container.chunk_size = kMinChunkSize;
    const std::string delta = dir_.Sub(tag + ".otad");
    auto stats =
        BuildDelta(*fs_, dir_.Sub(tag + "-base"), dir_.Sub(tag + "-target"), delta, options);
    EXPECT_OK(stats);
    auto m = ApplyDeltaBundleFile(*fs_, delta, dir_.Sub(tag + "-base"), options.base_id,
                                  dir_.Sub(tag + "-out"));
    EXPECT_OK(m);
    EXPECT_EQ(ReadTestFile(dir_.Sub(tag + "-out/model.gguf")), ReadTestFile(new_model));
    return stats.ok() ? *stats : DeltaStats{};
  }

  TempDir dir_;
  std::unique_ptr<FileSystem> fs_;
};

TEST_F(KQuantFileTest, FineTunedQ4KMIsDifferencedFieldByField) {
  const std::string old_model = Quantized("a", rt::QuantType::kQ4_K_M, 0);
  const std::string new_model = Quantized("b", rt::QuantType::kQ4_K_M, 0.01);
  const auto types = Types(new_model);
  // Q4_K_M is a mix: Q4_K for most matrices, Q6_K for some (output.weight).
  ASSERT_EQ(types.at("blk.0.attn_q.weight"), 12u);
  ASSERT_EQ(types.at("output.weight"), 14u);
  const DeltaStats stats = RoundTrip(old_model, new_model, "tune");
  // Every block tensor changed, and the K-quant transforms carried them: with
  // the K-quant path off, kquant_differenced stays 0.
  EXPECT_GT(stats.kquant_differenced, stats.target_bytes * 8 / 10);
  EXPECT_LT(stats.payload_bytes, stats.target_bytes / 3);
}

TEST_F(KQuantFileTest, TypeChangesAndMixedFilesRoundTrip) {
  const std::string q8 = Quantized("q8", rt::QuantType::kQ8_0, 0);
  const std::string q4 = Quantized("q4", rt::QuantType::kQ4_K_M, 0);
  const std::string ends =
      Quantized("ends", rt::QuantType::kQ4_K_M, 0,
                {{"^blk\\.0\\.", rt::QuantType::kQ6_K}, {"^blk\\.2\\.", rt::QuantType::kQ6_K}});
  const auto types = Types(ends);
  EXPECT_EQ(types.at("blk.0.attn_q.weight"), 14u);
  EXPECT_EQ(types.at("blk.1.attn_q.weight"), 12u);
  EXPECT_EQ(types.at("blk.2.ffn_up.weight"), 14u);
  // Q8_0 -> Q4_K_M: every weight tensor changes type.
  DeltaStats stats = RoundTrip(q8, q4, "requant");
  EXPECT_LT(stats.payload_bytes, stats.target_bytes);
  // Q4_K_M -> the same with two blocks at Q6_K: the middle block is copied.
  stats = RoundTrip(q4, ends, "ends");
  EXPECT_GT(stats.copied, 0u);
}

}  // namespace
}  // namespace ota::bundle
