// The pure verification state machine, fed with bytes directly.
#include "ota/verifier/trusted_metadata.h"

#include "repo_fixture.h"
#include "test_support.h"

namespace ota::verifier {
namespace {

using ota::testing::RepoFixture;

class TrustedMetadataTest : public ::testing::Test {
 protected:
  void SetUp() override { f_.InitRepo(false); }

  TrustedMetadata Load() {
    auto t = TrustedMetadata::FromRoot(f_.ReadMetadata("root.json"));
    EXPECT_OK(t);
    return std::move(*t);
  }

  manifest::TimePoint now() const { return f_.clock.Now(); }

  RepoFixture f_;
};

TEST_F(TrustedMetadataTest, FullChainVerifies) {
  TrustedMetadata t = Load();
  ASSERT_OK(t.CheckRootNotExpired(now()));
  auto ts = t.UpdateTimestamp(f_.ReadMetadata("timestamp.json"));
  ASSERT_OK(ts);
  EXPECT_EQ(*ts, TrustedMetadata::TimestampResult::kUpdated);
  ASSERT_OK(t.CheckTimestampNotExpired(now()));
  ASSERT_OK(t.UpdateSnapshot(f_.ReadMetadata("snapshot.json"), now()));
  ASSERT_OK(t.UpdateTargets(f_.ReadMetadata("targets.json"), now()));
  ASSERT_TRUE(t.targets().has_value());
  EXPECT_EQ(t.targets()->bytes, f_.ReadMetadata("targets.json"));
}

TEST_F(TrustedMetadataTest, OutOfOrderCallsAreRefused) {
  TrustedMetadata t = Load();
  EXPECT_EQ(t.UpdateSnapshot(f_.ReadMetadata("snapshot.json"), now()).error().code,
            ErrorCode::kInternal);
  EXPECT_EQ(t.UpdateTargets(f_.ReadMetadata("targets.json"), now()).error().code,
            ErrorCode::kInternal);
  ASSERT_OK(t.UpdateTimestamp(f_.ReadMetadata("timestamp.json")));
  EXPECT_EQ(t.UpdateRoot(f_.ReadMetadata("root.json")).error().code, ErrorCode::kInternal);
}

TEST_F(TrustedMetadataTest, SameTimestampVersionIsUnchanged) {
  TrustedMetadata t = Load();
  ASSERT_OK(t.LoadPreviousTimestamp(f_.ReadMetadata("timestamp.json")));
  auto r = t.UpdateTimestamp(f_.ReadMetadata("timestamp.json"));
  ASSERT_OK(r);
  EXPECT_EQ(*r, TrustedMetadata::TimestampResult::kUnchanged);
}

TEST_F(TrustedMetadataTest, RootNotSelfSignedIsRefused) {
  const std::string forged = RepoFixture::Sign(f_.SignedOf("root.json"), {&f_.snapshot_key});
  auto t = TrustedMetadata::FromRoot(forged);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().code, ErrorCode::kSecurity);
}

TEST_F(TrustedMetadataTest, WrongTypeUnderValidSignatureIsRefused) {
  // One key serving two roles must not let a snapshot pass as a timestamp.
  verifier::PrivateKey shared = f_.NewKey();
  manifest::Root root = *manifest::ParseRoot(f_.SignedOf("root.json"));
  root.keys[shared.keyid] = shared.public_key;
  root.roles["timestamp"] = manifest::Role{{shared.keyid}, 1};
  root.roles["snapshot"] = manifest::Role{{shared.keyid}, 1};
  auto t = TrustedMetadata::FromRoot(RepoFixture::Sign(manifest::ToJson(root), {&f_.root_key}));
  ASSERT_OK(t);
  auto r = t->UpdateTimestamp(RepoFixture::Sign(f_.SignedOf("snapshot.json"), {&shared}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kIntegrity);
}

TEST_F(TrustedMetadataTest, MalformedBytesAreIntegrityErrors) {
  TrustedMetadata t = Load();
  auto r = t.UpdateTimestamp("{\"signed\": {}, \"signed\": {}}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kIntegrity);
  EXPECT_EQ(t.UpdateRoot("not json").error().code, ErrorCode::kIntegrity);
}

TEST_F(TrustedMetadataTest, RoleKeysChangedComparesKeyIds) {
  manifest::Root a = *manifest::ParseRoot(f_.SignedOf("root.json"));
  manifest::Root b = a;
  EXPECT_FALSE(RoleKeysChanged(a, b, "timestamp"));
  b.roles["timestamp"].threshold = 1;
  b.roles["timestamp"].keyids = {f_.snapshot_key.keyid};
  EXPECT_TRUE(RoleKeysChanged(a, b, "timestamp"));
  EXPECT_FALSE(RoleKeysChanged(a, b, "snapshot"));
}

}  // namespace
}  // namespace ota::verifier
