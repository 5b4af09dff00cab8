// Encrypted bundles: recipients, round trips, and every way of tampering
// with the ciphertext or the header around it.
#include <sys/stat.h>

#include <functional>
#include <string>
#include <vector>

#include "bundle_test_util.h"
#include "ota/bundle/bundle.h"
#include "ota/bundle/recipient_keys.h"
#include "ota/common/hash.h"
#include "test_support.h"

namespace ota::bundle {
namespace {

using ota::testing::ReadTestFile;
using ota::testing::TempDir;
using ota::testing::WriteTestFile;
using testing::BaseManifest;
using testing::CompressibleBytes;
using testing::JoinBundle;
using testing::RandomBytes;
using testing::RawBundle;
using testing::SeededRandom;
using testing::SplitBundle;
using testing::UnpackBytes;

constexpr std::uint64_t kEncryptionChunk = kMinChunkSize;

RecipientPublicKey PublicHalf(const RecipientPrivateKey& key) {
  return RecipientPublicKey{key.public_key, key.key_id};
}

class EncryptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (std::uint64_t seed : {11u, 12u, 13u, 14u}) {
      SeededRandom random(seed);
      Result<RecipientPrivateKey> key = GenerateRecipientKey(random);
      ASSERT_OK(key);
      keys_.push_back(*key);
    }
  }

  // Three chunks of incompressible bytes and one of text.
  std::vector<InputFile> Inputs(std::uint64_t seed) {
    WriteTestFile(dir_.Sub("model" + std::to_string(seed)),
                  RandomBytes(2 * kEncryptionChunk + 999, seed));
    WriteTestFile(dir_.Sub("prompt" + std::to_string(seed)), CompressibleBytes(kEncryptionChunk));
    return {{"model.gguf", dir_.Sub("model" + std::to_string(seed)), "model"},
            {"prompts/a.txt", dir_.Sub("prompt" + std::to_string(seed)), "prompt"}};
  }

  // Packs for `recipients` (indexes into keys_) and returns the bytes.
  std::string Pack(const std::vector<std::size_t>& recipients, std::uint64_t seed = 1,
                   Random* random = nullptr) {
    PackOptions options;
    options.chunk_size = kEncryptionChunk;
    options.random = random;
    for (std::size_t i : recipients) options.recipients.push_back(PublicHalf(keys_[i]));
    const std::string out = dir_.Sub("b" + std::to_string(packed_++) + ".otab");
    Result<manifest::BundleManifest> m =
        PackBundle(*fs_, BaseManifest(), Inputs(seed), out, options);
    EXPECT_OK(m);
    return ReadTestFile(out);
  }

  void ExpectRoundTrip(const std::string& bytes, std::optional<RecipientPrivateKey> key,
                       std::uint64_t seed = 1, std::size_t piece = 0) {
    const std::string out = dir_.Sub("u" + std::to_string(attempt_++));
    Result<manifest::BundleManifest> m = UnpackBytes(*fs_, bytes, out, piece, {}, std::move(key));
    ASSERT_OK(m);
    EXPECT_EQ(ReadTestFile(out + "/model.gguf"), RandomBytes(2 * kEncryptionChunk + 999, seed));
    EXPECT_EQ(ReadTestFile(out + "/prompts/a.txt"), CompressibleBytes(kEncryptionChunk));
  }

  // Unpacks through a recording filesystem and expects the failure, with
  // nothing left in (or created for) the output folder.
  void ExpectRejected(const std::string& bytes, std::optional<RecipientPrivateKey> key,
                      ErrorCode code, const std::string& message) {
    const std::string out = dir_.Sub("r" + std::to_string(attempt_++));
    Result<manifest::BundleManifest> r = UnpackBytes(*fs_, bytes, out, 0, {}, std::move(key));
    ASSERT_FALSE(r.ok()) << "accepted; expected: " << message;
    EXPECT_EQ(r.error().code, code) << r.error().ToString();
    EXPECT_NE(r.error().message.find(message), std::string::npos)
        << "expected \"" << message << "\" in: " << r.error().message;
    EXPECT_FALSE(*fs_->Exists(out)) << "the rejected unpack left " << out;
  }

