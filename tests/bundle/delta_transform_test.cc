// Delta payload transforms and format: exact round trips of every DIFF
// transform on edge values and odd sizes, small differences for small
// numeric changes, version 1 payloads still applied, and hostile payloads
// and headers refused with a precise error.
#include <cstring>
#include <string>
#include <vector>

#include "bundle_test_util.h"
#include "container_format.h"
#include "delta_payload.h"
#include "gguf_synth.h"
#include "ota/bundle/bundle.h"
#include "ota/bundle/delta.h"
#include "ota/common/hash.h"
#include "test_support.h"
#include "zstd_codec.h"

namespace ota::bundle {

// Defined in pack.cc: wraps a payload file into a delta container.
Status PackDeltaContainer(FileSystem& fs, const manifest::BundleManifest& target, DeltaInfo delta,
                          const std::string& payload_path, const std::string& out_path,
                          const PackOptions& options);

namespace {

using ota::testing::FloatToHalf;
using ota::testing::ReadTestFile;
using ota::testing::TempDir;
using ota::testing::WriteTestFile;
using testing::BaseManifest;

void ExpectRoundTrip(DiffTransform t, std::uint32_t width, const std::vector<std::uint8_t>& old_b,
                     const std::vector<std::uint8_t>& new_b) {
  std::vector<std::uint8_t> diff;
  MakeDiff(t, width, old_b, new_b, diff);
  ASSERT_EQ(diff.size(), new_b.size());
  ApplyTransform(t, width, old_b, diff);
  EXPECT_EQ(diff, new_b) << "transform " << static_cast<int>(t) << " width " << width;
}

TEST(DeltaTransformTest, EveryTransformRoundTripsRandomBytesOfOddSizes) {
  const std::vector<std::pair<DiffTransform, std::uint32_t>> cases = {
      {DiffTransform::kXor, 1},     {DiffTransform::kXor, 34},    {DiffTransform::kSub, 2},
      {DiffTransform::kOrdered, 2}, {DiffTransform::kOrdered, 4}, {DiffTransform::kQ8_0, 34},
      {DiffTransform::kQ4_0, 18}};
  for (const auto& [t, width] : cases) {
    ASSERT_TRUE(TransformFitsWidth(t, width));
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{3}, std::size_t{33},
                          std::size_t{35}, std::size_t{18 * 7 + 5}, std::size_t{4097}}) {
      ExpectRoundTrip(t, width, ota::testing::PseudoBytes(n, 1 + n),
                      ota::testing::PseudoBytes(n, 2 + n));
    }
  }
  EXPECT_FALSE(TransformFitsWidth(DiffTransform::kOrdered, 3));
  EXPECT_FALSE(TransformFitsWidth(DiffTransform::kQ8_0, 18));
  EXPECT_FALSE(TransformFitsWidth(DiffTransform::kQ4_0, 34));
}

TEST(DeltaTransformTest, OrderedHalfRoundTripsEveryBitPatternAgainstEdgeValues) {
  // NaNs, infinities, both zeros, subnormals, the largest finite values.
  const std::vector<std::uint16_t> edges = {0x7e00, 0xfe00, 0x7c01, 0x7c00, 0xfc00, 0x0000,
                                            0x8000, 0x0001, 0x8001, 0x03ff, 0x83ff, 0x7bff,
                                            0xfbff, 0x3c00, 0xbc00, 0xffff};
  std::vector<std::uint8_t> all(2u << 16);
  for (std::uint32_t v = 0; v < (1u << 16); ++v) {
    all[2 * v] = static_cast<std::uint8_t>(v);
    all[2 * v + 1] = static_cast<std::uint8_t>(v >> 8);
  }
  for (std::uint16_t e : edges) {
    std::vector<std::uint8_t> old_b(all.size());
    for (std::size_t i = 0; i < old_b.size(); i += 2) {
      old_b[i] = static_cast<std::uint8_t>(e);
      old_b[i + 1] = static_cast<std::uint8_t>(e >> 8);
    }
    ExpectRoundTrip(DiffTransform::kOrdered, 2, old_b, all);
    ExpectRoundTrip(DiffTransform::kOrdered, 2, all, old_b);
  }
}

