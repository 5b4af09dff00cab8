// Several keys per role, offline keys signing staged metadata in separate
// steps, and a delegated rollouts role; each checked by the real client.
#include <gmock/gmock.h>

#include "ota/common/hash.h"
#include "ota/repo/repo.h"
#include "ota/verifier/trusted_metadata.h"
#include "ota/verifier/updater.h"
#include "repo_fixture.h"
#include "test_support.h"

namespace ota::tools {
namespace {

using ota::testing::ReadTestFile;
using ota::testing::RepoFixture;
using ota::testing::WriteTestFile;
using ::testing::HasSubstr;

std::string MessageOf(const Status& s) { return s.ok() ? "ok" : s.error().message; }

class OfflineSigningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 5; ++i) root_keys_.push_back(f_.NewKey());
  }

  // Version 2: root keys r0..r4 with threshold 3, signed by the old root key
  // and r0, r1, r2 in separate steps.
  void RotateToThreeOfFive() {
    f_.InitRepo(false);
    auto root = ota::repo::RootToEdit(f_.env, f_.repo_dir, f_.policy);
    ASSERT_OK(root);
    for (const verifier::PrivateKey& k : root_keys_)
      ASSERT_OK(ota::repo::AddRoleKey(*root, "root", k.public_key));
    ASSERT_OK(ota::repo::RevokeRoleKey(*root, "root", f_.root_key.keyid));
    ASSERT_OK(ota::repo::SetRoleThreshold(*root, "root", 3));
    ASSERT_OK(ota::repo::StageRoot(f_.env, f_.repo_dir, *root, {&f_.root_key}));
    EXPECT_EQ(MessageOf(ota::repo::CheckStaged(f_.env, f_.repo_dir, "root")),
              "staged root has 0 of 3 required signatures by the new root keys");
    ASSERT_OK(ota::repo::SignStaged(f_.env, f_.repo_dir, "root", root_keys_[0]));
    ASSERT_OK(ota::repo::SignStaged(f_.env, f_.repo_dir, "root", root_keys_[1]));
    Status below = ota::repo::CommitStaged(f_.env, f_.repo_dir, "root", {}, f_.policy);
    ASSERT_FALSE(below.ok());
    EXPECT_EQ(below.error().code, ErrorCode::kSecurity);
    EXPECT_EQ(below.error().message,
              "staged root has 2 of 3 required signatures by the new root keys");
    EXPECT_FALSE(*f_.fs->Exists(f_.MetadataPath("2.root.json")));
    ASSERT_OK(ota::repo::SignStaged(f_.env, f_.repo_dir, "root", root_keys_[2]));
    ASSERT_OK(ota::repo::CheckStaged(f_.env, f_.repo_dir, "root"));
    ASSERT_OK(ota::repo::CommitStaged(f_.env, f_.repo_dir, "root", {}, f_.policy));
    EXPECT_FALSE(*f_.fs->Exists(f_.MetadataPath("staged/root.json")));
    EXPECT_EQ(f_.ReadMetadata("2.root.json"), f_.ReadMetadata("root.json"));
  }

  RepoFixture f_;
  std::vector<verifier::PrivateKey> root_keys_;
};