  // Offset of chunk `i` in a split bundle's chunk bytes.
  static std::size_t ChunkStart(const RawBundle& raw, std::size_t i) {
    std::size_t offset = 0;
    for (std::size_t k = 0; k < i; ++k)
      offset += raw.header["chunks"][k]["stored"].get<std::size_t>();
    return offset;
  }
  static std::string ChunkBytes(const RawBundle& raw, std::size_t i) {
    return raw.chunks.substr(ChunkStart(raw, i),
                             raw.header["chunks"][i]["stored"].get<std::size_t>());
  }
  // Rebuilds the chunk bytes from pieces, recomputing nothing but the table
  // entries' stored sizes and SHA-256 (what an attacker without the key can do).
  static void SetChunks(RawBundle& raw, const std::vector<std::string>& pieces) {
    raw.chunks.clear();
    for (std::size_t i = 0; i < pieces.size(); ++i) {
      raw.chunks += pieces[i];
      raw.header["chunks"][i]["stored"] = pieces[i].size();
      raw.header["chunks"][i]["sha256"] = Sha256Hex(pieces[i]);
    }
  }

  TempDir dir_;
  std::unique_ptr<FileSystem> fs_ = MakePosixFileSystem();
  std::vector<RecipientPrivateKey> keys_;
  int packed_ = 0;
  int attempt_ = 0;
};

TEST_F(EncryptionTest, OneRecipientRoundTrip) {
  const std::string bytes = Pack({0});
  const RawBundle raw = SplitBundle(bytes);
  EXPECT_EQ(raw.format, kBundleFormatVersion);
  EXPECT_EQ(raw.flags, 1u);
  const auto& enc = raw.header["encryption"];
  EXPECT_EQ(enc["cipher"], "xchacha20poly1305-ietf");
  ASSERT_EQ(enc["recipients"].size(), 1u);
  EXPECT_EQ(enc["recipients"][0]["key_id"], keys_[0].key_id);
  EXPECT_EQ(keys_[0].key_id, Sha256Hex(keys_[0].public_key));
  EXPECT_EQ(enc["recipients"][0]["sealed_key"].get<std::string>().size(), 160u);
  // The plaintext is not in the file.
  EXPECT_EQ(bytes.find(CompressibleBytes(64)), std::string::npos);
  ExpectRoundTrip(bytes, keys_[0]);

  WriteTestFile(dir_.Sub("enc.otab"), bytes);
  Result<BundleInfo> info = ReadBundleHeader(*fs_, dir_.Sub("enc.otab"));
  ASSERT_OK(info);
  EXPECT_TRUE(info->encrypted);
  EXPECT_EQ(info->recipient_key_ids, std::vector<std::string>{keys_[0].key_id});
}

TEST_F(EncryptionTest, ThreeRecipientsEachDecrypt) {
  const std::string bytes = Pack({0, 1, 2});
  EXPECT_EQ(SplitBundle(bytes).header["encryption"]["recipients"].size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) ExpectRoundTrip(bytes, keys_[i]);
}

TEST_F(EncryptionTest, NonRecipientGetsThePreciseError) {
  const std::string bytes = Pack({0, 1, 2});
  testing::RecordingFileSystem recording(*fs_);
  Result<manifest::BundleManifest> r =
      UnpackBytes(recording, bytes, dir_.Sub("nope"), 0, {}, keys_[3]);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kSecurity);
  EXPECT_NE(
      r.error().message.find("not a recipient of this bundle (recipient key id " + keys_[3].key_id),
      std::string::npos)
      << r.error().message;
  EXPECT_TRUE(recording.mutations.empty()) << recording.mutations.front();

  ExpectRejected(bytes, std::nullopt, ErrorCode::kSecurity,
                 "bundle is encrypted and no recipient key was given");
}

TEST_F(EncryptionTest, UnencryptedBundlesSaySo) {
  const std::string bytes = Pack({});
  const RawBundle raw = SplitBundle(bytes);
  EXPECT_EQ(raw.flags, 0u);
  EXPECT_FALSE(raw.header.contains("encryption"));
  ExpectRoundTrip(bytes, std::nullopt);
  ExpectRoundTrip(bytes, keys_[0]);  // A device key is simply not needed.
}

TEST_F(EncryptionTest, StreamingUnpackerDecryptsAnySplit) {
  const std::string bytes = Pack({1});
  for (std::size_t piece : {1u, 7u, 4096u, 65536u + 13u})
    ExpectRoundTrip(bytes, keys_[1], 1, piece);
}