TEST(DeltaTransformTest, SmallNumericChangesGiveSmallDifferences) {
  auto half = [](float f) {
    const std::uint16_t h = FloatToHalf(f);
    return std::vector<std::uint8_t>{static_cast<std::uint8_t>(h),
                                     static_cast<std::uint8_t>(h >> 8)};
  };
  std::vector<std::uint8_t> diff;
  // One unit in the last place up (0.02 -> its successor): +1 -> zig-zag 2.
  std::vector<std::uint8_t> up = half(0.02f);
  up[0] = static_cast<std::uint8_t>(up[0] + 1);
  MakeDiff(DiffTransform::kOrdered, 2, half(0.02f), up, diff);
  EXPECT_EQ(diff, (std::vector<std::uint8_t>{2, 0}));
  // A negative weight moving toward zero by one step: -1 -> zig-zag 1.
  std::vector<std::uint8_t> neg = half(-0.02f), closer = neg;
  closer[0] = static_cast<std::uint8_t>(closer[0] - 1);
  MakeDiff(DiffTransform::kOrdered, 2, neg, closer, diff);
  EXPECT_EQ(diff, (std::vector<std::uint8_t>{2, 0}));
  // +0 -> -0 are neighbours, XOR would flip the sign bit.
  MakeDiff(DiffTransform::kOrdered, 2, half(0.0f), std::vector<std::uint8_t>{0x00, 0x80}, diff);
  EXPECT_EQ(diff, (std::vector<std::uint8_t>{1, 0}));
  // Q8_0: scale unchanged, one quant +1 and one -1, zig-zag 2 and 1.
  std::vector<std::uint8_t> block(34, 0), moved(34, 0);
  block[5] = 0x80;  // -128
  moved[5] = 0x7f;  // 127: wraps around, which zig-zag keeps as a small step
  block[6] = 10;
  moved[6] = 11;
  MakeDiff(DiffTransform::kQ8_0, 34, block, moved, diff);
  EXPECT_EQ(diff[5], 1);
  EXPECT_EQ(diff[6], 2);
  // Q4_0: nibble 3 -> 4 (+1 -> 2) and nibble 0 -> 15 (-1 -> 1).
  std::vector<std::uint8_t> q4(18, 0), q4n(18, 0);
  q4[2] = 0x03;
  q4n[2] = 0xf4;
  MakeDiff(DiffTransform::kQ4_0, 18, q4, q4n, diff);
  EXPECT_EQ(diff[2], 0x12);
}

TEST(DeltaTransformTest, VarintsUseSevenBitGroups) {
  std::vector<std::uint8_t> out;
  PutVarint(out, 0);
  PutVarint(out, 127);
  PutVarint(out, 128);
  PutVarint(out, ~std::uint64_t{0});
  EXPECT_EQ(out, (std::vector<std::uint8_t>{0x00, 0x7f, 0x80, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff,
                                            0xff, 0xff, 0xff, 0xff, 0x01}));
}

