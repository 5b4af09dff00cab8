// ota-tuf-client: argument handling, and the built binary against a
// repository served by ota-server over loopback.
#include <gmock/gmock.h>

#include <filesystem>
#include <memory>

#include "args.h"
#include "client.h"
#include "ota/common/hash.h"
#include "repo_fixture.h"
#include "test_support.h"

namespace ota::tuf_client {
namespace {

using ota::testing::BinaryPath;
using ota::testing::ChildProcess;
using ota::testing::CommandResult;
using ota::testing::ReadTestFile;
using ota::testing::RepoFixture;
using ota::testing::RunCommand;
using ota::testing::TempDir;
using ota::testing::WriteTestFile;
using ::testing::HasSubstr;

TEST(TufClientArgsTest, OptionsInAnyOrderAndBothForms) {
  auto args = ParseArgs({"--target-dir=/t", "--metadata-url", "http://m", "--target-name", "a",
                         "--metadata-dir", "/m", "--target-base-url", "http://t",
                         "--target-name=b/c", "download"});
  ASSERT_OK(args);
  EXPECT_EQ(args->command, Command::kDownload);
  EXPECT_EQ(args->metadata_dir, "/m");
  EXPECT_EQ(args->metadata_url, "http://m");
  EXPECT_EQ(args->target_dir, "/t");
  EXPECT_EQ(args->target_base_url, "http://t");
  EXPECT_EQ(args->target_names, (std::vector<std::string>{"a", "b/c"}));
  auto init = ParseArgs({"--metadata-dir", "/m", "init", "root.json"});
  ASSERT_OK(init);
  EXPECT_EQ(init->command, Command::kInit);
  EXPECT_EQ(init->trusted_root, "root.json");
  EXPECT_EQ(ParseArgs({"--help"})->command, Command::kHelp);
  auto tls = ParseArgs({"--metadata-dir", "/m", "--metadata-url", "https://m", "--ca-bundle",
                        "ca.pem", "--pin-sha256", "p1", "--pin-sha256=p2", "refresh"});
  ASSERT_OK(tls);
  EXPECT_EQ(tls->ca_bundle, "ca.pem");
  EXPECT_EQ(tls->pins, (std::vector<std::string>{"p1", "p2"}));
}

TEST(TufClientArgsTest, Rejections) {
  const std::vector<std::vector<std::string>> bad = {
      {},
      {"--help", "refresh"},
      {"--metadata-dir", "/m", "refresh"},
      {"--metadata-url", "http://m", "refresh"},
      {"--metadata-dir", "/m", "--metadata-url", "http://m", "refresh", "extra"},
      {"--metadata-dir", "/m", "--metadata-dir", "/n", "--metadata-url", "u", "refresh"},
      {"--metadata-dir", "/m", "--metadata-url", "u", "--target-dir", "/t", "refresh"},
      {"--metadata-dir", "/m", "--metadata-url", "u", "--bogus", "x", "refresh"},
      {"--metadata-dir", "/m", "init"},
      {"--metadata-dir", "/m", "--metadata-url"},
      {"--metadata-dir=", "init", "r"},
      {"--metadata-dir", "/m", "--metadata-url", "u", "--target-dir", "/t", "--target-base-url",
       "t", "download"},
      {"--metadata-dir", "/m", "update"},
      {"--metadata-dir", "/m", "--ca-bundle", "ca.pem", "init", "r"},
      {"--metadata-dir", "/m", "--metadata-url", "u", "--ca-bundle", "a", "--ca-bundle", "b",
       "refresh"},
  };
  for (const auto& argv : bad) {
    auto args = ParseArgs(argv);
    EXPECT_FALSE(args.ok()) << ::testing::PrintToString(argv);
    if (!args.ok()) {
      EXPECT_EQ(args.error().code, ErrorCode::kInvalidArgument);
    }
  }
}

TEST(TufClientArgsTest, TargetFileNameIsOneSafeName) {
  EXPECT_EQ(TargetFileName("file.txt"), "file.txt");
  EXPECT_EQ(TargetFileName("dir/file.txt"), "dir%2Ffile.txt");
  EXPECT_EQ(TargetFileName("a b?"), "a%20b%3F");
  EXPECT_EQ(TargetFileName(".."), "%2E.");
  EXPECT_EQ(TargetFileName("."), "%2E");
  EXPECT_EQ(TargetFileName("../x"), "%2E.%2Fx");
  EXPECT_EQ(TargetFileName(".hidden"), "%2Ehidden");
}

class TufClientBinaryTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    // Metadata expiry is checked against the real clock by the binary.
    f_.clock.Set(std::chrono::system_clock::now());
    f_.InitRepo(GetParam());
    f_.AddTarget("file.txt", "plain target");
    f_.AddTarget("models/chat v1.gguf", "model weights");
    server_ = std::make_unique<ChildProcess>();
    const std::string line =
        server_->Start({BinaryPath("ota-server"), "--repo", f_.repo_dir, "--port", "0", "--db",
                        tmp_.Sub("server.db"), "--quiet"});
    const auto at = line.find("http://127.0.0.1:");
    ASSERT_NE(at, std::string::npos) << "server did not start: " << line;
    url_ = line.substr(at);
    WriteTestFile(tmp_.Sub("initial_root.json"), f_.ReadMetadata("1.root.json"));
  }

