// Repository writing (tools/repo) and what a client makes of the result.
#include "ota/repo/repo.h"

#include <gmock/gmock.h>

#include "ota/common/hash.h"
#include "ota/verifier/updater.h"
#include "repo_fixture.h"
#include "test_support.h"

namespace ota::tools {
namespace {

using ota::testing::ReadTestFile;
using ota::testing::RepoFixture;
using ota::testing::WriteTestFile;
using ::testing::HasSubstr;

std::uint64_t VersionOf(RepoFixture& f, const std::string& name) {
  return f.SignedOf(name)["version"].get<std::uint64_t>();
}

TEST(RepoInitTest, RefusesNonEmptyFolder) {
  RepoFixture f;
  WriteTestFile(f.repo_dir + "/stray.txt", "x");
  Status s = ota::repo::InitRepository(f.env, f.repo_dir, f.Keys(), false, f.policy);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(s.error().message, HasSubstr("not empty"));
}

TEST(RepoInitTest, RequiresAllFourKeys) {
  RepoFixture f;
  ota::repo::RepoKeys keys = f.Keys();
  keys.snapshot = nullptr;
  Status s = ota::repo::InitRepository(f.env, f.repo_dir, keys, false, f.policy);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "the snapshot key is required to initialize");
  EXPECT_FALSE(*f.fs->Exists(f.repo_dir + "/metadata"));
}

TEST(RepoInitTest, WritesVersionOneOfEveryRole) {
  for (bool consistent : {false, true}) {
    RepoFixture f;
    f.InitRepo(consistent);
    for (const char* name :
         {"root.json", "1.root.json", "targets.json", "snapshot.json", "timestamp.json"}) {
      EXPECT_TRUE(*f.fs->Exists(f.MetadataPath(name))) << name;
    }
    EXPECT_EQ(*f.fs->Exists(f.MetadataPath("1.targets.json")), consistent);
    EXPECT_EQ(*f.fs->Exists(f.MetadataPath("1.snapshot.json")), consistent);
    EXPECT_FALSE(*f.fs->Exists(f.MetadataPath("1.timestamp.json")));
    EXPECT_TRUE(*f.fs->Exists(f.repo_dir + "/targets"));
    auto st = ota::repo::LoadRepository(f.env, f.repo_dir);
    ASSERT_OK(st);
    EXPECT_EQ(st->root.consistent_snapshot, consistent);
    EXPECT_EQ(st->root.expires, f.clock.Now() + f.policy.root);
    EXPECT_EQ(st->timestamp.expires, f.clock.Now() + f.policy.timestamp);
    EXPECT_TRUE(st->targets.targets.empty());
    EXPECT_EQ(st->snapshot.meta.at("targets.json").version, 1u);
    EXPECT_EQ(st->timestamp.snapshot.hashes.at("sha256"),
              Sha256Hex(f.ReadMetadata("snapshot.json")));
  }
}

TEST(RepoTargetsTest, AddTargetBumpsVersionsAndCopiesTheFile) {
  RepoFixture f;
  f.InitRepo(false);
  f.AddTarget("bundles/chat/1.0.0.otab", "bundle one", {{"name", "chat"}});
  EXPECT_EQ(VersionOf(f, "targets.json"), 2u);
  EXPECT_EQ(VersionOf(f, "snapshot.json"), 2u);
  EXPECT_EQ(VersionOf(f, "timestamp.json"), 2u);
  EXPECT_EQ(ReadTestFile(f.repo_dir + "/targets/bundles/chat/1.0.0.otab"), "bundle one");
  auto st = ota::repo::LoadRepository(f.env, f.repo_dir);
  ASSERT_OK(st);
  const manifest::TargetFile& t = st->targets.targets.at("bundles/chat/1.0.0.otab");
  EXPECT_EQ(t.length, 10u);
  EXPECT_EQ(t.hashes.at("sha256"), Sha256Hex("bundle one"));
  // SHA-256 alone unless asked: devices compute every hash listed.
  EXPECT_EQ(t.hashes.count("sha512"), 0u);
  EXPECT_EQ(t.custom["name"], "chat");
}

TEST(RepoTargetsTest, Sha512IsListedWhenAskedAndKeptForTheSameContent) {
  RepoFixture f;
  f.InitRepo(false);
  const std::string source = f.tmp.Sub("one");
  WriteTestFile(source, "one");
  ota::repo::NewTarget both{"a.bin", source, nullptr};
  both.sha512 = true;
  ASSERT_OK(ota::repo::AddTargets(f.env, f.repo_dir, {both}, f.Keys(), f.policy));
  auto st = ota::repo::LoadRepository(f.env, f.repo_dir);
  ASSERT_OK(st);
  EXPECT_EQ(st->targets.targets.at("a.bin").hashes.at("sha512"), Sha512Hex("one"));
  EXPECT_EQ(VersionOf(f, "targets.json"), 2u);
  // The same content again, without asking: the target listed a sha512, so
  // it is computed to compare, and nothing changes.
  ASSERT_OK(ota::repo::AddTarget(f.env, f.repo_dir, "a.bin", source, nullptr, f.Keys(), f.policy));
  EXPECT_EQ(VersionOf(f, "targets.json"), 2u);
  st = ota::repo::LoadRepository(f.env, f.repo_dir);
  ASSERT_OK(st);
  EXPECT_EQ(st->targets.targets.at("a.bin").hashes.size(), 2u);
}

TEST(RepoTargetsTest, ConsistentSnapshotStoresHashPrefixedFiles) {
  RepoFixture f;
  f.InitRepo(true);
  f.AddTarget("bundles/a.otab", "content");
  EXPECT_EQ(ReadTestFile(f.repo_dir + "/targets/bundles/" + Sha256Hex("content") + ".a.otab"),
            "content");
  EXPECT_FALSE(*f.fs->Exists(f.repo_dir + "/targets/bundles/a.otab"));
  EXPECT_EQ(f.ReadMetadata("2.targets.json"), f.ReadMetadata("targets.json"));
  EXPECT_EQ(f.ReadMetadata("2.snapshot.json"), f.ReadMetadata("snapshot.json"));
}

TEST(RepoTargetsTest, SameContentIsANoOpDifferentContentNeedsReplace) {
  RepoFixture f;
  f.InitRepo(false);
  f.AddTarget("a.bin", "one");
  f.AddTarget("a.bin", "one");
  EXPECT_EQ(VersionOf(f, "targets.json"), 2u);

  const std::string source = f.tmp.Sub("two");
  WriteTestFile(source, "two");
  Status s = ota::repo::AddTarget(f.env, f.repo_dir, "a.bin", source, nullptr, f.Keys(), f.policy);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(ReadTestFile(f.repo_dir + "/targets/a.bin"), "one");
  EXPECT_EQ(VersionOf(f, "targets.json"), 2u);

  ASSERT_OK(ota::repo::AddTarget(f.env, f.repo_dir, "a.bin", source, nullptr, f.Keys(), f.policy,
                                 /*replace=*/true));
  EXPECT_EQ(VersionOf(f, "targets.json"), 3u);
  EXPECT_EQ(ReadTestFile(f.repo_dir + "/targets/a.bin"), "two");
}

TEST(RepoTargetsTest, NewCustomDataRepublishes) {
  RepoFixture f;
  f.InitRepo(false);
  f.AddTarget("a.bin", "one", {{"stage", 1}});
  f.AddTarget("a.bin", "one", {{"stage", 2}});
  EXPECT_EQ(VersionOf(f, "targets.json"), 3u);
  EXPECT_EQ(f.SignedOf("targets.json")["targets"]["a.bin"]["custom"]["stage"], 2);
}

TEST(RepoTargetsTest, RefusesUnsafeTargetPaths) {
  for (const char* path : {"", "/abs", "a/../b", "./a", "a//b", "a/", "..", "a\\b", "a\nb"}) {
    EXPECT_EQ(ota::repo::ValidateTargetPath(path).error().code, ErrorCode::kInvalidArgument)
        << path;
  }
  for (const char* path : {"a", "bundles/chat/1.0.0.otab", "x/.hidden", "a..b"}) {
    EXPECT_OK(ota::repo::ValidateTargetPath(path));
  }
  RepoFixture f;
  f.InitRepo(false);
  WriteTestFile(f.tmp.Sub("src"), "x");
  EXPECT_FALSE(ota::repo::AddTarget(f.env, f.repo_dir, "../escape", f.tmp.Sub("src"), nullptr,
                                    f.Keys(), f.policy)
                   .ok());
  EXPECT_FALSE(*f.fs->Exists(f.tmp.path() + "/escape"));
}

TEST(RepoTargetsTest, RefusesKeysRootDoesNotAuthorize) {
  RepoFixture f;
  f.InitRepo(false);
  ota::repo::RepoKeys keys = f.Keys();
  keys.targets = &f.snapshot_key;
  WriteTestFile(f.tmp.Sub("src"), "x");
  Status s =
      ota::repo::AddTarget(f.env, f.repo_dir, "a.bin", f.tmp.Sub("src"), nullptr, keys, f.policy);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(s.error().message,
            "key " + f.snapshot_key.keyid + " is not a targets key of root.json");
  EXPECT_EQ(VersionOf(f, "targets.json"), 1u);
}

TEST(RepoTargetsTest, RemoveTargetKeepsTheFile) {
  RepoFixture f;
  f.InitRepo(false);
  f.AddTarget("a.bin", "a");
  ASSERT_OK(ota::repo::RemoveTarget(f.env, f.repo_dir, "a.bin", f.Keys(), f.policy));
  EXPECT_TRUE(f.SignedOf("targets.json")["targets"].empty());
  EXPECT_TRUE(*f.fs->Exists(f.repo_dir + "/targets/a.bin"));
  EXPECT_EQ(ota::repo::RemoveTarget(f.env, f.repo_dir, "a.bin", f.Keys(), f.policy).error().code,
            ErrorCode::kNotFound);
}

TEST(RepoRefreshTest, TimestampAndSnapshotRefreshes) {
  RepoFixture f;
  f.InitRepo(false);
  f.clock.Advance(std::chrono::hours(12));
  ASSERT_OK(ota::repo::RefreshTimestamp(f.env, f.repo_dir,
                                        {nullptr, nullptr, nullptr, &f.timestamp_key}, f.policy));
  EXPECT_EQ(VersionOf(f, "timestamp.json"), 2u);
  EXPECT_EQ(VersionOf(f, "snapshot.json"), 1u);
  ASSERT_OK(ota::repo::RefreshSnapshot(f.env, f.repo_dir, f.Keys(), f.policy));
  EXPECT_EQ(VersionOf(f, "timestamp.json"), 3u);
  EXPECT_EQ(VersionOf(f, "snapshot.json"), 2u);
  EXPECT_EQ(VersionOf(f, "targets.json"), 1u);
  ASSERT_OK(ota::repo::ResignTargets(f.env, f.repo_dir, f.Keys(), f.policy));
  EXPECT_EQ(VersionOf(f, "targets.json"), 2u);
  EXPECT_EQ(
      ota::repo::RefreshTimestamp(f.env, f.repo_dir, ota::repo::RepoKeys{}, f.policy).error().code,
      ErrorCode::kInvalidArgument);
}

TEST(RepoClientTest, EveryStepVerifiesWithTheUpdater) {
  for (bool consistent : {false, true}) {
    RepoFixture f;
    f.InitRepo(consistent);
    verifier::Updater updater(f.env, f.Options());
    ASSERT_OK(updater.Refresh());
    f.AddTarget("bundles/chat/1.0.0.otab", "v1", {{"channel", "beta"}});
    ASSERT_OK(updater.Refresh());
    f.clock.Advance(std::chrono::hours(20));
    ASSERT_OK(ota::repo::RefreshTimestamp(f.env, f.repo_dir, f.Keys(), f.policy));
    ASSERT_OK(updater.Refresh());
    f.AddTarget("bundles/chat/1.1.0.otab", "v2");
    ASSERT_OK(ota::repo::RefreshSnapshot(f.env, f.repo_dir, f.Keys(), f.policy));
    ASSERT_OK(updater.Refresh());
    auto info = updater.GetTargetInfo("bundles/chat/1.0.0.otab");
    ASSERT_OK(info);
    EXPECT_EQ(info->custom["channel"], "beta");
    EXPECT_EQ(updater.targets()->targets.size(), 2u);
  }
}

}  // namespace
}  // namespace ota::tools