// A base and a target version (files plus bundle.json) and hand-written
// payloads wrapped into delta containers.
class DeltaPayloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs_ = MakePosixFileSystem();
    base_ = BaseManifest();
    base_.files = {{"model.gguf", 0, "", "model"}, {"prompts/main.txt", 0, "", "prompt"}};
    WriteVersion("base", base_, "base  model  bytes ", "Hello {x}\n");
    target_ = base_;
    target_.version = *manifest::ParseVersion("1.3.0");
    WriteVersion("target", target_, "target model bytes ", "Hello {x}!\n");
  }

  // Writes a folder whose files follow `m`'s paths; updates sizes and digests.
  void WriteVersion(const std::string& name, manifest::BundleManifest& m, const std::string& model,
                    const std::string& prompt) {
    for (manifest::BundleFile& f : m.files) {
      std::string content = f.path == m.model.file ? model : prompt + f.path;
      if (f.path == m.model.file) {
        for (int i = 0; i < 200; ++i) content += model;
      }
      WriteTestFile(dir_.Sub(name + "/" + f.path), content);
      f.size = content.size();
      f.sha256 = Sha256Hex(content);
    }
    WriteTestFile(dir_.Sub(name + "/bundle.json"), manifest::SerializeBundleManifest(m));
  }

  std::string Target(std::size_t i) {
    return ReadTestFile(dir_.Sub("target/" + target_.files[i].path));
  }

  // Wraps `payload` into d.otad with the base's files as base_files.
  void Pack(const std::vector<std::uint8_t>& payload) {
    WriteTestFile(dir_.Sub("payload.bin"), std::string(payload.begin(), payload.end()));
    DeltaInfo info;
    info.base_id = std::string(64, 'a');
    info.target_id = std::string(64, 'b');
    for (const manifest::BundleFile& f : base_.files) {
      info.base_files.push_back(manifest::BundleFile{f.path, f.size, f.sha256, ""});
    }
    PackOptions options;
    options.chunk_size = kMinChunkSize;
    ASSERT_OK(PackDeltaContainer(*fs_, target_, info, dir_.Sub("payload.bin"), dir_.Sub("d.otad"),
                                 options));
  }

  Result<manifest::BundleManifest> Apply() {
    return ApplyDeltaBundleFile(*fs_, dir_.Sub("d.otad"), dir_.Sub("base"), std::string(64, 'a'),
                                dir_.Sub("out"));
  }

  void ExpectRefused(const std::string& text) {
    auto m = Apply();
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.error().code, ErrorCode::kIntegrity) << m.error().message;
    EXPECT_NE(m.error().message.find(text), std::string::npos) << m.error().message;
    EXPECT_FALSE(*fs_->Exists(dir_.Sub("out")));
  }

  static void Put(std::vector<std::uint8_t>& out, std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  static std::vector<std::uint8_t> Frame(const std::string& plain) {
    auto z = std::move(ZstdCompressor::Create(3)).value();
    std::vector<std::uint8_t> frame;
    EXPECT_OK(z->CompressWithPrefix(
        std::span(reinterpret_cast<const std::uint8_t*>(plain.data()), plain.size()), {}, frame));
    return frame;
  }
  static std::vector<std::uint8_t> Magic(const char* magic) {
    return std::vector<std::uint8_t>(magic, magic + 8);
  }

  TempDir dir_;
  std::unique_ptr<FileSystem> fs_;
  manifest::BundleManifest base_, target_;
};

TEST_F(DeltaPayloadTest, VersionOnePayloadsAreStillApplied) {
  // Fixed-width fields: every file as one LITERAL (width 1), except that
  // the model is a DIFF (SUB) against the base model where sizes allow.
  std::vector<std::uint8_t> p = Magic(kDeltaPayloadMagicV1);
  for (std::size_t i = 0; i < target_.files.size(); ++i) {
    const std::string t = Target(i);
    const std::vector<std::uint8_t> frame = Frame(t);
    p.push_back(4);
    Put(p, 1, 4);
    Put(p, t.size(), 8);
    Put(p, frame.size(), 8);
    p.insert(p.end(), frame.begin(), frame.end());
    p.push_back(0);
  }
  Pack(p);
  ASSERT_OK(Apply());
  for (std::size_t i = 0; i < target_.files.size(); ++i) {
    EXPECT_EQ(ReadTestFile(dir_.Sub("out/" + target_.files[i].path)), Target(i));
  }
}

TEST_F(DeltaPayloadTest, VersionOneRefusesTheNewTransforms) {
  std::vector<std::uint8_t> p = Magic(kDeltaPayloadMagicV1);
  p.push_back(2);  // DIFF
  p.push_back(static_cast<std::uint8_t>(DiffTransform::kOrdered));
  Pack(p);
  ExpectRefused("unknown transform 3");
}

