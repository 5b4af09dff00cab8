// The confirmation window after an activation, end to end on loopback: the
// app's session reports (SessionLog, stamped by the test's manual clock)
// commit or roll back the new version; restarts while confirming count as a
// crash loop; a rollback that keeps failing ends after a bounded number of
// attempts; the daemon re-checks an open window without busy-looping.
#include <nlohmann/json.hpp>

#include "ota/agent/agent.h"
#include "ota/agent/daemon.h"
#include "ota/agent/sessions.h"
#include "ota/common/dropping_fs.h"
#include "ota/common/hash.h"
#include "repo_fixture.h"
#include "test_support.h"

namespace ota {
namespace {

using agent::Agent;
using agent::UpdateOutcome;
using ota::testing::ReadTestFile;

class ConfirmationTest : public ota::testing::RepoFixture {
 protected:
  // 1.0.0 installed with a 60 s confirmation window, 1.1.0 published, 5 s on.
  void InstallFirstPublishSecond() {
    confirm_window_ = std::chrono::seconds(60);
    Publish("1.0.0", 1);
    StartServer();
    Enroll();
    agent_ = OpenAgent();
    ASSERT_NE(agent_, nullptr);
    ASSERT_EQ(UpdateOnce(*agent_).kind, UpdateOutcome::Kind::kUpdated);
    Publish("1.1.0", 2);
    clock_.Advance(std::chrono::seconds(5));
  }

  static agent::DaemonOptions HourlyDaemonPollingEvery30s() {
    agent::DaemonOptions d;
    d.interval = std::chrono::seconds(3600);
    d.jitter = 0;
    d.confirm_poll = std::chrono::seconds(30);
    return d;
  }

  // 1.0.0 installed (a first install commits at once), then 1.1.0 published
  // and activated: the deployment waits in confirming.
  void InstallThenActivateSecond() {
    confirm_window_ = std::chrono::seconds(600);
    Publish("1.0.0", 1);
    StartServer();
    Enroll();
    agent_ = OpenAgent();
    ASSERT_NE(agent_, nullptr);
    UpdateOutcome first = UpdateOnce(*agent_);
    ASSERT_EQ(first.kind, UpdateOutcome::Kind::kUpdated)
        << (first.error ? first.error->ToString() : "");
    v1_bytes_ = ActiveModelBytes();
    v1_ = Sha(TargetFile("1.0.0"));
    Publish("1.1.0", 2);
    v2_ = Sha(TargetFile("1.1.0"));
    clock_.Advance(std::chrono::seconds(5));  // Installed later than 1.0.0.
    auto outcomes = agent_->Update(nullptr);
    ASSERT_OK(outcomes);
    ASSERT_EQ(outcomes->size(), 1u);
    UpdateOutcome second = (*outcomes)[0];
    ASSERT_EQ(second.kind, UpdateOutcome::Kind::kDeferred)
        << (second.error ? second.error->ToString() : "");
    ASSERT_TRUE(second.confirming);
    ASSERT_TRUE(second.error.has_value());
    EXPECT_EQ(second.error->code, ErrorCode::kRetryLater);
    EXPECT_NE(second.error->message.find("0 of 3 sessions ok, 0 failed; window ends in 600 s"),
              std::string::npos)
        << second.error->message;
    // The new version serves while it is confirmed.
    ASSERT_EQ(ActiveVersion(*agent_), "1.1.0");
    auto sessions = agent::SessionLog::Open(dir_.Sub("device"), &clock_);
    ASSERT_OK(sessions);
    sessions_ = std::move(*sessions);
  }

  std::string Sha(const std::string& path) {
    auto sha = HashFileHex(path, HashAlgorithm::kSha256);
    EXPECT_TRUE(sha.ok());
    return sha.ok() ? *sha : "";
  }

  void Report(bool ok, const std::string& message = "") {
    ASSERT_OK(sessions_->Report(v2_, ok, message));
  }

  UpdateOutcome ResumeOnce() {
    auto outcomes = agent_->Resume();
    EXPECT_TRUE(outcomes.ok()) << outcomes.error().ToString();
    if (!outcomes.ok() || outcomes->empty()) return UpdateOutcome{};
    return outcomes->back();
  }

  std::string LatestDeploymentState() {
    auto status = agent_->GetStatus();
    if (!status.ok() || status->recent_deployments.empty()) return "(none)";
    return status->recent_deployments[0].state;
  }

