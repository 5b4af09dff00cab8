// Root rotation, thresholds above one, and fast-forward recovery.
#include <gmock/gmock.h>

#include "ota/verifier/updater.h"
#include "repo_fixture.h"
#include "test_support.h"

namespace ota::verifier {
namespace {

using ota::testing::ReadTestFile;
using ota::testing::RepoFixture;
using ::testing::HasSubstr;

class RotationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    f_.InitRepo(false);
    ASSERT_OK(updater_.Refresh());
  }

  // Rotates root to `new_root` (signed by the current and the new root key).
  Status RotateRootKey(const PrivateKey& current, const PrivateKey& next) {
    ota::repo::RootRotation r;
    r.root = ota::repo::RoleKeysChange{{next.public_key}, 1};
    r.signers = {&current, &next};
    return ota::repo::RotateRoot(f_.env, f_.repo_dir, r, f_.policy);
  }

  RepoFixture f_;
  Updater updater_{f_.env, f_.Options()};
};

TEST_F(RotationTest, FollowsRootChainWithNewKeys) {
  PrivateKey root2 = f_.NewKey();
  PrivateKey root3 = f_.NewKey();
  ASSERT_OK(RotateRootKey(f_.root_key, root2));
  ASSERT_OK(RotateRootKey(root2, root3));
  f_.AddTarget("a.bin", "a");
  ASSERT_OK(updater_.Refresh());
  ASSERT_NE(updater_.root(), nullptr);
  EXPECT_EQ(updater_.root()->version, 3u);
  EXPECT_EQ(ReadTestFile(f_.device_dir + "/root.json"), f_.ReadMetadata("3.root.json"));
  EXPECT_OK(updater_.GetTargetInfo("a.bin"));
  EXPECT_TRUE(f_.http.WasRequested("metadata/4.root.json"));
}

TEST_F(RotationTest, NewRootSignedOnlyByNewKeysIsRejected) {
  PrivateKey attacker_root = f_.NewKey();
  manifest::Root root = *manifest::ParseRoot(f_.SignedOf("root.json"));
  root.version = 2;
  root.keys.erase(f_.root_key.keyid);
  root.keys[attacker_root.keyid] = attacker_root.public_key;
  root.roles["root"] = manifest::Role{{attacker_root.keyid}, 1};
  f_.WriteMetadata("2.root.json", RepoFixture::Sign(manifest::ToJson(root), {&attacker_root}));
  Status s = updater_.Refresh();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kSecurity);
  EXPECT_EQ(s.error().message,
            "2.root.json is not signed by trusted root version 1: root has 0 of 1 required "
            "signatures");
  EXPECT_EQ(ReadTestFile(f_.device_dir + "/root.json"), f_.ReadMetadata("1.root.json"));
}

TEST_F(RotationTest, NewRootSignedOnlyByOldKeysIsRejected) {
  PrivateKey root2 = f_.NewKey();
  manifest::Root root = *manifest::ParseRoot(f_.SignedOf("root.json"));
  root.version = 2;
  root.keys[root2.keyid] = root2.public_key;
  root.roles["root"] = manifest::Role{{root2.keyid}, 1};
  f_.WriteMetadata("2.root.json", RepoFixture::Sign(manifest::ToJson(root), {&f_.root_key}));
  Status s = updater_.Refresh();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message,
            "2.root.json is not signed by its own root keys: root has 0 of 1 required signatures");
}

TEST_F(RotationTest, RootVersionMustBeNextOne) {
  manifest::Root root = *manifest::ParseRoot(f_.SignedOf("root.json"));
  root.version = 5;
  f_.WriteMetadata("2.root.json", RepoFixture::Sign(manifest::ToJson(root), {&f_.root_key}));
  Status s = updater_.Refresh();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kSecurity);
  EXPECT_EQ(s.error().message, "2.root.json has root version 5, expected 2");
}

TEST_F(RotationTest, RotateRootRefusesWhatClientsWouldRefuse) {
  PrivateKey root2 = f_.NewKey();
  ota::repo::RootRotation r;
  r.root = ota::repo::RoleKeysChange{{root2.public_key}, 1};
  r.signers = {&root2};  // Missing the current root key.
  Status s = ota::repo::RotateRoot(f_.env, f_.repo_dir, r, f_.policy);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(*f_.fs->Exists(f_.MetadataPath("2.root.json")));
}

TEST_F(RotationTest, TimestampThresholdTwoOfThree) {
  PrivateKey t1 = f_.NewKey(), t2 = f_.NewKey(), t3 = f_.NewKey();
  ota::repo::RootRotation r;
  r.timestamp = ota::repo::RoleKeysChange{{t1.public_key, t2.public_key, t3.public_key}, 2};
  r.signers = {&f_.root_key};
  ASSERT_OK(ota::repo::RotateRoot(f_.env, f_.repo_dir, r, f_.policy));

  nlohmann::json ts = f_.SignedOf("timestamp.json");
  ts["version"] = 5;
  f_.WriteMetadata("timestamp.json", RepoFixture::Sign(ts, {&t1}));
  Status s = updater_.Refresh();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "timestamp has 1 of 2 required signatures");

  // The same signature twice does not make a second one: metadata that
  // repeats a key id in "signatures" is refused outright.
  auto twice = manifest::ParseEnvelope(f_.ReadMetadata("timestamp.json"));
  ASSERT_OK(twice);
  twice->signatures.push_back(twice->signatures[0]);
  f_.WriteMetadata("timestamp.json", manifest::SerializeEnvelope(*twice));
  s = updater_.Refresh();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "timestamp lists more than one signature by key " + t1.keyid);

  f_.WriteMetadata("timestamp.json", RepoFixture::Sign(ts, {&t1, &t3}));
  EXPECT_OK(updater_.Refresh());
}

