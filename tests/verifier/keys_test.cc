#include "ota/verifier/keys.h"

#include <sys/stat.h>

#include <cstring>

#include "ota/common/hash.h"
#include "repo_fixture.h"
#include "test_support.h"

namespace ota::verifier {
namespace {

using ota::testing::FakeRandom;
using ota::testing::ReadTestFile;
using ota::testing::TempDir;
using ota::testing::WriteTestFile;

// Returns fixed bytes, for known-answer tests.
class FixedRandom : public Random {
 public:
  explicit FixedRandom(std::string bytes) : bytes_(std::move(bytes)) {}
  void Fill(std::span<std::uint8_t> out) override {
    ASSERT_LE(out.size(), bytes_.size());
    std::memcpy(out.data(), bytes_.data(), out.size());
  }
  std::uint64_t Uniform(std::uint64_t) override { return 0; }

 private:
  std::string bytes_;
};

// RFC 8032 section 7.1, test 1 (empty message).
constexpr const char* kRfcSeed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
constexpr const char* kRfcPublic =
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
constexpr const char* kRfcSignature =
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b4"
    "6bd25bf5f0595bbe24655141438e7a100b";

TEST(KeysTest, Rfc8032KnownAnswer) {
  FixedRandom random(*HexDecode(kRfcSeed));
  auto key = GenerateEd25519Key(random);
  ASSERT_OK(key);
  EXPECT_EQ(key->public_key.public_value, kRfcPublic);
  auto sig = SignBytes(*key, "");
  ASSERT_OK(sig);
  EXPECT_EQ(*sig, kRfcSignature);
  EXPECT_TRUE(VerifyEd25519(key->public_key, kRfcSignature, ""));
}

TEST(KeysTest, GenerationIsDeterministicGivenTheRandomSource) {
  FakeRandom a(7), b(7), c(8);
  auto ka = GenerateEd25519Key(a);
  auto kb = GenerateEd25519Key(b);
  auto kc = GenerateEd25519Key(c);
  ASSERT_OK(ka);
  ASSERT_OK(kb);
  ASSERT_OK(kc);
  EXPECT_EQ(ka->keyid, kb->keyid);
  EXPECT_NE(ka->keyid, kc->keyid);
  EXPECT_EQ(ka->secret_key.size(), 64u);
}

TEST(KeysTest, KeyIdIsSha256OfCanonicalPublicKeyObject) {
  manifest::Key key = Ed25519PublicKey(*HexDecode(kRfcPublic));
  const std::string canonical = std::string("{\"keytype\":\"ed25519\",\"keyval\":{\"public\":\"") +
                                kRfcPublic + "\"},\"scheme\":\"ed25519\"}";
  EXPECT_EQ(ComputeKeyId(key), Sha256Hex(canonical));
}

TEST(KeysTest, KeyIdCoversExtraFieldsOfTheParsedKey) {
  // Older repositories list "keyid_hash_algorithms"; their ids include it.
  nlohmann::json obj = {{"keytype", "ed25519"},
                        {"scheme", "ed25519"},
                        {"keyid_hash_algorithms", {"sha256", "sha512"}},
                        {"keyval", {{"public", kRfcPublic}}}};
  auto key = manifest::ParseKey(obj);
  ASSERT_OK(key);
  EXPECT_NE(ComputeKeyId(*key), ComputeKeyId(Ed25519PublicKey(*HexDecode(kRfcPublic))));
}

TEST(KeysTest, VerifyRejectsTamperingAndWrongKeys) {
  FakeRandom random(1);
  auto key = GenerateEd25519Key(random);
  auto other = GenerateEd25519Key(random);
  ASSERT_OK(key);
  ASSERT_OK(other);
  auto sig = SignBytes(*key, "message");
  ASSERT_OK(sig);
  EXPECT_TRUE(VerifyEd25519(key->public_key, *sig, "message"));
  EXPECT_FALSE(VerifyEd25519(key->public_key, *sig, "messagE"));
  EXPECT_FALSE(VerifyEd25519(other->public_key, *sig, "message"));
  EXPECT_FALSE(VerifyEd25519(key->public_key, sig->substr(2), "message"));
  EXPECT_FALSE(VerifyEd25519(key->public_key, "zz" + sig->substr(2), "message"));
  EXPECT_OK(VerifySignature(key->public_key, *sig, "message"));
}

// A signature that verified is remembered; one that did not is checked
// every time, and a remembered one never vouches for another key, signature
// or message.
TEST(KeysTest, AVerifiedSignatureIsRememberedAndNothingElseIs) {
  FakeRandom random(7);
  auto key = GenerateEd25519Key(random);
  auto other = GenerateEd25519Key(random);
  ASSERT_OK(key);
  ASSERT_OK(other);
  auto sig = SignBytes(*key, "remembered message");
  auto other_sig = SignBytes(*other, "remembered message");
  ASSERT_OK(sig);
  ASSERT_OK(other_sig);
  const std::uint64_t before = SignatureVerificationsComputed();
  EXPECT_OK(VerifySignature(key->public_key, *sig, "remembered message"));
  EXPECT_EQ(SignatureVerificationsComputed(), before + 1);
  EXPECT_OK(VerifySignature(key->public_key, *sig, "remembered message"));
  EXPECT_EQ(SignatureVerificationsComputed(), before + 1) << "the second check came from memory";
  // Each part of what verified, changed, is checked again and refused.
  EXPECT_FALSE(VerifySignature(key->public_key, *sig, "remembered messagE").ok());
  EXPECT_FALSE(VerifySignature(other->public_key, *sig, "remembered message").ok());
  EXPECT_FALSE(VerifySignature(key->public_key, *other_sig, "remembered message").ok());
  manifest::Key renamed = key->public_key;
  renamed.scheme = "ed25519-ph";
  EXPECT_FALSE(VerifySignature(renamed, *sig, "remembered message").ok());
  // A failure is not remembered: checked (and refused) every time.
  const std::uint64_t failures = SignatureVerificationsComputed();
  EXPECT_FALSE(VerifySignature(other->public_key, *sig, "remembered message").ok());
  EXPECT_FALSE(VerifySignature(other->public_key, *sig, "remembered message").ok());
  EXPECT_EQ(SignatureVerificationsComputed(), failures + 2);
}

TEST(KeysTest, UnsupportedKeyTypesNeverVerify) {
  manifest::Key ecdsa;
  ecdsa.keytype = "ecdsa";
  ecdsa.scheme = "ecdsa-sha2-nistp384";
  ecdsa.public_value = "-----BEGIN PUBLIC KEY-----\n...";
  EXPECT_FALSE(VerifyEd25519(ecdsa, std::string(128, '0'), "m"));
  Status s = VerifySignature(ecdsa, std::string(128, '0'), "m");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kSecurity);
  EXPECT_NE(s.error().message.find("not supported"), std::string::npos);
}

TEST(KeyFilesTest, PrivateKeyRoundTripWithMode0600) {
  TempDir dir;
  auto fs = MakePosixFileSystem();
  FakeRandom random(3);
  auto key = GenerateEd25519Key(random);
  ASSERT_OK(key);
  const std::string path = dir.Sub("root.key");
  ASSERT_OK(SavePrivateKey(*fs, path, *key));
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto loaded = LoadPrivateKey(*fs, path);
  ASSERT_OK(loaded);
  EXPECT_EQ(loaded->keyid, key->keyid);
  EXPECT_EQ(loaded->secret_key, key->secret_key);
  const auto doc = nlohmann::json::parse(ReadTestFile(path));
  EXPECT_EQ(doc["keyval"]["private"].get<std::string>().size(), 64u);  // The seed only.
}

TEST(KeyFilesTest, RefusesKeyFileReadableByOthers) {
  TempDir dir;
  auto fs = MakePosixFileSystem();
  FakeRandom random(3);
  auto key = GenerateEd25519Key(random);
  ASSERT_OK(key);
  const std::string path = dir.Sub("k.key");
  ASSERT_OK(SavePrivateKey(*fs, path, *key));
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  auto loaded = LoadPrivateKey(*fs, path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().code, ErrorCode::kSecurity);
}

TEST(KeyFilesTest, RefusesInconsistentKeyFiles) {
  TempDir dir;
  auto fs = MakePosixFileSystem();
  FakeRandom random(3);
  auto key = GenerateEd25519Key(random);
  auto other = GenerateEd25519Key(random);
  ASSERT_OK(key);
  ASSERT_OK(other);
  const std::string path = dir.Sub("k.key");
  ASSERT_OK(SavePrivateKey(*fs, path, *key));
  auto doc = nlohmann::json::parse(ReadTestFile(path));

  auto wrong_public = doc;
  wrong_public["keyval"]["public"] = other->public_key.public_value;
  ASSERT_OK(WriteFileAtomic(*fs, path, wrong_public.dump(), 0600));
  EXPECT_EQ(LoadPrivateKey(*fs, path).error().code, ErrorCode::kInvalidArgument);

  auto wrong_id = doc;
  wrong_id["keyid"] = other->keyid;
  ASSERT_OK(WriteFileAtomic(*fs, path, wrong_id.dump(), 0600));
  EXPECT_EQ(LoadPrivateKey(*fs, path).error().code, ErrorCode::kInvalidArgument);

  ASSERT_OK(WriteFileAtomic(*fs, path, "{not json", 0600));
  EXPECT_EQ(LoadPrivateKey(*fs, path).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(LoadPrivateKey(*fs, dir.Sub("missing.key")).error().code, ErrorCode::kNotFound);
}

TEST(KeyFilesTest, PublicKeyRoundTripAndRefusesPrivateFile) {
  TempDir dir;
  auto fs = MakePosixFileSystem();
  FakeRandom random(5);
  auto key = GenerateEd25519Key(random);
  ASSERT_OK(key);
  ASSERT_OK(SavePublicKey(*fs, dir.Sub("k.pub"), key->public_key));
  auto pub = LoadPublicKey(*fs, dir.Sub("k.pub"));
  ASSERT_OK(pub);
  EXPECT_EQ(ComputeKeyId(*pub), key->keyid);
  ASSERT_OK(SavePrivateKey(*fs, dir.Sub("k.key"), *key));
  EXPECT_EQ(LoadPublicKey(*fs, dir.Sub("k.key")).error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace ota::verifier