TEST_F(OfflineSigningTest, ThreeOfFiveRootRotationSignedInStepsVerifiesWithTheClient) {
  RotateToThreeOfFive();
  // Version 3 drops r4; the old root (r0..r4, 3 of 5) and the new one
  // (r0..r3, 3 of 4) must both be satisfied.
  auto root = ota::repo::RootToEdit(f_.env, f_.repo_dir, f_.policy);
  ASSERT_OK(root);
  EXPECT_EQ(root->version, 3u);
  ASSERT_OK(ota::repo::RevokeRoleKey(*root, "root", root_keys_[4].keyid));
  ASSERT_OK(ota::repo::StageRoot(f_.env, f_.repo_dir, *root, {}));
  ASSERT_OK(ota::repo::SignStaged(f_.env, f_.repo_dir, "root", root_keys_[0]));
  ASSERT_OK(ota::repo::SignStaged(f_.env, f_.repo_dir, "root", root_keys_[1]));
  EXPECT_EQ(MessageOf(ota::repo::CheckStaged(f_.env, f_.repo_dir, "root")),
            "staged root has 2 of 3 required signatures by the current root keys");
  // The revoked key still counts for the current root, not for the new one.
  ASSERT_OK(ota::repo::SignStaged(f_.env, f_.repo_dir, "root", root_keys_[4]));
  EXPECT_EQ(MessageOf(ota::repo::CheckStaged(f_.env, f_.repo_dir, "root")),
            "staged root has 2 of 3 required signatures by the new root keys");
  ASSERT_OK(ota::repo::SignStaged(f_.env, f_.repo_dir, "root", root_keys_[3]));
  ASSERT_OK(ota::repo::CommitStaged(f_.env, f_.repo_dir, "root", {}, f_.policy));

  verifier::Updater updater(f_.env, f_.Options());
  ASSERT_OK(updater.Refresh());
  ASSERT_NE(updater.root(), nullptr);
  EXPECT_EQ(updater.root()->version, 3u);
  EXPECT_EQ(updater.root()->roles.at("root").threshold, 3u);
  EXPECT_EQ(updater.root()->roles.at("root").keyids.size(), 4u);
  EXPECT_EQ(ReadTestFile(f_.device_dir + "/root.json"), f_.ReadMetadata("3.root.json"));
}

