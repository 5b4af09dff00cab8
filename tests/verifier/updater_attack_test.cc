// Attacks on the client workflow, each with the exact error it must produce.
#include <gmock/gmock.h>

#include "ota/verifier/updater.h"
#include "repo_fixture.h"
#include "test_support.h"

namespace ota::verifier {
namespace {

using ota::testing::ReadTestFile;
using ota::testing::RepoFixture;
using ::testing::HasSubstr;

constexpr auto kDay = std::chrono::hours(24);

class UpdaterAttackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    f_.InitRepo(false);
    f_.AddTarget("a.bin", "version one");
    ASSERT_OK(updater_.Refresh());
  }

  // Expects Refresh to fail with `code` and exactly `message`.
  void ExpectRefreshError(ErrorCode code, const std::string& message) {
    Status s = updater_.Refresh();
    ASSERT_FALSE(s.ok()) << "expected: " << message;
    EXPECT_EQ(s.error().code, code) << s.error().ToString();
    EXPECT_EQ(s.error().message, message);
    EXPECT_EQ(updater_.targets(), nullptr);
  }

  std::string ExpiresOf(const std::string& name) {
    return f_.SignedOf(name)["expires"].get<std::string>();
  }

  RepoFixture f_;
  Updater updater_{f_.env, f_.Options()};
};

TEST_F(UpdaterAttackTest, ExpiredTimestampIsAFreeze) {
  f_.clock.Advance(2 * kDay);
  ExpectRefreshError(ErrorCode::kSecurity,
                     "timestamp.json expired at " + ExpiresOf("timestamp.json"));
}

TEST_F(UpdaterAttackTest, ExpiredSnapshotIsAFreeze) {
  f_.clock.Advance(8 * kDay);
  ASSERT_OK(ota::repo::RefreshTimestamp(f_.env, f_.repo_dir, f_.Keys(), f_.policy));
  ExpectRefreshError(ErrorCode::kSecurity,
                     "snapshot.json expired at " + ExpiresOf("snapshot.json"));
}

TEST_F(UpdaterAttackTest, ExpiredTargetsIsAFreeze) {
  f_.clock.Advance(91 * kDay);
  ASSERT_OK(ota::repo::RefreshSnapshot(f_.env, f_.repo_dir, f_.Keys(), f_.policy));
  ExpectRefreshError(ErrorCode::kSecurity, "targets.json expired at " + ExpiresOf("targets.json"));
}

TEST_F(UpdaterAttackTest, ExpiredRootIsAFreeze) {
  f_.clock.Advance(366 * kDay);
  ExpectRefreshError(ErrorCode::kSecurity, "root.json expired at " + ExpiresOf("root.json"));
}

TEST_F(UpdaterAttackTest, TimestampRollback) {
  const std::string old_timestamp = f_.ReadMetadata("timestamp.json");
  ASSERT_OK(ota::repo::RefreshTimestamp(f_.env, f_.repo_dir, f_.Keys(), f_.policy));
  ASSERT_OK(updater_.Refresh());
  f_.WriteMetadata("timestamp.json", old_timestamp);
  ExpectRefreshError(ErrorCode::kSecurity, "timestamp version 2 is lower than trusted version 3");
}

TEST_F(UpdaterAttackTest, TimestampListingOlderSnapshot) {
  // A newer timestamp (compromised online key) naming an older snapshot.
  f_.AddTarget("b.bin", "b");
  ASSERT_OK(updater_.Refresh());
  nlohmann::json ts = f_.SignedOf("timestamp.json");
  ts["version"] = ts["version"].get<int>() + 1;
  ts["meta"]["snapshot.json"] = {{"version", 2}};
  f_.WriteMetadata("timestamp.json", RepoFixture::Sign(ts, {&f_.timestamp_key}));
  ExpectRefreshError(ErrorCode::kSecurity,
                     "timestamp.json lists snapshot version 2, lower than trusted version 3");
}

TEST_F(UpdaterAttackTest, SnapshotRollback) {
  // The device lost its timestamp.json; the server replays an older state.
  const std::string old_timestamp = f_.ReadMetadata("timestamp.json");
  const std::string old_snapshot = f_.ReadMetadata("snapshot.json");
  f_.AddTarget("b.bin", "b");
  ASSERT_OK(updater_.Refresh());
  ASSERT_OK(f_.fs->Remove(f_.device_dir + "/timestamp.json"));
  f_.WriteMetadata("timestamp.json", old_timestamp);
  f_.WriteMetadata("snapshot.json", old_snapshot);
  ExpectRefreshError(ErrorCode::kSecurity, "snapshot version 2 is lower than trusted version 3");
}