TEST_F(RotationTest, FastForwardRecoveryAfterTimestampKeyRotation) {
  // An attacker holding the timestamp key pushes the version to 1000.
  nlohmann::json ts = f_.SignedOf("timestamp.json");
  ts["version"] = 1000;
  f_.http.Override("metadata/timestamp.json", 200, RepoFixture::Sign(ts, {&f_.timestamp_key}));
  ASSERT_OK(updater_.Refresh());
  f_.http.ClearOverrides();

  // The repository's next legitimate timestamp now looks like a rollback.
  ASSERT_OK(ota::repo::RefreshTimestamp(f_.env, f_.repo_dir, f_.Keys(), f_.policy));
  Status s = updater_.Refresh();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "timestamp version 2 is lower than trusted version 1000");

  // Recovery: rotate the timestamp key in root; the device forgets the
  // fast-forwarded timestamp and accepts the new one.
  PrivateKey new_timestamp = f_.NewKey();
  ota::repo::RootRotation r;
  r.timestamp = ota::repo::RoleKeysChange{{new_timestamp.public_key}, 1};
  r.signers = {&f_.root_key};
  ASSERT_OK(ota::repo::RotateRoot(f_.env, f_.repo_dir, r, f_.policy));
  ota::repo::RepoKeys keys = f_.Keys();
  keys.timestamp = &new_timestamp;
  ASSERT_OK(ota::repo::RefreshTimestamp(f_.env, f_.repo_dir, keys, f_.policy));
  ASSERT_OK(updater_.Refresh());
  EXPECT_EQ(ReadTestFile(f_.device_dir + "/timestamp.json"), f_.ReadMetadata("timestamp.json"));
}

TEST_F(RotationTest, SnapshotKeyRotationAlsoForgetsTrustedTimestamp) {
  // Both online keys leaked; the attacker fast-forwards timestamp and
  // snapshot. The operator rotates only the snapshot key: the timestamp key
  // still verifies the attacker's timestamp, so only the rule "forget
  // timestamp and snapshot when either key rotates" lets the device recover.
  nlohmann::json snap = f_.SignedOf("snapshot.json");
  snap["version"] = 1000;
  const std::string snap_bytes = RepoFixture::Sign(snap, {&f_.snapshot_key});
  nlohmann::json ts = f_.SignedOf("timestamp.json");
  ts["version"] = 1000;
  ts["meta"]["snapshot.json"] = {{"version", 1000}};
  f_.http.Override("metadata/timestamp.json", 200, RepoFixture::Sign(ts, {&f_.timestamp_key}));
  f_.http.Override("metadata/snapshot.json", 200, snap_bytes);
  ASSERT_OK(updater_.Refresh());
  f_.http.ClearOverrides();

  PrivateKey new_snapshot = f_.NewKey();
  ota::repo::RootRotation r;
  r.snapshot = ota::repo::RoleKeysChange{{new_snapshot.public_key}, 1};
  r.signers = {&f_.root_key};
  ASSERT_OK(ota::repo::RotateRoot(f_.env, f_.repo_dir, r, f_.policy));
  ota::repo::RepoKeys keys = f_.Keys();
  keys.snapshot = &new_snapshot;
  ASSERT_OK(ota::repo::RefreshSnapshot(f_.env, f_.repo_dir, keys, f_.policy));
  ASSERT_OK(updater_.Refresh());
  EXPECT_EQ(ReadTestFile(f_.device_dir + "/timestamp.json"), f_.ReadMetadata("timestamp.json"));
}

TEST_F(RotationTest, SnapshotKeyRotationNeedsResignedSnapshot) {
  PrivateKey new_snapshot = f_.NewKey();
  ota::repo::RootRotation r;
  r.snapshot = ota::repo::RoleKeysChange{{new_snapshot.public_key}, 1};
  r.signers = {&f_.root_key};
  ASSERT_OK(ota::repo::RotateRoot(f_.env, f_.repo_dir, r, f_.policy));
  // Old-key snapshot no longer verifies under the new root.
  ASSERT_OK(ota::repo::RefreshTimestamp(f_.env, f_.repo_dir, f_.Keys(), f_.policy));
  Status s = updater_.Refresh();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "snapshot has 0 of 1 required signatures");
  ota::repo::RepoKeys keys = f_.Keys();
  keys.snapshot = &new_snapshot;
  ASSERT_OK(ota::repo::RefreshSnapshot(f_.env, f_.repo_dir, keys, f_.policy));
  EXPECT_OK(updater_.Refresh());
}

}  // namespace
}  // namespace ota::verifier