TEST_F(OfflineSigningTest, SigningIsCheckedStepByStep) {
  f_.InitRepo(false);
  EXPECT_EQ(ota::repo::SignStaged(f_.env, f_.repo_dir, "root", f_.root_key).error().code,
            ErrorCode::kNotFound);
  auto root = ota::repo::RootToEdit(f_.env, f_.repo_dir, f_.policy);
  ASSERT_OK(root);
  ASSERT_OK(ota::repo::AddRoleKey(*root, "root", root_keys_[0].public_key));
  ASSERT_OK(ota::repo::StageRoot(f_.env, f_.repo_dir, *root, {&f_.root_key}));
  // A key of another role, or a key that signed already, is refused.
  Status outsider = ota::repo::SignStaged(f_.env, f_.repo_dir, "root", f_.targets_key);
  ASSERT_FALSE(outsider.ok());
  EXPECT_EQ(outsider.error().message, "key " + f_.targets_key.keyid +
                                          " is a root key of neither the current nor the "
                                          "staged root");
  Status twice = ota::repo::SignStaged(f_.env, f_.repo_dir, "root", f_.root_key);
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().message,
            "key " + f_.root_key.keyid + " already signed the staged root.json");
  // Only root and targets are staged.
  EXPECT_EQ(ota::repo::SignStaged(f_.env, f_.repo_dir, "snapshot", f_.snapshot_key).error().code,
            ErrorCode::kInvalidArgument);
  // Edits on top of a staged root continue it (and drop its signatures).
  auto again = ota::repo::RootToEdit(f_.env, f_.repo_dir, f_.policy);
  ASSERT_OK(again);
  EXPECT_EQ(again->roles.at("root").keyids.size(), 2u);
  EXPECT_EQ(again->version, 2u);
  // Invalid edits.
  EXPECT_EQ(ota::repo::AddRoleKey(*again, "root", root_keys_[0].public_key).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(ota::repo::SetRoleThreshold(*again, "root", 3).error().message,
            "the root threshold must be between 1 and its 2 keys, got 3");
  EXPECT_EQ(ota::repo::SetRoleThreshold(*again, "snapshot", 0).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(ota::repo::RevokeRoleKey(*again, "targets", "nope").error().code, ErrorCode::kNotFound);
  EXPECT_THAT(ota::repo::RevokeRoleKey(*again, "targets", f_.targets_key.keyid).error().message,
              HasSubstr("would leave targets with 0 keys for threshold 1"));
  EXPECT_EQ(ota::repo::AddRoleKey(*again, "mirrors", root_keys_[1].public_key).error().code,
            ErrorCode::kInvalidArgument);
}

TEST_F(OfflineSigningTest, InitValidatesThresholds) {
  verifier::PrivateKey t2 = f_.NewKey();
  ota::repo::InitOptions options;
  options.root = {{&f_.root_key}, 1};
  options.targets = {{&f_.targets_key, &t2}, 3};
  options.snapshot = {{&f_.snapshot_key}, 1};
  options.timestamp = {{&f_.timestamp_key}, 1};
  EXPECT_EQ(MessageOf(ota::repo::InitRepository(f_.env, f_.repo_dir, options, f_.policy)),
            "the targets threshold must be between 1 and its 2 keys, got 3");
  options.targets.threshold = 2;
  options.snapshot = {{&f_.snapshot_key, &t2}, 2};
  EXPECT_THAT(MessageOf(ota::repo::InitRepository(f_.env, f_.repo_dir, options, f_.policy)),
              HasSubstr("the snapshot threshold must be 1"));
  EXPECT_FALSE(*f_.fs->Exists(f_.repo_dir + "/metadata"));
}

// Targets with two offline keys and threshold 2: publishing stages, `sign`
// adds the second signature, commit publishes; the client then finds it.
TEST_F(OfflineSigningTest, TargetsBelowThresholdAreRefusedThenCommitted) {
  verifier::PrivateKey t2 = f_.NewKey();
  ota::repo::InitOptions options;
  options.root = {{&f_.root_key}, 1};
  options.targets = {{&f_.targets_key, &t2}, 2};
  options.snapshot = {{&f_.snapshot_key}, 1};
  options.timestamp = {{&f_.timestamp_key}, 1};
  ASSERT_OK(ota::repo::InitRepository(f_.env, f_.repo_dir, options, f_.policy));
  ASSERT_OK(verifier::InitTrustedRoot(*f_.fs, f_.device_dir, f_.ReadMetadata("1.root.json")));
  {
    verifier::Updater updater(f_.env, f_.Options());
    ASSERT_OK(updater.Refresh());  // Version 1 is signed by both keys.
  }
  // The online path refuses a key that cannot meet the threshold alone.
  const std::string source = f_.tmp.Sub("sources/a.otab");
  WriteTestFile(source, "bundle a");
  EXPECT_THAT(MessageOf(ota::repo::AddTarget(f_.env, f_.repo_dir, "bundles/a.otab", source, nullptr,
                                             f_.Keys(), f_.policy)),
              HasSubstr("targets has 1 of 2 required signatures"));

  ASSERT_OK(ota::repo::StageTarget(f_.env, f_.repo_dir, "bundles/a.otab", source,
                                   {{"kind", "bundle"}}, {&f_.targets_key}, f_.policy));
  Status below = ota::repo::CommitStaged(f_.env, f_.repo_dir, "targets", f_.Keys(), f_.policy);
  ASSERT_FALSE(below.ok());
  EXPECT_EQ(below.error().code, ErrorCode::kSecurity);
  EXPECT_EQ(below.error().message, "staged targets has 1 of 2 required signatures");
  // A second staged target adds to the staged content (signatures restart).
  const std::string source_b = f_.tmp.Sub("sources/b.otab");
  WriteTestFile(source_b, "bundle b");
  ASSERT_OK(ota::repo::StageTarget(f_.env, f_.repo_dir, "bundles/b.otab", source_b, nullptr, {},
                                   f_.policy));
  EXPECT_EQ(MessageOf(ota::repo::CheckStaged(f_.env, f_.repo_dir, "targets")),
            "staged targets has 0 of 2 required signatures");
  EXPECT_THAT(MessageOf(ota::repo::SignStaged(f_.env, f_.repo_dir, "targets", f_.snapshot_key)),
              HasSubstr("is not a targets key of root.json"));
  ASSERT_OK(ota::repo::SignStaged(f_.env, f_.repo_dir, "targets", f_.targets_key));
  ASSERT_OK(ota::repo::SignStaged(f_.env, f_.repo_dir, "targets", t2));
  // Committing targets needs the online keys.
  ota::repo::RepoKeys no_online;
  Status unsigned_chain =
      ota::repo::CommitStaged(f_.env, f_.repo_dir, "targets", no_online, f_.policy);
  ASSERT_FALSE(unsigned_chain.ok());
  EXPECT_EQ(unsigned_chain.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(unsigned_chain.error().message, "the timestamp key is required");
  ASSERT_OK(ota::repo::CommitStaged(f_.env, f_.repo_dir, "targets", f_.Keys(), f_.policy));
  EXPECT_FALSE(*f_.fs->Exists(f_.MetadataPath("staged/targets.json")));

  verifier::Updater updater(f_.env, f_.Options());
  ASSERT_OK(updater.Refresh());
  auto a = updater.GetTargetInfo("bundles/a.otab");
  ASSERT_OK(a);
  EXPECT_EQ(a->hashes.at("sha256"), Sha256Hex("bundle a"));
  EXPECT_EQ(a->custom["kind"], "bundle");
  ASSERT_OK(updater.GetTargetInfo("bundles/b.otab"));
  // A staged file left behind after a commit is stale.
  ASSERT_OK(ota::repo::StageTarget(f_.env, f_.repo_dir, "bundles/c.otab", source, nullptr, {},
                                   f_.policy));
  WriteTestFile(f_.MetadataPath("staged/targets.json"),
                ReadTestFile(f_.MetadataPath("targets.json")));
  EXPECT_THAT(MessageOf(ota::repo::CheckStaged(f_.env, f_.repo_dir, "targets")),
              HasSubstr("stage it again"));
}

// After revoking a targets key in a new root, its signatures stop counting.
TEST_F(OfflineSigningTest, RevokedTargetsKeyNoLongerCounts) {
  f_.InitRepo(false);
  verifier::PrivateKey t2 = f_.NewKey();
  auto root = ota::repo::RootToEdit(f_.env, f_.repo_dir, f_.policy);
  ASSERT_OK(root);
  ASSERT_OK(ota::repo::AddRoleKey(*root, "targets", t2.public_key));
  ASSERT_OK(ota::repo::RevokeRoleKey(*root, "targets", f_.targets_key.keyid));
  ASSERT_OK(ota::repo::StageRoot(f_.env, f_.repo_dir, *root, {&f_.root_key}));
  ASSERT_OK(ota::repo::CommitStaged(f_.env, f_.repo_dir, "root", {}, f_.policy));

  const std::string source = f_.tmp.Sub("sources/a.otab");
  WriteTestFile(source, "bundle a");
  // The revoked key can neither sign in steps nor publish directly.
  ASSERT_OK(ota::repo::StageTarget(f_.env, f_.repo_dir, "a.otab", source, nullptr, {}, f_.policy));
  EXPECT_THAT(MessageOf(ota::repo::SignStaged(f_.env, f_.repo_dir, "targets", f_.targets_key)),
              HasSubstr("is not a targets key of root.json"));
  EXPECT_THAT(MessageOf(ota::repo::AddTarget(f_.env, f_.repo_dir, "a.otab", source, nullptr,
                                             f_.Keys(), f_.policy)),
              HasSubstr("is not a targets key of root.json"));
  // A staged targets file carrying the revoked key's signature is refused.
  manifest::Signed staged =
      *manifest::ParseEnvelope(ReadTestFile(f_.MetadataPath("staged/targets.json")));
  WriteTestFile(f_.MetadataPath("staged/targets.json"),
                RepoFixture::Sign(staged.signed_json, {&f_.targets_key}));
  EXPECT_EQ(
      MessageOf(ota::repo::CommitStaged(f_.env, f_.repo_dir, "targets", f_.Keys(), f_.policy)),
      "staged targets has 0 of 1 required signatures");
  ASSERT_OK(ota::repo::SignStaged(f_.env, f_.repo_dir, "targets", t2));
  ASSERT_OK(ota::repo::CommitStaged(f_.env, f_.repo_dir, "targets", f_.Keys(), f_.policy));

  verifier::Updater updater(f_.env, f_.Options());
  ASSERT_OK(updater.Refresh());
  ASSERT_OK(updater.GetTargetInfo("a.otab"));
}

TEST(DelegationPathTest, PatternsNeverCrossFolders) {
  EXPECT_TRUE(ota::repo::DelegationPathMatches("rollouts/*", "rollouts/chat.json"));
  EXPECT_FALSE(ota::repo::DelegationPathMatches("rollouts/*", "rollouts/x/chat.json"));
  EXPECT_FALSE(ota::repo::DelegationPathMatches("rollouts/*", "bundles/chat.json"));
  EXPECT_TRUE(ota::repo::DelegationPathMatches("rollouts/?.json", "rollouts/a.json"));
  EXPECT_TRUE(ota::repo::DelegationPathMatches("*", "top.json"));
  EXPECT_FALSE(ota::repo::DelegationPathMatches("*", "a/b"));
}

class DelegationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    f_.InitRepo(false);
    rollouts_key_ = f_.NewKey();
    spec_.name = "rollouts";
    spec_.keys = {rollouts_key_.public_key};
    spec_.paths = {"rollouts/*"};
  }

  RepoFixture f_;
  verifier::PrivateKey rollouts_key_;
  ota::repo::DelegationSpec spec_;
};