  CommandResult Client(std::vector<std::string> args) {
    args.insert(args.begin(), BinaryPath("ota-tuf-client"));
    return RunCommand(args);
  }
  CommandResult Init() {
    return Client({"--metadata-dir", metadata_dir_, "init", tmp_.Sub("initial_root.json")});
  }
  CommandResult Refresh() {
    return Client(
        {"--metadata-url", url_ + "/repo/metadata", "--metadata-dir", metadata_dir_, "refresh"});
  }
  CommandResult Download(const std::vector<std::string>& targets) {
    std::vector<std::string> args = {"--metadata-url",    url_ + "/repo/metadata", "--metadata-dir",
                                     metadata_dir_,       "--target-dir",          target_dir_,
                                     "--target-base-url", url_ + "/repo/targets"};
    for (const std::string& t : targets) {
      args.push_back("--target-name");
      args.push_back(t);
    }
    args.push_back("download");
    return Client(args);
  }
  std::vector<std::string> TargetDirNames() {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(target_dir_)) {
      names.push_back(e.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }
  std::string RepoTargetPath(const std::string& target_path, const std::string& content) {
    if (!GetParam()) return f_.repo_dir + "/targets/" + target_path;
    const auto slash = target_path.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "" : target_path.substr(0, slash + 1);
    const std::string name = target_path.substr(slash == std::string::npos ? 0 : slash + 1);
    return f_.repo_dir + "/targets/" + dir + Sha256Hex(content) + "." + name;
  }

  RepoFixture f_;
  TempDir tmp_;
  std::unique_ptr<ChildProcess> server_;
  std::string url_;
  std::string metadata_dir_ = tmp_.Sub("client/metadata");
  std::string target_dir_ = tmp_.Sub("client/targets");
};

TEST_P(TufClientBinaryTest, InitRefreshDownload) {
  const CommandResult init = Init();
  ASSERT_EQ(init.exit_code, 0) << init.err;
  EXPECT_EQ(ReadTestFile(metadata_dir_ + "/root.json"), f_.ReadMetadata("1.root.json"));
  const CommandResult refresh = Refresh();
  ASSERT_EQ(refresh.exit_code, 0) << refresh.err;
  for (const char* name : {"root.json", "timestamp.json", "snapshot.json", "targets.json"}) {
    EXPECT_EQ(ReadTestFile(metadata_dir_ + "/" + name), f_.ReadMetadata(name)) << name;
  }
  const CommandResult download = Download({"file.txt", "models/chat v1.gguf"});
  ASSERT_EQ(download.exit_code, 0) << download.err;
  EXPECT_EQ(TargetDirNames(), (std::vector<std::string>{"file.txt", "models%2Fchat%20v1.gguf"}));
  EXPECT_EQ(ReadTestFile(target_dir_ + "/file.txt"), "plain target");
  EXPECT_EQ(ReadTestFile(target_dir_ + "/models%2Fchat%20v1.gguf"), "model weights");
}

TEST_P(TufClientBinaryTest, VerifiedLocalCopyIsNotDownloadedAgain) {
  ASSERT_EQ(Init().exit_code, 0);
  ASSERT_EQ(Download({"file.txt"}).exit_code, 0);
  // With the repository copy gone, only the local copy can satisfy this.
  std::filesystem::remove(RepoTargetPath("file.txt", "plain target"));
  const CommandResult again = Download({"file.txt"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  // A local copy that no longer verifies must be fetched again, which fails.
  WriteTestFile(target_dir_ + "/file.txt", "plain targeT");
  EXPECT_EQ(Download({"file.txt"}).exit_code, 1);
}

TEST_P(TufClientBinaryTest, TamperedTargetIsRejectedAndLeavesNoFile) {
  ASSERT_EQ(Init().exit_code, 0);
  WriteTestFile(RepoTargetPath("file.txt", "plain target"), "plain targeT");
  const CommandResult download = Download({"file.txt"});
  EXPECT_EQ(download.exit_code, 1);
  EXPECT_THAT(download.err, HasSubstr("hash does not match"));
  EXPECT_TRUE(TargetDirNames().empty());
  // Endless data: more bytes than signed are cut off at the signed length.
  WriteTestFile(RepoTargetPath("file.txt", "plain target"), "plain target and more");
  EXPECT_EQ(Download({"file.txt"}).exit_code, 1);
  EXPECT_TRUE(TargetDirNames().empty());
}

TEST_P(TufClientBinaryTest, ExitCodes) {
  // Each failure exits 1 and says why on stderr.
  auto fails_with = [](const CommandResult& r, const std::string& reason) {
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_THAT(r.err, HasSubstr(reason));
  };
  fails_with(Client({}), "no command given (init, refresh or download)");
  EXPECT_EQ(Client({"--help"}).exit_code, 0);
  fails_with(Client({"--help", "refresh"}), "unknown option --help");
  fails_with(Client({"--bogus"}), "unknown option --bogus");
  fails_with(Client({"--metadata-dir", metadata_dir_, "init"}), "init takes exactly one ROOT_FILE");
  // Missing trusted root file, then a file that is not root metadata.
  fails_with(Client({"--metadata-dir", metadata_dir_, "init", tmp_.Sub("missing.json")}),
             "not-found: cannot open " + tmp_.Sub("missing.json"));
  WriteTestFile(tmp_.Sub("not_root.json"), f_.ReadMetadata("timestamp.json"));
  fails_with(Client({"--metadata-dir", metadata_dir_, "init", tmp_.Sub("not_root.json")}),
             "is timestamp metadata, not root");
  // Refresh and download without a trusted root.
  fails_with(Refresh(), "not-found: no trusted root.json in " + metadata_dir_);
  fails_with(Download({"file.txt"}), "not-found: no trusted root.json in " + metadata_dir_);
  ASSERT_EQ(Init().exit_code, 0);
  EXPECT_EQ(Refresh().exit_code, 0);
  fails_with(Download({"no/such/target"}), "no/such/target");
  // Unreachable repository.
  fails_with(Client({"--metadata-url", "http://127.0.0.1:1/repo/metadata", "--metadata-dir",
                     metadata_dir_, "refresh"}),
             "retry-later");
}

INSTANTIATE_TEST_SUITE_P(ConsistentSnapshot, TufClientBinaryTest, ::testing::Bool());

}  // namespace
}  // namespace ota::tuf_client
