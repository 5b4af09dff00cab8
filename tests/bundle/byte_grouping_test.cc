// Byte grouping of GGUF float tensors: the scanner on well-formed and hostile
// headers, the transform, and byte-identical round trips.
#include <array>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "bundle_test_util.h"
#include "byte_grouping.h"
#include "gguf_layout.h"
#include "gguf_synth.h"
#include "ota/bundle/bundle.h"
#include "ota/common/hash.h"
#include "ota/runtime_adapter/model_synth.h"
#include "test_support.h"
#include "zstd_codec.h"

namespace ota::bundle {
namespace {

using ota::testing::ReadTestFile;
using ota::testing::TempDir;
using ota::testing::WriteTestFile;
using testing::BaseManifest;
using testing::JoinBundle;
using testing::LittleEndian;
using testing::RandomBytes;
using testing::SplitBundle;

constexpr std::uint32_t kF32 = 0, kF16 = 1, kQ8_0 = 8, kBF16 = 30;

// Writes GGUF files byte by byte from the specification, independently of
// the scanner, with knobs for breaking them.
struct GgufBuilder {
  struct Tensor {
    std::string name;
    std::vector<std::uint64_t> dims;
    std::uint32_t type;
    std::uint64_t size;  // Data bytes.
  };
  std::uint32_t version = 3;
  std::uint64_t alignment = 32;
  bool write_alignment = true;
  std::vector<Tensor> tensors;
  std::uint64_t tensor_count_override = 0;  // Non-zero: claimed count.
  std::uint64_t kv_count_override = 0;
  std::uint64_t offset_bias = 0;  // Added to every tensor offset.

  static std::string Str(const std::string& s) { return LittleEndian(s.size(), 8) + s; }

  std::string Build(std::uint64_t seed = 1) const {
    std::string kvs;
    std::uint64_t kv_count = 2;
    kvs += Str("general.name") + LittleEndian(8, 4) + Str("grouping-test");
    // An array of strings, as tokenizers have.
    kvs += Str("tokenizer.ggml.tokens") + LittleEndian(9, 4) + LittleEndian(8, 4) +
           LittleEndian(3, 8) + Str("a") + Str("bb") + Str("ccc");
    if (write_alignment) {
      kvs += Str("general.alignment") + LittleEndian(4, 4) + LittleEndian(alignment, 4);
      ++kv_count;
    }
    std::string out =
        "GGUF" + LittleEndian(version, 4) +
        LittleEndian(tensor_count_override ? tensor_count_override : tensors.size(), 8) +
        LittleEndian(kv_count_override ? kv_count_override : kv_count, 8) + kvs;
    std::uint64_t offset = 0;
    std::vector<std::uint64_t> offsets;
    for (const Tensor& t : tensors) {
      out += Str(t.name) + LittleEndian(t.dims.size(), 4);
      for (std::uint64_t d : t.dims) out += LittleEndian(d, 8);
      out += LittleEndian(t.type, 4) + LittleEndian(offset + offset_bias, 8);
      offsets.push_back(offset);
      offset += (t.size + alignment - 1) / alignment * alignment;
    }
    out.resize((out.size() + alignment - 1) / alignment * alignment, '\0');
    std::string data;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      data.resize(offsets[i], '\0');
      data += FloatLike(tensors[i].size, seed + i);
    }
    return out + data;
  }

  // Bytes shaped like small half-precision weights: a few exponents, noisy
  // mantissas.
  static std::string FloatLike(std::uint64_t n, std::uint64_t seed) {
    std::string noise = RandomBytes(static_cast<std::size_t>(n), seed);
    for (std::size_t i = 1; i < noise.size(); i += 2) {
      noise[i] = static_cast<char>(0x30 + (static_cast<unsigned char>(noise[i]) % 8));
    }
    return noise;
  }
};

GgufBuilder SmallModel() {
  GgufBuilder b;
  b.tensors = {{"tok_embd", {64, 300}, kF16, 64 * 300 * 2},
               {"norm", {64}, kF32, 64 * 4},
               {"blk.0.q", {64, 64}, kQ8_0, 64 * 64 / 32 * 34},
               {"blk.0.k", {64, 64}, kF16, 64 * 64 * 2}};
  return b;
}

class ByteGroupingTest : public ::testing::Test {
 protected:
  Result<GgufLayout> Scan(const std::string& bytes) {
    WriteTestFile(dir_.Sub("scan.gguf"), bytes);
    auto file = fs_->OpenReadable(dir_.Sub("scan.gguf"));
    EXPECT_OK(file);
    return ScanGguf(**file, bytes.size());
  }

