// The agent's seams end to end against a real ota-server: every lock goes
// through the platform seam (Env::platform), and a full bundle is unpacked
// while it downloads, through the filesystem seam (D51, D52).
#include <atomic>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "in_memory_locks.h"
#include "ota/agent/agent.h"
#include "ota/agent/drain.h"
#include "ota/agent/leases.h"
#include "ota/common/env.h"
#include "ota/common/hash.h"
#include "repo_fixture.h"
#include "test_support.h"

namespace ota {
namespace {

using agent::Agent;
using agent::UpdateOutcome;
using nlohmann::json;
using ota::testing::ReadTestFile;

class AgentSeamsTest : public ota::testing::RepoFixture {};

// The agent takes every lock through the platform seam (Env::platform): on
// a platform whose locks the kernel never sees, the state folder's lock
// still keeps a second agent out, and an app's lease still defers a switch.
TEST_F(AgentSeamsTest, TheAgentLocksOnlyThroughThePlatformSeam) {
  Publish("1.0.0", 1);
  StartServer();
  Enroll();
  ota::testing::InMemoryLockPlatform locks;
  Env env = env_;
  env.platform = &locks;
  agent::AgentOptions options;
  options.state_dir = dir_.Sub("device");
  options.space_margin_bytes = 0;
  options.drain.policy = agent::DrainPolicy::kDefer;
  options.drain.deadline = std::chrono::milliseconds(100);
  options.confirm_window = confirm_window_;
  auto a = Agent::Open(env, options);
  ASSERT_OK(a);
  auto second = Agent::Open(env, options);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, ErrorCode::kRetryLater) << second.error().message;
  ASSERT_EQ(UpdateOnce(**a).kind, UpdateOutcome::Kind::kUpdated);

  agent::LeaseOptions lease_options;
  lease_options.state_dir = dir_.Sub("device");
  lease_options.platform = &locks;
  auto session = agent::LeaseManager::Open(lease_options).value()->Acquire("chat");
  ASSERT_OK(session);
  build_extra_ = {"--shadow-skip", "lock test: the switch is measured, not the candidate"};
  Publish("1.1.0", 2);
  clock_.Advance(std::chrono::seconds(5));
  UpdateOutcome deferred = UpdateOnce(**a);
  ASSERT_EQ(deferred.kind, UpdateOutcome::Kind::kDeferred);
  EXPECT_EQ(ActiveVersion(**a), "1.0.0");
  EXPECT_FALSE(*agent::IsHeld(DefaultPlatform(), dir_.Sub("device"), session->version_id()));
  EXPECT_TRUE(*agent::IsHeld(locks, dir_.Sub("device"), session->version_id()));
  session->Release();
  ASSERT_EQ(UpdateOnce(**a).kind, UpdateOutcome::Kind::kUpdated);
  EXPECT_EQ(ActiveVersion(**a), "1.1.0");
}

// Forwards to another filesystem, counting reads of download part files.
class PartReadCounter : public ForwardingFileSystem {
 public:
  explicit PartReadCounter(FileSystem& base) : ForwardingFileSystem(base) {}
  std::atomic<int> part_reads{0};

  Result<std::unique_ptr<ReadableFile>> OpenReadable(const std::string& path) override {
    Count(path);
    return base().OpenReadable(path);
  }
  Result<std::string> ReadFile(const std::string& path, std::uint64_t max_bytes) override {
    Count(path);
    return base().ReadFile(path, max_bytes);
  }

 private:
  void Count(const std::string& path) {
    if (path.size() > 5 && path.compare(path.size() - 5, 5, ".part") == 0) ++part_reads;
  }
};

// A full bundle downloaded in one clean transfer is unpacked as it arrives
// (D52): its part file is never read back. A resumed one is read back.
// The first target also lists its SHA-512, which the stream computes too.
TEST_F(AgentSeamsTest, AFullBundleIsUnpackedWhileItDownloads) {
  const std::string v1 = Publish("1.0.0", 1, {}, {"--sha512"});
  const json listed = json::parse(ReadTestFile(dir_.Sub("repo/metadata/targets.json")));
  ASSERT_EQ(listed["signed"]["targets"]["bundles/chat/1.0.0.otab"]["hashes"].size(), 2u);
  StartServer();
  Enroll();
  PartReadCounter counter(*fs_);
  Env env = env_;
  env.fs = &counter;
  auto a = Agent::Open(env, DeviceOptions());
  ASSERT_OK(a);
  UpdateOutcome first = UpdateOnce(**a);
  ASSERT_EQ(first.kind, UpdateOutcome::Kind::kUpdated)
      << (first.error ? first.error->ToString() : "");
  EXPECT_EQ(ActiveModelBytes(), ReadTestFile(v1));
  EXPECT_EQ(counter.part_reads.load(), 0);
  EXPECT_TRUE(fs_->ListDir(dir_.Sub("device/downloads"))->empty());
  auto versions = fs_->ListDir(dir_.Sub("device/versions"));
  ASSERT_OK(versions);
  for (const std::string& name : *versions) EXPECT_NE(name.rfind(".staging", 0), 0u) << name;

  // A part file left by an earlier run: verified and unpacked from disk.
  const std::string v2 = Publish("1.1.0", 2);
  const std::string target = TargetFile("1.1.0");
  const std::string half = ReadTestFile(target).substr(0, 1000);
  auto id = Sha256Hex(ReadTestFile(target));
  ota::testing::WriteTestFile(dir_.Sub("device/downloads/" + id + ".part"), half);
  UpdateOutcome second = UpdateOnce(**a);
  ASSERT_EQ(second.kind, UpdateOutcome::Kind::kUpdated)
      << (second.error ? second.error->ToString() : "");
  EXPECT_EQ(second.bytes_resumed, 1000u);
  EXPECT_EQ(ActiveModelBytes(), ReadTestFile(v2));
  EXPECT_GT(counter.part_reads.load(), 0);
}

}  // namespace
}  // namespace ota