  // Bodies of the audit log's events of `type`.
  std::vector<nlohmann::json> Events(const std::string& type) {
    std::vector<nlohmann::json> out;
    auto audit = agent_->Audit();
    EXPECT_TRUE(audit.ok());
    if (!audit.ok()) return out;
    EXPECT_TRUE(audit->intact) << audit->problem;
    for (const agent::AuditEntry& e : audit->entries) {
      auto body = nlohmann::json::parse(e.body, nullptr, false);
      if (body.is_object() && body.value("type", "") == type) out.push_back(body);
    }
    return out;
  }

  std::unique_ptr<Agent> agent_;
  std::unique_ptr<agent::SessionLog> sessions_;
  std::string v1_, v2_, v1_bytes_;
};

TEST_F(ConfirmationTest, EnoughSuccessfulSessionsCommitTheNewVersion) {
  ASSERT_NO_FATAL_FAILURE(InstallThenActivateSecond());
  Report(true);
  Report(true);
  auto cycle = agent_->Update(nullptr);
  ASSERT_OK(cycle);
  ASSERT_EQ(cycle->size(), 1u);  // One check of the window per cycle.
  EXPECT_TRUE((*cycle)[0].confirming);
  EXPECT_EQ(LatestDeploymentState(), "confirming");
  Report(true);
  UpdateOutcome done = ResumeOnce();
  ASSERT_EQ(done.kind, UpdateOutcome::Kind::kUpdated) << (done.error ? done.error->ToString() : "");
  EXPECT_FALSE(done.confirming);
  EXPECT_EQ(LatestDeploymentState(), "committed");
  EXPECT_EQ(ActiveVersion(*agent_), "1.1.0");
  auto confirmed = Events("confirmed");
  ASSERT_EQ(confirmed.size(), 2u);  // 1.0.0 at once, then 1.1.0.
  EXPECT_EQ(confirmed[1]["reason"], "sessions");
  EXPECT_EQ(confirmed[1]["sessions_ok"], 3);
  EXPECT_EQ(Events("confirmation-started").size(), 1u);
  // Reported to the server too.
  EXPECT_EQ(UpdateOnce(*agent_).kind, UpdateOutcome::Kind::kUpToDate);
  bool server_saw = false;
  for (const nlohmann::json& e : ServerEvents(*agent_)) {
    server_saw |= e.value("type", "") == "confirmed" && e.value("version", "") == "1.1.0";
  }
  EXPECT_TRUE(server_saw);
}

TEST_F(ConfirmationTest, AQuietWindowCommitsTheNewVersion) {
  ASSERT_NO_FATAL_FAILURE(InstallThenActivateSecond());
  Report(true);
  clock_.Advance(std::chrono::seconds(599));
  EXPECT_TRUE(ResumeOnce().confirming);
  clock_.Advance(std::chrono::seconds(1));
  UpdateOutcome done = ResumeOnce();
  ASSERT_EQ(done.kind, UpdateOutcome::Kind::kUpdated) << (done.error ? done.error->ToString() : "");
  EXPECT_EQ(LatestDeploymentState(), "committed");
  auto confirmed = Events("confirmed");
  ASSERT_FALSE(confirmed.empty());
  EXPECT_EQ(confirmed.back()["reason"], "window");
}

TEST_F(ConfirmationTest, FailingSessionsRollBackToTheKeptVersionForGood) {
  ASSERT_NO_FATAL_FAILURE(InstallThenActivateSecond());
  Report(true);
  Report(false, "decode error");
  Report(false, "decode error");
  EXPECT_TRUE(ResumeOnce().confirming);
  Report(false, "out of memory");
  UpdateOutcome o = ResumeOnce();
  ASSERT_EQ(o.kind, UpdateOutcome::Kind::kFailed);
  ASSERT_TRUE(o.error.has_value());
  EXPECT_EQ(o.error->code, ErrorCode::kIncompatible);
  EXPECT_EQ(o.error->message, "confirmation failed: 3 of 4 sessions failed: out of memory");
  EXPECT_EQ(ActiveModelBytes(), v1_bytes_);
  EXPECT_EQ(ActiveVersion(*agent_), "1.0.0");
  EXPECT_EQ(LatestDeploymentState(), "failed");
  auto failed = Events("confirmation-failed");
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0]["reason"], "sessions");
  EXPECT_EQ(failed[0]["sessions_failed"], 3);
  // The last word on 1.1.0 is a rollback: the fleet counts it as an error.
  std::string last;
  for (const nlohmann::json& e : ServerEvents(*agent_)) {
    if (e.value("version", "") == "1.1.0") last = e.value("type", "") + "/" + e.value("state", "");
  }
  EXPECT_EQ(last, "rolled-back/");
  // The rejected version is not downloaded or installed again.
  UpdateOutcome again = UpdateOnce(*agent_);
  EXPECT_EQ(again.kind, UpdateOutcome::Kind::kUpToDate);
  EXPECT_EQ(again.bytes_fetched, 0u);
  EXPECT_EQ(ActiveVersion(*agent_), "1.0.0");
}