  // Packs one model file, unpacks it, and checks it comes back identical.
  BundleInfo RoundTrip(const std::string& model_path, const PackOptions& options = {},
                       std::optional<RecipientPrivateKey> key = std::nullopt) {
    const std::string out = dir_.Sub("b" + std::to_string(n_) + ".otab");
    const std::string unpacked = dir_.Sub("u" + std::to_string(n_++));
    EXPECT_OK(
        PackBundle(*fs_, BaseManifest(), {{"model.gguf", model_path, "model"}}, out, options));
    Result<BundleInfo> info = ReadBundleHeader(*fs_, out);
    EXPECT_OK(info);
    EXPECT_OK(UnpackBundleFile(*fs_, out, unpacked, {}, std::move(key)));
    EXPECT_EQ(Sha256Hex(ReadTestFile(unpacked + "/model.gguf")),
              Sha256Hex(ReadTestFile(model_path)));
    return info.ok() ? *info : BundleInfo{};
  }

  // A one-layer llama-shaped model of N(0, 0.02) BF16 weights, `width` wide.
  std::string Bf16Model(int width) {
    ota::testing::SynthShape shape;
    shape.layers = 1;
    shape.n_embd = width;
    shape.n_ff = 2 * width;
    shape.n_vocab = 2 * width;
    shape.weight_type = ota::testing::SynthType::kBF16;
    const std::string model = dir_.Sub("bf16-" + std::to_string(width) + ".gguf");
    EXPECT_TRUE(ota::testing::WriteSynthGguf(model, shape, {}));
    return model;
  }

  TempDir dir_;
  std::unique_ptr<FileSystem> fs_ = MakePosixFileSystem();
  int n_ = 0;
};

TEST_F(ByteGroupingTest, TransformIsItsOwnInverse) {
  std::string data = RandomBytes(1000, 5);
  std::vector<std::uint8_t> bytes(data.begin(), data.end());
  const std::vector<ByteGroup> groups = {{0, 300, 2}, {301, 400, 4}, {900, 100, 2}};
  std::vector<std::uint8_t> scratch;
  GroupBytes(bytes, groups, scratch);
  EXPECT_NE(std::string(bytes.begin(), bytes.end()), data);
  EXPECT_EQ(bytes[150], static_cast<std::uint8_t>(data[1]));  // Byte 1 of element 0.
  UngroupBytes(bytes, groups, scratch);
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), data);
}

// BF16 words of N(0, 0.02) values, as a model's weights are.
std::vector<std::uint8_t> Bf16Weights(std::size_t n, std::uint64_t seed) {
  const std::string noise = RandomBytes(n * 8, seed);
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t a = 0, b = 0;
    std::memcpy(&a, noise.data() + 8 * i, 4);
    std::memcpy(&b, noise.data() + 8 * i + 4, 4);
    const double u = (a + 1.0) / 4294967297.0, v = b / 4294967296.0;
    const double x = 0.02 * std::sqrt(-2 * std::log(u)) * std::cos(6.283185307179586 * v);
    const std::uint16_t w = ota::testing::FloatToBf16(static_cast<float>(x));
    out.push_back(static_cast<std::uint8_t>(w));
    out.push_back(static_cast<std::uint8_t>(w >> 8));
  }
  return out;
}

