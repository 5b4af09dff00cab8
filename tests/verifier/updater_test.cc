// The Updater's normal paths against repositories written by tools/repo.
#include "ota/verifier/updater.h"

#include <gmock/gmock.h>

#include "ota/common/hash.h"
#include "repo_fixture.h"
#include "test_support.h"

namespace ota::verifier {
namespace {

using ota::testing::ReadTestFile;
using ota::testing::RepoFixture;
using ota::testing::WriteTestFile;
using ::testing::HasSubstr;

class UpdaterTest : public ::testing::TestWithParam<bool> {
 protected:
  bool consistent() const { return GetParam(); }
  RepoFixture f_;
};

TEST_P(UpdaterTest, InitialRefreshTrustsAndPersistsMetadata) {
  f_.InitRepo(consistent());
  f_.AddTarget("bundles/chat/1.0.0.otab", "model bytes", {{"kind", "bundle"}});
  Updater updater(f_.env, f_.Options());
  ASSERT_OK(updater.Refresh());
  ASSERT_NE(updater.targets(), nullptr);
  EXPECT_EQ(updater.targets()->version, 2u);
  for (const char* name : {"root.json", "timestamp.json", "snapshot.json", "targets.json"}) {
    EXPECT_EQ(ReadTestFile(f_.device_dir + "/" + name), f_.ReadMetadata(name)) << name;
  }
  auto info = updater.GetTargetInfo("bundles/chat/1.0.0.otab");
  ASSERT_OK(info);
  EXPECT_EQ(info->length, 11u);
  EXPECT_EQ(info->hashes.at("sha256"), Sha256Hex("model bytes"));
  EXPECT_EQ(info->custom["kind"], "bundle");
  EXPECT_EQ(updater.GetTargetInfo("bundles/other").error().code, ErrorCode::kNotFound);
}

TEST_P(UpdaterTest, RequestsVersionedNamesOnlyWithConsistentSnapshots) {
  f_.InitRepo(consistent());
  f_.AddTarget("a.bin", "a");
  Updater updater(f_.env, f_.Options());
  ASSERT_OK(updater.Refresh());
  EXPECT_TRUE(f_.http.WasRequested("metadata/2.root.json"));
  EXPECT_TRUE(f_.http.WasRequested("metadata/timestamp.json"));
  EXPECT_EQ(f_.http.WasRequested("metadata/2.snapshot.json"), consistent());
  EXPECT_EQ(f_.http.WasRequested("metadata/2.targets.json"), consistent());
  EXPECT_EQ(f_.http.WasRequested("metadata/snapshot.json"), !consistent());
  EXPECT_EQ(f_.http.WasRequested("metadata/targets.json"), !consistent());
}

TEST_P(UpdaterTest, TargetUrlServesTheFileThatVerifies) {
  f_.InitRepo(consistent());
  f_.AddTarget("bundles/chat/1.0.0.otab", "model bytes");
  Updater updater(f_.env, f_.Options());
  ASSERT_OK(updater.Refresh());
  auto info = updater.GetTargetInfo("bundles/chat/1.0.0.otab");
  ASSERT_OK(info);
  const std::string url = updater.TargetUrl("bundles/chat/1.0.0.otab", *info);
  const std::string expected_name =
      consistent() ? Sha256Hex("model bytes") + ".1.0.0.otab" : "1.0.0.otab";
  EXPECT_EQ(url, std::string(RepoFixture::kBaseUrl) + "targets/bundles/chat/" + expected_name);
  HttpRequest request;
  request.url = url;
  auto response = f_.http.Fetch(request);
  ASSERT_OK(response);
  ASSERT_EQ(response->status, 200);
  const std::string downloaded = f_.tmp.Sub("download");
  WriteTestFile(downloaded, response->body);
  EXPECT_OK(Updater::VerifyTargetFile(*info, downloaded, *f_.fs));
}

TEST_P(UpdaterTest, SecondRefreshReusesLocalSnapshotAndTargets) {
  f_.InitRepo(consistent());
  f_.AddTarget("a.bin", "a");
  Updater updater(f_.env, f_.Options());
  ASSERT_OK(updater.Refresh());
  f_.http.ClearRequests();
  ASSERT_OK(updater.Refresh());
  EXPECT_EQ(f_.http.requests(),
            (std::vector<std::string>{"metadata/2.root.json", "metadata/timestamp.json"}));
  ASSERT_NE(updater.targets(), nullptr);
  EXPECT_EQ(updater.targets()->targets.size(), 1u);
}

TEST_P(UpdaterTest, NewTargetsArePickedUp) {
  f_.InitRepo(consistent());
  Updater updater(f_.env, f_.Options());
  ASSERT_OK(updater.Refresh());
  EXPECT_TRUE(updater.targets()->targets.empty());
  f_.AddTarget("a.bin", "a");
  f_.AddTarget("b.bin", "b");
  ASSERT_OK(updater.Refresh());
  EXPECT_EQ(updater.targets()->version, 3u);
  EXPECT_OK(updater.GetTargetInfo("b.bin"));
}

TEST_P(UpdaterTest, EqualTimestampVersionKeepsTrustedCopy) {
  f_.InitRepo(consistent());
  Updater updater(f_.env, f_.Options());
  ASSERT_OK(updater.Refresh());
  const std::string trusted = ReadTestFile(f_.device_dir + "/timestamp.json");
  // Same version, different (validly signed) content: the trusted one stays.
  nlohmann::json ts = f_.SignedOf("timestamp.json");
  ts["expires"] = "2099-01-01T00:00:00Z";
  f_.WriteMetadata("timestamp.json", RepoFixture::Sign(ts, {&f_.timestamp_key}));
  ASSERT_OK(updater.Refresh());
  EXPECT_EQ(ReadTestFile(f_.device_dir + "/timestamp.json"), trusted);
}

INSTANTIATE_TEST_SUITE_P(Layouts, UpdaterTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Consistent" : "Plain"; });

TEST(UpdaterSetupTest, MissingTrustedRootIsNotFound) {
  RepoFixture f;
  f.InitRepo(false);
  auto options = f.Options();
  options.metadata_dir = f.tmp.Sub("empty");
  Updater updater(f.env, options);
  Status s = updater.Refresh();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(updater.targets(), nullptr);
  EXPECT_EQ(updater.GetTargetInfo("a").error().code, ErrorCode::kInvalidArgument);
}

TEST(UpdaterSetupTest, InitTrustedRootChecksSelfSignatureAndRefusesOverwrite) {
  RepoFixture f;
  f.InitRepo(false);
  const std::string root = f.ReadMetadata("1.root.json");
  Status again = InitTrustedRoot(*f.fs, f.device_dir, root);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kInvalidArgument);

  const std::string forged = RepoFixture::Sign(f.SignedOf("1.root.json"), {&f.targets_key});
  Status s = InitTrustedRoot(*f.fs, f.tmp.Sub("other"), forged);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kSecurity);
  EXPECT_THAT(s.error().message, HasSubstr("root has 0 of 1 required signatures"));
  EXPECT_EQ(InitTrustedRoot(*f.fs, f.tmp.Sub("other"), "{").error().code, ErrorCode::kIntegrity);
}

TEST(UpdaterSetupTest, ServerErrorsAreRetryLaterAndNameTheFile) {
  RepoFixture f;
  f.InitRepo(false);
  f.http.Override("metadata/timestamp.json", 503, "busy");
  Updater updater(f.env, f.Options());
  Status s = updater.Refresh();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kRetryLater);
  EXPECT_EQ(s.error().message, "downloading timestamp.json: HTTP 503");
  // A missing timestamp is not the end of a rotation chain: also retry later.
  f.http.Override("metadata/timestamp.json", 404, "");
  EXPECT_EQ(updater.Refresh().error().code, ErrorCode::kRetryLater);
}

