#include <nlohmann/json.hpp>

#include "ota/agent/daemon.h"
#include "ota/agent/supervisor.h"
#include "state_db.h"
#include "test_support.h"
#include "version_store.h"

namespace ota::agent {

std::vector<Migration> AgentMigrations();  // Generated from agent/migrations.

namespace {

using ota::testing::TempDir;

const std::string kIdA(64, 'a');
const std::string kIdB(64, 'b');
// The rest of an event body (canonical key order after "i").
constexpr char kEventTail[] = R"("time":"2026-12-06T15:00:00Z","type":"state"})";

TEST(VersionStoreTest, PromoteActivateAndSwitch) {
  TempDir dir;
  auto fs = MakePosixFileSystem();
  VersionStore store(*fs, dir.path());
  ASSERT_OK(store.Init());
  auto none = store.ActiveId("chat");
  ASSERT_OK(none);
  EXPECT_FALSE(none->has_value());

  for (const std::string& id : {kIdA, kIdB}) {
    ASSERT_OK(fs->CreateDirs(store.StagingDir(id)));
    ota::testing::WriteTestFile(store.StagingDir(id) + "/model.gguf", id);
    ASSERT_OK(store.PromoteStaging(id));
  }
  ASSERT_OK(store.Activate("chat", kIdA));
  EXPECT_EQ(*store.ActiveId("chat").value(), kIdA);
  ASSERT_OK(store.Activate("chat", kIdB));
  EXPECT_EQ(*store.ActiveId("chat").value(), kIdB);
  // Apps read through the pointer and see the new version's files.
  EXPECT_EQ(ota::testing::ReadTestFile(dir.path() + "/active/chat/model.gguf"), kIdB);
  auto ids = store.InstalledIds();
  ASSERT_OK(ids);
  EXPECT_EQ(ids->size(), 2u);
}

TEST(VersionStoreTest, InitRemovesInterruptedStaging) {
  TempDir dir;
  auto fs = MakePosixFileSystem();
  VersionStore store(*fs, dir.path());
  ASSERT_OK(store.Init());
  ASSERT_OK(fs->CreateDirs(store.StagingDir(kIdA)));
  ASSERT_OK(store.Init());
  EXPECT_FALSE(*fs->Exists(store.StagingDir(kIdA)));
  EXPECT_TRUE(store.InstalledIds()->empty());
}

TEST(VersionStoreTest, MalformedPointerIsRejected) {
  TempDir dir;
  auto fs = MakePosixFileSystem();
  VersionStore store(*fs, dir.path());
  ASSERT_OK(store.Init());
  ASSERT_OK(fs->CreateSymlink("/etc", dir.path() + "/active/chat"));
  auto active = store.ActiveId("chat");
  ASSERT_FALSE(active.ok());
  EXPECT_EQ(active.error().code, ErrorCode::kIntegrity);
}

TEST(VersionStoreTest, ModelNames) {
  EXPECT_TRUE(IsValidModelName("chat-small.v2"));
  EXPECT_FALSE(IsValidModelName(""));
  EXPECT_FALSE(IsValidModelName("../x"));
  EXPECT_FALSE(IsValidModelName("Chat"));
  EXPECT_FALSE(IsValidModelName("-x"));
  EXPECT_FALSE(IsValidModelName(std::string(65, 'a')));
}

TEST(StateDbTest, DeploymentStateAndEventsCommitTogether) {
  TempDir dir;
  auto db = StateDb::Open(dir.Sub("agent.db"));
  ASSERT_OK(db);
  DeploymentRow row;
  row.model = "chat";
  row.target_path = "bundles/chat/1.0.0.otab";
  row.version = "1.0.0";
  row.sha256 = kIdA;
  row.length = 10;
  row.target_json = "{}";
  row.state = State::kDownloading;
  auto id =
      (*db)->CreateDeployment(row, 100, {R"({"time":"2026-12-06T15:00:00Z","type":"state"})"});
  ASSERT_OK(id);
  ASSERT_OK((*db)->SaveState(*id, State::kVerifying, false, "", "", 101,
                             R"({"time":"2026-12-06T15:00:00Z","type":"state"})"));
  auto open = (*db)->OpenDeployment("chat");
  ASSERT_OK(open);
  ASSERT_TRUE(open->has_value());
  EXPECT_EQ((*open)->state, State::kVerifying);
  EXPECT_EQ((*open)->saves, 2);
  EXPECT_EQ(*(*db)->CountPendingEvents(), 2);

  ASSERT_OK((*db)->SaveState(*id, State::kFailed, true, "integrity", "bad hash", 102,
                             R"({"time":"2026-12-06T15:00:00Z","type":"state"})"));
  EXPECT_FALSE((*db)->OpenDeployment("chat")->has_value());
  auto recent = (*db)->RecentDeployments(5);
  ASSERT_OK(recent);
  EXPECT_EQ(recent->front().error_code, "integrity");
  EXPECT_EQ(recent->front().error, "bad hash");
}

TEST(StateDbTest, EventsDeliverInOrderAndSurviveReopen) {
  TempDir dir;
  {
    auto db = StateDb::Open(dir.Sub("agent.db"));
    ASSERT_OK(db);
    for (int i = 0; i < 5; ++i)
      ASSERT_OK((*db)->QueueEvent("{\"i\":" + std::to_string(i) + "," + kEventTail));
    auto pending = (*db)->PendingEvents(2);
    ASSERT_OK(pending);
    ASSERT_EQ(pending->size(), 2u);
    ASSERT_OK((*db)->MarkDelivered(pending->back().seq));
  }
  auto db = StateDb::Open(dir.Sub("agent.db"));
  ASSERT_OK(db);
  auto pending = (*db)->PendingEvents(10);
  ASSERT_OK(pending);
  ASSERT_EQ(pending->size(), 3u);
  EXPECT_EQ(pending->front().body, "{\"i\":2," + std::string(kEventTail));
  EXPECT_LT((*pending)[0].seq, (*pending)[1].seq);
}

TEST(StateDbTest, UnknownStateNameResumesAsRollback) {
  TempDir dir;
  auto db = StateDb::Open(dir.Sub("agent.db"));
  ASSERT_OK(db);
  DeploymentRow row;
  row.model = "chat";
  row.sha256 = kIdA;
  row.state = State::kSwitching;
  auto id = (*db)->CreateDeployment(row, 1, {std::string("{") + kEventTail});
  ASSERT_OK(id);
  // Simulate a state written by a newer build.
  auto raw = Database::Open(dir.Sub("agent.db"), AgentMigrations());
  ASSERT_OK(raw);
  ASSERT_OK((*raw)->Exec("UPDATE deployments SET state = 'teleporting'"));
  auto open = (*db)->OpenDeployment("chat");
  ASSERT_OK(open);
  EXPECT_EQ((*open)->state, State::kRollingBack);
}

class CountingRandom : public Random {
 public:
  explicit CountingRandom(std::uint64_t value) : value_(value) {}
  void Fill(std::span<std::uint8_t> out) override { std::fill(out.begin(), out.end(), 0); }
  std::uint64_t Uniform(std::uint64_t bound) override { return std::min(value_, bound - 1); }