TEST_F(ByteGroupingTest, Bf16SplitStoresExponentsThenBucketedMantissas) {
  const std::size_t n = 20000;
  std::vector<std::uint8_t> bytes(8);  // A prefix the group leaves alone.
  const std::vector<std::uint8_t> weights = Bf16Weights(n, 7);
  bytes.insert(bytes.end(), weights.begin(), weights.end());
  const std::vector<std::uint8_t> original = bytes;
  const std::vector<ByteGroup> groups = {{8, 2 * n, 2, GroupKind::kBf16Split}};
  std::vector<std::uint8_t> scratch;
  std::vector<std::size_t> planes;
  GroupBytes(bytes, groups, scratch, &planes);
  // The exponent plane: bits 7..14 of each element, in element order.
  for (std::size_t i = 0; i < n; i += 997) {
    const unsigned w = original[8 + 2 * i] | (original[9 + 2 * i] << 8);
    EXPECT_EQ(bytes[8 + i], (w >> 7) & 0xff) << i;
  }
  // The group, its sign-and-mantissa plane and at least three buckets (the
  // busiest exponents of N(0, 0.02) each hold far more than kBf16BucketMin).
  ASSERT_GE(planes.size(), 4u);
  EXPECT_EQ(planes[0], 8u);
  EXPECT_EQ(planes[1], 8u + n);
  for (std::size_t i = 1; i < planes.size(); ++i) EXPECT_LT(planes[i - 1], planes[i]);
  EXPECT_LT(planes.back(), bytes.size());
  // The first bucket is the smallest exponent with kBf16BucketMin elements:
  // its first byte is the sign-and-mantissa of that exponent's first element.
  std::array<std::size_t, 256> count{};
  for (std::size_t i = 0; i < n; ++i) ++count[bytes[8 + i]];
  std::size_t first_bucket = 0;
  while (count[first_bucket] < kBf16BucketMin) ++first_bucket;
  for (std::size_t i = 0; i < n; ++i) {
    if (bytes[8 + i] != first_bucket) continue;
    const unsigned w = original[8 + 2 * i] | (original[9 + 2 * i] << 8);
    EXPECT_EQ(bytes[8 + n], ((w >> 8) & 0x80) | (w & 0x7f));
    break;
  }
  UngroupBytes(bytes, groups, scratch);
  EXPECT_EQ(bytes, original);
}

TEST_F(ByteGroupingTest, Bf16SplitIsABijectionOnAnyBytes) {
  // A reader ungroups whatever a hostile chunk decompresses to: every byte
  // string is some grouping's image, and the round trip is exact.
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    const std::string noise = RandomBytes(3 * kBf16BucketMin * 2 + 6, seed);
    std::vector<std::uint8_t> bytes(noise.begin(), noise.end());
    // Two exponent values, so both reach kBf16BucketMin.
    for (std::size_t i = 0; i < bytes.size() / 2; ++i) bytes[i] &= 0x01;
    const std::vector<std::uint8_t> original = bytes;
    const std::vector<ByteGroup> groups = {{0, bytes.size(), 2, GroupKind::kBf16Split}};
    std::vector<std::uint8_t> scratch;
    UngroupBytes(bytes, groups, scratch);
    GroupBytes(bytes, groups, scratch);
    EXPECT_EQ(bytes, original) << seed;
  }
}

TEST_F(ByteGroupingTest, SplitChunkFramesAreCheckedOneByOne) {
  const std::vector<std::uint8_t> plain = Bf16Weights(30000, 9);
  auto compressor = ZstdCompressor::Create(3);
  ASSERT_OK(compressor);
  std::vector<std::uint8_t> frames;
  const std::vector<std::size_t> cuts = {1000, 30000, 30000, 45000};
  ASSERT_OK((*compressor)->CompressFrames(plain, cuts, frames));
  auto decompressor = ZstdDecompressor::Create();
  ASSERT_OK(decompressor);
  std::vector<std::uint8_t> out;
  ASSERT_OK((*decompressor)->DecompressFrames(frames, plain.size(), out, "chunk 0"));
  EXPECT_EQ(out, plain);
  // Four frames, not one: the single-frame reader refuses what follows the first.
  EXPECT_FALSE((*decompressor)->Decompress(frames, plain.size(), out, "chunk 0").ok());

  auto refused = [&](std::vector<std::uint8_t> bad, std::size_t expected, const std::string& why) {
    Status s = (*decompressor)->DecompressFrames(bad, expected, out, "chunk 0");
    ASSERT_FALSE(s.ok()) << why;
    EXPECT_EQ(s.error().code, ErrorCode::kIntegrity);
    EXPECT_NE(s.error().message.find(why), std::string::npos) << s.error().message;
  };
  refused(std::vector<std::uint8_t>(frames.begin(), frames.end() - 10), plain.size(),
          "invalid zstd frame 3");
  refused(frames, plain.size() - 1, "more than the");
  refused(frames, plain.size() + 1, "decompresses to " + std::to_string(plain.size()));
  refused({}, plain.size(), "decompresses to 0 bytes");
  std::vector<std::uint8_t> junk = frames;
  junk.insert(junk.end(), {1, 2, 3, 4, 5, 6, 7, 8});
  refused(junk, plain.size(), "invalid zstd frame 4");
}

