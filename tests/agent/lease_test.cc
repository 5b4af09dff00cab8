// Session leases and drain: in-process and cross-process holders, both
// policies with their deadlines, the acquire bound during a switch, and
// removal of leased versions.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
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
using ota::testing::ManualClock;
using ota::testing::TempDir;
using testing::Exists;
using testing::Id;

// A ManualClock that runs a hook on every SleepFor: the test's way to make
// something happen "while the agent waits", without threads or sleeps.
class HookClock : public ManualClock {
 public:
  void SleepFor(std::chrono::milliseconds d) override {
    ++sleeps;
    Advance(d);
    if (on_sleep) on_sleep(sleeps);
  }
  int sleeps = 0;
  std::function<void(int)> on_sleep;
};

class LeaseFixture : public ::testing::Test {
 protected:
  // The platform under test: the kernel's flock unless a subclass says.
  virtual Platform& P() { return DefaultPlatform(); }

  void SetUp() override {
    testing::MakeStateDir(dir_.path());
    testing::InstallVersion(dir_.path(), Id('a'), "chat", "1.0.0");
    testing::InstallVersion(dir_.path(), Id('b'), "chat", "1.1.0");
    testing::PointAt(dir_.path(), "chat", Id('a'));
  }

  std::unique_ptr<LeaseManager> Manager(std::chrono::milliseconds bound = 200ms) {
    LeaseOptions o;
    o.state_dir = dir_.path();
    o.acquire_bound = bound;
    o.clock = &clock_;
    o.platform = &P();
    o.pause = [this](std::chrono::microseconds d) {
      ++pauses_;
      clock_.Advance(std::chrono::duration_cast<std::chrono::milliseconds>(d) + 1ms);
      if (on_pause_) on_pause_(pauses_);
    };
    auto m = LeaseManager::Open(o);
    EXPECT_TRUE(m.ok()) << m.error().ToString();
    return std::move(*m);
  }

  std::function<Status()> Switch(const std::string& id, int* calls = nullptr) {
    return [this, id, calls]() -> Status {
      if (calls) ++*calls;
      testing::PointAt(dir_.path(), "chat", id);
      return Ok();
    };
  }

  std::string Active() {
    auto m = Manager();
    return m->ActiveVersionId("chat").value().value();
  }

  TempDir dir_;
  HookClock clock_;
  int pauses_ = 0;
  std::function<void(int)> on_pause_;
};

// Every lease and drain rule holds on the kernel's flock and on a platform
// whose locks only the seam can see (so nothing takes a lock behind it).
class LeaseTest : public LeaseFixture, public ::testing::WithParamInterface<std::string> {
 protected:
  Platform& P() override {
    if (GetParam() == "InMemoryLocks") return in_memory_;
    return DefaultPlatform();
  }
  ota::testing::InMemoryLockPlatform in_memory_;
};

INSTANTIATE_TEST_SUITE_P(Platforms, LeaseTest, ::testing::Values("Flock", "InMemoryLocks"),
                         [](const auto& info) { return info.param; });

// A kernel lock's owner can be killed: only flock is tested across processes.
class CrossProcessLeaseTest : public LeaseFixture {};

TEST_P(LeaseTest, AcquireDescribesTheActiveBundle) {
  auto m = Manager();
  auto lease = m->Acquire("chat");
  ASSERT_OK(lease);
  EXPECT_TRUE(lease->held());
  EXPECT_EQ(lease->model(), "chat");
  EXPECT_EQ(lease->version_id(), Id('a'));
  EXPECT_EQ(lease->version(), "1.0.0");
  EXPECT_EQ(lease->model_path(), dir_.path() + "/versions/" + Id('a') + "/model.gguf");
  ASSERT_EQ(lease->files().size(), 2u);
  EXPECT_EQ(lease->files()[1].role, "prompt");
  EXPECT_EQ(lease->FilePath("prompts/chat.txt").value(),
            dir_.path() + "/versions/" + Id('a') + "/prompts/chat.txt");
  EXPECT_FALSE(lease->FilePath("nope.txt").has_value());
  EXPECT_EQ(ota::testing::ReadTestFile(lease->model_path()), "weights of 1.0.0");
}

TEST_P(LeaseTest, AcquireRejectsBadNamesAndMissingModels) {
  auto m = Manager();
  auto bad = m->Acquire("../etc");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  auto none = m->Acquire("other");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(LeaseManager::Open(LeaseOptions{dir_.path() + "/nope", {}, nullptr, {}}).ok());
}

