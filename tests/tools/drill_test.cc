// Rollback drills on a simulated fleet: real agents and a real server on
// loopback, simulated inference. The shipped 1,000-device example passes; a
// canary that fails shadow on a group is halted and undone; failing sessions
// and a crash loop are rolled back on the devices, and a model that does not
// load never gets switched to; a healthy release reaches everyone (and an
// expectation of a stop then fails); the same seed gives the same drill on
// one thread or two, with every agent open or most closed between
// check-ins; devices that lose power mid-update end on a verified version
// (and one that does not start again fails the drill without ending it);
// otactl drill run refuses bad scenarios and writes its report files; the
// device threads run every index once.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "drill.h"
#include "ota/agent/agent.h"
#include "ota/common/env.h"
#include "ota/manifest/drill_scenario.h"
#include "sim_storage.h"
#include "test_support.h"
#include "workers.h"

namespace ota::drill {
namespace {

using nlohmann::json;
using ota::testing::BinaryPath;
using ota::testing::RunOtactl;
using ota::testing::TempDir;

json Scenario(std::uint64_t devices) {
  return {{"schema", "modelota.drill/1"},
          {"name", "test"},
          {"seed", 11},
          {"fleet",
           {{"devices", devices},
            {"check_interval_seconds", 3600},
            {"jitter_seconds", 600},
            {"groups",
             {{{"name", "old"}, {"percent", 30}, {"tags", {"old-npu"}}},
              {{"name", "new"}, {"percent", 70}, {"tags", {"new-npu"}}}}}}},
          {"release", {{"from", "1.0.0"}, {"to", "2.0.0"}}},
          {"rollout",
           {{"stages", {{{"percent", 25}, {"soak_seconds", 3600}}, {{"percent", 100}}}},
            {"policy",
             {{"min_reporting", 3},
              {"success_percent", 80},
              {"error_percent", 10},
              {"on_error", "halt"}}}}},
          {"operator", {{"on_stop", "rollback"}, {"reaction_seconds", 600}}},
          {"duration_seconds", 4 * 86400}};
}

// "confirm-restart" events in the audit logs of a drill's devices: starts
// of the updating process counted while a new version was confirming.
std::size_t ConfirmRestarts(const std::string& work_dir, std::size_t devices) {
  auto env = MakePosixEnv();
  std::size_t n = 0;
  for (std::size_t i = 0; i < devices; ++i) {
    agent::AgentOptions o;
    o.state_dir = work_dir + "/devices/" + std::to_string(i);
    o.access = agent::AgentAccess::kReadOnly;
    auto a = agent::Agent::Open(env->env(), o);
    EXPECT_TRUE(a.ok()) << a.error().message;
    if (!a.ok()) continue;
    auto audit = (*a)->Audit();
    EXPECT_TRUE(audit.ok());
    if (!audit.ok()) continue;
    for (const agent::AuditEntry& e : audit->entries) {
      n += e.body.find("\"type\":\"confirm-restart\"") != std::string::npos ? 1 : 0;
    }
  }
  return n;
}

class DrillTest : public ::testing::Test {
 protected:
  DrillReport Run(const json& scenario_json, bool real_runtime = false,
                  std::function<void(const std::string&)> after_power_cut = {},
                  unsigned threads = 0, std::size_t max_open_agents = 0) {
    auto scenario = manifest::ParseDrillScenario(scenario_json.dump());
    EXPECT_TRUE(scenario.ok()) << scenario.error().message;
    if (!scenario.ok()) return {};
    DrillOptions o;
    o.work_dir = dir_.Sub("run-" + std::to_string(runs_++));
    o.otactl = BinaryPath("otactl");
    o.real_runtime = real_runtime;
    o.after_power_cut = std::move(after_power_cut);
    o.threads = threads;
    o.max_open_agents = max_open_agents;
    auto report = RunDrill(*scenario, o);
    EXPECT_TRUE(report.ok()) << report.error().ToString();
    if (!report.ok()) return {};
    return *report;
  }