TEST_F(ByteGroupingTest, GroupsFollowElementsAcrossChunks) {
  const StreamRegions regions = {{100, 1000, 4}, {1100, 6, 2}, {2000, 5000, 2}};
  std::size_t cursor = 0;
  // Chunk [0, 1001): region 0's part is [100, 1000) trimmed to whole elements.
  EXPECT_EQ(GroupsForChunk(regions, cursor, 0, 1001), (std::vector<ByteGroup>{{100, 900, 4}}));
  // Chunk [1001, 4001): region 0's rest [1004, 1100) and the 6-byte region
  // are under kMinGroupBytes; region 2 is cut at the chunk end.
  EXPECT_EQ(GroupsForChunk(regions, cursor, 1001, 3000), (std::vector<ByteGroup>{{999, 2000, 2}}));
  EXPECT_EQ(cursor, 0u);
  // Chunk [4001, 9001): region 2's rest starts at 4002, an element boundary.
  EXPECT_EQ(GroupsForChunk(regions, cursor, 4001, 5000), (std::vector<ByteGroup>{{1, 2998, 2}}));
  EXPECT_EQ(cursor, 2u);
}

TEST_F(ByteGroupingTest, ScannerFindsFloatTensors) {
  Result<GgufLayout> layout = Scan(SmallModel().Build());
  ASSERT_OK(layout);
  ASSERT_TRUE(layout->usable) << layout->reason;
  EXPECT_EQ(layout->tensor_count, 4u);
  EXPECT_EQ(layout->data_offset % 32, 0u);
  // tok_embd (F16) then norm (F32) then blk.0.k (F16) after the Q8_0 tensor.
  ASSERT_EQ(layout->float_regions.size(), 3u);
  EXPECT_EQ(layout->float_regions[0].width, 2u);
  EXPECT_EQ(layout->float_regions[0].offset, layout->data_offset);
  EXPECT_EQ(layout->float_regions[0].length, 64u * 300 * 2);
  EXPECT_EQ(layout->float_regions[1].width, 4u);
  EXPECT_EQ(layout->float_regions[2].width, 2u);

  GgufBuilder aligned = SmallModel();
  aligned.alignment = 256;
  layout = Scan(aligned.Build());
  ASSERT_TRUE(layout->usable) << layout->reason;
  EXPECT_EQ(layout->alignment, 256u);
  EXPECT_EQ(layout->data_offset % 256, 0u);
}