TEST_F(EncryptionTest, TruncationIsRejected) {
  const std::string bytes = Pack({0});
  const RawBundle raw = SplitBundle(bytes);
  const std::size_t header_end = 56 + raw.header_len;
  for (std::size_t cut : {header_end + 10, header_end + ChunkStart(raw, 2), bytes.size() - 1}) {
    ExpectRejected(bytes.substr(0, cut), keys_[0], ErrorCode::kIntegrity, "bundle is truncated");
  }
  // Dropping the last chunk and rewriting the header to match (total_plain,
  // file size and hash) cannot be done without the key: chunk 0's
  // associated data covers the chunk count and bundle.json.
  RawBundle cut = raw;
  const std::size_t last = cut.header["chunks"].size() - 1;
  const std::uint64_t dropped = cut.header["chunks"][last]["plain"].get<std::uint64_t>();
  cut.chunks.resize(ChunkStart(raw, last));
  cut.header["chunks"].erase(last);
  cut.header["total_plain"] = cut.header["total_plain"].get<std::uint64_t>() - dropped;
  auto& files = cut.header["bundle"]["files"];
  files[files.size() - 1]["size"] = files[files.size() - 1]["size"].get<std::uint64_t>() - dropped;
  ExpectRejected(JoinBundle(cut), keys_[0], ErrorCode::kIntegrity, "chunk 0 does not decrypt");
}

TEST_F(EncryptionTest, ReorderedChunksAreRejected) {
  RawBundle raw = SplitBundle(Pack({0}));
  // Chunks 0 and 1 both hold 64 KiB of plaintext; swap them and their
  // table entries' codecs, so that only the encryption can notice.
  std::swap(raw.header["chunks"][0]["codec"], raw.header["chunks"][1]["codec"]);
  SetChunks(raw, {ChunkBytes(raw, 1), ChunkBytes(raw, 0), ChunkBytes(raw, 2), ChunkBytes(raw, 3)});
  ExpectRejected(JoinBundle(raw), keys_[0], ErrorCode::kIntegrity, "chunk 0 does not decrypt");
}

TEST_F(EncryptionTest, ChunkSwappedFromAnotherBundleIsRejected) {
  // Same content key and bundle id (same random seed), different content.
  SeededRandom random_a(99);
  SeededRandom random_b(99);
  RawBundle a = SplitBundle(Pack({0}, 1, &random_a));
  const RawBundle b = SplitBundle(Pack({0}, 2, &random_b));
  ASSERT_EQ(a.header["encryption"]["bundle_id"], b.header["encryption"]["bundle_id"]);
  SetChunks(a, {ChunkBytes(a, 0), ChunkBytes(b, 1), ChunkBytes(a, 2), ChunkBytes(a, 3)});
  ExpectRejected(JoinBundle(a), keys_[0], ErrorCode::kIntegrity, "chunk 1 does not decrypt");

  // Between bundles with independent keys (the normal case) too.
  RawBundle c = SplitBundle(Pack({0}, 1));
  const RawBundle d = SplitBundle(Pack({0}, 1));
  SetChunks(c, {ChunkBytes(c, 0), ChunkBytes(d, 1), ChunkBytes(c, 2), ChunkBytes(c, 3)});
  ExpectRejected(JoinBundle(c), keys_[0], ErrorCode::kIntegrity, "chunk 1 does not decrypt");
}

TEST_F(EncryptionTest, FlippedBitsAreRejected) {
  const std::string bytes = Pack({0});
  const RawBundle raw = SplitBundle(bytes);
  // In the ciphertext, with the table's hash left alone...
  std::string flipped = bytes;
  flipped[56 + raw.header_len + ChunkStart(raw, 1) + 5] ^= 0x10;
  ExpectRejected(flipped, keys_[0], ErrorCode::kIntegrity, "chunk 1 has SHA-256");
  // ...and with it recomputed.
  RawBundle fixed = raw;
  std::string chunk1 = ChunkBytes(raw, 1);
  chunk1[5] ^= 0x10;
  SetChunks(fixed, {ChunkBytes(raw, 0), chunk1, ChunkBytes(raw, 2), ChunkBytes(raw, 3)});
  ExpectRejected(JoinBundle(fixed), keys_[0], ErrorCode::kIntegrity, "chunk 1 does not decrypt");
  // In the tag.
  RawBundle tag = raw;
  std::string chunk2 = ChunkBytes(raw, 2);
  chunk2.back() ^= 0x01;
  SetChunks(tag, {ChunkBytes(raw, 0), ChunkBytes(raw, 1), chunk2, ChunkBytes(raw, 3)});
  ExpectRejected(JoinBundle(tag), keys_[0], ErrorCode::kIntegrity, "chunk 2 does not decrypt");
  // In the header, without and with its digest recomputed.
  std::string header_bit = bytes;
  header_bit[56 + 20] ^= 0x01;
  ExpectRejected(header_bit, keys_[0], ErrorCode::kIntegrity, "does not match its SHA-256");
  RawBundle version = raw;
  version.header["bundle"]["version"] = "9.9.9";
  ExpectRejected(JoinBundle(version), keys_[0], ErrorCode::kIntegrity, "chunk 0 does not decrypt");
  RawBundle sealed = raw;
  std::string key_hex = sealed.header["encryption"]["recipients"][0]["sealed_key"];
  key_hex[100] = key_hex[100] == '0' ? '1' : '0';
  sealed.header["encryption"]["recipients"][0]["sealed_key"] = key_hex;
  ExpectRejected(JoinBundle(sealed), keys_[0], ErrorCode::kIntegrity, "does not open");
  RawBundle bundle_id = raw;
  bundle_id.header["encryption"]["bundle_id"] = std::string(64, 'a');
  ExpectRejected(JoinBundle(bundle_id), keys_[0], ErrorCode::kIntegrity,
                 "chunk 0 does not decrypt");
}