TEST_P(LeaseTest, AcquireRefusesABundleOfAnotherModel) {
  testing::InstallVersion(dir_.path(), Id('c'), "other", "1.0.0");
  testing::PointAt(dir_.path(), "chat", Id('c'));
  auto lease = Manager()->Acquire("chat");
  ASSERT_FALSE(lease.ok());
  EXPECT_EQ(lease.error().code, ErrorCode::kIntegrity);
  EXPECT_FALSE(*IsHeld(P(), dir_.path(), Id('c')));  // The failed attempt holds nothing.
}

TEST_P(LeaseTest, HeldWhileAnyThreadHoldsALease) {
  auto m = Manager();
  EXPECT_FALSE(*IsHeld(P(), dir_.path(), Id('a')));
  std::vector<Lease> leases(4);
  std::vector<std::thread> threads;
  for (auto& slot : leases) {
    threads.emplace_back([&m, &slot] { slot = m->Acquire("chat").value(); });
  }
  for (auto& t : threads) t.join();
  for (std::size_t i = 0; i < leases.size(); ++i) {
    EXPECT_TRUE(*IsHeld(P(), dir_.path(), Id('a')));
    leases[i].Release();
    leases[i].Release();  // Idempotent.
  }
  EXPECT_FALSE(*IsHeld(P(), dir_.path(), Id('a')));
  EXPECT_FALSE(*IsHeld(P(), dir_.path(), Id('b')));
}

TEST_P(LeaseTest, MovedLeaseReleasesOnce) {
  auto m = Manager();
  Lease outer;
  {
    Lease inner = m->Acquire("chat").value();
    outer = std::move(inner);
    EXPECT_FALSE(inner.held());  // NOLINT: checking the moved-from state.
  }
  EXPECT_TRUE(*IsHeld(P(), dir_.path(), Id('a')));
  outer = Lease();
  EXPECT_FALSE(*IsHeld(P(), dir_.path(), Id('a')));
}

TEST_P(LeaseTest, RemovalRefusesLeasedVersions) {
  auto m = Manager();
  testing::PointAt(dir_.path(), "chat", Id('b'));
  testing::PointAt(dir_.path(), "chat", Id('a'));
  Lease lease = m->Acquire("chat").value();
  testing::PointAt(dir_.path(), "chat", Id('b'));
  int removals = 0;
  auto remove = [&]() -> Status {
    ++removals;
    std::filesystem::remove_all(dir_.path() + "/versions/" + Id('a'));
    return Ok();
  };
  auto refused = RemoveIfUnheld(P(), dir_.path(), Id('a'), remove);
  ASSERT_OK(refused);
  EXPECT_FALSE(*refused);
  EXPECT_EQ(removals, 0);
  EXPECT_TRUE(Exists(lease.model_path()));
  lease.Release();
  auto removed = RemoveIfUnheld(P(), dir_.path(), Id('a'), remove);
  ASSERT_OK(removed);
  EXPECT_TRUE(*removed);
  EXPECT_EQ(removals, 1);
  EXPECT_FALSE(Exists(dir_.path() + "/leases/" + Id('a') + ".lock"));
}

TEST_P(LeaseTest, SwitchNewFirstSwitchesAtOnceAndKeepsTheOldUntilReleased) {
  auto m = Manager();
  Lease old_lease = m->Acquire("chat").value();
  DrainOptions o{DrainPolicy::kSwitchNewFirst, 1000ms, 100ms};
  int calls = 0;
  auto report = ActivateWithDrain(dir_.path(), "chat", Id('a'), Id('b'), o, P(), clock_,
                                  Switch(Id('b'), &calls));
  ASSERT_OK(report);
  EXPECT_TRUE(report->switched);
  EXPECT_FALSE(report->old_released);
  EXPECT_GE(report->waited, 1000ms);
  EXPECT_EQ(calls, 1);
  // New sessions get the new version; the running one keeps its files.
  Lease new_lease = m->Acquire("chat").value();
  EXPECT_EQ(new_lease.version_id(), Id('b'));
  EXPECT_EQ(ota::testing::ReadTestFile(old_lease.model_path()), "weights of 1.0.0");
  EXPECT_TRUE(*IsHeld(P(), dir_.path(), Id('a')));
}

TEST_P(LeaseTest, SwitchNewFirstCompletesWhenOldSessionsEnd) {
  auto m = Manager();
  Lease old_lease = m->Acquire("chat").value();
  clock_.on_sleep = [&](int sleeps) {
    if (sleeps == 3) old_lease.Release();
  };
  DrainOptions o{DrainPolicy::kSwitchNewFirst, 30000ms, 100ms};
  auto report =
      ActivateWithDrain(dir_.path(), "chat", Id('a'), Id('b'), o, P(), clock_, Switch(Id('b')));
  ASSERT_OK(report);
  EXPECT_TRUE(report->switched);
  EXPECT_TRUE(report->old_released);
  EXPECT_EQ(report->waited, 300ms);
  EXPECT_EQ(Active(), Id('b'));
}