TEST_F(ByteGroupingTest, HostileHeadersAreRefusedWithoutHarm) {
  const std::string good = SmallModel().Build();
  auto expect_refused = [&](const std::string& bytes, const std::string& reason) {
    Result<GgufLayout> layout = Scan(bytes);
    ASSERT_OK(layout);
    EXPECT_FALSE(layout->usable) << reason;
    EXPECT_TRUE(layout->float_regions.empty());
    EXPECT_NE(layout->reason.find(reason), std::string::npos) << layout->reason;
  };
  GgufBuilder b = SmallModel();
  b.tensor_count_override = std::uint64_t{1} << 62;
  expect_refused(b.Build(), "tensors and");
  b = SmallModel();
  b.kv_count_override = std::uint64_t{1} << 40;
  expect_refused(b.Build(), "metadata keys");
  b = SmallModel();
  b.offset_bias = std::uint64_t{1} << 50;
  expect_refused(b.Build(), "tensor offset past the file");
  b = SmallModel();
  b.tensors[0].dims = {std::uint64_t{1} << 40, std::uint64_t{1} << 40};
  expect_refused(b.Build(), "tensor larger than the file");
  b = SmallModel();
  b.tensors[0].dims = {1, 1, 1, 1, 1};
  expect_refused(b.Build(), "dims");
  b = SmallModel();
  b.version = 1;
  expect_refused(b.Build(), "unsupported GGUF version 1");
  b = SmallModel();
  b.alignment = 48;
  expect_refused(b.Build(), "not a power of 2");
  expect_refused("not a gguf at all", "not a GGUF file");

  // A huge string length and a huge array count, patched into the bytes.
  std::string huge_string = good;
  const std::size_t name_len = 24;  // After magic, version and the counts.
  huge_string.replace(name_len, 8, LittleEndian(std::uint64_t{1} << 61, 8));
  expect_refused(huge_string, "past the end of the file");
  std::string huge_array = good;
  const std::size_t count_at = good.find("tokenizer.ggml.tokens") + 21 + 4 + 4;
  huge_array.replace(count_at, 8, LittleEndian(std::uint64_t{1} << 60, 8));
  expect_refused(huge_array, "array count runs past the file");

  // Every truncation: refused or (once the tensor infos are whole) usable
  // only when the regions still fit; never a crash.
  for (std::size_t n = 0; n < good.size(); n += 7) {
    Result<GgufLayout> layout = Scan(good.substr(0, n));
    ASSERT_OK(layout);
    for (const ByteGroup& r : layout->float_regions) EXPECT_LE(r.offset + r.length, n);
  }
}

TEST_F(ByteGroupingTest, HostileModelsStillRoundTrip) {
  GgufBuilder b = SmallModel();
  b.offset_bias = 3;  // Tensors at odd offsets: misaligned but inside the file.
  for (const std::string& bytes :
       {SmallModel().Build(), b.Build(), SmallModel().Build().substr(0, 5000)}) {
    WriteTestFile(dir_.Sub("m.gguf"), bytes);
    PackOptions options;
    options.chunk_size = kMinChunkSize;
    RoundTrip(dir_.Sub("m.gguf"), options);
  }
}

TEST_F(ByteGroupingTest, GroupedGgufIsSmallerAndIdentical) {
  GgufBuilder b;
  b.tensors = {{"w", {256, 1024}, kF16, 256 * 1024 * 2}};
  WriteTestFile(dir_.Sub("w.gguf"), b.Build());
  PackOptions grouped;
  grouped.chunk_size = 128u << 10;
  PackOptions plain = grouped;
  plain.byte_grouping = false;
  const BundleInfo with = RoundTrip(dir_.Sub("w.gguf"), grouped);
  const BundleInfo without = RoundTrip(dir_.Sub("w.gguf"), plain);
  EXPECT_GT(with.grouped_bytes, 500000u);
  EXPECT_EQ(without.grouped_bytes, 0u);
  EXPECT_LT(with.total_stored, without.total_stored);
  const auto raw = SplitBundle(ReadTestFile(dir_.Sub("b0.otab")));
  EXPECT_TRUE(raw.header["chunks"][0].contains("groups"));
}