TEST_F(ConfirmationTest, AFailureBeforeTheWindowEndsRollsBackWithoutEnoughSuccesses) {
  ASSERT_NO_FATAL_FAILURE(InstallThenActivateSecond());
  Report(true);
  Report(false, "timeout");
  clock_.Advance(std::chrono::seconds(600));
  UpdateOutcome o = ResumeOnce();
  ASSERT_EQ(o.kind, UpdateOutcome::Kind::kFailed);
  ASSERT_TRUE(o.error.has_value());
  EXPECT_EQ(o.error->message,
            "confirmation failed: 1 of 2 sessions failed by the end of the 600 s window: timeout");
  EXPECT_EQ(ActiveVersion(*agent_), "1.0.0");
}

TEST_F(ConfirmationTest, RestartsWhileConfirmingAreACrashLoop) {
  ASSERT_NO_FATAL_FAILURE(InstallThenActivateSecond());
  // Three starts are tolerated (confirm_max_restarts = 3)...
  for (int i = 1; i <= 3; ++i) {
    agent_.reset();
    agent_ = OpenAgent();
    ASSERT_NE(agent_, nullptr);
    EXPECT_EQ(LatestDeploymentState(), "confirming") << "start " << i;
    EXPECT_EQ(ActiveVersion(*agent_), "1.1.0");
  }
  // ...the fourth rolls back while opening, before anyone reads the store.
  agent_.reset();
  agent_ = OpenAgent();
  ASSERT_NE(agent_, nullptr);
  EXPECT_EQ(ActiveModelBytes(), v1_bytes_);
  EXPECT_EQ(LatestDeploymentState(), "failed");
  auto status = agent_->GetStatus();
  ASSERT_OK(status);
  EXPECT_EQ(status->recent_deployments[0].error,
            "incompatible: crash loop: 4 restarts while confirming");
  EXPECT_EQ(Events("confirm-restart").size(), 4u);
  auto failed = Events("confirmation-failed");
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0]["reason"], "crash-loop");
  UpdateOutcome again = UpdateOnce(*agent_);
  EXPECT_EQ(again.kind, UpdateOutcome::Kind::kUpToDate);
  EXPECT_EQ(again.bytes_fetched, 0u);
}

TEST_F(ConfirmationTest, ARestartKeepsTheWindowItStarted) {
  ASSERT_NO_FATAL_FAILURE(InstallThenActivateSecond());
  clock_.Advance(std::chrono::seconds(300));
  agent_.reset();
  agent_ = OpenAgent();
  ASSERT_NE(agent_, nullptr);
  EXPECT_TRUE(ResumeOnce().confirming);
  clock_.Advance(std::chrono::seconds(300));  // 600 s since activation.
  UpdateOutcome done = ResumeOnce();
  ASSERT_EQ(done.kind, UpdateOutcome::Kind::kUpdated) << (done.error ? done.error->ToString() : "");
  // The model was load-checked once, when the window opened.
  EXPECT_EQ(Events("confirmation-started").size(), 1u);
}

TEST_F(ConfirmationTest, ARollbackByHandEndsTheWindow) {
  ASSERT_NO_FATAL_FAILURE(InstallThenActivateSecond());
  auto r = agent_->RollBack("chat");
  ASSERT_OK(r);
  EXPECT_EQ(r->from.version, "1.1.0");
  EXPECT_EQ(r->to.version, "1.0.0");
  EXPECT_EQ(ActiveModelBytes(), v1_bytes_);
  EXPECT_EQ(LatestDeploymentState(), "failed");
  auto status = agent_->GetStatus();
  ASSERT_OK(status);
  EXPECT_EQ(status->recent_deployments[0].error,
            "incompatible: rolled back by hand while confirming");
  auto rolled = Events("rolled-back");
  ASSERT_EQ(rolled.size(), 1u);
  EXPECT_EQ(rolled[0]["reason"], "rolled back by hand while confirming");
  EXPECT_EQ(rolled[0]["active_version"], "1.0.0");
  UpdateOutcome again = UpdateOnce(*agent_);
  EXPECT_EQ(again.kind, UpdateOutcome::Kind::kUpToDate);
  EXPECT_EQ(again.bytes_fetched, 0u);
}