TEST_F(UpdaterAttackTest, SnapshotListingOlderTargets) {
  // Compromised snapshot and timestamp keys try to bring back old targets.
  const std::string old_targets = f_.ReadMetadata("targets.json");
  f_.AddTarget("b.bin", "b");
  ASSERT_OK(updater_.Refresh());
  nlohmann::json snap = f_.SignedOf("snapshot.json");
  snap["version"] = 4;
  snap["meta"]["targets.json"] = {{"version", 2}};
  const std::string snap_bytes = RepoFixture::Sign(snap, {&f_.snapshot_key});
  nlohmann::json ts = f_.SignedOf("timestamp.json");
  ts["version"] = 4;
  ts["meta"]["snapshot.json"] = {{"version", 4}};
  f_.WriteMetadata("snapshot.json", snap_bytes);
  f_.WriteMetadata("timestamp.json", RepoFixture::Sign(ts, {&f_.timestamp_key}));
  f_.WriteMetadata("targets.json", old_targets);
  ExpectRefreshError(ErrorCode::kSecurity,
                     "snapshot.json lists targets.json version 2, lower than trusted version 3");
}

TEST_F(UpdaterAttackTest, SnapshotDroppingTargetsFile) {
  nlohmann::json snap = f_.SignedOf("snapshot.json");
  snap["version"] = 3;
  snap["meta"] = {{"other.json", {{"version", 1}}}};
  const std::string snap_bytes = RepoFixture::Sign(snap, {&f_.snapshot_key});
  nlohmann::json ts = f_.SignedOf("timestamp.json");
  ts["version"] = 3;
  ts["meta"]["snapshot.json"] = {{"version", 3}};
  f_.WriteMetadata("snapshot.json", snap_bytes);
  f_.WriteMetadata("timestamp.json", RepoFixture::Sign(ts, {&f_.timestamp_key}));
  ExpectRefreshError(ErrorCode::kSecurity,
                     "targets.json is listed in the trusted snapshot but missing from the new one");
}

TEST_F(UpdaterAttackTest, TargetsMixAndMatchHashMismatch) {
  f_.AddTarget("b.bin", "b");
  // Same length, different bytes: only the hash can tell.
  std::string targets = f_.ReadMetadata("targets.json");
  const std::size_t at = targets.find("\"sig\": \"") + 8;
  targets[at] = targets[at] == 'a' ? 'b' : 'a';
  f_.WriteMetadata("targets.json", targets);
  ExpectRefreshError(ErrorCode::kIntegrity, "targets.json hash does not match snapshot (sha256)");
}

TEST_F(UpdaterAttackTest, TargetsMixAndMatchOlderFile) {
  const std::string old_targets = f_.ReadMetadata("targets.json");
  f_.AddTarget("b.bin", "b");
  f_.WriteMetadata("targets.json", old_targets);
  Status s = updater_.Refresh();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kIntegrity);
  EXPECT_THAT(s.error().message, HasSubstr("targets.json length"));
  EXPECT_THAT(s.error().message, HasSubstr("does not match snapshot"));
}

TEST_F(UpdaterAttackTest, SnapshotHashMismatchAgainstTimestamp) {
  std::string snap = f_.ReadMetadata("snapshot.json");
  const std::size_t at = snap.find("\"sig\": \"") + 8;
  snap[at] = snap[at] == 'a' ? 'b' : 'a';
  f_.WriteMetadata("snapshot.json", snap);
  ASSERT_OK(f_.fs->Remove(f_.device_dir + "/snapshot.json"));
  ExpectRefreshError(ErrorCode::kIntegrity, "snapshot.json hash does not match timestamp (sha256)");
}

TEST_F(UpdaterAttackTest, TimestampSignedByWrongKey) {
  nlohmann::json ts = f_.SignedOf("timestamp.json");
  ts["version"] = 10;
  verifier::PrivateKey attacker = f_.NewKey();
  f_.WriteMetadata("timestamp.json", RepoFixture::Sign(ts, {&attacker}));
  ExpectRefreshError(ErrorCode::kSecurity, "timestamp has 0 of 1 required signatures");
}