TEST_F(ByteGroupingTest, Bf16ModelsSplitExponentsFromMantissas) {
  const std::string model = Bf16Model(256);
  PackOptions split;
  split.chunk_size = 256u << 10;
  split.zstd_level = 19;
  PackOptions bytes_only = split;
  bytes_only.bf16_split = false;
  const BundleInfo with = RoundTrip(model, split);
  const auto raw = SplitBundle(ReadTestFile(dir_.Sub("b0.otab")));
  const BundleInfo without = RoundTrip(model, bytes_only);
  const auto raw_without = SplitBundle(ReadTestFile(dir_.Sub("b1.otab")));

  EXPECT_EQ(raw.flags & 0x8u, 0x8u);
  EXPECT_EQ(raw_without.flags & 0x8u, 0u);
  EXPECT_EQ(raw.header["chunks"][0]["groups"][0].size(), 4u);
  EXPECT_EQ(raw.header["chunks"][0]["groups"][0][3], "bf16");
  EXPECT_EQ(raw_without.header["chunks"][0]["groups"][0].size(), 3u);
  EXPECT_EQ(with.grouped_bytes, without.grouped_bytes);
  // Normally distributed weights: the split saves several percent more.
  EXPECT_LT(with.total_stored * 100, without.total_stored * 97)
      << with.total_stored << " vs " << without.total_stored;

  // Encrypted: the kind is authenticated with the chunk.
  testing::SeededRandom random(5);
  Result<RecipientPrivateKey> key = GenerateRecipientKey(random);
  ASSERT_OK(key);
  PackOptions sealed = split;
  sealed.recipients = {RecipientPublicKey{key->public_key, key->key_id}};
  RoundTrip(model, sealed, *key);
  auto tampered = SplitBundle(ReadTestFile(dir_.Sub("b2.otab")));
  ASSERT_EQ(tampered.header["chunks"][0]["groups"][0][3], "bf16");
  tampered.flags &= ~0x8u;
  for (auto& chunk : tampered.header["chunks"]) {
    for (auto& g : chunk["groups"]) {
      if (g.size() == 4) g.erase(3);
    }
  }
  Result<manifest::BundleManifest> r =
      testing::UnpackBytes(*fs_, JoinBundle(tampered), dir_.Sub("t"), 0, {}, *key);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kIntegrity) << r.error().ToString();
  EXPECT_FALSE(*fs_->Exists(dir_.Sub("t")));
}

TEST_F(ByteGroupingTest, Bf16KindAndFlagMustAgree) {
  const std::string model = Bf16Model(128);
  PackOptions options;
  options.chunk_size = kMinChunkSize;
  ASSERT_OK(PackBundle(*fs_, BaseManifest(), {{"model.gguf", model, "model"}}, dir_.Sub("s.otab"),
                       options));
  const auto raw = SplitBundle(ReadTestFile(dir_.Sub("s.otab")));
  ASSERT_EQ(raw.flags & 0x8u, 0x8u);
  auto expect_corrupt = [&](const testing::RawBundle& bad, const std::string& why) {
    const std::string out = dir_.Sub("bad" + std::to_string(n_++));
    Result<manifest::BundleManifest> r = testing::UnpackBytes(*fs_, JoinBundle(bad), out);
    ASSERT_FALSE(r.ok()) << why;
    EXPECT_EQ(r.error().code, ErrorCode::kIntegrity) << r.error().ToString();
    EXPECT_NE(r.error().message.find(why), std::string::npos) << r.error().message;
    EXPECT_FALSE(*fs_->Exists(out));
  };
  auto no_flag = raw;
  no_flag.flags &= ~0x8u;
  expect_corrupt(no_flag, "needs the bf16-split flag");
  auto no_kind = raw;
  for (auto& chunk : no_kind.header["chunks"]) {
    for (auto& g : chunk["groups"]) {
      if (g.size() == 4) g.erase(3);
    }
  }
  expect_corrupt(no_kind, "no byte group is of kind bf16");
  // The flag without its groups, and split groups read as byte groups,
  // both fail; so do unknown kinds and a bf16 kind on 4-byte elements.
  no_kind.flags &= ~0x8u;
  expect_corrupt(no_kind, "chunk 0");
  for (const nlohmann::json& g :
       {nlohmann::json::array({0, 256, 2, "f16"}), nlohmann::json::array({0, 256, 4, "bf16"}),
        nlohmann::json::array({0, 256, 2, 1})}) {
    auto bad = raw;
    bad.header["chunks"][0]["groups"] = nlohmann::json::array({g});
    expect_corrupt(bad, "byte group");
  }
  // A cut-off last frame: the chunk's own hash is recomputed, so only the
  // frame check can catch it.
  auto cut = raw;
  const std::uint64_t stored = cut.header["chunks"][0]["stored"];
  std::string chunk0 = cut.chunks.substr(0, stored - 7);
  cut.chunks = chunk0 + cut.chunks.substr(stored);
  cut.header["chunks"][0]["stored"] = stored - 7;
  cut.header["chunks"][0]["sha256"] = Sha256Hex(chunk0);
  expect_corrupt(cut, "zstd frame");
}