TEST_P(LeaseTest, DeferDoesNotSwitchWhileHeldPastTheDeadline) {
  auto m = Manager();
  Lease old_lease = m->Acquire("chat").value();
  DrainOptions o{DrainPolicy::kDefer, 500ms, 100ms};
  int calls = 0;
  auto report = ActivateWithDrain(dir_.path(), "chat", Id('a'), Id('b'), o, P(), clock_,
                                  Switch(Id('b'), &calls));
  ASSERT_OK(report);
  EXPECT_FALSE(report->switched);
  EXPECT_EQ(calls, 0);
  EXPECT_GE(report->waited, 500ms);
  EXPECT_EQ(Active(), Id('a'));
  // Sessions started during the drain still get the old version.
  Lease during = m->Acquire("chat").value();
  EXPECT_EQ(during.version_id(), Id('a'));
}

TEST_P(LeaseTest, DeferSwitchesOnceTheOldSessionsEnd) {
  auto m = Manager();
  Lease old_lease = m->Acquire("chat").value();
  clock_.on_sleep = [&](int sleeps) {
    if (sleeps == 2) old_lease.Release();
  };
  DrainOptions o{DrainPolicy::kDefer, 30000ms, 100ms};
  auto report =
      ActivateWithDrain(dir_.path(), "chat", Id('a'), Id('b'), o, P(), clock_, Switch(Id('b')));
  ASSERT_OK(report);
  EXPECT_TRUE(report->switched);
  EXPECT_EQ(report->waited, 200ms);
  EXPECT_EQ(Active(), Id('b'));
}

TEST_P(LeaseTest, FirstActivationNeedsNoDrain) {
  std::filesystem::remove(dir_.path() + "/active/chat");
  DrainOptions o{DrainPolicy::kDefer, 0ms, 100ms};
  auto report = ActivateWithDrain(dir_.path(), "chat", std::nullopt, Id('b'), o, P(), clock_,
                                  Switch(Id('b')));
  ASSERT_OK(report);
  EXPECT_TRUE(report->switched);
  EXPECT_EQ(Active(), Id('b'));
}

TEST_P(LeaseTest, SwitchErrorIsReturnedAndNothingStaysLocked) {
  DrainOptions o{DrainPolicy::kDefer, 0ms, 100ms};
  auto report = ActivateWithDrain(dir_.path(), "chat", Id('a'), Id('b'), o, P(), clock_,
                                  [] { return Status(MakeError(ErrorCode::kIo, "disk full")); });
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.error().message, "disk full");
  EXPECT_FALSE(*IsHeld(P(), dir_.path(), Id('a')));
  EXPECT_EQ(Manager()->Acquire("chat")->version_id(), Id('a'));
}

TEST_P(LeaseTest, AcquireDuringASwitchWaitsAtMostTheBound) {
  auto m = Manager(50ms);
  DrainOptions o{DrainPolicy::kDefer, 0ms, 100ms};
  std::optional<Result<Lease>> during;
  std::chrono::milliseconds waited{0};
  auto report = ActivateWithDrain(dir_.path(), "chat", Id('a'), Id('b'), o, P(), clock_, [&] {
    // A slow switch: the pointer still names the old version, which is
    // closed to new sessions until the switch ends.
    const auto start = clock_.Monotonic();
    during = m->Acquire("chat");
    waited = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Monotonic() - start);
    testing::PointAt(dir_.path(), "chat", Id('b'));
    return Ok();
  });
  ASSERT_OK(report);
  ASSERT_TRUE(during.has_value());
  ASSERT_FALSE(during->ok());
  EXPECT_EQ(during->error().code, ErrorCode::kRetryLater);
  EXPECT_GE(waited, 50ms);
  EXPECT_LT(waited, 60ms);
  EXPECT_EQ(m->Acquire("chat")->version_id(), Id('b'));
}

TEST_P(LeaseTest, AcquireDuringASwitchGetsTheNewVersion) {
  auto m = Manager(200ms);
  DrainOptions o{DrainPolicy::kDefer, 0ms, 100ms};
  std::optional<Result<Lease>> during;
  auto report = ActivateWithDrain(dir_.path(), "chat", Id('a'), Id('b'), o, P(), clock_, [&] {
    // The pointer moves while the Acquire waits.
    on_pause_ = [&](int pauses) {
      if (pauses == 3) testing::PointAt(dir_.path(), "chat", Id('b'));
    };
    during = m->Acquire("chat");
    return Ok();
  });
  ASSERT_OK(report);
  ASSERT_TRUE(during.has_value());
  ASSERT_OK(*during);
  EXPECT_EQ((*during)->version_id(), Id('b'));
}