TEST_F(UpdaterAttackTest, TargetsSignedByAnotherRolesKey) {
  // The snapshot key is trusted, but not for targets.
  nlohmann::json targets = f_.SignedOf("targets.json");
  targets["targets"]["evil.bin"] = {{"length", 1}, {"hashes", {{"sha256", std::string(64, 'a')}}}};
  f_.WriteMetadata("targets.json", RepoFixture::Sign(targets, {&f_.snapshot_key}));
  ASSERT_OK(ota::repo::RefreshSnapshot(f_.env, f_.repo_dir, f_.Keys(), f_.policy));
  ExpectRefreshError(ErrorCode::kSecurity, "targets has 0 of 1 required signatures");
}

TEST_F(UpdaterAttackTest, SnapshotVersionMustMatchTimestamp) {
  nlohmann::json ts = f_.SignedOf("timestamp.json");
  ts["version"] = 3;
  ts["meta"]["snapshot.json"] = {{"version", 7}};
  f_.WriteMetadata("timestamp.json", RepoFixture::Sign(ts, {&f_.timestamp_key}));
  ExpectRefreshError(ErrorCode::kSecurity,
                     "snapshot version 2 does not match version 7 in timestamp.json");
}

TEST_F(UpdaterAttackTest, EndlessTimestamp) {
  f_.http.Override("metadata/timestamp.json", 200, std::string(16 * 1024 + 1, ' '));
  Status s = updater_.Refresh();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kIntegrity);
  EXPECT_THAT(s.error().message, HasSubstr("downloading timestamp.json"));
}

TEST_F(UpdaterAttackTest, EndlessRoot) {
  f_.http.Override("metadata/2.root.json", 200, std::string(512 * 1024 + 1, ' '));
  Status s = updater_.Refresh();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kIntegrity);
  EXPECT_THAT(s.error().message, HasSubstr("downloading 2.root.json"));
}

TEST_F(UpdaterAttackTest, SnapshotLongerThanTimestampSays) {
  f_.AddTarget("b.bin", "b");
  // Still valid JSON with valid signatures, but more bytes than signed for.
  f_.WriteMetadata("snapshot.json", f_.ReadMetadata("snapshot.json") + std::string(100, ' '));
  Status s = updater_.Refresh();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kIntegrity);
  EXPECT_THAT(s.error().message, HasSubstr("downloading snapshot.json"));
}

TEST_F(UpdaterAttackTest, FailedRefreshKeepsPreviousTrustedFiles) {
  const std::string trusted_ts = ReadTestFile(f_.device_dir + "/timestamp.json");
  nlohmann::json ts = f_.SignedOf("timestamp.json");
  ts["version"] = 99;
  verifier::PrivateKey attacker = f_.NewKey();
  f_.WriteMetadata("timestamp.json", RepoFixture::Sign(ts, {&attacker}));
  ASSERT_FALSE(updater_.Refresh().ok());
  EXPECT_EQ(ReadTestFile(f_.device_dir + "/timestamp.json"), trusted_ts);
}

TEST_F(UpdaterAttackTest, ExpiredNewTimestampIsNotPersisted) {
  // A correctly signed, higher-version timestamp that has already expired:
  // refused as a freeze, and the device keeps its previous copy, so the next
  // refresh still compares against the version it had.
  const std::string trusted_ts = ReadTestFile(f_.device_dir + "/timestamp.json");
  nlohmann::json ts = f_.SignedOf("timestamp.json");
  ts["version"] = ts["version"].get<int>() + 1;
  ts["expires"] = "2000-01-01T00:00:00Z";
  f_.WriteMetadata("timestamp.json", RepoFixture::Sign(ts, {&f_.timestamp_key}));
  ExpectRefreshError(ErrorCode::kSecurity, "timestamp.json expired at 2000-01-01T00:00:00Z");
  EXPECT_EQ(ReadTestFile(f_.device_dir + "/timestamp.json"), trusted_ts);
}

TEST_F(UpdaterAttackTest, RepeatedSignatureKeyIdIsRefused) {
  // Two entries for one key id in "signatures" (even identical, valid ones)
  // are malformed metadata per the specification.
  nlohmann::json ts = f_.SignedOf("timestamp.json");
  ts["version"] = ts["version"].get<int>() + 1;
  auto envelope = manifest::ParseEnvelope(RepoFixture::Sign(ts, {&f_.timestamp_key}));
  ASSERT_OK(envelope);
  envelope->signatures.push_back(envelope->signatures[0]);
  f_.WriteMetadata("timestamp.json", manifest::SerializeEnvelope(*envelope));
  ExpectRefreshError(ErrorCode::kSecurity,
                     "timestamp lists more than one signature by key " + f_.timestamp_key.keyid);
}

}  // namespace
}  // namespace ota::verifier