 private:
  std::uint64_t value_;
};

TEST(DaemonTest, JitterStaysWithinBounds) {
  DaemonOptions o;
  o.interval = std::chrono::seconds(100);
  o.jitter = 0.2;
  CountingRandom low(0), mid(1'000'000), high(2'000'000);
  EXPECT_EQ(NextPollDelay(o, low).count(), 80'000);
  EXPECT_EQ(NextPollDelay(o, mid).count(), 100'000);
  EXPECT_EQ(NextPollDelay(o, high).count(), 120'000);
}

// ota-agentd's loop, driven by scripted checks and waits.
struct ScriptedSupervisor {
  std::vector<CheckEnd> ends;  // One per check, in order.
  std::vector<WakeReason> wakes;
  std::vector<std::int64_t> waits;
  std::vector<std::string> said;
  std::size_t next_end = 0, next_wake = 0;

  SupervisorResult Run(const SupervisorOptions& options) {
    CountingRandom mid(1'000'000);  // No jitter drawn: every wait is the interval.
    SupervisorSeams seams;
    seams.run_check = [this] { return ends.at(next_end++); };
    seams.wait = [this](std::chrono::milliseconds d) {
      waits.push_back(d.count());
      return wakes.at(next_wake++);
    };
    seams.say = [this](const std::string& line) { said.push_back(line); };
    return RunSupervisor(options, mid, seams);
  }
};

CheckEnd Exited(int code) {
  CheckEnd e;
  e.exit_code = code;
  return e;
}

TEST(SupervisorTest, ChecksEachIntervalAtOnceWhenAskedAndStopsWhenTold) {
  ScriptedSupervisor s;
  s.ends = {Exited(0), Exited(0), Exited(0)};
  s.wakes = {WakeReason::kElapsed, WakeReason::kCheckNow, WakeReason::kStop};
  SupervisorOptions o;
  o.interval = std::chrono::seconds(100);
  const SupervisorResult r = s.Run(o);
  EXPECT_EQ(r.checks, 3);
  EXPECT_FALSE(r.usage_error);
  EXPECT_EQ(s.waits, (std::vector<std::int64_t>{100'000, 100'000, 100'000}));
  EXPECT_EQ(s.said.front(), "check 1 done; next in 100 s");
}

TEST(SupervisorTest, FailedChecksRetrySoonerWithBackoffAndSuccessResetsIt) {
  ScriptedSupervisor s;
  CheckEnd killed;
  killed.signal = 9;
  s.ends = {killed, Exited(1), Exited(1), Exited(0), Exited(1)};
  s.wakes.assign(5, WakeReason::kElapsed);
  SupervisorOptions o;
  o.interval = std::chrono::seconds(3600);
  o.retry = std::chrono::seconds(30);
  o.max_checks = 5;
  EXPECT_EQ(s.Run(o).checks, 5);
  // The last check ends the run (max_checks), so four waits.
  EXPECT_EQ(s.waits, (std::vector<std::int64_t>{30'000, 60'000, 120'000, 3'600'000}));
  EXPECT_EQ(s.said[0], "check 1 failed (ended by signal 9); retry in 30 s");
  EXPECT_EQ(s.said[4], "check 5 failed (exit 1); retry in 30 s");
}

TEST(SupervisorTest, RefusedArgumentsAndStopsDuringACheckEndTheLoop) {
  ScriptedSupervisor refused;
  refused.ends = {Exited(2)};
  const SupervisorResult r = refused.Run(SupervisorOptions{});
  EXPECT_EQ(r.checks, 1);
  EXPECT_TRUE(r.usage_error);
  EXPECT_TRUE(refused.waits.empty());

  ScriptedSupervisor stopped;
  CheckEnd end = Exited(0);
  end.stopped = true;
  stopped.ends = {end};
  EXPECT_EQ(stopped.Run(SupervisorOptions{}).checks, 1);
  EXPECT_TRUE(stopped.waits.empty());
  EXPECT_EQ(stopped.said.back(), "check 1 stopped (exit 0)");
}

TEST(SupervisorTest, ACheckAskedForDuringACheckRunsRightAfterIt) {
  ScriptedSupervisor s;
  CheckEnd asked = Exited(0);
  asked.check_again = true;
  s.ends = {asked, Exited(0)};
  s.wakes = {WakeReason::kStop};
  EXPECT_EQ(s.Run(SupervisorOptions{}).checks, 2);
  // No wait between the two checks; the one wait after the second stops.
  EXPECT_EQ(s.waits.size(), 1u);
  EXPECT_EQ(s.said[0], "check 1 done; asked for again meanwhile, checking now");
  EXPECT_EQ(s.said[1], "check 2 done; next in 3600 s");
}

TEST(SupervisorTest, RetryDelayDoublesUpToTheNormalWait) {
  SupervisorOptions o;
  o.retry = std::chrono::seconds(30);
  const std::chrono::milliseconds normal(50'000);
  EXPECT_EQ(RetryDelay(o, 1, normal).count(), 30'000);
  EXPECT_EQ(RetryDelay(o, 2, normal).count(), 50'000);
  EXPECT_EQ(RetryDelay(o, 1'000'000, normal).count(), 50'000);
}

}  // namespace
}  // namespace ota::agent
