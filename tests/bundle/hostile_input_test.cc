// Bundles crafted to attack the unpacker: paths escaping the output folder
// and zstd frames that expand beyond what the header declares.
#include <optional>
#include <string>
#include <vector>

#include "bundle_test_util.h"
#include "delta_payload.h"
#include "ota/bundle/bundle.h"
#include "ota/common/checked_math.h"
#include "ota/common/hash.h"
#include "test_support.h"

namespace ota::bundle {
namespace {

using ota::testing::ReadTestFile;
using ota::testing::TempDir;
using ota::testing::WriteTestFile;
using testing::JoinBundle;
using testing::LittleEndian;
using testing::RawBundle;
using testing::SplitBundle;

constexpr std::size_t kPlain = 1000;

// A zstd frame header (RFC 8878 section 3.1.1): magic, then the frame header
// descriptor (0x80: 4-byte content size field; 0x00: none) and a window
// descriptor of 128 KiB (exponent 7), so blocks may hold up to 128 KiB.
std::string FrameHeader(std::optional<std::uint32_t> content_size) {
  std::string f = LittleEndian(0xFD2FB528u, 4);
  f.push_back(static_cast<char>(content_size ? 0x80 : 0x00));
  f.push_back(static_cast<char>(0x38));
  if (content_size) f += LittleEndian(*content_size, 4);
  return f;
}

// An RLE block (section 3.1.1.2): `size` copies of `byte` in 4 bytes.
std::string RleBlock(std::uint32_t size, char byte, bool last) {
  return LittleEndian((size << 3) | (1u << 1) | (last ? 1u : 0u), 3) + std::string(1, byte);
}

class HostileInputTest : public ::testing::Test {
 protected:
  // A one-chunk bundle whose only file is kPlain bytes of 'A'.
  void SetUp() override {
    WriteTestFile(dir_.Sub("model.gguf"), std::string(kPlain, 'A'));
    ASSERT_OK(PackBundle(*fs_, testing::BaseManifest(),
                         {{"model.gguf", dir_.Sub("model.gguf"), "model"}}, dir_.Sub("b.otab")));
    raw_ = SplitBundle(ReadTestFile(dir_.Sub("b.otab")));
    ASSERT_EQ(raw_.header["chunks"].size(), 1u);
  }

  // The template bundle with its one chunk replaced by `stored`.
  std::string WithChunk(const std::string& stored) const {
    RawBundle raw = raw_;
    raw.chunks = stored;
    raw.header["chunks"][0] = {{"codec", "zstd"},
                               {"plain", kPlain},
                               {"sha256", Sha256Hex(stored)},
                               {"stored", stored.size()}};
    return JoinBundle(raw);
  }

  Result<manifest::BundleManifest> Unpack(const std::string& bytes) {
    return testing::UnpackBytes(*fs_, bytes, dir_.Sub("out" + std::to_string(attempt_++)));
  }

  void ExpectChunkRejected(const std::string& stored, const std::string& message) {
    Result<manifest::BundleManifest> r = Unpack(WithChunk(stored));
    ASSERT_FALSE(r.ok()) << "accepted; expected: " << message;
    EXPECT_EQ(r.error().code, ErrorCode::kIntegrity);
    EXPECT_NE(r.error().message.find(message), std::string::npos) << r.error().message;
  }