TEST_F(ByteGroupingTest, HostileGroupsInTheHeaderAreCorrupt) {
  GgufBuilder b;
  b.tensors = {{"w", {256, 256}, kF16, 256 * 256 * 2}};
  WriteTestFile(dir_.Sub("w.gguf"), b.Build());
  PackOptions options;
  options.chunk_size = kMinChunkSize;
  ASSERT_OK(PackBundle(*fs_, BaseManifest(), {{"model.gguf", dir_.Sub("w.gguf"), "model"}},
                       dir_.Sub("g.otab"), options));
  const auto raw = SplitBundle(ReadTestFile(dir_.Sub("g.otab")));
  ASSERT_TRUE(raw.header["chunks"][0].contains("groups"));
  const std::vector<nlohmann::json> bad_groups = {
      nlohmann::json::array({nlohmann::json::array({0, 100, 3})}),
      nlohmann::json::array({nlohmann::json::array({0, 101, 2})}),
      nlohmann::json::array({nlohmann::json::array({65530, 100, 2})}),
      nlohmann::json::array(
          {nlohmann::json::array({100, 100, 2}), nlohmann::json::array({0, 10, 2})}),
      nlohmann::json::array({nlohmann::json::array({std::uint64_t{1} << 63, 2, 2})}),
      nlohmann::json::array(),
      nlohmann::json::array({"x"}),
  };
  int i = 0;
  for (const nlohmann::json& groups : bad_groups) {
    auto bad = raw;
    bad.header["chunks"][0]["groups"] = groups;
    const std::string out = dir_.Sub("bad" + std::to_string(i++));
    Result<manifest::BundleManifest> r = testing::UnpackBytes(*fs_, JoinBundle(bad), out);
    ASSERT_FALSE(r.ok()) << groups.dump();
    EXPECT_EQ(r.error().code, ErrorCode::kIntegrity) << r.error().ToString();
    EXPECT_FALSE(*fs_->Exists(out));
  }
}

// Real models from the synthesizer (needs llama.cpp's ggml).
class SynthModelTest : public ByteGroupingTest,
                       public ::testing::WithParamInterface<runtime_adapter::TensorType> {};

TEST_P(SynthModelTest, RoundTripsByteIdentical) {
  if (!runtime_adapter::ModelSynthesisAvailable()) GTEST_SKIP() << "built without llama.cpp";
  runtime_adapter::SynthOptions synth;
  synth.layers = 2;
  synth.width = 128;
  synth.type = GetParam();
  const std::string model = dir_.Sub("synth.gguf");
  ASSERT_OK(runtime_adapter::SynthesizeModel(synth, model));
  testing::SeededRandom random(3);
  Result<RecipientPrivateKey> key = GenerateRecipientKey(random);
  ASSERT_OK(key);
  PackOptions options;
  options.chunk_size = kMinChunkSize;
  options.recipients = {RecipientPublicKey{key->public_key, key->key_id}};
  const BundleInfo info = RoundTrip(model, options, *key);
  EXPECT_TRUE(info.encrypted);
  // Every type has F32 norm vectors; F16/F32 models mostly float data.
  EXPECT_GT(info.grouped_bytes, 0u);
  if (GetParam() != runtime_adapter::TensorType::kQ8_0) {
    EXPECT_GT(info.grouped_bytes, info.total_plain / 2);
  }
  PackOptions plain;
  plain.chunk_size = kMinChunkSize;
  RoundTrip(model, plain);
}

INSTANTIATE_TEST_SUITE_P(Types, SynthModelTest,
                         ::testing::Values(runtime_adapter::TensorType::kF16,
                                           runtime_adapter::TensorType::kBF16,
                                           runtime_adapter::TensorType::kF32,
                                           runtime_adapter::TensorType::kQ8_0));

}  // namespace
}  // namespace ota::bundle
