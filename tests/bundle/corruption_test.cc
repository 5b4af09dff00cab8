// Every kind of damage to a bundle is refused with a precise error.
#include <functional>
#include <string>
#include <vector>

#include "bundle_test_util.h"
#include "ota/bundle/bundle.h"
#include "ota/common/hash.h"
#include "test_support.h"

namespace ota::bundle {
namespace {

using ota::testing::ReadTestFile;
using ota::testing::TempDir;
using ota::testing::WriteTestFile;
using testing::CompressibleBytes;
using testing::JoinBundle;
using testing::LittleEndian;
using testing::RandomBytes;
using testing::RawBundle;
using testing::SplitBundle;

constexpr std::uint64_t kCorruptionChunk = kMinChunkSize;

class CorruptionTest : public ::testing::Test {
 protected:
  // Four chunks: two raw (random model bytes), then two zstd (the model's
  // tail and the compressible notes; the last one short).
  void SetUp() override {
    WriteTestFile(dir_.Sub("model.gguf"), RandomBytes(2 * kCorruptionChunk + 100, 7));
    WriteTestFile(dir_.Sub("notes.txt"), CompressibleBytes(kCorruptionChunk + 5000));
    PackOptions options;
    options.chunk_size = kCorruptionChunk;
    ASSERT_OK(PackBundle(*fs_, testing::BaseManifest(),
                         {{"model.gguf", dir_.Sub("model.gguf"), "model"},
                          {"notes.txt", dir_.Sub("notes.txt"), "other"}},
                         dir_.Sub("b.otab"), options));
    good_ = ReadTestFile(dir_.Sub("b.otab"));
    raw_ = SplitBundle(good_);
    ASSERT_EQ(raw_.header["chunks"].size(), 4u);
    ASSERT_EQ(raw_.header["chunks"][0]["codec"], "raw");
    ASSERT_EQ(raw_.header["chunks"][3]["codec"], "zstd");
  }

  // Offset of chunk `i` in the bundle file.
  std::size_t ChunkOffset(std::size_t i) const {
    std::size_t offset = 56 + raw_.header_len;
    for (std::size_t k = 0; k < i; ++k)
      offset += raw_.header["chunks"][k]["stored"].get<std::size_t>();
    return offset;
  }

  // Unpacks `bytes` into a fresh folder and expects the given failure.
  void ExpectRejected(const std::string& bytes, ErrorCode code, const std::string& message,
                      const UnpackLimits& limits = {}) {
    const std::string out = dir_.Sub("out" + std::to_string(attempt_++));
    Result<manifest::BundleManifest> r = testing::UnpackBytes(*fs_, bytes, out, 0, limits);
    ASSERT_FALSE(r.ok()) << "accepted; expected: " << message;
    EXPECT_EQ(r.error().code, code) << r.error().ToString();
    EXPECT_NE(r.error().message.find(message), std::string::npos)
        << "expected \"" << message << "\" in: " << r.error().message;
    EXPECT_FALSE(*fs_->Exists(out + "/bundle.json"));
  }

  // The same through ReadBundleHeader, for damage it can see.
  void ExpectHeaderRejected(const std::string& bytes, ErrorCode code, const std::string& message) {
    WriteTestFile(dir_.Sub("bad.otab"), bytes);
    Result<BundleInfo> r = ReadBundleHeader(*fs_, dir_.Sub("bad.otab"));
    ASSERT_FALSE(r.ok()) << "accepted; expected: " << message;
    EXPECT_EQ(r.error().code, code) << r.error().ToString();
    EXPECT_NE(r.error().message.find(message), std::string::npos) << r.error().message;
  }

  std::string WithHeader(const std::function<void(nlohmann::json&)>& edit) const {
    RawBundle raw = raw_;
    edit(raw.header);
    return JoinBundle(raw);
  }

