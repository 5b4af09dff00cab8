// Hash checks of metadata bytes and target files: sha256 and sha512, every
// listed hash, unknown algorithms refused.
#include "ota/verifier/hashing.h"

#include <gmock/gmock.h>

#include "ota/common/hash.h"
#include "test_support.h"

namespace ota::verifier {
namespace {

using ota::testing::TempDir;
using ota::testing::WriteTestFile;

TEST(HashingTest, Sha512AloneIsVerified) {
  const std::string bytes = "metadata bytes";
  EXPECT_OK(CheckBytes(bytes, bytes.size(), {{"sha512", Sha512Hex(bytes)}}, "x.json", "snapshot"));
  Status bad =
      CheckBytes(bytes, bytes.size(), {{"sha512", Sha512Hex("other")}}, "x.json", "snapshot");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kIntegrity);
  EXPECT_EQ(bad.error().message, "x.json hash does not match snapshot (sha512)");
}

TEST(HashingTest, EveryListedHashMustMatch) {
  const std::string bytes = "b";
  // A correct sha256 does not excuse a wrong sha512, and the other way round.
  Status s =
      CheckBytes(bytes, std::nullopt, {{"sha256", Sha256Hex(bytes)}, {"sha512", Sha512Hex("c")}},
                 "x.json", "snapshot");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "x.json hash does not match snapshot (sha512)");
  s = CheckBytes(bytes, std::nullopt, {{"sha256", Sha256Hex("c")}, {"sha512", Sha512Hex(bytes)}},
                 "x.json", "snapshot");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "x.json hash does not match snapshot (sha256)");
  EXPECT_OK(CheckBytes(bytes, 1, {{"sha256", Sha256Hex(bytes)}, {"sha512", Sha512Hex(bytes)}},
                       "x.json", "snapshot"));
}

TEST(HashingTest, UnknownAlgorithmIsRejected) {
  Status s = CheckBytes("b", std::nullopt, {{"sha256", Sha256Hex("b")}, {"md5", "00"}}, "x.json",
                        "snapshot");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kIntegrity);
  EXPECT_EQ(s.error().message, "x.json lists unsupported hash algorithm md5");
}

TEST(HashingTest, FileWithSha512OnlyAndUnknownAlgorithm) {
  TempDir dir;
  const std::string path = dir.Sub("target");
  WriteTestFile(path, "payload");
  auto fs = MakePosixFileSystem();
  manifest::TargetFile target;
  target.length = 7;
  target.hashes = {{"sha512", Sha512Hex("payload")}};
  EXPECT_OK(CheckFile(*fs, path, target));
  target.hashes = {{"sha512", Sha512Hex("payloaX")}};
  Status bad = CheckFile(*fs, path, target);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, path + " sha512 hash does not match the target");
  target.hashes = {{"sha512", Sha512Hex("payload")}, {"blake2b", "00"}};
  Status unknown = CheckFile(*fs, path, target);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kIntegrity);
  EXPECT_EQ(unknown.error().message, path + " lists unsupported hash algorithm blake2b");
}

// Digests computed while a file downloaded get CheckFile's verdict.
TEST(HashingTest, DigestsComputedElsewhereAreCheckedLikeTheFile) {
  manifest::TargetFile target;
  target.length = 7;
  target.hashes = {{"sha256", Sha256Hex("payload")}, {"sha512", Sha512Hex("payload")}};
  EXPECT_OK(CheckFileDigests("/p", 7, Sha256Hex("payload"), Sha512Hex("payload"), target));
  Status shorter = CheckFileDigests("/p", 6, Sha256Hex("payload"), Sha512Hex("payload"), target);
  ASSERT_FALSE(shorter.ok());
  EXPECT_EQ(shorter.error().message, "/p is 6 bytes, the target lists 7");
  Status wrong = CheckFileDigests("/p", 7, Sha256Hex("payload"), Sha512Hex("payloaX"), target);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().message, "/p sha512 hash does not match the target");
  // A listed algorithm that was not computed never passes.
  Status missing = CheckFileDigests("/p", 7, Sha256Hex("payload"), "", target);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kIntegrity);
  target.hashes.clear();
  Status none = CheckFileDigests("/p", 7, Sha256Hex("payload"), "", target);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().message, "the target for /p lists no hashes");
}

TEST(HashingTest, ParsersRefuseUnknownAlgorithms) {
  nlohmann::json target = {{"length", 1}, {"hashes", {{"sha1", std::string(40, '0')}}}};
  auto parsed = manifest::ParseTargetFile(target);
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(parsed.error().message,
              ::testing::HasSubstr("unsupported algorithm \"sha1\" (only sha256 and sha512"));
  nlohmann::json meta = {{"version", 1}, {"hashes", {{"sha384", std::string(96, '0')}}}};
  EXPECT_FALSE(manifest::ParseMetaFile(meta).ok());
}

}  // namespace
}  // namespace ota::verifier