TEST_F(DelegationTest, RolloutsTargetIsPublishedByTheOnlineKeyAndFoundByTheClient) {
  auto staged =
      ota::repo::AddDelegation(f_.env, f_.repo_dir, spec_, rollouts_key_, f_.Keys(), f_.policy);
  ASSERT_OK(staged);
  EXPECT_FALSE(*staged);
  const nlohmann::json d = f_.SignedOf("targets.json")["delegations"];
  ASSERT_EQ(d["roles"].size(), 1u);
  EXPECT_EQ(d["roles"][0]["name"], "rollouts");
  EXPECT_EQ(d["roles"][0]["paths"], nlohmann::json::array({"rollouts/*"}));
  EXPECT_EQ(d["roles"][0]["threshold"], 1);
  EXPECT_EQ(d["roles"][0]["terminating"], false);
  EXPECT_EQ(d["roles"][0]["keyids"], nlohmann::json::array({rollouts_key_.keyid}));
  EXPECT_TRUE(d["keys"].contains(rollouts_key_.keyid));
  EXPECT_EQ(f_.SignedOf("rollouts.json")["version"], 1);
  EXPECT_EQ(f_.SignedOf("snapshot.json")["meta"]["rollouts.json"]["version"], 1);

  const std::string source = f_.tmp.Sub("sources/stage.json");
  WriteTestFile(source, R"({"stage": 1})");
  ASSERT_OK(ota::repo::PublishDelegatedTarget(f_.env, f_.repo_dir, "rollouts", "rollouts/chat.json",
                                              source, {{"kind", "rollout"}}, rollouts_key_,
                                              f_.Keys(), f_.policy));
  EXPECT_EQ(f_.SignedOf("rollouts.json")["version"], 2);
  EXPECT_EQ(f_.SignedOf("snapshot.json")["meta"]["rollouts.json"]["version"], 2);
  EXPECT_TRUE(f_.SignedOf("rollouts.json")["targets"].contains("rollouts/chat.json"));
  EXPECT_FALSE(f_.SignedOf("targets.json")["targets"].contains("rollouts/chat.json"));
  // Publishing top-level targets keeps listing the delegated role.
  f_.AddTarget("bundles/a.otab", "a");
  EXPECT_EQ(f_.SignedOf("snapshot.json")["meta"]["rollouts.json"]["version"], 2);

  verifier::Updater updater(f_.env, f_.Options());
  ASSERT_OK(updater.Refresh());
  auto info = updater.GetTargetInfo("rollouts/chat.json");
  ASSERT_OK(info);
  EXPECT_EQ(info->hashes.at("sha256"), Sha256Hex(R"({"stage": 1})"));
  EXPECT_EQ(info->custom["kind"], "rollout");
}