TEST_F(ConfirmationTest, OutOfRangeOptionsAreRefused) {
  Publish("1.0.0", 1);
  StartServer();
  Enroll();
  agent::AgentOptions options = DeviceOptions();
  options.confirm_max_failures = 0;
  auto refused = Agent::Open(env_, options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message, "confirm_max_failures must be from 1 to 1000000 (got 0)");
  options = DeviceOptions();
  options.confirm_window = std::chrono::seconds(-1);
  refused = Agent::Open(env_, options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
}

// Fails every switch of the active link to one version, as a device whose
// storage refuses that write would.
class RefusingLinkFs : public ota::DroppingFileSystem {
 public:
  using DroppingFileSystem::DroppingFileSystem;
  Status CreateSymlink(const std::string& target, const std::string& link) override {
    if (!refused_target.empty() && target == refused_target) {
      ++refusals;
      return MakeError(ErrorCode::kIo, "cannot create " + link + ": I/O error");
    }
    return DroppingFileSystem::CreateSymlink(target, link);
  }
  std::string refused_target;
  int refusals = 0;
};

TEST_F(ConfirmationTest, ARollbackThatKeepsFailingEndsAfterItsAttempts) {
  ASSERT_NO_FATAL_FAILURE(InstallThenActivateSecond());
  agent_.reset();
  RefusingLinkFs refusing(*fs_, dir_.Sub("aside"));
  Env env = env_;
  env.fs = &refusing;
  agent::AgentOptions options = DeviceOptions();
  options.max_rollback_attempts = 3;
  auto opened = Agent::Open(env, options);
  ASSERT_OK(opened);
  agent_ = std::move(*opened);
  refusing.refused_target = "../versions/" + v1_;
  Report(false, "crash");
  Report(false, "crash");
  Report(false, "crash");
  UpdateOutcome o = ResumeOnce();
  ASSERT_EQ(o.kind, UpdateOutcome::Kind::kFailed);
  ASSERT_TRUE(o.error.has_value());
  // The reason stays the confirmation failure.
  EXPECT_EQ(o.error->message, "confirmation failed: 3 of 3 sessions failed: crash");
  EXPECT_EQ(refusing.refusals, 3);
  EXPECT_EQ(LatestDeploymentState(), "failed");
  // The verified candidate stays active, whole; nothing is left half-switched.
  EXPECT_EQ(ActiveVersion(*agent_), "1.1.0");
  EXPECT_EQ(*fs_->ReadSymlink(dir_.Sub("device/active/chat")), "../versions/" + v2_);
  auto abandoned = Events("rollback-abandoned");
  ASSERT_EQ(abandoned.size(), 1u);
  EXPECT_EQ(abandoned[0]["active_id"], v2_);
  EXPECT_EQ(Events("rollback-attempt").size(), 3u);
  EXPECT_TRUE(Events("rolled-back").empty());  // Nothing was returned to.
  // Nothing is left open to loop on.
  auto later = agent_->Resume();
  ASSERT_OK(later);
  EXPECT_TRUE(later->empty());
  EXPECT_EQ(refusing.refusals, 3);
}

// A failed confirmation whose kept version changed on disk: the automatic
// rollback re-hashes it first, refuses to activate those bytes after one
// attempt (another would find the same), and the verified candidate stays
// active and whole.
TEST_F(ConfirmationTest, AnAutomaticRollbackOntoAChangedKeptVersionIsRefused) {
  ASSERT_NO_FATAL_FAILURE(InstallThenActivateSecond());
  const std::string kept_model = dir_.Sub("device/versions/" + v1_ + "/model.gguf");
  std::string bytes = ReadTestFile(kept_model);
  ASSERT_GT(bytes.size(), 100u);
  bytes[100] = static_cast<char>(bytes[100] ^ 0x5a);
  ota::testing::WriteTestFile(kept_model, bytes);
  Report(false, "crash");
  Report(false, "crash");
  Report(false, "crash");
  UpdateOutcome o = ResumeOnce();
  ASSERT_EQ(o.kind, UpdateOutcome::Kind::kFailed);
  EXPECT_EQ(LatestDeploymentState(), "failed");
  EXPECT_EQ(ActiveVersion(*agent_), "1.1.0");
  EXPECT_EQ(*fs_->ReadSymlink(dir_.Sub("device/active/chat")), "../versions/" + v2_);
  auto abandoned = Events("rollback-abandoned");
  ASSERT_EQ(abandoned.size(), 1u);
  EXPECT_EQ(abandoned[0]["active_id"], v2_);
  EXPECT_NE(abandoned[0].value("error", "").find("model.gguf has SHA-256"), std::string::npos)
      << abandoned[0].dump();
  EXPECT_EQ(Events("rollback-attempt").size(), 1u);
  EXPECT_TRUE(Events("rolled-back").empty());
  auto later = agent_->Resume();
  ASSERT_OK(later);
  EXPECT_TRUE(later->empty());
}

TEST_F(ConfirmationTest, ACrashLoopWhoseRollbackFailsEndsFailedWhileOpening) {
  ASSERT_NO_FATAL_FAILURE(InstallThenActivateSecond());
  agent_.reset();
  RefusingLinkFs refusing(*fs_, dir_.Sub("aside"));
  refusing.refused_target = "../versions/" + v1_;
  Env env = env_;
  env.fs = &refusing;
  agent::AgentOptions options = DeviceOptions();
  options.confirm_max_restarts = 0;  // The next start rolls back.
  options.max_rollback_attempts = 2;
  auto opened = Agent::Open(env, options);
  ASSERT_OK(opened);
  agent_ = std::move(*opened);
  EXPECT_EQ(LatestDeploymentState(), "failed");
  EXPECT_EQ(refusing.refusals, 2);
  EXPECT_EQ(ActiveVersion(*agent_), "1.1.0");
}

// The daemon re-checks an open window every confirm_poll, locally, and goes
// back to its normal interval once the version is committed.
TEST_F(ConfirmationTest, TheDaemonPollsAnOpenWindowWithoutBusyLooping) {
  ASSERT_NO_FATAL_FAILURE(InstallFirstPublishSecond());
  agent::DaemonOptions d = HourlyDaemonPollingEvery30s();
  std::vector<std::int64_t> waits;
  std::vector<std::string> seen;
  const int cycles = agent::RunDaemon(
      *agent_, d, *random_,
      [&](std::chrono::milliseconds w) {
        waits.push_back(w.count());
        clock_.Advance(w);
        return waits.size() < 3;
      },
      [&](const Result<std::vector<UpdateOutcome>>& r) {
        ASSERT_TRUE(r.ok());
        for (const UpdateOutcome& o : *r) {
          seen.push_back(o.confirming
                             ? "confirming"
                             : o.to_version + "/" + std::to_string(static_cast<int>(o.kind)));
        }
      });
  EXPECT_EQ(cycles, 1);
  EXPECT_EQ(waits, (std::vector<std::int64_t>{30'000, 30'000, 3'540'000}));
  EXPECT_EQ(ActiveVersion(*agent_), "1.1.0");
  EXPECT_EQ(LatestDeploymentState(), "committed");
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back(),
            "1.1.0/" + std::to_string(static_cast<int>(UpdateOutcome::Kind::kUpdated)));
}

// One check of the resident supervisor: the daemon stays while the window is
// open and returns as soon as the version is committed, without the long
// wait; with nothing to confirm it returns after its cycle.
TEST_F(ConfirmationTest, UntilIdleReturnsOnceNothingIsConfirming) {
  ASSERT_NO_FATAL_FAILURE(InstallFirstPublishSecond());
  agent::DaemonOptions d = HourlyDaemonPollingEvery30s();
  d.until_idle = true;
  std::vector<std::int64_t> waits;
  auto wait = [&](std::chrono::milliseconds w) {
    waits.push_back(w.count());
    clock_.Advance(w);
    return true;
  };
  EXPECT_EQ(agent::RunDaemon(*agent_, d, *random_, wait, nullptr), 1);
  EXPECT_EQ(waits, (std::vector<std::int64_t>{30'000, 30'000}));
  EXPECT_EQ(LatestDeploymentState(), "committed");

  waits.clear();
  EXPECT_EQ(agent::RunDaemon(*agent_, d, *random_, wait, nullptr), 1);
  EXPECT_TRUE(waits.empty());
  EXPECT_EQ(ActiveVersion(*agent_), "1.1.0");
}

}  // namespace
}  // namespace ota
