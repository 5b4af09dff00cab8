#include "ota/verifier/signing.h"

#include "repo_fixture.h"
#include "test_support.h"

namespace ota::verifier {
namespace {

using ota::testing::FakeRandom;

class SigningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto* k : {&k1_, &k2_, &k3_, &outsider_}) {
      auto key = GenerateEd25519Key(random_);
      ASSERT_OK(key);
      *k = *key;
    }
    for (auto* k : {&k1_, &k2_, &k3_}) {
      keys_[k->keyid] = k->public_key;
      role_.keyids.push_back(k->keyid);
    }
    keys_[outsider_.keyid] = outsider_.public_key;  // Known, but not in the role.
    role_.threshold = 2;
  }

  manifest::Signed Envelope(const std::vector<const PrivateKey*>& signers) {
    auto bytes = SignEnvelope(payload_, signers);
    EXPECT_OK(bytes);
    auto env = manifest::ParseEnvelope(*bytes);
    EXPECT_OK(env);
    return *env;
  }

  Status Verify(const manifest::Signed& env) {
    return VerifyRoleSignatures(env, "targets", keys_, role_);
  }

  FakeRandom random_{11};
  PrivateKey k1_, k2_, k3_, outsider_;
  std::map<std::string, manifest::Key> keys_;
  manifest::Role role_;
  nlohmann::json payload_ = {{"_type", "targets"}, {"version", 3}, {"note", "caf\u00e9"}};
};

TEST_F(SigningTest, TwoOfThreeMeetsThreshold) {
  EXPECT_OK(Verify(Envelope({&k1_, &k3_})));
  EXPECT_OK(Verify(Envelope({&k1_, &k2_, &k3_})));
}

TEST_F(SigningTest, BelowThresholdReportsCounts) {
  Status s = Verify(Envelope({&k2_}));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kSecurity);
  EXPECT_EQ(s.error().message, "targets has 1 of 2 required signatures");
}

TEST_F(SigningTest, RepeatedSignatureKeyIdMakesEnvelopeInvalid) {
  // Repeating k1's signature cannot reach the threshold of 2, and even with
  // the threshold met (k2 also signs) a repeated key id is refused.
  manifest::Signed env = Envelope({&k1_, &k2_});
  ASSERT_OK(Verify(env));
  env.signatures.push_back(env.signatures[0]);
  Status s = Verify(env);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kSecurity);
  EXPECT_EQ(s.error().message, "targets lists more than one signature by key " + k1_.keyid);
}

TEST_F(SigningTest, OneKeyUnderTwoIdsCountsOnce) {
  const std::string alias = std::string(64, 'a');
  keys_[alias] = k1_.public_key;
  role_.keyids.push_back(alias);
  manifest::Signed env = Envelope({&k1_});
  env.signatures.push_back({alias, env.signatures[0].sig});
  // Not a malformed envelope (the ids differ): the second copy just does not count.
  Status s = Verify(env);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kSecurity);
  EXPECT_EQ(s.error().message, "targets has 1 of 2 required signatures");
}

TEST_F(SigningTest, SignaturesByKeysOutsideTheRoleAreIgnored) {
  Status s = Verify(Envelope({&k1_, &outsider_}));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "targets has 1 of 2 required signatures");
  // Unknown key ids do not disturb a valid set either.
  manifest::Signed env = Envelope({&k1_, &k2_});
  env.signatures.push_back({std::string(64, 'f'), std::string(128, '0')});
  EXPECT_OK(Verify(env));
}

TEST_F(SigningTest, InvalidSignaturesDoNotCount) {
  manifest::Signed env = Envelope({&k1_, &k2_});
  env.signatures[1].sig[0] = env.signatures[1].sig[0] == '0' ? '1' : '0';
  // The bad signature is not counted; the good one still is.
  Status s = Verify(env);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kSecurity);
  EXPECT_EQ(s.error().message, "targets has 1 of 2 required signatures");
}

TEST_F(SigningTest, TamperedContentFails) {
  manifest::Signed env = Envelope({&k1_, &k2_});
  env.signed_json["version"] = 4;
  Status s = Verify(env);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "targets has 0 of 2 required signatures");
}

TEST_F(SigningTest, SignaturesCoverCanonicalFormNotFileLayout) {
  auto bytes = SignEnvelope(payload_, {&k1_, &k2_});
  ASSERT_OK(bytes);
  // Re-indent the file: the canonical form, and so the signatures, survive.
  const std::string compact = nlohmann::json::parse(*bytes).dump();
  ASSERT_NE(compact, *bytes);
  auto env = manifest::ParseEnvelope(compact);
  ASSERT_OK(env);
  EXPECT_OK(Verify(*env));
}

TEST_F(SigningTest, AddSignatureSignsInSteps) {
  auto one = SignEnvelope(payload_, {&k1_});
  ASSERT_OK(one);
  auto two = AddSignature(*one, k3_);
  ASSERT_OK(two);
  auto again = AddSignature(*two, k3_);  // Replaces, does not duplicate.
  ASSERT_OK(again);
  auto env = manifest::ParseEnvelope(*again);
  ASSERT_OK(env);
  EXPECT_EQ(env->signatures.size(), 2u);
  EXPECT_OK(Verify(*env));
}

TEST_F(SigningTest, SignEnvelopeRejectsFloatsAndNoKeys) {
  EXPECT_EQ(SignEnvelope({{"x", 1.5}}, {&k1_}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(SignEnvelope(payload_, {}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(SignEnvelope(payload_, {nullptr}).error().code, ErrorCode::kInvalidArgument);
}

TEST_F(SigningTest, UnusableKeysNeverCountAndSayWhy) {
  manifest::Key ecdsa;
  ecdsa.keytype = "ecdsa";
  ecdsa.scheme = "ecdsa-sha2-nistp256";
  ecdsa.public_value = "-----BEGIN PUBLIC KEY-----\n";
  keys_["ec"] = ecdsa;
  role_.keyids = {"ec"};
  role_.threshold = 1;
  manifest::Signed env = Envelope({&k1_});
  env.signatures.push_back({"ec", "3045022100"});
  Status s = Verify(env);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message,
            "targets has 0 of 1 required signatures (public key is not one PEM "
            "\"PUBLIC KEY\" (SubjectPublicKeyInfo) block)");
  keys_["ec"].scheme = "ecdsa-sha2-nistp521";
  EXPECT_EQ(Verify(env).error().message,
            "targets has 0 of 1 required signatures (key type ecdsa with scheme "
            "ecdsa-sha2-nistp521 is not supported for verification)");
}

TEST_F(SigningTest, RootRoleLookup) {
  manifest::Root root;
  root.keys = keys_;
  root.roles["targets"] = role_;
  EXPECT_OK(VerifyRoleSignatures(Envelope({&k1_, &k2_}), "targets", root));
  Status s = VerifyRoleSignatures(Envelope({&k1_, &k2_}), "snapshot", root);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kSecurity);
}

}  // namespace
}  // namespace ota::verifier
