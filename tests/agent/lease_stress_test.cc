// Many threads acquire and release leases while the model switches between
// versions under both policies and unleased versions are removed and put
// back. Every lease must point at a complete version folder for as long as
// it is held. Built also under ThreadSanitizer (scripts/test --tsan).
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "in_memory_locks.h"
#include "lease_test_util.h"
#include "ota/agent/drain.h"
#include "ota/agent/leases.h"
#include "test_support.h"

namespace ota::agent {
namespace {

using namespace std::chrono_literals;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// On the kernel's flock and on the in-memory lock platform (whose own
// bookkeeping must be race-free too).
class LeaseStressTest : public ::testing::TestWithParam<std::string> {
 protected:
  Platform& P() {
    if (GetParam() == "InMemoryLocks") return in_memory_;
    return DefaultPlatform();
  }
  ota::testing::InMemoryLockPlatform in_memory_;
};

INSTANTIATE_TEST_SUITE_P(Platforms, LeaseStressTest, ::testing::Values("Flock", "InMemoryLocks"),
                         [](const auto& info) { return info.param; });

TEST_P(LeaseStressTest, ConcurrentAcquireDuringSwitchesAndRemovals) {
  ota::testing::TempDir dir;
  const std::string state = dir.path();
  testing::MakeStateDir(state);
  const std::vector<std::string> ids = {testing::Id('a'), testing::Id('b'), testing::Id('c')};
  const std::vector<std::string> versions = {"1.0.0", "1.1.0", "1.2.0"};
  for (std::size_t i = 0; i < ids.size(); ++i) {
    testing::InstallVersion(state, ids[i], "chat", versions[i]);
  }
  testing::PointAt(state, "chat", ids[0]);

  LeaseOptions options;
  options.state_dir = state;
  options.acquire_bound = 2000ms;
  options.platform = &P();
  auto manager = LeaseManager::Open(options);
  ASSERT_OK(manager);
  LeaseManager& m = **manager;

  constexpr int kThreads = 8;
  constexpr int kSwitches = 60;
  std::atomic<bool> stop{false};
  std::atomic<int> leases{0};
  std::atomic<int> retries{0};
  std::atomic<int> broken{0};
  std::vector<std::thread> holders;
  for (int t = 0; t < kThreads; ++t) {
    holders.emplace_back([&] {
      while (!stop.load()) {
        auto lease = m.Acquire("chat");
        if (!lease.ok()) {
          if (lease.error().code == ErrorCode::kRetryLater) {
            retries.fetch_add(1);
          } else {
            broken.fetch_add(1);
          }
          continue;
        }
        // The files must be complete and belong to the leased version for
        // the whole session.
        const std::string want = "weights of " + lease->version();
        if (ReadAll(lease->model_path()) != want) broken.fetch_add(1);
        std::this_thread::yield();
        if (ReadAll(lease->model_path()) != want) broken.fetch_add(1);
        leases.fetch_add(1);
      }
    });
  }

  auto clock = MakeSystemClock();
  std::size_t current = 0;
  int switched = 0;
  int removed = 0;
  for (int i = 0; i < kSwitches; ++i) {
    const std::size_t next = (current + 1) % ids.size();
    DrainOptions d;
    d.policy = i % 2 == 0 ? DrainPolicy::kDefer : DrainPolicy::kSwitchNewFirst;
    d.deadline = 20ms;
    d.poll = 1ms;
    // A version removed earlier comes back before it is activated again.
    if (!testing::Exists(state + "/versions/" + ids[next])) {
      testing::InstallVersion(state, ids[next], "chat", versions[next]);
    }
    auto report = ActivateWithDrain(state, "chat", ids[current], ids[next], d, P(), *clock, [&] {
      testing::PointAt(state, "chat", ids[next]);
      return Ok();
    });
    ASSERT_OK(report);
    if (!report->switched) continue;  // Deferred: still busy, try the next round.
    ++switched;
    // Remove the version two steps back if nobody holds it.
    const std::size_t old = (next + 1) % ids.size();
    auto gone = RemoveIfUnheld(P(), state, ids[old], [&]() -> Status {
      std::filesystem::remove_all(state + "/versions/" + ids[old]);
      return Ok();
    });
    ASSERT_OK(gone);
    if (*gone) ++removed;
    current = next;
  }
  stop.store(true);
  for (auto& t : holders) t.join();
  EXPECT_EQ(broken.load(), 0);
  EXPECT_GT(leases.load(), kThreads);
  // The table is only a test if the model did switch and versions did go.
  EXPECT_GT(switched, 0);
  EXPECT_GT(removed, 0);
  RecordProperty("leases", leases.load());
  RecordProperty("switched", switched);
  RecordProperty("removed", removed);
  RecordProperty("retries", retries.load());
}

}  // namespace
}  // namespace ota::agent