TEST_F(DeltaPayloadTest, HostilePayloadsAreRefused) {
  struct Case {
    std::vector<std::uint8_t> tail;  // After the version 2 magic.
    std::string message;
  };
  const std::vector<Case> cases = {
      {{}, "truncated in an operation"},
      {{9}, "unknown operation 9"},
      {{2, 11}, "unknown transform 11"},
      {{2, 8, 0x8f, 0x01}, "transform 8 cannot use width 143"},
      {{2, 10, 0x90, 0x01}, "transform 10 cannot use width 144"},
      {{2, 3, 3}, "transform 3 cannot use width 3"},
      {{2, 4, 18}, "transform 4 cannot use width 18"},
      // COPY whose length varint never ends / overflows 64 bits.
      {{1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, "overflows 64 bits"},
      // COPY longer than the target file.
      {{1, 0, 0, 0xff, 0xff, 0x03}, "runs past the end"},
      // COPY from a base file that does not exist.
      {{1, 7, 0, 1}, "past the end of a base file"},
      // LITERAL whose length is over the window limit.
      {{4, 1, 0x80, 0x80, 0x80, 0x10}, "outside 1.."},
      // LITERAL whose frame length is larger than any frame of its length.
      {{4, 1, 4, 0xff, 0x01}, "frame of 255 bytes for 4 bytes"},
      // LITERAL whose frame is not zstd.
      {{4, 1, 4, 4, 1, 2, 3, 4}, "not a valid zstd frame"},
      // DIFF against a base range past the end of the base file.
      {{2, 1, 1, 0, 0xff, 0xff, 0x7f, 4, 13, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
       "past the end of base file"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    std::vector<std::uint8_t> p = Magic(kDeltaPayloadMagic);
    p.insert(p.end(), c.tail.begin(), c.tail.end());
    Pack(p);
    ExpectRefused(c.message);
  }
}

TEST_F(DeltaPayloadTest, WrongMagicAndLyingFileSizesAreRefused) {
  std::vector<std::uint8_t> p = Magic("OTADLT09");
  Pack(p);
  ExpectRefused("does not start with \"OTADLT02\"");
  // The first file ends (END) after no bytes although bundle.json says more.
  p = Magic(kDeltaPayloadMagic);
  p.push_back(0);
  Pack(p);
  ExpectRefused("produces 0 bytes of " + target_.files[0].path);
}

TEST_F(DeltaPayloadTest, WrongBaseContentFailsTheTargetDigest) {
  // The payload differences the first file against the base's first file;
  // a base whose bytes differ (with a bundle.json that lies about them)
  // yields other bytes, which the target's SHA-256 catches.
  const std::string t = Target(0);
  const std::string b = ReadTestFile(dir_.Sub("base/" + base_.files[0].path));
  ASSERT_GE(b.size(), t.size());
  std::string x(t.size(), '\0');
  for (std::size_t i = 0; i < t.size(); ++i) x[i] = static_cast<char>(t[i] ^ b[i]);
  const std::vector<std::uint8_t> frame = Frame(x);
  std::vector<std::uint8_t> p = Magic(kDeltaPayloadMagic);
  p.push_back(2);
  p.push_back(1);  // XOR
  PutVarint(p, 1);
  PutVarint(p, 0);
  PutVarint(p, 0);
  PutVarint(p, t.size());
  PutVarint(p, frame.size());
  p.insert(p.end(), frame.begin(), frame.end());
  p.push_back(0);
  for (std::size_t i = 1; i < target_.files.size(); ++i) {
    const std::string ti = Target(i);
    const std::vector<std::uint8_t> f = Frame(ti);
    p.push_back(4);
    PutVarint(p, 1);
    PutVarint(p, ti.size());
    PutVarint(p, f.size());
    p.insert(p.end(), f.begin(), f.end());
    p.push_back(0);
  }
  Pack(p);
  ASSERT_OK(Apply());
  ASSERT_OK(fs_->RemoveAll(dir_.Sub("out")));
  std::string other = b;
  other[3] ^= 0x20;
  WriteTestFile(dir_.Sub("base/" + base_.files[0].path), other);
  ExpectRefused(base_.files[0].path);
}

// Windows are hashed on a second thread while the next is decoded; errors
// still surface in stream order and leave nothing staged.
TEST_F(DeltaPayloadTest, PipelinedApplyRejectsInStreamOrder) {
  auto literal = [](std::vector<std::uint8_t>& p, const std::string& plain, bool corrupt) {
    std::vector<std::uint8_t> frame = Frame(plain);
    if (corrupt) frame[0] ^= 0xff;  // Breaks the zstd magic number.
    p.push_back(4);
    PutVarint(p, 1);
    PutVarint(p, plain.size());
    PutVarint(p, frame.size());
    p.insert(p.end(), frame.begin(), frame.end());
  };
  // The model in three windows, then the prompt in one; `bad_window` (0..3)
  // is not zstd, `flip` changes a byte of the model's second window.
  auto payload = [&](int bad_window, bool flip) {
    std::string model = Target(0);
    if (flip) model[model.size() / 2] ^= 1;
    const std::size_t third = model.size() / 3;
    std::vector<std::uint8_t> p = Magic(kDeltaPayloadMagic);
    literal(p, model.substr(0, third), bad_window == 0);
    literal(p, model.substr(third, third), bad_window == 1);
    literal(p, model.substr(2 * third), bad_window == 2);
    p.push_back(0);
    literal(p, Target(1), bad_window == 3);
    p.push_back(0);
    return p;
  };
  Pack(payload(-1, false));
  ASSERT_OK(Apply());
  EXPECT_EQ(ReadTestFile(dir_.Sub("out/model.gguf")), Target(0));
  EXPECT_EQ(ReadTestFile(dir_.Sub("out/prompts/main.txt")), Target(1));
  ASSERT_OK(fs_->RemoveAll(dir_.Sub("out")));
  for (int bad : {2, 3}) {
    SCOPED_TRACE(bad);
    Pack(payload(bad, false));
    ExpectRefused((bad == 3 ? "delta window of prompts/main.txt" : "delta window of model.gguf") +
                  std::string(" at payload offset"));
  }
  // The model's wrong digest comes before the prompt's corrupt window.
  Pack(payload(3, true));
  ExpectRefused("file \"model.gguf\" has SHA-256");
  Pack(payload(-1, true));
  ExpectRefused("file \"model.gguf\" has SHA-256");
}

TEST(DeltaFormatTest, HeaderDictionaryIsTheDocumentedOne) {
  // Part of the format (docs/formats.md): changing it breaks every delta.
  EXPECT_EQ(kHeaderDictionary.size(), 381u);
  EXPECT_EQ(
      Sha256Hex(kHeaderDictionary),
      Sha256Hex(std::string(
          R"({"bundle":{"files":[{"path":"model.gguf","role":"model","sha256":"","size":}],"model":{"file":"model.gguf","format":"gguf"},"name":"","schema":"modelota.bundle/1","version":""},"chunk_size":4194304,"chunks":[{"codec":"zstd","plain":,"sha256":"","stored":}],"delta":{"base":"","base_files":[{"path":"model.gguf","sha256":"","size":}],"payload_sha256":"","target":""},"total_plain":})")));
}

TEST_F(DeltaPayloadTest, CompressedHeaderIsCheckedBeforeUse) {
  Pack(Magic(kDeltaPayloadMagic));
  std::string bytes = ReadTestFile(dir_.Sub("d.otad"));
  std::uint32_t flags = 0;
  std::memcpy(&flags, bytes.data() + 12, 4);
  EXPECT_EQ(flags, kFlagDelta | kFlagHeaderZstd);
  std::uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data() + 16, 8);
  // Damage the compressed header and fix up its digest: zstd must refuse it.
  std::string damaged = bytes;
  for (std::size_t i = 6; i < header_len; i += 7) damaged[kPreambleSize + i] ^= 0x5a;
  const std::string digest = Sha256Hex(std::string_view(damaged).substr(kPreambleSize, header_len));
  for (std::size_t i = 0; i < 32; ++i) {
    damaged[24 + i] = static_cast<char>(std::stoi(digest.substr(2 * i, 2), nullptr, 16));
  }
  WriteTestFile(dir_.Sub("bad.otad"), damaged);
  auto info = ReadBundleHeader(*fs_, dir_.Sub("bad.otad"));
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().code, ErrorCode::kIntegrity);
  EXPECT_NE(info.error().message.find("compressed bundle header"), std::string::npos)
      << info.error().message;
  // The compressed-header flag on a full bundle is refused.
  std::string full = bytes;
  full[12] = static_cast<char>(kFlagHeaderZstd);
  WriteTestFile(dir_.Sub("full.otad"), full);
  info = ReadBundleHeader(*fs_, dir_.Sub("full.otad"));
  ASSERT_FALSE(info.ok());
  EXPECT_NE(info.error().message.find("only allowed in a delta bundle"), std::string::npos)
      << info.error().message;
  // A reader whose header limit admits the stored bytes but not what they
  // inflate to refuses before allocating.
  UnpackLimits tight;
  tight.max_header_bytes = header_len;
  info = ReadBundleHeader(*fs_, dir_.Sub("d.otad"), tight);
  ASSERT_FALSE(info.ok());
  EXPECT_NE(info.error().message.find("compressed bundle header declares"), std::string::npos)
      << info.error().message;
  // The intact one reads back with the delta's ends.
  info = ReadBundleHeader(*fs_, dir_.Sub("d.otad"));
  ASSERT_OK(info);
  ASSERT_TRUE(info->delta.has_value());
  EXPECT_EQ(info->delta->target_id, std::string(64, 'b'));
  EXPECT_EQ(info->manifest.version, target_.version);
}

}  // namespace
}  // namespace ota::bundle