TEST(UpdaterSetupTest, Forbidden403EndsRootRotationLike404) {
  RepoFixture f;
  f.InitRepo(false);
  f.http.Override("metadata/2.root.json", 403, "");
  Updater updater(f.env, f.Options());
  EXPECT_OK(updater.Refresh());
  f.http.Override("metadata/2.root.json", 500, "");
  Status s = updater.Refresh();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kRetryLater);
  EXPECT_THAT(s.error().message, HasSubstr("2.root.json"));
}

TEST(UpdaterSetupTest, TargetUrlPercentEncodesSegments) {
  RepoFixture f;
  f.InitRepo(false);
  f.AddTarget("models/my model+v1.gguf", "x");
  Updater updater(f.env, f.Options());
  ASSERT_OK(updater.Refresh());
  auto info = updater.GetTargetInfo("models/my model+v1.gguf");
  ASSERT_OK(info);
  EXPECT_EQ(updater.TargetUrl("models/my model+v1.gguf", *info),
            std::string(RepoFixture::kBaseUrl) + "targets/models/my%20model%2Bv1.gguf");
  EXPECT_EQ(PercentEncode("a/b c", false), "a%2Fb%20c");
}

TEST(UpdaterSetupTest, VerifyTargetFileChecksLengthThenHashes) {
  RepoFixture f;
  f.InitRepo(false);
  f.AddTarget("a.bin", "payload");
  Updater updater(f.env, f.Options());
  ASSERT_OK(updater.Refresh());
  auto info = updater.GetTargetInfo("a.bin");
  ASSERT_OK(info);
  const std::string path = f.tmp.Sub("dl");
  WriteTestFile(path, "payloaX");
  Status s = Updater::VerifyTargetFile(*info, path, *f.fs);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kIntegrity);
  EXPECT_THAT(s.error().message, HasSubstr("hash does not match"));
  WriteTestFile(path, "payload and more");
  s = Updater::VerifyTargetFile(*info, path, *f.fs);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kIntegrity);
  EXPECT_THAT(s.error().message, HasSubstr("16 bytes, the target lists 7"));
}

}  // namespace
}  // namespace ota::verifier