TEST_P(LeaseTest, NeverLeasesAVersionBeingRemoved) {
  auto m = Manager(200ms);
  // The pointer names a version whose folder is being removed (a stale read
  // in a real race); the Acquire must wait and lease what the pointer names
  // next, never the removed one.
  auto removed = RemoveIfUnheld(P(), dir_.path(), Id('a'), [&]() -> Status {
    on_pause_ = [&](int pauses) {
      if (pauses == 2) testing::PointAt(dir_.path(), "chat", Id('b'));
    };
    auto lease = m->Acquire("chat");
    EXPECT_TRUE(lease.ok());
    if (lease.ok()) {
      EXPECT_EQ(lease->version_id(), Id('b'));
    }
    std::filesystem::remove_all(dir_.path() + "/versions/" + Id('a'));
    return Ok();
  });
  ASSERT_OK(removed);
  EXPECT_TRUE(*removed);
  // A pointer left at a removed folder is never leased either.
  testing::PointAt(dir_.path(), "chat", Id('a'));
  on_pause_ = nullptr;
  auto gone = m->Acquire("chat");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, ErrorCode::kRetryLater);
}

TEST_P(LeaseTest, SettingsFileSetsTheDefaultBound) {
  ASSERT_OK(PrepareLeaseFolder(dir_.path(), 750ms));
  LeaseOptions o;
  o.state_dir = dir_.path();
  EXPECT_EQ(LeaseManager::Open(o).value()->acquire_bound(), 750ms);
  EXPECT_FALSE(PrepareLeaseFolder(dir_.path(), 61000ms).ok());
  ota::testing::WriteTestFile(dir_.path() + "/leases/settings.json", "{\"acquire_bound_ms\": -5}");
  EXPECT_EQ(LeaseManager::Open(o).value()->acquire_bound(), kDefaultAcquireBound);
}

TEST(InMemoryLockPlatformTest, ItsLocksAreInvisibleToTheKernel) {
  // What makes the InMemoryLocks runs mean something: a lease taken through
  // it is held for the seam and unseen by flock.
  TempDir dir;
  testing::MakeStateDir(dir.path());
  testing::InstallVersion(dir.path(), Id('a'), "chat", "1.0.0");
  testing::PointAt(dir.path(), "chat", Id('a'));
  ota::testing::InMemoryLockPlatform in_memory;
  LeaseOptions o;
  o.state_dir = dir.path();
  o.platform = &in_memory;
  auto lease = LeaseManager::Open(o).value()->Acquire("chat");
  ASSERT_OK(lease);
  EXPECT_EQ(in_memory.locks_opened(), 1);
  EXPECT_TRUE(*IsHeld(in_memory, dir.path(), Id('a')));
  EXPECT_FALSE(*IsHeld(DefaultPlatform(), dir.path(), Id('a')));
}

TEST(DrainPolicyTest, Names) {
  EXPECT_EQ(ParseDrainPolicy("defer"), DrainPolicy::kDefer);
  EXPECT_EQ(ParseDrainPolicy("switch-new-first"), DrainPolicy::kSwitchNewFirst);
  EXPECT_FALSE(ParseDrainPolicy("later").has_value());
  EXPECT_EQ(DrainPolicyName(DrainPolicy::kDefer), "defer");
}

// A lease held by another process blocks a `defer` switch; killing that
// process (no chance to clean up) releases it, and activation proceeds.
TEST_F(CrossProcessLeaseTest, CrashedHolderInAnotherProcessReleasesItsLease) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(ready[0]);
    LeaseOptions o;
    o.state_dir = dir_.path();
    auto m = LeaseManager::Open(o);
    if (!m.ok()) ::_exit(1);
    auto lease = (*m)->Acquire("chat");
    if (!lease.ok()) ::_exit(2);
    const char byte = 'x';
    if (::write(ready[1], &byte, 1) != 1) ::_exit(3);
    while (true) ::pause();  // Holds the lease until killed.
  }
  ::close(ready[1]);
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  ::close(ready[0]);
  EXPECT_TRUE(*IsHeld(P(), dir_.path(), Id('a')));

  DrainOptions o{DrainPolicy::kDefer, 200ms, 100ms};
  auto deferred =
      ActivateWithDrain(dir_.path(), "chat", Id('a'), Id('b'), o, P(), clock_, Switch(Id('b')));
  ASSERT_OK(deferred);
  EXPECT_FALSE(deferred->switched);

  ASSERT_EQ(::kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_FALSE(*IsHeld(P(), dir_.path(), Id('a')));
  auto switched =
      ActivateWithDrain(dir_.path(), "chat", Id('a'), Id('b'), o, P(), clock_, Switch(Id('b')));
  ASSERT_OK(switched);
  EXPECT_TRUE(switched->switched);
  EXPECT_EQ(Active(), Id('b'));
}

}  // namespace
}  // namespace ota::agent