  TempDir dir_;
  std::unique_ptr<FileSystem> fs_ = MakePosixFileSystem();
  RawBundle raw_;
  int attempt_ = 0;
};

TEST_F(HostileInputTest, HandMadeFramesOfTheRightSizeAreAccepted) {
  // Proves the frame builders produce valid zstd, so the rejections below
  // are about sizes and not malformed frames.
  ASSERT_OK(Unpack(WithChunk(FrameHeader(kPlain) + RleBlock(kPlain, 'A', true))));
  ASSERT_OK(Unpack(
      WithChunk(FrameHeader(std::nullopt) + RleBlock(600, 'A', false) + RleBlock(400, 'A', true))));
  EXPECT_EQ(ReadTestFile(dir_.Sub("out1/model.gguf")), std::string(kPlain, 'A'));
}

TEST_F(HostileInputTest, FrameDeclaringMoreThanThePlainSizeIsRefusedBeforeDecoding) {
  ExpectChunkRejected(FrameHeader(1u << 30) + RleBlock(kPlain, 'A', true),
                      "chunk 0 declares 1073741824 plaintext bytes, the header says 1000");
  ExpectChunkRejected(FrameHeader(kPlain - 1) + RleBlock(kPlain - 1, 'A', true),
                      "chunk 0 declares 999 plaintext bytes, the header says 1000");
}

TEST_F(HostileInputTest, FrameExpandingBeyondThePlainSizeIsStopped) {
  // No declared size; ten 100 KB blocks of one byte each: a 1 MB bomb.
  std::string bomb = FrameHeader(std::nullopt);
  for (int i = 0; i < 10; ++i) bomb += RleBlock(100000, 'A', i == 9);
  ExpectChunkRejected(bomb, "chunk 0 decompresses to more than the 1000 bytes the header says");
  // A frame that lies about its own size.
  ExpectChunkRejected(FrameHeader(kPlain) + RleBlock(100000, 'A', true), "chunk 0");
}

TEST_F(HostileInputTest, FrameYieldingLessThanThePlainSizeIsRefused) {
  ExpectChunkRejected(FrameHeader(std::nullopt) + RleBlock(500, 'A', true),
                      "chunk 0 decompresses to 500 bytes, the header says 1000");
}

TEST_F(HostileInputTest, ChunkMustBeExactlyOneFrame) {
  const std::string frame = FrameHeader(std::nullopt) + RleBlock(kPlain, 'A', true);
  ExpectChunkRejected(
      frame + frame, "chunk 0 has " + std::to_string(frame.size()) + " bytes after its zstd frame");
  ExpectChunkRejected(testing::RandomBytes(100, 9), "chunk 0 is not a valid zstd frame");
  ExpectChunkRejected(frame.substr(0, frame.size() - 1), "chunk 0 is not a valid zstd frame");
}

TEST_F(HostileInputTest, HostilePathsAreRefusedBeforeAnythingIsWritten) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"../x", "has a \"..\" component"},
      {"a/../../x", "has a \"..\" component"},
      {"/etc/passwd", "is absolute"},
      {"a//b", "has an empty component"},
      {"bundle.json", "reserved for the manifest itself"},
      {"a\\..\\..\\x", "contains a backslash"},
  };
  for (const auto& [path, rule] : cases) {
    RawBundle raw = raw_;
    raw.header["bundle"]["files"][0]["path"] = path;
    raw.header["bundle"]["model"]["file"] = path;
    testing::RecordingFileSystem recording(*fs_);
    const std::string out = dir_.Sub("hostile");
    Result<manifest::BundleManifest> r = testing::UnpackBytes(recording, JoinBundle(raw), out);
    ASSERT_FALSE(r.ok()) << path;
    EXPECT_EQ(r.error().code, ErrorCode::kIntegrity);
    EXPECT_NE(r.error().message.find("files[0].path"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find(rule), std::string::npos) << r.error().message;
    EXPECT_TRUE(recording.mutations.empty())
        << path << " caused a write to " << recording.mutations.front();
    EXPECT_FALSE(*fs_->Exists(out));
  }
  EXPECT_EQ(*fs_->ListDir(dir_.path()), (std::vector<std::string>{"b.otab", "model.gguf"}));
}

TEST_F(HostileInputTest, FileUnderAnotherFileIsRefused) {
  RawBundle raw = raw_;
  auto& files = raw.header["bundle"]["files"];
  files.push_back(files[0]);
  files[1]["path"] = "model.gguf/inner";
  files[1]["size"] = 0;
  files[1]["role"] = "other";
  Result<manifest::BundleManifest> r = Unpack(JoinBundle(raw));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kIntegrity);
  EXPECT_NE(r.error().message.find("lies under the file \"model.gguf\""), std::string::npos)
      << r.error().message;
}

// Sizes read from a delta near 2^64: two of them must not add up to a small
// total that passes the reader's limit.
TEST(DeltaTargetTotalTest, SizesThatWrapAroundAreCorrupt) {
  const std::string digest(64, '0');
  manifest::BundleManifest wraps_to_five;
  wraps_to_five.files.push_back({"model.gguf", (std::uint64_t{1} << 63) + 5, digest, "model"});
  wraps_to_five.files.push_back({"other.bin", std::uint64_t{1} << 63, digest, "other"});
  manifest::BundleManifest wraps_to_zero;
  wraps_to_zero.files.push_back({"model.gguf", UINT64_MAX, digest, "model"});
  wraps_to_zero.files.push_back({"other.bin", 1, digest, "other"});
  for (const manifest::BundleManifest* m : {&wraps_to_five, &wraps_to_zero}) {
    Status s = CheckDeltaTargetTotal(*m, UnpackLimits{});
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, ErrorCode::kIntegrity) << s.error().message;
    EXPECT_NE(s.error().message.find("2^64"), std::string::npos) << s.error().message;
  }
}

TEST(DeltaTargetTotalTest, TotalIsCheckedAgainstTheLimit) {
  const std::string digest(64, '0');
  manifest::BundleManifest m;
  m.files.push_back({"model.gguf", 600, digest, "model"});
  m.files.push_back({"other.bin", 400, digest, "other"});
  UnpackLimits limits;
  limits.max_total_bytes = 1000;
  EXPECT_OK(CheckDeltaTargetTotal(m, limits));
  limits.max_total_bytes = 999;
  Status over = CheckDeltaTargetTotal(m, limits);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, ErrorCode::kIncompatible);
}

TEST(CheckedMathTest, DetectsOverflowNear64Bits) {
  EXPECT_EQ(CheckedAdd(UINT64_MAX - 1, 1), std::optional<std::uint64_t>(UINT64_MAX));
  EXPECT_EQ(CheckedAdd(UINT64_MAX, 1), std::nullopt);
  EXPECT_EQ(CheckedMul(std::uint64_t{1} << 32, std::uint64_t{1} << 31),
            std::optional<std::uint64_t>(std::uint64_t{1} << 63));
  EXPECT_EQ(CheckedMul(std::uint64_t{1} << 32, std::uint64_t{1} << 32), std::nullopt);
  EXPECT_EQ(CheckedSum({std::uint64_t{1} << 63, std::uint64_t{1} << 63, 5}), std::nullopt);
  EXPECT_EQ(CheckedSum({1, 2, 3}), std::optional<std::uint64_t>(6));
}

}  // namespace
}  // namespace ota::bundle