TEST_F(EncryptionTest, MalformedEncryptionHeadersAreCorrupt) {
  const RawBundle raw = SplitBundle(Pack({0, 1}));
  const std::vector<std::pair<std::function<void(nlohmann::json&)>, std::string>> cases = {
      {[](nlohmann::json& h) { h.erase("encryption"); }, "encryption is missing"},
      {[](nlohmann::json& h) { h["encryption"]["cipher"] = "aes"; }, "cipher must be"},
      {[](nlohmann::json& h) { h["encryption"]["bundle_id"] = "00"; }, "bundle_id is not"},
      {[](nlohmann::json& h) { h["encryption"]["recipients"] = nlohmann::json::array(); },
       "recipients must list"},
      {[](nlohmann::json& h) {
         h["encryption"]["recipients"][1] = h["encryption"]["recipients"][0];
       },
       "is listed twice"},
      {[](nlohmann::json& h) { h["encryption"]["recipients"][0]["sealed_key"] = "ab"; },
       "sealed_key is not"},
      {[](nlohmann::json& h) { h["chunks"][0]["stored"] = 3; }, "impossible for"},
  };
  for (const auto& [edit, message] : cases) {
    RawBundle bad = raw;
    edit(bad.header);
    ExpectRejected(JoinBundle(bad), keys_[0], ErrorCode::kIntegrity, message);
  }
  RawBundle unflagged = raw;
  unflagged.flags = 0;
  ExpectRejected(JoinBundle(unflagged), keys_[0], ErrorCode::kIntegrity,
                 "encryption is present but the encrypted flag is not set");
}

TEST_F(EncryptionTest, RecipientKeyFiles) {
  const std::string priv = dir_.Sub("k/r.key");
  ASSERT_OK(fs_->CreateDirs(dir_.Sub("k")));
  ASSERT_OK(SaveRecipientPrivateKey(*fs_, priv, keys_[0]));
  ASSERT_OK(SaveRecipientPublicKey(*fs_, priv + ".pub", PublicHalf(keys_[0])));
  Result<RecipientPrivateKey> loaded = LoadRecipientPrivateKey(*fs_, priv);
  ASSERT_OK(loaded);
  EXPECT_EQ(loaded->private_key, keys_[0].private_key);
  EXPECT_EQ(loaded->key_id, keys_[0].key_id);
  Result<RecipientPublicKey> pub = LoadRecipientPublicKey(*fs_, priv + ".pub");
  ASSERT_OK(pub);
  EXPECT_EQ(pub->public_key, keys_[0].public_key);

  Result<RecipientPublicKey> wrong_kind = LoadRecipientPublicKey(*fs_, priv);
  ASSERT_FALSE(wrong_kind.ok());
  EXPECT_NE(wrong_kind.error().message.find("give the public key file"), std::string::npos);
  EXPECT_FALSE(LoadRecipientPrivateKey(*fs_, priv + ".pub").ok());

  ASSERT_EQ(::chmod(priv.c_str(), 0644), 0);
  Result<RecipientPrivateKey> exposed = LoadRecipientPrivateKey(*fs_, priv);
  ASSERT_FALSE(exposed.ok());
  EXPECT_EQ(exposed.error().code, ErrorCode::kSecurity);

  std::string text = ReadTestFile(priv + ".pub");
  text.replace(text.find(HexEncode(keys_[0].public_key)), 64, HexEncode(keys_[1].public_key));
  WriteTestFile(dir_.Sub("k/mismatch.pub"), text);
  EXPECT_FALSE(LoadRecipientPublicKey(*fs_, dir_.Sub("k/mismatch.pub")).ok());  // keyid differs.

  PackOptions twice;
  twice.recipients = {PublicHalf(keys_[0]), PublicHalf(keys_[0])};
  Result<manifest::BundleManifest> r =
      PackBundle(*fs_, BaseManifest(), Inputs(1), dir_.Sub("twice.otab"), twice);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("is given twice"), std::string::npos);
}

}  // namespace
}  // namespace ota::bundle