  TempDir dir_{ota::testing::FleetParentDir()};
  int runs_ = 0;
};

TEST_F(DrillTest, ACanaryThatFailsShadowOnAGroupIsHaltedAndUndone) {
  json s = Scenario(60);
  s["faults"] = {{{"kind", "shadow-fail"}, {"groups", {"old"}}}};
  s["expect"] = {
      {"stopped_before_stage", 1}, {"canary_only", true}, {"all_back_within_seconds", 7200}};
  const DrillReport r = Run(s);
  EXPECT_TRUE(r.passed) << r.Table();
  EXPECT_EQ(r.stopped_state, "halted");
  EXPECT_EQ(r.stopped_stage, 0);
  EXPECT_EQ(r.max_stage, 0u);
  ASSERT_TRUE(r.first_failure_at && r.stopped_at && r.rollback_at) << r.Table();
  EXPECT_LE(*r.first_failure_at, *r.stopped_at);
  EXPECT_EQ(*r.rollback_at, *r.stopped_at + 600);
  EXPECT_GT(r.exposed, 0u) << "devices of the healthy group took it before the halt";
  EXPECT_EQ(r.exposed_outside_canary, 0u);
  EXPECT_EQ(r.never_back, 0u);
  EXPECT_EQ(r.back_after.size(), r.exposed);
  EXPECT_EQ(r.on_from_at_end, 60u);
  EXPECT_EQ(r.reports_lost, 0u);
  ASSERT_FALSE(r.stuck.empty());
  EXPECT_NE(r.stuck[0].first.find("shadow test fail"), std::string::npos) << r.stuck[0].first;
  // Every check the scenario asked for, plus the one on lost reports.
  EXPECT_EQ(r.checks.size(), 4u);
  const json j = r.ToJson();
  EXPECT_EQ(j["passed"], true);
  EXPECT_FALSE(j["timeline"].empty());
  const std::string svg = r.TimelineSvg();
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("rollback ordered"), std::string::npos);
}

// The sanitizer builds check memory, not scale: they play the example on a
// tenth of its fleet.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

TEST_F(DrillTest, TheShippedThousandDeviceExamplePasses) {
  std::ifstream in(std::string(OTA_SOURCE_DIR) + "/examples/drills/canary-shadow-fail.json");
  std::stringstream text;
  text << in.rdbuf();
  json s = json::parse(text.str(), nullptr, false);
  ASSERT_TRUE(s.is_object());
  const std::uint64_t devices = kSanitized ? 100 : 1000;
  s["fleet"]["devices"] = devices;
  // A tenth of the fleet has a canary of about ten devices, drawn by hash: the
  // seed gives it seven, so waiting for ten reports would never judge it.
  if (kSanitized) s["rollout"]["policy"]["min_reporting"] = 5;
  const DrillReport r = Run(s);
  EXPECT_TRUE(r.passed) << r.Table();
  EXPECT_EQ(r.stopped_state, "halted");
  EXPECT_EQ(r.stopped_stage, 0);
  EXPECT_GT(r.exposed, 0u);
  EXPECT_EQ(r.exposed_outside_canary, 0u);
  EXPECT_EQ(r.never_back, 0u);
  EXPECT_EQ(r.on_from_at_end, devices);
  EXPECT_EQ(r.reports_lost, 0u);
}

TEST_F(DrillTest, FailingSessionsAndACrashLoopRollBackOnTheDevicesAndAnUnloadableModelStops) {
  json s = Scenario(40);
  s["fleet"]["groups"] = {{{"name", "a"}, {"percent", 34}},
                          {{"name", "b"}, {"percent", 33}},
                          {{"name", "c"}, {"percent", 33}}};
  s["rollout"]["stages"] = {{{"percent", 100}}};
  s["faults"] = {{{"kind", "sessions-fail"}, {"groups", {"a"}}},
                 {{"kind", "crash-after-activation"}, {"groups", {"b"}}},
                 {{"kind", "load-fail"}, {"groups", {"c"}}}};
  s["operator"] = {{"on_stop", "none"}};
  s["duration_seconds"] = 86400;
  const DrillReport r = Run(s);
  // Groups a and b took the release and went back by themselves; c's model
  // never loaded, so its shadow test stopped it before any switch.
  EXPECT_EQ(r.exposed, 27u) << r.Table();
  EXPECT_EQ(r.never_back, 0u) << r.Table();
  // Why each group's devices stopped, counted once per reason.
  std::map<std::string, std::uint64_t> why;
  for (const auto& [error, n] : r.stuck) {
    for (const char* part : {"sessions failed", "crash loop", "simulated load failure of <path>"}) {
      if (error.find(part) != std::string::npos) why[part] += n;
    }
  }
  EXPECT_EQ(why["sessions failed"], 14u) << r.Table();
  EXPECT_EQ(why["crash loop"], 13u) << r.Table();
  EXPECT_EQ(why["simulated load failure of <path>"], 13u) << r.Table();
  EXPECT_EQ(r.on_from_at_end, 40u) << r.Table();
  EXPECT_FALSE(r.rollback_at);
  EXPECT_TRUE(r.stopped_at) << "the controller stopped a rollout whose devices all fail";
  EXPECT_EQ(r.reports_lost, 0u);
  EXPECT_TRUE(r.passed) << r.Table();
}

TEST_F(DrillTest, AHealthyReleaseReachesEveryoneAndAStopExpectationFails) {
  json s = Scenario(30);
  s["expect"] = {{"stopped_before_stage", 1}};
  const DrillReport r = Run(s);
  EXPECT_FALSE(r.passed);
  ASSERT_EQ(r.checks.size(), 2u);
  EXPECT_FALSE(r.checks[0].passed);
  EXPECT_NE(r.checks[0].detail.find("never halted or paused"), std::string::npos);
  EXPECT_EQ(r.max_stage, 1u);
  EXPECT_EQ(r.on_to_at_end, 30u);
  EXPECT_EQ(r.exposed, 30u);
  EXPECT_TRUE(r.stuck.empty()) << r.Table();
  EXPECT_GT(r.bytes_total, 0u);
}

TEST_F(DrillTest, AnOutageAndCutDownloadsDelayTheRolloutButLoseNothing) {
  json s = Scenario(30);
  s["rollout"]["stages"] = {{{"percent", 100}}};
  s["network"] = {{"outages", {{{"at_seconds", 600}, {"duration_seconds", 3 * 3600}}}},
                  {"truncated_downloads", 10},
                  {"truncate_after_bytes", 4096}};
  const DrillReport r = Run(s);
  EXPECT_EQ(r.on_to_at_end, 30u) << r.Table();
  EXPECT_TRUE(r.stuck.empty()) << r.Table();
  EXPECT_EQ(r.reports_lost, 0u);
  std::vector<std::string> marks;
  for (const DrillMark& m : r.marks) marks.push_back(m.what);
  EXPECT_NE(std::find(marks.begin(), marks.end(), "server down"), marks.end());
  EXPECT_NE(std::find(marks.begin(), marks.end(), "server up"), marks.end());
  // Devices that checked in while the server was down got it afterwards.
  EXPECT_GT(r.simulated_seconds, 600 + 3 * 3600) << r.Table();
}

TEST_F(DrillTest, PowerLossMidUpdateAtTenPercentEveryDeviceEndsOnAVerifiedVersionNothingLost) {
  json s = Scenario(40);
  s["rollout"]["stages"] = {{{"percent", 100}}};
  s["faults"] = {{{"kind", "power-loss"}, {"percent", 10}}};
  s["duration_seconds"] = 86400;
  const DrillReport r = Run(s);
  EXPECT_TRUE(r.passed) << r.Table();
  // 10% of 40 devices, each cut once, inside its update cycle (before one of
  // its mutating file operations, never the first).
  ASSERT_EQ(r.power_cuts.size(), 4u) << r.Table();
  std::set<std::uint64_t> points;
  for (const DrillPowerCut& c : r.power_cuts) {
    SCOPED_TRACE(c.device_id);
    EXPECT_TRUE(c.mid_update) << c.operation << " of " << c.operations;
    EXPECT_GE(c.operation, 1u);
    EXPECT_LT(c.operation, c.operations);
    EXPECT_GT(c.operations, 20u) << "an update makes more file operations than that";
    EXPECT_TRUE(c.after_cut == "1.0.0" || c.after_cut == "2.0.0") << c.after_cut;
    EXPECT_EQ(c.at_end, "2.0.0") << "a healthy release: the device finished its update";
    EXPECT_TRUE(c.verified);
    points.insert(c.operation);
  }
  EXPECT_GT(points.size(), 1u) << "the cuts fall at different points of the update";
  EXPECT_EQ(r.power_lost_verified, 4u);
  const auto check = std::find_if(r.checks.begin(), r.checks.end(), [](const DrillCheck& c) {
    return c.name == "power loss leaves a verified version";
  });
  ASSERT_NE(check, r.checks.end()) << r.Table();
  EXPECT_TRUE(check->passed) << check->detail;
  EXPECT_EQ(r.on_to_at_end, 40u) << r.Table();
  EXPECT_TRUE(r.stuck.empty()) << r.Table();
  EXPECT_EQ(r.reports_lost, 0u);
  const json j = r.ToJson();
  EXPECT_EQ(j["power_lost"], 4);
  EXPECT_EQ(j["power_cuts"].size(), 4u);
}

// A device whose agent does not start again after its power cut (here its
// database is made garbage while the power is off) is a finding, not the
// end of the drill: it is reported as not starting, the power-loss and
// report checks fail, and every other device goes on.
TEST_F(DrillTest, ADeviceThatDoesNotStartAfterItsPowerCutFailsTheDrillWithoutEndingIt) {
  json s = Scenario(20);
  s["rollout"]["stages"] = {{{"percent", 100}}};
  s["faults"] = {{{"kind", "power-loss"}, {"percent", 20}}};
  s["duration_seconds"] = 86400;
  int broken = 0;
  const DrillReport r = Run(s, false, [&](const std::string& state_dir) {
    if (broken++ > 0) return;  // Only the first device that loses power.
    ota::testing::WriteTestFile(state_dir + "/agent.db", std::string(8192, 'x'));
  });
  ASSERT_EQ(broken, 4) << r.Table();  // 20% of 20 devices lost power; the drill went on.
  EXPECT_FALSE(r.passed) << r.Table();
  EXPECT_EQ(r.not_starting, 1u) << r.Table();
  EXPECT_EQ(r.on_to_at_end, 19u) << r.Table();
  EXPECT_EQ(r.power_lost_verified, 3u) << r.Table();
  ASSERT_EQ(r.stuck.size(), 1u) << r.Table();
  EXPECT_NE(r.stuck[0].first.find("does not start after its power cut"), std::string::npos)
      << r.stuck[0].first;
  for (const char* name : {"power loss leaves a verified version", "no report lost"}) {
    const auto check = std::find_if(r.checks.begin(), r.checks.end(),
                                    [&](const DrillCheck& c) { return c.name == name; });
    ASSERT_NE(check, r.checks.end()) << name;
    EXPECT_FALSE(check->passed) << name << ": " << check->detail;
  }
  EXPECT_EQ(r.ToJson()["devices_not_starting"], 1);
  EXPECT_NE(r.Table().find("did not start after the cut"), std::string::npos) << r.Table();
}

// llama.cpp on real models: the broken variant that the faulty group takes
// fails its real shadow test, the others pass theirs and switch, and a
// power cut mid-update leaves a verified version there too.
TEST_F(DrillTest, TheRealRuntimeShadowTestsRealModelsAndStopsTheBrokenVariant) {
  json s = Scenario(5);
  s["fleet"]["groups"] = {{{"name", "old"}, {"percent", 40}}, {{"name", "new"}, {"percent", 60}}};
  s["rollout"]["stages"] = {{{"percent", 100}}};
  s["rollout"]["policy"] = {
      {"min_reporting", 5}, {"success_percent", 50}, {"error_percent", 50}, {"on_error", "halt"}};
  s["faults"] = {{{"kind", "shadow-fail"}, {"groups", {"old"}}},
                 {{"kind", "power-loss"}, {"groups", {"new"}}, {"percent", 33}}};
  s["duration_seconds"] = 6 * 3600;
  const DrillReport r = Run(s, /*real_runtime=*/true);
  EXPECT_TRUE(r.passed) << r.Table();
  EXPECT_EQ(r.exposed, 3u) << r.Table();
  EXPECT_EQ(r.on_to_at_end, 3u) << r.Table();
  EXPECT_EQ(r.on_from_at_end, 2u) << r.Table();
  ASSERT_EQ(r.stuck.size(), 1u) << r.Table();
  EXPECT_EQ(r.stuck[0].second, 2u);
  // The real gate's verdict on distributions, not the simulated runtime's NUL bytes.
  EXPECT_NE(r.stuck[0].first.find("shadow test fail"), std::string::npos) << r.stuck[0].first;
  EXPECT_NE(r.stuck[0].first.find("mean_kl"), std::string::npos) << r.stuck[0].first;
  ASSERT_EQ(r.power_cuts.size(), 1u) << r.Table();
  EXPECT_TRUE(r.power_cuts[0].verified) << r.Table();
  EXPECT_EQ(r.reports_lost, 0u);
}

// The real runtime on a variant that is not a model at all: llama.cpp cannot
// load it, so the devices that take it refuse it before the switch (the
// default shadow test loads both models) and stay on the old version.
TEST_F(DrillTest, TheRealRuntimeRefusesAVariantThatDoesNotLoad) {
  json s = Scenario(5);
  s["fleet"]["groups"] = {{{"name", "old"}, {"percent", 40}}, {{"name", "new"}, {"percent", 60}}};
  s["rollout"]["stages"] = {{{"percent", 100}}};
  s["rollout"]["policy"] = {
      {"min_reporting", 5}, {"success_percent", 50}, {"error_percent", 50}, {"on_error", "halt"}};
  s["faults"] = {{{"kind", "load-fail"}, {"groups", {"old"}}}};
  s["duration_seconds"] = 6 * 3600;
  const DrillReport r = Run(s, /*real_runtime=*/true);
  EXPECT_TRUE(r.passed) << r.Table();
  EXPECT_EQ(r.on_to_at_end, 3u) << r.Table();
  EXPECT_EQ(r.on_from_at_end, 2u) << r.Table();
  EXPECT_EQ(r.exposed, 3u) << r.Table();  // The broken variant never served.
  ASSERT_EQ(r.stuck.size(), 1u) << r.Table();
  EXPECT_EQ(r.stuck[0].second, 2u);
  EXPECT_NE(r.stuck[0].first.find("load"), std::string::npos) << r.stuck[0].first;
  EXPECT_EQ(r.reports_lost, 0u);
}

TEST(DrillSimStorageTest, WritesReachTheDiskButNothingIsSynced) {
  TempDir dir;
  auto disk = MakePosixFileSystem();
  auto storage = MakeSimStorage(*disk);
  EXPECT_TRUE(disk->Durable());
  EXPECT_FALSE(storage->Durable());
  auto file = storage->OpenWritable(dir.Sub("f"), /*append=*/false, 0644);
  ASSERT_TRUE(file.ok()) << file.error().ToString();
  ASSERT_TRUE((*file)->Append(std::string_view("bytes")).ok());
  EXPECT_TRUE((*file)->Sync().ok());
  ASSERT_TRUE((*file)->Close().ok());
  EXPECT_TRUE(storage->SyncDir(dir.path()).ok());
  auto read = disk->ReadFile(dir.Sub("f"), 100);
  ASSERT_TRUE(read.ok()) << read.error().ToString();
  EXPECT_EQ(*read, "bytes");
}

// Every index runs once, on more than one thread when there are two, and a
// call's exception reaches the caller once every call is done.
TEST(DrillWorkersTest, RunsEveryIndexOnceSideBySideAndPassesOnAFailure) {
  Workers workers(2);
  EXPECT_EQ(workers.threads(), 2u);
  std::mutex mu;
  std::condition_variable cv;
  std::set<std::thread::id> threads;
  std::vector<int> runs(200, 0);
  bool met = false;
  workers.Run(runs.size(), [&](std::size_t i) {
    std::unique_lock lock(mu);
    ++runs[i];
    threads.insert(std::this_thread::get_id());
    if (i < 2) {
      // The first two calls wait for each other: both threads take part.
      if (threads.size() == 2) met = true;
      cv.notify_all();
      cv.wait_for(lock, std::chrono::seconds(30), [&] { return met; });
    }
  });
  EXPECT_TRUE(met);
  EXPECT_EQ(threads.size(), 2u);
  EXPECT_EQ(std::count(runs.begin(), runs.end(), 1), 200);
  std::atomic<int> after{0};
  EXPECT_THROW(workers.Run(10,
                           [&](std::size_t i) {
                             if (i == 3) throw std::runtime_error("call 3");
                             ++after;
                           }),
               std::runtime_error);
  EXPECT_EQ(after.load(), 9);
  workers.Run(0, [](std::size_t) {});  // Nothing to do returns at once.
}

TEST(DrillReportTest, ADeviceLeftOnABrokenVersionByAPowerCutFailsTheDrill) {
  json s = Scenario(10);
  s["faults"] = {{{"kind", "power-loss"}, {"percent", 20}}};
  auto scenario = manifest::ParseDrillScenario(s.dump());
  ASSERT_TRUE(scenario.ok()) << scenario.error().message;
  DrillReport r;
  r.devices = 10;
  r.power_cuts = {{"dev-a", 60, 7, 90, true, "1.0.0", "2.0.0", true},
                  {"dev-b", 90, 40, 90, true, "broken: file model.gguf of version x is damaged",
                   "2.0.0", false}};
  r.power_lost_verified = 1;
  EvaluateExpectations(*scenario, r);
  EXPECT_FALSE(r.passed);
  ASSERT_EQ(r.checks.size(), 2u);
  EXPECT_EQ(r.checks[0].name, "power loss leaves a verified version");
  EXPECT_FALSE(r.checks[0].passed);
  EXPECT_NE(r.checks[0].detail.find("1 of 2 device(s)"), std::string::npos) << r.checks[0].detail;
  EXPECT_NE(r.checks[0].detail.find("dev-b: broken: file model.gguf"), std::string::npos)
      << r.checks[0].detail;
  EXPECT_TRUE(r.checks[1].passed) << "no report lost";
}

// Whether devices run one at a time or side by side, with every agent
// open or with agents closed between check-ins (a fleet larger than the
// open-file limit), the same seed plays the same drill: crash loops are
// counted only for the crashes, not for agents opened again.
TEST_F(DrillTest, TheSameSeedPlaysTheSameDrillOnAnyThreadsAndOpenAgents) {
  json s = Scenario(20);
  s["rollout"]["stages"] = {{{"percent", 100}}};
  s["faults"] = {{{"kind", "shadow-fail"}, {"percent", 20}},
                 {{"kind", "crash-after-activation"}, {"percent", 30}},
                 {{"kind", "sessions-fail"}, {"percent", 20}}};
  s["rollout"]["policy"]["min_reporting"] = 100;  // Never judged: every device takes it.
  s["operator"] = {{"on_stop", "none"}};
  s["duration_seconds"] = 86400;
  const DrillReport first = Run(s, false, {}, /*threads=*/1);
  const DrillReport second = Run(s, false, {}, /*threads=*/2, /*max_open_agents=*/3);
  EXPECT_EQ(first.ToJson(), second.ToJson());
  EXPECT_GT(first.exposed, 0u) << first.Table();
  std::uint64_t crash_loops = 0;
  for (const auto& [error, n] : second.stuck) {
    if (error.find("crash loop") != std::string::npos) crash_loops += n;
  }
  EXPECT_GT(crash_loops, 0u) << second.Table();
  EXPECT_LT(crash_loops, second.exposed) << second.Table();
  // The agents opened again between check-ins counted no start.
  const std::size_t restarts = ConfirmRestarts(dir_.Sub("run-0"), 20);
  EXPECT_GT(restarts, 0u);
  EXPECT_EQ(ConfirmRestarts(dir_.Sub("run-1"), 20), restarts);
}

TEST(DrillCliTest, RefusesBadScenariosAndWritesItsReport) {
  TempDir dir(ota::testing::FleetParentDir());
  ota::testing::WriteTestFile(dir.Sub("bad.json"), R"({"schema": "modelota.drill/1"})");
  auto bad = RunOtactl({"drill", "run", dir.Sub("bad.json")}, 2);
  EXPECT_NE(bad.err.find("drill scenario: name is missing"), std::string::npos) << bad.err;
  json refused = Scenario(8);
  refused["rollout"]["policy"]["succes_percent"] = 90;
  ota::testing::WriteTestFile(dir.Sub("policy.json"), refused.dump());
  auto policy = RunOtactl({"drill", "run", dir.Sub("policy.json")}, 2);
  EXPECT_NE(policy.err.find("drill scenario: rollout.policy: "), std::string::npos) << policy.err;
  ota::testing::WriteTestFile(dir.Sub("large.json"), Scenario(21).dump());
  auto large = RunOtactl({"drill", "run", dir.Sub("large.json"), "--real-runtime"}, 2);
  EXPECT_NE(large.err.find("--real-runtime runs llama.cpp on every device: at most 20 devices, and "
                           "fleet.devices is 21"),
            std::string::npos)
      << large.err;
  json s = Scenario(8);
  s["rollout"]["stages"] = {{{"percent", 100}}};
  s["expect"] = {{"max_exposed_percent", 50}};
  ota::testing::WriteTestFile(dir.Sub("s.json"), s.dump());
  auto run = RunOtactl({"drill", "run", dir.Sub("s.json"), "--json", "--out", dir.Sub("out")}, 1);
  const json report = json::parse(run.out, nullptr, false);
  ASSERT_TRUE(report.is_object()) << run.out << run.err;
  EXPECT_EQ(report["passed"], false);
  EXPECT_EQ(report["exposed"], 8);
  for (const char* f : {"report.json", "report.txt", "timeline.svg"}) {
    EXPECT_TRUE(std::filesystem::exists(dir.Sub(std::string("out/") + f))) << f;
  }
}

}  // namespace
}  // namespace ota::drill
