// Hostile and unlucky conditions on a device, end to end on loopback: a
// mirror that sends more than the signed length, bytes that fail their hash
// after a clean or a resumed transfer, inspection commands during a
// confirmation window, file modes of the state folder, and a rollback to
// kept bytes that changed on disk.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "ota/agent/agent.h"
#include "ota/common/hash.h"
#include "repo_fixture.h"
#include "test_support.h"

namespace ota {
namespace {

using agent::UpdateOutcome;
using ota::testing::BinaryPath;
using ota::testing::CommandResult;
using ota::testing::ReadTestFile;
using ota::testing::RunCommand;
using ota::testing::WriteTestFile;

class DeviceDefencesTest : public ota::testing::RepoFixture {
 protected:
  static std::string Sha(const std::string& path) {
    auto sha = HashFileHex(path, HashAlgorithm::kSha256);
    EXPECT_TRUE(sha.ok());
    return sha.ok() ? *sha : "";
  }
  // Flips one byte of `path` at `offset` (from the end when negative).
  static void FlipByte(const std::string& path, long long offset) {
    std::string bytes = ReadTestFile(path);
    ASSERT_FALSE(bytes.empty());
    const std::size_t at = offset >= 0 ? static_cast<std::size_t>(offset)
                                       : bytes.size() - static_cast<std::size_t>(-offset);
    bytes[at] = static_cast<char>(bytes[at] ^ 0x5a);
    WriteTestFile(path, bytes);
  }
  static unsigned Mode(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }
  CommandResult RunAgent(std::vector<std::string> args) {
    std::vector<std::string> argv = {BinaryPath("ota-agent"), "--state-dir", dir_.Sub("device")};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  }
};

// A response one byte longer than the signed length is the transport's
// fault: the bytes are discarded and the next cycle downloads again; the
// signed release is not refused.
TEST_F(DeviceDefencesTest, OverlongDownloadIsRetriedNotRefused) {
  Publish("1.0.0", 1);
  StartServer({"--fault-extra-bytes", "1", "--fault-extra-count", "2"});
  Enroll();
  auto a = OpenAgent(/*attempts=*/2);
  ASSERT_NE(a, nullptr);
  UpdateOutcome first = UpdateOnce(*a);
  ASSERT_EQ(first.kind, UpdateOutcome::Kind::kDeferred)
      << (first.error ? first.error->ToString() : "");
  ASSERT_TRUE(first.error.has_value());
  EXPECT_EQ(first.error->code, ErrorCode::kRetryLater);
  UpdateOutcome second = UpdateOnce(*a);
  EXPECT_EQ(second.kind, UpdateOutcome::Kind::kUpdated)
      << (second.error ? second.error->ToString() : "");
  EXPECT_EQ(ActiveVersion(*a), "1.0.0");
}

// Bytes of the signed length from a clean start that fail their hash count
// against the artifact, but only the third such download refuses it.
TEST_F(DeviceDefencesTest, TamperedArtifactIsRefusedOnlyAfterThreeCleanDownloads) {
  Publish("1.0.0", 1);
  const std::string original = ReadTestFile(TargetFile("1.0.0"));
  FlipByte(TargetFile("1.0.0"), -10);
  StartServer();
  Enroll();
  auto a = OpenAgent();
  ASSERT_NE(a, nullptr);
  for (int i = 1; i <= 2; ++i) {
    UpdateOutcome o = UpdateOnce(*a);
    ASSERT_EQ(o.kind, UpdateOutcome::Kind::kDeferred) << i;
    ASSERT_TRUE(o.error.has_value());
    EXPECT_EQ(o.error->code, ErrorCode::kRetryLater);
    EXPECT_NE(o.error->message.find(std::to_string(i) + " of 3 complete downloads failed"),
              std::string::npos)
        << o.error->message;
  }
  UpdateOutcome third = UpdateOnce(*a);
  ASSERT_EQ(third.kind, UpdateOutcome::Kind::kFailed);
  ASSERT_TRUE(third.error.has_value());
  EXPECT_EQ(third.error->code, ErrorCode::kIntegrity);
  // Refused for good now: right bytes under the same digest are not fetched.
  WriteTestFile(TargetFile("1.0.0"), original);
  EXPECT_NE(UpdateOnce(*a).kind, UpdateOutcome::Kind::kUpdated);
  EXPECT_EQ(ActiveVersion(*a), "");
}

TEST_F(DeviceDefencesTest, ArtifactThatFailedOnceInstallsWhenTheBytesAreRight) {
  Publish("1.0.0", 1);
  const std::string original = ReadTestFile(TargetFile("1.0.0"));
  FlipByte(TargetFile("1.0.0"), -10);
  StartServer();
  Enroll();
  auto a = OpenAgent();
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(UpdateOnce(*a).kind, UpdateOutcome::Kind::kDeferred);
  WriteTestFile(TargetFile("1.0.0"), original);  // The mirror caught up.
  UpdateOutcome o = UpdateOnce(*a);
  EXPECT_EQ(o.kind, UpdateOutcome::Kind::kUpdated) << (o.error ? o.error->ToString() : "");
  EXPECT_EQ(ActiveVersion(*a), "1.0.0");
  EXPECT_TRUE(fs_->ListDir(dir_.Sub("device/downloads"))->empty());  // No marker left over.
}

// A resumed transfer hits a chunk that fails its check: it is fetched again
// and, when the server sends the same wrong bytes twice, the whole file is
// downloaded once more from byte 0, so that only a complete clean transfer
// failing the signed hash counts against the artifact.
TEST_F(DeviceDefencesTest, ABadChunkCountsOnlyAfterACleanCompleteDownload) {
  Publish("1.0.0", 1);
  const std::string original = ReadTestFile(TargetFile("1.0.0"));
  FlipByte(TargetFile("1.0.0"), -10);
  StartServer({"--fault-drop-after", "1000", "--fault-drop-count", "1"});
  Enroll();
  auto a = OpenAgent();
  ASSERT_NE(a, nullptr);
  UpdateOutcome first = UpdateOnce(*a);
  ASSERT_EQ(first.kind, UpdateOutcome::Kind::kDeferred)
      << (first.error ? first.error->ToString() : "");
  EXPECT_NE(first.error->message.find("1 of 3 complete downloads failed"), std::string::npos)
      << first.error->message;
  WriteTestFile(TargetFile("1.0.0"), original);
  UpdateOutcome second = UpdateOnce(*a);
  EXPECT_EQ(second.kind, UpdateOutcome::Kind::kUpdated)
      << (second.error ? second.error->ToString() : "");
}

// `status` (and the other inspection commands) during a confirmation window
// are not restarts of the updating process: running them more often than
// --confirm-max-restarts neither rolls back nor blocks the new version.
TEST_F(DeviceDefencesTest, StatusDuringConfirmationCountsNothing) {
  Publish("1.0.0", 1);
  StartServer();
  Enroll();
  ASSERT_EQ(RunAgent({"--confirm-window", "600", "update"}).exit_code, 0);
  Publish("1.1.0", 2);
  CommandResult second = RunAgent({"--confirm-window", "600", "update", "--json"});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  ASSERT_NE(second.out.find("\"confirming\""), std::string::npos) << second.out;
  for (int i = 0; i < 6; ++i) {
    ASSERT_EQ(RunAgent({"--confirm-max-restarts", "3", "status"}).exit_code, 0);
    ASSERT_EQ(RunAgent({"--confirm-max-restarts", "3", "audit"}).exit_code, 0);
    ASSERT_EQ(RunAgent({"--confirm-max-restarts", "3", "shadow-results"}).exit_code, 0);
  }
  CommandResult status = RunAgent({"status", "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  auto j = nlohmann::json::parse(status.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << status.out;
  EXPECT_EQ(j["models"][0]["active"]["version"], "1.1.0") << status.out;
  EXPECT_EQ(j["deployments"][0]["state"], "confirming") << status.out;
  EXPECT_EQ(status.out.find("rolling-back"), std::string::npos) << status.out;
  // The window then ends normally (here: closed at once) and 1.1.0 commits.
  ASSERT_EQ(RunAgent({"--confirm-window", "0", "update"}).exit_code, 0);
  status = RunAgent({"status", "--json"});
  j = nlohmann::json::parse(status.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << status.out;
  EXPECT_EQ(j["models"][0]["active"]["version"], "1.1.0") << status.out;
  EXPECT_EQ(j["deployments"][0]["state"], "committed") << status.out;
}

// Every folder under the state folder the agent made is 0750, every file
// 0640 (keys 0600), whatever the umask: apps of the agent's group read
// models, other users read nothing.
class StateFolderModesTest : public DeviceDefencesTest,
                             public ::testing::WithParamInterface<mode_t> {};

TEST_P(StateFolderModesTest, StateFolderIsPrivateToTheAgentAndItsGroup) {
  const mode_t previous = ::umask(GetParam());
  Publish("1.0.0", 1);
  StartServer();
  Enroll();
  auto a = OpenAgent();
  ASSERT_NE(a, nullptr);
  UpdateOutcome o = UpdateOnce(*a);
  ::umask(previous);
  ASSERT_EQ(o.kind, UpdateOutcome::Kind::kUpdated) << (o.error ? o.error->ToString() : "");
  const std::string state = dir_.Sub("device");
  EXPECT_EQ(Mode(state), 0750u);
  for (const char* dir : {"versions", "active", "downloads", "metadata"}) {
    EXPECT_EQ(Mode(state + "/" + dir), 0750u) << dir;
  }
  for (const char* key : {"device.key", "identity.key"}) {
    EXPECT_EQ(Mode(state + "/" + key), 0600u) << key;
  }
  for (const char* db : {"agent.db", "agent.db-wal", "agent.db-shm"}) {
    const std::string path = state + "/" + db;
    if (::access(path.c_str(), F_OK) == 0) {
      EXPECT_EQ(Mode(path), 0640u) << db;
    }
  }
  const std::string version = state + "/versions/" + Sha(TargetFile("1.0.0"));
  int files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(version)) {
    if (entry.is_directory()) {
      EXPECT_EQ(Mode(entry.path()), 0750u) << entry.path();
    } else {
      EXPECT_EQ(Mode(entry.path()), 0640u) << entry.path();
      ++files;
    }
  }
  EXPECT_EQ(Mode(version), 0750u);
  EXPECT_GE(files, 2);  // bundle.json and the model at least.
  EXPECT_EQ(Mode(version + "/model.gguf"), 0640u);
}

INSTANTIATE_TEST_SUITE_P(Umasks, StateFolderModesTest, ::testing::Values(022, 0));

// A rollback re-checks the kept version's files against its bundle.json
// first: one changed byte refuses it and the current version stays active.
TEST_F(DeviceDefencesTest, RollbackToCorruptedKeptVersionIsRefused) {
  Publish("1.0.0", 1);
  StartServer();
  Enroll();
  auto a = OpenAgent();
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(UpdateOnce(*a).kind, UpdateOutcome::Kind::kUpdated);
  Publish("1.1.0", 2);
  clock_.Advance(std::chrono::seconds(5));
  ASSERT_EQ(UpdateOnce(*a).kind, UpdateOutcome::Kind::kUpdated);
  ASSERT_EQ(ActiveVersion(*a), "1.1.0");
  const std::string kept_model =
      dir_.Sub("device/versions/" + Sha(TargetFile("1.0.0")) + "/model.gguf");
  const std::string original = ReadTestFile(kept_model);
  FlipByte(kept_model, 100);

  auto refused = a->RollBack("chat");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kIntegrity);
  EXPECT_NE(refused.error().message.find("model.gguf has SHA-256"), std::string::npos)
      << refused.error().message;
  EXPECT_EQ(ActiveVersion(*a), "1.1.0");

  WriteTestFile(kept_model, original);
  auto back = a->RollBack("chat");
  ASSERT_OK(back);
  EXPECT_EQ(ActiveVersion(*a), "1.0.0");
}

}  // namespace
}  // namespace ota