  TempDir dir_;
  std::unique_ptr<FileSystem> fs_ = MakePosixFileSystem();
  std::string good_;
  RawBundle raw_;
  int attempt_ = 0;
};

TEST_F(CorruptionTest, TheUndamagedBundleUnpacks) {
  EXPECT_OK(testing::UnpackBytes(*fs_, good_, dir_.Sub("ok")));
  EXPECT_OK(ReadBundleHeader(*fs_, dir_.Sub("b.otab")));
}

TEST_F(CorruptionTest, FlippedByteInAnyChunkNamesTheChunk) {
  for (std::size_t i = 0; i < 4; ++i) {
    const std::size_t stored = raw_.header["chunks"][i]["stored"].get<std::size_t>();
    for (std::size_t at : {std::size_t{0}, stored / 2, stored - 1}) {
      std::string bad = good_;
      bad[ChunkOffset(i) + at] ^= 0x01;
      ExpectRejected(bad, ErrorCode::kIntegrity, "chunk " + std::to_string(i) + " has SHA-256");
    }
  }
}

TEST_F(CorruptionTest, FlippedByteAnywhereInTheHeaderOrItsDigest) {
  std::vector<std::size_t> positions;
  for (std::size_t p = 24; p < 56; ++p) positions.push_back(p);  // The digest.
  for (std::size_t p = 0; p < raw_.header_len; p += 1 + raw_.header_len / 64) {
    positions.push_back(56 + p);
  }
  positions.push_back(56 + raw_.header_len - 1);
  for (std::size_t p : positions) {
    std::string bad = good_;
    bad[p] ^= 0x20;
    ExpectRejected(bad, ErrorCode::kIntegrity, "bundle header does not match its SHA-256");
  }
  std::string bad = good_;
  bad[56 + raw_.header_len / 2] ^= 0x20;
  ExpectHeaderRejected(bad, ErrorCode::kIntegrity, "does not match its SHA-256");
}

TEST_F(CorruptionTest, TruncationAtEveryStageSaysWhere) {
  const std::string header_len = std::to_string(raw_.header_len);
  const std::string s0 = raw_.header["chunks"][0]["stored"].dump();
  const std::string s3 = raw_.header["chunks"][3]["stored"].dump();
  const std::size_t s3n = raw_.header["chunks"][3]["stored"].get<std::size_t>();
  const std::vector<std::pair<std::size_t, std::string>> cases = {
      {0, "truncated in its preamble (0 of 56 bytes)"},
      {5, "truncated in its preamble (5 of 56 bytes)"},
      {55, "truncated in its preamble (55 of 56 bytes)"},
      {56, "truncated in its header (0 of " + header_len + " bytes)"},
      {56 + raw_.header_len - 1,
       "truncated in its header (" + std::to_string(raw_.header_len - 1) + " of " + header_len},
      {ChunkOffset(0), "truncated in chunk 0 (0 of " + s0 + " bytes)"},
      {ChunkOffset(1) + 10, "truncated in chunk 1 (10 of"},
      {good_.size() - 1, "truncated in chunk 3 (" + std::to_string(s3n - 1) + " of " + s3},
  };
  for (const auto& [size, message] : cases) {
    ExpectRejected(good_.substr(0, size), ErrorCode::kIntegrity, message);
  }
  ExpectHeaderRejected(good_.substr(0, 30), ErrorCode::kIntegrity, "truncated in its preamble");
  ExpectHeaderRejected(good_.substr(0, 60), ErrorCode::kIntegrity, "truncated in its header");
  ExpectHeaderRejected(good_.substr(0, ChunkOffset(2)), ErrorCode::kIntegrity,
                       "bundle is truncated: it is " + std::to_string(ChunkOffset(2)) + " bytes");
}

TEST_F(CorruptionTest, TrailingBytesAreRefused) {
  ExpectRejected(good_ + "x", ErrorCode::kIntegrity,
                 "trailing bytes after its last chunk (at offset " + std::to_string(good_.size()));
  ExpectHeaderRejected(good_ + "xyz", ErrorCode::kIntegrity, "has 3 trailing bytes");
}

TEST_F(CorruptionTest, WrongMagic) {
  std::string bad = good_;
  bad[3] = 'X';
  ExpectRejected(bad, ErrorCode::kIntegrity, "not a bundle: the file does not start with");
  ExpectHeaderRejected(bad, ErrorCode::kIntegrity, "not a bundle");
}

TEST_F(CorruptionTest, UnsupportedFormatVersions) {
  for (std::uint32_t format : {0u, 4u, 0xffffffffu}) {
    std::string bad = good_;
    bad.replace(8, 4, LittleEndian(format, 4));
    ExpectRejected(bad, ErrorCode::kInvalidArgument,
                   "bundle format " + std::to_string(format) + " is not supported");
  }
  // Format 3 is a compact delta: refused by name, never read as a container.
  std::string compact = good_;
  compact.replace(8, 4, LittleEndian(3, 4));
  ExpectRejected(compact, ErrorCode::kInvalidArgument, "compact delta (format 3)");
}

TEST_F(CorruptionTest, UnknownFlagsAreRefused) {
  const std::vector<std::pair<std::uint32_t, std::string>> cases = {
      {0x20, "unknown bundle flags 0x20"},
      {0x80000000u, "unknown bundle flags 0x80000000"},
  };
  for (const auto& [flags, message] : cases) {
    std::string bad = good_;
    bad.replace(12, 4, LittleEndian(flags, 4));
    ExpectRejected(bad, ErrorCode::kInvalidArgument, message);
    ExpectHeaderRejected(bad, ErrorCode::kInvalidArgument, message);
  }
}

TEST_F(CorruptionTest, EncryptedFlagWithoutEncryptionIsCorrupt) {
  std::string bad = good_;
  bad.replace(12, 4, LittleEndian(1, 4));
  ExpectRejected(bad, ErrorCode::kIntegrity, "the encrypted flag is set but encryption is missing");
  ExpectHeaderRejected(bad, ErrorCode::kIntegrity, "encryption is missing");
}

TEST_F(CorruptionTest, FormatOneIsStillReadButNeverEncrypted) {
  // Format 1 is format 2 without encryption and byte groups.
  std::string old = good_;
  old.replace(8, 4, LittleEndian(1, 4));
  const std::string out = dir_.Sub("format1");
  ASSERT_OK(testing::UnpackBytes(*fs_, old, out));
  EXPECT_TRUE(*fs_->Exists(out + "/bundle.json"));
  old.replace(12, 4, LittleEndian(1, 4));
  ExpectRejected(old, ErrorCode::kInvalidArgument,
                 "format 1 bundles cannot be encrypted (flags 0x1)");
}

TEST_F(CorruptionTest, HeaderLengthOutOfBounds) {
  std::string bad = good_;
  bad.replace(16, 8, LittleEndian(std::uint64_t{1} << 40, 8));
  ExpectRejected(bad, ErrorCode::kIntegrity,
                 "bundle header length 1099511627776 is outside 1..16777216");
  ExpectHeaderRejected(bad, ErrorCode::kIntegrity, "is outside 1..16777216");
  bad.replace(16, 8, LittleEndian(0, 8));
  ExpectRejected(bad, ErrorCode::kIntegrity, "bundle header length 0 is outside");
  // One byte too long: the header's digest no longer matches.
  bad.replace(16, 8, LittleEndian(raw_.header_len + 1, 8));
  ExpectRejected(bad, ErrorCode::kIntegrity, "does not match its SHA-256");
  UnpackLimits limits;
  limits.max_header_bytes = 100;
  ExpectRejected(good_, ErrorCode::kIncompatible, "more than this reader's limit of 100", limits);
}

TEST_F(CorruptionTest, HeaderThatLiesAboutSizes) {
  ExpectRejected(WithHeader([](auto& h) { h["chunks"][0]["plain"] = kCorruptionChunk - 1; }),
                 ErrorCode::kIntegrity,
                 "chunk 0 claims 65535 plaintext bytes where the chunk table needs 65536");
  ExpectRejected(WithHeader([](auto& h) { h["chunks"].erase(3); }), ErrorCode::kIntegrity,
                 "bundle header lists 3 chunks, but");
  ExpectRejected(WithHeader([](auto& h) { h["bundle"]["files"][1]["size"] = 1; }),
                 ErrorCode::kIntegrity, "the files in bundle.json hold");
  ExpectRejected(WithHeader([](auto& h) { h["chunks"][0]["stored"] = kCorruptionChunk - 1; }),
                 ErrorCode::kIntegrity, "chunk 0 has a stored size of 65535 bytes, impossible");
  ExpectRejected(WithHeader([](auto& h) { h["chunks"][3]["stored"] = 100000; }),
                 ErrorCode::kIntegrity, "chunk 3 has a stored size of 100000 bytes, impossible");
  // A consistent header whose last chunk claims one byte more than its frame.
  ExpectRejected(WithHeader([](auto& h) {
                   h["chunks"][3]["plain"] = h["chunks"][3]["plain"].template get<int>() + 1;
                   h["total_plain"] = h["total_plain"].template get<int>() + 1;
                   h["bundle"]["files"][1]["size"] =
                       h["bundle"]["files"][1]["size"].template get<int>() + 1;
                 }),
                 ErrorCode::kIntegrity, "chunk 3 declares");
  // Stored bytes that no longer match their recorded hash.
  ExpectRejected(WithHeader([](auto& h) { h["chunks"][1]["sha256"] = std::string(64, 'c'); }),
                 ErrorCode::kIntegrity, "chunk 1 has SHA-256");
}

TEST_F(CorruptionTest, FileWhoseContentDoesNotMatchBundleJson) {
  ExpectRejected(
      WithHeader([](auto& h) { h["bundle"]["files"][1]["sha256"] = std::string(64, '0'); }),
      ErrorCode::kIntegrity,
      "file \"notes.txt\" has SHA-256 " + Sha256Hex(CompressibleBytes(kCorruptionChunk + 5000)) +
          ", but bundle.json says 0000");
}

TEST_F(CorruptionTest, MalformedHeaderFields) {
  using Edit = std::function<void(nlohmann::json&)>;
  const std::vector<std::pair<Edit, std::string>> cases = {
      {[](auto& h) { h["chunks"][0]["codec"] = "lz4"; }, "chunk 0: unknown codec \"lz4\""},
      {[](auto& h) { h["chunks"][2].erase("codec"); }, "chunk 2: codec is missing"},
      {[](auto& h) { h["chunks"][0]["sha256"] = "ABC"; }, "chunk 0: sha256 is not 64 lower-case"},
      {[](auto& h) { h["chunks"][0]["plain"] = -1; }, "chunk 0: plain must be a non-negative"},
      {[](auto& h) { h["chunks"][0] = 5; }, "chunk 0: entry is not an object"},
      {[](auto& h) { h["chunk_size"] = 1000; }, "chunk_size 1000 is outside 65536..67108864"},
      {[](auto& h) { h["chunk_size"] = "big"; }, "chunk_size must be a non-negative integer"},
      {[](auto& h) { h.erase("total_plain"); }, "total_plain is missing"},
      {[](auto& h) { h.erase("chunks"); }, "chunks is not an array"},
      {[](auto& h) { h.erase("bundle"); }, "bundle is missing"},
      {[](auto& h) { h["bundle"]["name"] = "Bad Name"; }, "invalid bundle.json: name \"Bad Name\""},
      {[](auto& h) { h["bundle"]["schema"] = "modelota.bundle/9"; },
       "invalid bundle.json: schema \"modelota.bundle/9\" is not supported"},
      {[](auto& h) { h = nlohmann::json::array(); }, "bundle header is not a JSON object"},
  };
  for (const auto& [edit, message] : cases) {
    ExpectRejected(WithHeader(edit), ErrorCode::kIntegrity, message);
  }
  std::string dup = raw_.header.dump();
  dup.insert(1, "\"chunk_size\":65536,");
  ExpectRejected(testing::JoinBundleText(raw_, dup), ErrorCode::kIntegrity,
                 "bundle header: duplicate key \"chunk_size\"");
  ExpectRejected(testing::JoinBundleText(raw_, "{\"bundle\":"), ErrorCode::kIntegrity,
                 "bundle header: invalid JSON");
}

TEST_F(CorruptionTest, LimitsMakeABundleIncompatible) {
  UnpackLimits limits;
  limits.max_total_bytes = raw_.header["total_plain"].get<std::uint64_t>() - 1;
  ExpectRejected(good_, ErrorCode::kIncompatible, "more than this reader's limit", limits);
  limits = UnpackLimits{};
  limits.max_chunk_size = kCorruptionChunk - 1;
  ExpectRejected(good_, ErrorCode::kIncompatible, "chunk_size 65536 is more than this reader's",
                 limits);
  // A header claiming a terabyte is refused by the default limit.
  ExpectRejected(WithHeader([](auto& h) { h["total_plain"] = std::uint64_t{1} << 40; }),
                 ErrorCode::kIncompatible, "more than this reader's limit");
}

TEST_F(CorruptionTest, UnknownHeaderFieldsAreIgnored) {
  // Writers may add fields that do not change how bytes are read; anything
  // that does also sets a flag bit.
  EXPECT_OK(testing::UnpackBytes(*fs_, WithHeader([](auto& h) { h["signed_by"] = "ci"; }),
                                 dir_.Sub("fwd")));
}

}  // namespace
}  // namespace ota::bundle
