// A power cut in the middle of an event append (or of storing a signed
// checkpoint) leaves a chain that verifies: the crash points of
// ota/common/crash_points.h kill a child process (this test binary, run
// again for one disabled test) at each database write and commit in turn.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "device_audit.h"
#include "ota/common/env.h"
#include "ota/manifest/tuf_metadata.h"
#include "ota/verifier/keys.h"
#include "state_db.h"
#include "test_support.h"

namespace ota::agent {
namespace {

constexpr char kCrashDirVariable[] = "OTA_TEST_AUDIT_CRASH_DIR";
constexpr int kCrashAppends = 3;

std::string CrashEventBody(int n) {
  return R"({"n":)" + std::to_string(n) + R"(,"time":"2026-12-06T15:00:00Z","type":"state"})";
}

// Run only by the test below, in a child process whose crash points are set.
TEST(AuditCrashChild, DISABLED_AppendsAndCheckpointsUntilKilled) {
  const char* dir = std::getenv(kCrashDirVariable);
  ASSERT_NE(dir, nullptr);
  auto db = StateDb::Open(std::string(dir) + "/agent.db");
  ASSERT_TRUE(db.ok());
  auto fs = MakePosixFileSystem();
  auto key = verifier::LoadPrivateKey(*fs, std::string(dir) + "/identity.key");
  ASSERT_TRUE(key.ok());
  for (int i = 0; i < kCrashAppends; ++i) {
    ASSERT_TRUE((*db)->QueueEvent(CrashEventBody(100 + i)).ok());
  }
  ota::testing::ManualClock clock;
  Env env;
  env.clock = &clock;
  env.fs = fs.get();
  ASSERT_TRUE(CheckpointAuditHead(env, **db, AuditSigner{"dev1", *key}, false).ok());
}

// The child's exit: killed by SIGKILL (true), or ran to its end.
bool RunCrashChild(const std::string& dir, int crash_at) {
  const pid_t child = ::fork();
  if (child == 0) {
    ::setenv(kCrashDirVariable, dir.c_str(), 1);
    ::setenv("OTA_CRASH_AT", std::to_string(crash_at).c_str(), 1);
    ::execl("/proc/self/exe", "audit-crash-child",
            "--gtest_filter=AuditCrashChild.DISABLED_AppendsAndCheckpointsUntilKilled",
            "--gtest_also_run_disabled_tests", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  EXPECT_EQ(::waitpid(child, &status, 0), child);
  if (WIFSIGNALED(status)) {
    EXPECT_EQ(WTERMSIG(status), SIGKILL);
    return true;
  }
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the child test failed";
  return false;
}

TEST(AuditCrashTest, AnAppendCutByAPowerLossLeavesAVerifiableChain) {
  auto fs = MakePosixFileSystem();
  auto random = MakeSecureRandom();
  auto key = verifier::GenerateEd25519Key(*random);
  ASSERT_TRUE(key.ok());
  // Each append is a write then a commit, the checkpoint one write.
  constexpr int kPoints = 2 * kCrashAppends + 1;
  for (int crash_at = 1; crash_at <= kPoints + 1; ++crash_at) {
    SCOPED_TRACE("killed at crash point " + std::to_string(crash_at));
    ota::testing::TempDir dir;
    ASSERT_TRUE(verifier::SavePrivateKey(*fs, dir.Sub("identity.key"), *key).ok());
    {
      auto db = StateDb::Open(dir.Sub("agent.db"));
      ASSERT_TRUE(db.ok());
      ASSERT_TRUE((*db)->SetSetting("device_id", "dev1").ok());
      for (int i = 0; i < 2; ++i) ASSERT_TRUE((*db)->QueueEvent(CrashEventBody(i)).ok());
    }
    EXPECT_EQ(RunCrashChild(dir.path(), crash_at), crash_at <= kPoints);

    auto db = StateDb::Open(dir.Sub("agent.db"));
    ASSERT_TRUE(db.ok());
    auto broken = (*db)->VerifyAuditChain(key->public_key);
    ASSERT_TRUE(broken.ok());
    EXPECT_FALSE(broken->has_value()) << (*broken)->message;
    // Whole appends only: the ones committed before the kill.
    auto events = (*db)->AllEvents();
    ASSERT_TRUE(events.ok());
    const int committed = std::min((crash_at - 1) / 2, kCrashAppends);
    EXPECT_EQ(events->size(), static_cast<std::size_t>(2 + committed));
    auto checkpoints = (*db)->Checkpoints();
    ASSERT_TRUE(checkpoints.ok());
    EXPECT_EQ(checkpoints->size(), crash_at > kPoints ? 1u : 0u);
    // The log goes on after the restart.
    ASSERT_TRUE((*db)->QueueEvent(CrashEventBody(999)).ok());
    broken = (*db)->VerifyAuditChain(key->public_key);
    ASSERT_TRUE(broken.ok());
    EXPECT_FALSE(broken->has_value()) << (*broken)->message;
  }
}

}  // namespace
}  // namespace ota::agent
