// ECDSA P-256 and RSA-PSS verification (keys made with libcrypto here), and
// real metadata signed by other TUF tooling.
#include <gmock/gmock.h>

#include "openssl_test_keys.h"
#include "ota/common/hash.h"
#include "ota/manifest/canonical_json.h"
#include "ota/verifier/keys.h"
#include "ota/verifier/signing.h"
#include "test_support.h"

namespace ota::verifier {
namespace {

using ota::testing::OpensslTestKey;
using ::testing::HasSubstr;

constexpr const char* kEcdsaScheme = "ecdsa-sha2-nistp256";
constexpr const char* kRsaScheme = "rsassa-pss-sha256";

// Keys are slow to make (RSA-3072 especially): once per binary.
const OpensslTestKey& P256() {
  static const OpensslTestKey key = OpensslTestKey::GenerateEc("P-256");
  return key;
}
const OpensslTestKey& Rsa3072() {
  static const OpensslTestKey key = OpensslTestKey::GenerateRsa(3072);
  return key;
}

std::string CanonicalPayload() {
  const nlohmann::json signed_obj = {{"_type", "targets"},
                                     {"version", 3},
                                     {"targets", {{"a.txt", {{"length", 1}}}}},
                                     {"note", "line\nbreak \"quoted\""}};
  auto canonical = manifest::CanonicalJson(signed_obj);
  EXPECT_OK(canonical);
  return *canonical;
}

std::string Tamper(std::string hex) {
  // Flip a bit in the middle of the signature.
  const std::size_t i = hex.size() / 2;
  hex[i] = hex[i] == '0' ? '1' : '0';
  return hex;
}

std::string ErrorOf(const Status& s) {
  EXPECT_FALSE(s.ok());
  if (s.ok()) return "";
  EXPECT_EQ(s.error().code, ErrorCode::kSecurity);
  return s.error().message;
}

TEST(EcdsaTest, SignsAndVerifiesCanonicalJson) {
  const std::string message = CanonicalPayload();
  const std::string sig = P256().SignEcdsaHex(message);
  for (const char* keytype : {"ecdsa", "ecdsa-sha2-nistp256"}) {
    const manifest::Key key = P256().PublicKey(keytype, kEcdsaScheme);
    EXPECT_OK(CheckPublicKey(key));
    EXPECT_OK(VerifySignature(key, sig, message));
    EXPECT_FALSE(VerifyEd25519(key, sig, message));
  }
}

TEST(EcdsaTest, TamperedMessageOrSignatureIsRejected) {
  const std::string message = CanonicalPayload();
  const std::string sig = P256().SignEcdsaHex(message);
  const manifest::Key key = P256().PublicKey("ecdsa", kEcdsaScheme);
  EXPECT_EQ(ErrorOf(VerifySignature(key, sig, message + " ")), "bad ecdsa-sha2-nistp256 signature");
  EXPECT_EQ(ErrorOf(VerifySignature(key, Tamper(sig), message)),
            "bad ecdsa-sha2-nistp256 signature");
  // Another key's signature.
  const OpensslTestKey other = OpensslTestKey::GenerateEc("P-256");
  EXPECT_EQ(ErrorOf(VerifySignature(key, other.SignEcdsaHex(message), message)),
            "bad ecdsa-sha2-nistp256 signature");
  // Trailing bytes after the DER sequence. DER signatures of P-256 are 70 to
  // 72 bytes, so one more byte may also break the size rule: either way the
  // signature must not count.
  const std::string trailing = ErrorOf(VerifySignature(key, sig + "00", message));
  if (sig.size() / 2 < 72) {
    EXPECT_EQ(trailing, "bad ecdsa-sha2-nistp256 signature");
  } else {
    EXPECT_THAT(trailing, HasSubstr("is 73 bytes"));
  }
}

TEST(EcdsaTest, WrongSizesAndEncodingsAreRejected) {
  const manifest::Key key = P256().PublicKey("ecdsa", kEcdsaScheme);
  EXPECT_THAT(ErrorOf(VerifySignature(key, "", "m")), HasSubstr("is 0 bytes"));
  EXPECT_THAT(ErrorOf(VerifySignature(key, std::string(146, 'a'), "m")), HasSubstr("is 73 bytes"));
  EXPECT_EQ(ErrorOf(VerifySignature(key, "30zz", "m")), "ecdsa-sha2-nistp256 signature is not hex");
  EXPECT_THAT(ErrorOf(VerifySignature(key, std::string(1 << 20, 'a'), "m")),
              HasSubstr("is longer than"));
  // A raw r||s signature (64 bytes) is not DER.
  EXPECT_EQ(ErrorOf(VerifySignature(key, std::string(128, '1'), "m")),
            "bad ecdsa-sha2-nistp256 signature");
}

TEST(EcdsaTest, WrongCurveIsRejected) {
  const OpensslTestKey p384 = OpensslTestKey::GenerateEc("P-384");
  const manifest::Key key = p384.PublicKey("ecdsa", kEcdsaScheme);
  EXPECT_EQ(ErrorOf(VerifySignature(key, p384.SignEcdsaHex("m"), "m")),
            "EC public key is on curve secp384r1, not NIST P-256");
  EXPECT_EQ(ErrorOf(CheckPublicKey(key)), "EC public key is on curve secp384r1, not NIST P-256");
}

TEST(RsaPssTest, SignsAndVerifiesCanonicalJson) {
  const std::string message = CanonicalPayload();
  const manifest::Key key = Rsa3072().PublicKey("rsa", kRsaScheme);
  EXPECT_OK(CheckPublicKey(key));
  // Salt as long as the digest (what securesystemslib signs with) and the
  // maximum salt (what older versions used) both verify.
  EXPECT_OK(VerifySignature(key, Rsa3072().SignRsaPssHex(message, -1), message));
  EXPECT_OK(VerifySignature(key, Rsa3072().SignRsaPssHex(message, -3), message));
  EXPECT_OK(VerifySignature(key, Rsa3072().SignRsaPssHex(message, 0), message));
}

TEST(RsaPssTest, TamperedMessageOrSignatureIsRejected) {
  const std::string message = CanonicalPayload();
  const manifest::Key key = Rsa3072().PublicKey("rsa", kRsaScheme);
  const std::string sig = Rsa3072().SignRsaPssHex(message);
  EXPECT_EQ(ErrorOf(VerifySignature(key, sig, message + "x")), "bad rsassa-pss-sha256 signature");
  EXPECT_EQ(ErrorOf(VerifySignature(key, Tamper(sig), message)), "bad rsassa-pss-sha256 signature");
  EXPECT_EQ(ErrorOf(VerifySignature(key, sig.substr(2), message)),
            "rsassa-pss-sha256 signature is 383 bytes; the key's modulus is 384");
  EXPECT_EQ(ErrorOf(VerifySignature(key, sig + "00", message)),
            "rsassa-pss-sha256 signature is 385 bytes; the key's modulus is 384");
  EXPECT_EQ(ErrorOf(VerifySignature(key, std::string(768, '0'), message)),
            "bad rsassa-pss-sha256 signature");
}

TEST(RsaPssTest, SmallKeysAreRejected) {
  const OpensslTestKey small = OpensslTestKey::GenerateRsa(1024);
  const manifest::Key key = small.PublicKey("rsa", kRsaScheme);
  EXPECT_EQ(ErrorOf(VerifySignature(key, small.SignRsaPssHex("m"), "m")),
            "RSA public key has 1024 bits, fewer than 2048");
  EXPECT_EQ(ErrorOf(CheckPublicKey(key)), "RSA public key has 1024 bits, fewer than 2048");
}

TEST(KeyTypeTest, TypeAndSchemeMustMatchTheKeyMaterial) {
  const std::string message = CanonicalPayload();
  const std::string ec_sig = P256().SignEcdsaHex(message);
  const std::string rsa_sig = Rsa3072().SignRsaPssHex(message);
  // EC material declared as RSA, and RSA material declared as ECDSA.
  EXPECT_EQ(ErrorOf(VerifySignature(P256().PublicKey("rsa", kRsaScheme), ec_sig, message)),
            "public key of an rsa key is not an RSA key");
  EXPECT_EQ(ErrorOf(VerifySignature(Rsa3072().PublicKey("ecdsa", kEcdsaScheme), rsa_sig, message)),
            "public key of an ecdsa key is not an EC key");
  // A type with another type's scheme.
  EXPECT_EQ(ErrorOf(VerifySignature(Rsa3072().PublicKey("rsa", kEcdsaScheme), rsa_sig, message)),
            "key type rsa with scheme ecdsa-sha2-nistp256 is not supported for verification");
  EXPECT_EQ(ErrorOf(VerifySignature(P256().PublicKey("ecdsa", kRsaScheme), ec_sig, message)),
            "key type ecdsa with scheme rsassa-pss-sha256 is not supported for verification");
  EXPECT_EQ(ErrorOf(VerifySignature(P256().PublicKey("ed25519", "ed25519"), ec_sig, message)),
            "bad ed25519 signature");
  // RSA PKCS#1 v1.5 and other schemes are not accepted.
  EXPECT_THAT(
      ErrorOf(VerifySignature(Rsa3072().PublicKey("rsa", "rsa-pkcs1v15-sha256"), rsa_sig, message)),
      HasSubstr("is not supported for verification"));
}

TEST(KeyTypeTest, MalformedPemIsRejected) {
  const std::string pem = P256().PublicPem();
  const std::string sig = P256().SignEcdsaHex("m");
  auto with_pem = [&](const std::string& text) {
    manifest::Key key = P256().PublicKey("ecdsa", kEcdsaScheme);
    key.public_value = text;
    return ErrorOf(VerifySignature(key, sig, "m"));
  };
  const std::string not_one_block =
      "public key is not one PEM \"PUBLIC KEY\" (SubjectPublicKeyInfo) block";
  EXPECT_EQ(with_pem(""), not_one_block);
  EXPECT_EQ(with_pem("garbage"), not_one_block);
  EXPECT_EQ(with_pem("junk\n" + pem), not_one_block);
  EXPECT_EQ(with_pem(pem + "junk"), not_one_block);
  EXPECT_EQ(with_pem(pem + pem), not_one_block);
  EXPECT_EQ(with_pem(pem + "junk\n-----END PUBLIC KEY-----"), not_one_block);
  EXPECT_EQ(with_pem(std::string("-----BEGIN PUBLIC KEY-----\0\n", 28) + pem), not_one_block);
  EXPECT_EQ(with_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"),
            "public key PEM does not decode to a public key");
  // Truncated base64 body.
  std::string truncated = pem;
  truncated.erase(40, 20);
  EXPECT_EQ(with_pem(truncated), "public key PEM does not decode to a public key");
  EXPECT_THAT(with_pem(std::string(20000, ' ') + pem), HasSubstr("is longer than 16384 bytes"));
  // Surrounding whitespace is fine.
  EXPECT_TRUE(VerifySignature(P256().PublicKey("ecdsa", kEcdsaScheme), sig, "m").ok());
  manifest::Key padded = P256().PublicKey("ecdsa", kEcdsaScheme);
  padded.public_value = "\n  " + pem + "\n\n";
  EXPECT_OK(VerifySignature(padded, sig, "m"));
}

TEST(KeyTypeTest, MixedKeyTypesMeetAThreshold) {
  const nlohmann::json payload = {{"_type", "targets"}, {"version", 1}};
  const std::string message = *manifest::CanonicalJson(payload);
  std::map<std::string, manifest::Key> keys;
  manifest::Role role;
  role.threshold = 2;
  const manifest::Key ec = P256().PublicKey("ecdsa", kEcdsaScheme);
  const manifest::Key rsa = Rsa3072().PublicKey("rsa", kRsaScheme);
  keys[ComputeKeyId(ec)] = ec;
  keys[ComputeKeyId(rsa)] = rsa;
  role.keyids = {ComputeKeyId(ec), ComputeKeyId(rsa)};
  manifest::Signed env;
  env.signed_json = payload;
  env.signatures.push_back({ComputeKeyId(ec), P256().SignEcdsaHex(message)});
  EXPECT_EQ(ErrorOf(VerifyRoleSignatures(env, "targets", keys, role)),
            "targets has 1 of 2 required signatures");
  // A second, different ECDSA signature by the same key (ECDSA is randomized)
  // is not a second signer: a repeated key id invalidates the envelope.
  env.signatures.push_back({ComputeKeyId(ec), P256().SignEcdsaHex(message)});
  EXPECT_EQ(ErrorOf(VerifyRoleSignatures(env, "targets", keys, role)),
            "targets lists more than one signature by key " + ComputeKeyId(ec));
  env.signatures.pop_back();
  env.signatures.push_back({ComputeKeyId(rsa), Rsa3072().SignRsaPssHex(message)});
  EXPECT_OK(VerifyRoleSignatures(env, "targets", keys, role));
}

// Version 8 of the Sigstore TUF root (see data/README.md): ECDSA keys and
// signatures produced by other TUF tooling.
TEST(RealWorldTest, SigstoreRootVerifies) {
  const std::string bytes =
      ota::testing::ReadTestFile(std::string(OTA_VERIFIER_TEST_DATA) + "/sigstore-8.root.json");
  auto env = manifest::ParseEnvelope(bytes);
  ASSERT_OK(env);
  auto root = manifest::ParseRoot(env->signed_json);
  ASSERT_OK(root);
  for (const auto& [id, key] : root->keys) {
    EXPECT_EQ(ComputeKeyId(key), id);
    EXPECT_OK(CheckPublicKey(key));
  }
  EXPECT_OK(VerifyRoleSignatures(*env, "root", *root));
  // Each of the four signatures is valid on its own.
  for (const manifest::Signature& sig : env->signatures) {
    EXPECT_OK(VerifySignature(root->keys.at(sig.keyid), sig.sig,
                              *manifest::CanonicalJson(env->signed_json)));
  }
  // Any change to the signed content breaks all of them.
  manifest::Signed changed = *env;
  changed.signed_json["version"] = 9;
  EXPECT_EQ(ErrorOf(VerifyRoleSignatures(changed, "root", *root)),
            "root has 0 of 3 required signatures");
}

}  // namespace
}  // namespace ota::verifier