TEST_F(DelegationTest, DelegatedPublishingIsChecked) {
  ASSERT_OK(
      ota::repo::AddDelegation(f_.env, f_.repo_dir, spec_, rollouts_key_, f_.Keys(), f_.policy));
  const std::string source = f_.tmp.Sub("sources/stage.json");
  WriteTestFile(source, "{}");
  EXPECT_EQ(MessageOf(ota::repo::PublishDelegatedTarget(f_.env, f_.repo_dir, "rollouts",
                                                        "bundles/x.json", source, nullptr,
                                                        rollouts_key_, f_.Keys(), f_.policy)),
            "target path bundles/x.json matches none of the paths delegated to rollouts "
            "(rollouts/*)");
  EXPECT_EQ(MessageOf(ota::repo::PublishDelegatedTarget(f_.env, f_.repo_dir, "rollouts",
                                                        "rollouts/x.json", source, nullptr,
                                                        f_.targets_key, f_.Keys(), f_.policy)),
            "key " + f_.targets_key.keyid + " is not a key of the delegated role rollouts");
  EXPECT_EQ(ota::repo::PublishDelegatedTarget(f_.env, f_.repo_dir, "canary", "rollouts/x.json",
                                              source, nullptr, rollouts_key_, f_.Keys(), f_.policy)
                .error()
                .code,
            ErrorCode::kNotFound);
  // Each malformed delegation is refused for its own reason.
  auto refused = [&](const ota::repo::DelegationSpec& bad, const std::string& message) {
    auto added =
        ota::repo::AddDelegation(f_.env, f_.repo_dir, bad, rollouts_key_, f_.Keys(), f_.policy);
    ASSERT_FALSE(added.ok()) << message;
    EXPECT_EQ(added.error().code, ErrorCode::kInvalidArgument) << message;
    EXPECT_EQ(added.error().message, message);
  };
  ota::repo::DelegationSpec bad = spec_;
  bad.name = "../x";
  refused(bad, "delegated role name \"../x\" must be 1 to 64 of [a-z0-9_-]");
  bad = spec_;
  bad.name = "targets";
  refused(bad, "\"targets\" is a top-level role and cannot be delegated");
  bad = spec_;
  bad.paths = {"/abs/*"};
  refused(bad, "path pattern: target path \"/abs/*\" must be relative");
  bad = spec_;
  bad.threshold = 2;
  refused(bad, "the threshold of a delegated role must be 1: it is signed online by one key");
  EXPECT_EQ(f_.SignedOf("rollouts.json")["version"], 1);
}

TEST_F(DelegationTest, OfflineTargetsKeyStagesTheDelegation) {
  ota::repo::RepoKeys online = f_.Keys();
  online.targets = nullptr;
  auto staged =
      ota::repo::AddDelegation(f_.env, f_.repo_dir, spec_, rollouts_key_, online, f_.policy);
  ASSERT_OK(staged);
  EXPECT_TRUE(*staged);
  EXPECT_FALSE(f_.SignedOf("targets.json").contains("delegations"));
  EXPECT_EQ(MessageOf(ota::repo::CheckStaged(f_.env, f_.repo_dir, "targets")),
            "staged targets has 0 of 1 required signatures");
  ASSERT_OK(ota::repo::SignStaged(f_.env, f_.repo_dir, "targets", f_.targets_key));
  ASSERT_OK(ota::repo::CommitStaged(f_.env, f_.repo_dir, "targets", online, f_.policy));
  EXPECT_EQ(f_.SignedOf("snapshot.json")["meta"]["rollouts.json"]["version"], 1);
  verifier::Updater updater(f_.env, f_.Options());
  ASSERT_OK(updater.Refresh());
  EXPECT_EQ(updater.GetTargetInfo("rollouts/none.json").error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace ota::tools
