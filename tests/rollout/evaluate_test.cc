#include "ota/rollout/evaluate.h"

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "ota/rollout/bucket.h"
#include "test_support.h"

namespace ota::rollout {
namespace {

using manifest::RollbackCohorts;
using manifest::RollbackOrder;
using manifest::RolloutManifest;
using manifest::RolloutPin;
using manifest::RolloutStage;
using manifest::RolloutState;
using manifest::StageSelectors;
using manifest::Version;
using manifest::VersionRange;

constexpr char kRolloutId[] = "rollout-a";
const TimePoint kStart = TimePoint(std::chrono::seconds(1'800'000'000));
const TimePoint kNow = kStart + std::chrono::hours(1);

Version V(const std::string& text) {
  Result<Version> v = manifest::ParseVersion(text);
  EXPECT_TRUE(v.ok()) << text;
  return v.ok() ? *v : Version{};
}

VersionRange R(const std::string& text) {
  Result<VersionRange> r = manifest::ParseVersionRange(text);
  EXPECT_TRUE(r.ok()) << text;
  return r.ok() ? *r : VersionRange{};
}

RolloutStage Stage(std::uint32_t hundredths, std::uint64_t soak = 3600) {
  RolloutStage s;
  s.percent_hundredths = hundredths;
  s.min_soak_seconds = soak;
  return s;
}

// Target 2.0.0; stages 0.5%, 1%, 50%, 100%; currently stage 2 (50%).
RolloutManifest Manifest() {
  RolloutManifest m;
  m.rollout_id = kRolloutId;
  m.model = "chat";
  m.version = 1;
  m.target.bundle_version = V("2.0.0");
  m.stages = {Stage(50), Stage(100), Stage(5000), Stage(10000)};
  m.current_stage = 2;
  m.stage_started_at = kStart;
  m.state = RolloutState::kActive;
  EXPECT_TRUE(manifest::ValidateRolloutManifest(m).ok());
  return m;
}

DeviceFacts Device(const std::string& id) {
  DeviceFacts d;
  d.device_id = id;
  d.app_version = V("3.1.0");
  d.attributes = {{"soc", "sm8650"}, {"os", "android"}};
  d.tags = {"beta", "wifi"};
  d.region = "eu";
  d.runnable_versions = {V("1.0.0"), V("1.5.0"), V("2.0.0")};
  return d;
}

InstalledState On(const std::string& version) {
  return InstalledState{version.empty() ? std::nullopt : std::optional<Version>(V(version))};
}

// The first "dev-<n>" whose bucket satisfies `pred`.
std::string DeviceWhere(const std::function<bool(std::uint32_t)>& pred) {
  for (int i = 0;; ++i) {
    std::string id = "dev-" + std::to_string(i);
    if (pred(CohortBucket(id, kRolloutId))) return id;
  }
}

std::string Bucket(const std::string& id) { return std::to_string(CohortBucket(id, kRolloutId)); }

// In stage 2 (50%) but not in stage 1 (1%).
std::string InStage2() {
  return DeviceWhere([](std::uint32_t b) { return b >= 100 && b < 5000; });
}
std::string OutOfStage2() {
  return DeviceWhere([](std::uint32_t b) { return b >= 5000; });
}

TEST(EvaluateTest, DeviceIdsForTheTablesAreWhereTheyShouldBe) {
  EXPECT_FALSE(InStage(CohortBucket(InStage2(), kRolloutId), 100));
  EXPECT_TRUE(InStage(CohortBucket(InStage2(), kRolloutId), 5000));
  EXPECT_FALSE(InStage(CohortBucket(OutOfStage2(), kRolloutId), 5000));
}

TEST(EvaluateTest, ReasonNamesBucketAndStage) {
  RolloutManifest m = Manifest();
  m.current_stage = 1;
  // device-1 has bucket 1777 in rollout-a (pinned in bucket_test).
  Decision d = Decide(m, Device("device-1"), On("1.0.0"), kNow);
  EXPECT_EQ(d.kind, DecisionKind::kStay);
  EXPECT_EQ(d.version, V("1.0.0"));
  EXPECT_EQ(d.reason, "bucket 1777 not in stage 1 (1.00%)");
}

struct Case {
  const char* name;
  std::function<void(RolloutManifest&, DeviceFacts&)> setup;
  std::string device_id;
  std::string installed;  // "" = nothing installed.
  DecisionKind kind;
  std::string version;  // "" = no version.
  std::string reason;   // Exact, or a prefix when it ends in "...".
};

std::vector<Case> Cases() {
  auto none = [](RolloutManifest&, DeviceFacts&) {};
  auto pins = [](RolloutManifest& m, DeviceFacts& d) {
    m.pins = {RolloutPin{R("<1.0.0"), V("1.0.0")}, RolloutPin{R(">=3.0.0 <4.0.0"), V("1.5.0")},
              RolloutPin{R("*"), V("1.0.0")}};
    (void)d;
  };
  auto rollback_all = [](RolloutManifest& m, DeviceFacts&) {
    m.rollback = RollbackOrder{V("1.0.0"), {}};
  };
  const std::string in = InStage2();
  const std::string out = OutOfStage2();
  return {
      {"in stage installs", none, in, "1.0.0", DecisionKind::kInstall, "2.0.0",
       "bucket " + Bucket(in) + " in stage 2 (50.00%): install 2.0.0"},
      {"in stage with nothing installed installs", none, in, "", DecisionKind::kInstall, "2.0.0",
       "bucket " + Bucket(in) + " in stage 2 (50.00%): install 2.0.0"},
      {"out of stage stays", none, out, "1.0.0", DecisionKind::kStay, "1.0.0",
       "bucket " + Bucket(out) + " not in stage 2 (50.00%)"},
      {"out of stage with nothing installed stays", none, out, "", DecisionKind::kStay, "",
       "bucket " + Bucket(out) + " not in stage 2 (50.00%)"},
      {"on target stays", none, out, "2.0.0", DecisionKind::kStay, "2.0.0",
       "already on target 2.0.0"},
      {"selector mismatch stays",
       [](RolloutManifest& m, DeviceFacts& d) {
         m.stages[2].selectors.regions = {"eu", "uk"};
         d.region = "us";
       },
       in, "1.0.0", DecisionKind::kStay, "1.0.0",
       "selectors of stage 2 (50.00%) do not match: region \"us\" is not one of eu, uk"},
      {"selector match installs",
       [](RolloutManifest& m, DeviceFacts&) {
         m.stages[2].selectors.regions = {"eu", "uk"};
       },
       in, "1.0.0", DecisionKind::kInstall, "2.0.0", "bucket ..."},
      {"target not runnable stays",
       [](RolloutManifest&, DeviceFacts& d) { d.runnable_versions = {V("1.0.0")}; }, in, "1.0.0",
       DecisionKind::kStay, "1.0.0",
       "in stage 2 (50.00%), but this device cannot run target 2.0.0"},
      {"paused keeps new devices out",
       [](RolloutManifest& m, DeviceFacts&) { m.state = RolloutState::kPaused; }, in, "1.0.0",
       DecisionKind::kStay, "1.0.0", "rollout paused: no device newly enters"},
      {"paused keeps devices on target",
       [](RolloutManifest& m, DeviceFacts&) { m.state = RolloutState::kPaused; }, in, "2.0.0",
       DecisionKind::kStay, "2.0.0", "already on target 2.0.0"},
      {"halted starts nothing",
       [](RolloutManifest& m, DeviceFacts&) { m.state = RolloutState::kHalted; }, in, "1.0.0",
       DecisionKind::kStay, "1.0.0", "rollout halted"},
      {"halted keeps devices on target",
       [](RolloutManifest& m, DeviceFacts&) { m.state = RolloutState::kHalted; }, in, "2.0.0",
       DecisionKind::kStay, "2.0.0", "already on target 2.0.0"},
      {"first matching pin wins", pins, out, "1.0.0", DecisionKind::kPinned, "1.5.0",
       "pin 1 (app 3.1.0 in \">=3.0.0 <4.0.0\") pins 1.5.0"},
      {"pin beats stage membership", pins, in, "", DecisionKind::kPinned, "1.5.0", "pin 1 ..."},
      {"pin beats being on target", pins, in, "2.0.0", DecisionKind::kPinned, "1.5.0", "pin 1 ..."},
      {"pin holds when paused",
       [=](RolloutManifest& m, DeviceFacts& d) {
         pins(m, d);
         m.state = RolloutState::kPaused;
       },
       out, "1.0.0", DecisionKind::kPinned, "1.5.0", "pin 1 ..."},
      {"unrunnable pin is reported, not forced",
       [=](RolloutManifest& m, DeviceFacts& d) {
         pins(m, d);
         d.runnable_versions = {V("1.0.0"), V("2.0.0")};
       },
       in, "1.0.0", DecisionKind::kIncompatiblePin, "1.5.0",
       "pin 1 (app 3.1.0 in \">=3.0.0 <4.0.0\") names 1.5.0, which this device cannot run"},
      {"halted does not apply a pin",
       [=](RolloutManifest& m, DeviceFacts& d) {
         pins(m, d);
         m.state = RolloutState::kHalted;
       },
       in, "1.0.0", DecisionKind::kStay, "1.0.0",
       "rollout halted: pin 1 (app 3.1.0 in \">=3.0.0 <4.0.0\") to 1.5.0 not applied; staying "
       "on 1.0.0"},
      {"halted keeps a device on its pin",
       [=](RolloutManifest& m, DeviceFacts& d) {
         pins(m, d);
         m.state = RolloutState::kHalted;
       },
       in, "1.5.0", DecisionKind::kPinned, "1.5.0", "pin 1 ..."},
      {"halted still reports an unrunnable pin",
       [=](RolloutManifest& m, DeviceFacts& d) {
         pins(m, d);
         m.state = RolloutState::kHalted;
         d.runnable_versions = {};
       },
       in, "1.0.0", DecisionKind::kIncompatiblePin, "1.5.0", "pin 1 ..."},
      {"no pin matches the app version",
       [](RolloutManifest& m, DeviceFacts&) {
         m.pins = {RolloutPin{R("<3.0.0"), V("1.5.0")}};
       },
       in, "1.0.0", DecisionKind::kInstall, "2.0.0", "bucket ..."},
      {"rollback takes devices on target back", rollback_all, out, "2.0.0", DecisionKind::kRollBack,
       "1.0.0", "rollback of 2.0.0 to 1.0.0 ordered for this device"},
      {"rollback applies when halted",
       [=](RolloutManifest& m, DeviceFacts& d) {
         rollback_all(m, d);
         m.state = RolloutState::kHalted;
       },
       in, "2.0.0", DecisionKind::kRollBack, "1.0.0", "rollback of ..."},
      {"rollback withdraws the target from new devices", rollback_all, in, "1.0.0",
       DecisionKind::kStay, "1.0.0", "target 2.0.0 withdrawn by a rollback order to 1.0.0"},
      {"rollback leaves other versions alone", rollback_all, in, "1.5.0", DecisionKind::kStay,
       "1.5.0", "target 2.0.0 withdrawn by a rollback order to 1.0.0"},
      {"rollback of stage 0 skips devices outside it",
       [](RolloutManifest& m, DeviceFacts&) {
         m.rollback = RollbackOrder{V("1.0.0"), {RollbackCohorts::Kind::kStages, {0}, 0}};
       },
       in, "2.0.0", DecisionKind::kStay, "2.0.0",
       "rollback of 2.0.0 ordered for other cohorts; staying on 2.0.0"},
      {"rollback of stage 2 covers its devices",
       [](RolloutManifest& m, DeviceFacts&) {
         m.rollback = RollbackOrder{V("1.0.0"), {RollbackCohorts::Kind::kStages, {0, 2}, 0}};
       },
       in, "2.0.0", DecisionKind::kRollBack, "1.0.0", "rollback of ..."},
      {"rollback of a stage respects its selectors",
       [](RolloutManifest& m, DeviceFacts& d) {
         m.stages[2].selectors.tags_all_of = {"canary"};
         m.rollback = RollbackOrder{V("1.0.0"), {RollbackCohorts::Kind::kStages, {2}, 0}};
         (void)d;
       },
       in, "2.0.0", DecisionKind::kStay, "2.0.0", "rollback of 2.0.0 ordered for other cohorts..."},
      {"rollback by percent covers low buckets",
       [](RolloutManifest& m, DeviceFacts&) {
         m.rollback = RollbackOrder{V("1.0.0"), {RollbackCohorts::Kind::kPercent, {}, 5000}};
       },
       in, "2.0.0", DecisionKind::kRollBack, "1.0.0", "rollback of ..."},
      {"rollback by percent skips high buckets",
       [](RolloutManifest& m, DeviceFacts&) {
         m.rollback = RollbackOrder{V("1.0.0"), {RollbackCohorts::Kind::kPercent, {}, 5000}};
       },
       out, "2.0.0", DecisionKind::kStay, "2.0.0",
       "rollback of 2.0.0 ordered for other cohorts..."},
      {"rollback to an unrunnable version stays",
       [=](RolloutManifest& m, DeviceFacts& d) {
         rollback_all(m, d);
         d.runnable_versions = {V("2.0.0")};
       },
       in, "2.0.0", DecisionKind::kStay, "2.0.0",
       "rollback to 1.0.0 ordered, but this device cannot run 1.0.0"},
      {"pin beats rollback",
       [=](RolloutManifest& m, DeviceFacts& d) {
         rollback_all(m, d);
         m.pins = {RolloutPin{R("*"), V("2.0.0")}};
       },
       in, "2.0.0", DecisionKind::kPinned, "2.0.0", "pin 0 (app 3.1.0 in \"*\") pins 2.0.0"},
      {"a stage signed ahead of its start uses the stage before",
       [](RolloutManifest& m, DeviceFacts&) {
         m.stage_started_at = kNow + std::chrono::seconds(1);
       },
       in, "1.0.0", DecisionKind::kStay, "1.0.0",
       "bucket " + Bucket(in) + " not in stage 1 (1.00%)"},
      {"a stage takes effect at its start",
       [](RolloutManifest& m, DeviceFacts&) { m.stage_started_at = kNow; }, in, "1.0.0",
       DecisionKind::kInstall, "2.0.0", "bucket ..."},
      {"a rollout whose first stage has not started moves nobody",
       [](RolloutManifest& m, DeviceFacts&) {
         m.current_stage = 0;
         m.stage_started_at = kNow + std::chrono::hours(2);
       },
       in, "", DecisionKind::kStay, "", "rollout starts at 2027-01-15T11:00:00Z"},
  };
}

TEST(EvaluateTest, DecisionTable) {
  for (const Case& c : Cases()) {
    RolloutManifest m = Manifest();
    DeviceFacts d = Device(c.device_id);
    c.setup(m, d);
    ASSERT_TRUE(manifest::ValidateRolloutManifest(m).ok()) << c.name;
    const Decision got = Decide(m, d, On(c.installed), kNow);
    EXPECT_EQ(DecisionKindName(got.kind), DecisionKindName(c.kind)) << c.name;
    EXPECT_EQ(got.version, c.version.empty() ? std::nullopt : std::optional<Version>(V(c.version)))
        << c.name;
    if (c.reason.ends_with("...")) {
      EXPECT_TRUE(got.reason.starts_with(c.reason.substr(0, c.reason.size() - 3)))
          << c.name << ": " << got.reason;
    } else {
      EXPECT_EQ(got.reason, c.reason) << c.name;
    }
  }
}

// Every combination of the inputs that matter. The expected decision is
// spelled out as the rule list of the header, independently of the code.
enum class Pin { kNone, kRunnable, kUnrunnable };
enum class Rollback { kNone, kCovers, kSkips };

TEST(EvaluateTest, ExhaustiveCombinations) {
  // Buckets >= 1, so that a 0.01% rollback cohort skips them.
  const std::string in = DeviceWhere([](std::uint32_t b) { return b >= 1 && b < 5000; });
  const std::string out = OutOfStage2();
  int checked = 0;
  for (RolloutState state : {RolloutState::kActive, RolloutState::kPaused, RolloutState::kHalted}) {
    for (Pin pin : {Pin::kNone, Pin::kRunnable, Pin::kUnrunnable}) {
      for (bool in_bucket : {true, false}) {
        for (bool selectors_match : {true, false}) {
          for (const char* installed : {"", "1.0.0", "1.5.0", "1.6.0", "2.0.0"}) {
            for (Rollback rollback : {Rollback::kNone, Rollback::kCovers, Rollback::kSkips}) {
              RolloutManifest m = Manifest();
              m.state = state;
              m.stages[2].selectors.attributes = {{"soc", {"sm8650", "sm8550"}}};
              if (pin == Pin::kRunnable) m.pins = {RolloutPin{R(">=3.0.0"), V("1.5.0")}};
              if (pin == Pin::kUnrunnable) m.pins = {RolloutPin{R(">=3.0.0"), V("1.6.0")}};
              if (rollback == Rollback::kCovers) m.rollback = RollbackOrder{V("1.0.0"), {}};
              if (rollback == Rollback::kSkips) {
                m.rollback = RollbackOrder{V("1.0.0"), {RollbackCohorts::Kind::kPercent, {}, 1}};
              }
              DeviceFacts d = Device(in_bucket ? in : out);
              if (!selectors_match) d.attributes["soc"] = "exynos";
              const InstalledState now_on = On(installed);
              const std::string inst = installed;

              DecisionKind kind = DecisionKind::kStay;
              std::string version = inst;
              if (pin == Pin::kUnrunnable) {
                kind = DecisionKind::kIncompatiblePin, version = "1.6.0";
              } else if (pin == Pin::kRunnable) {
                if (state != RolloutState::kHalted || inst == "1.5.0") {
                  kind = DecisionKind::kPinned, version = "1.5.0";
                }
              } else if (rollback == Rollback::kCovers && inst == "2.0.0") {
                kind = DecisionKind::kRollBack, version = "1.0.0";
              } else if (inst != "2.0.0" && rollback == Rollback::kNone &&
                         state == RolloutState::kActive && in_bucket && selectors_match) {
                kind = DecisionKind::kInstall, version = "2.0.0";
              }

              const Decision got = Decide(m, d, now_on, kNow);
              const std::string label =
                  std::string(manifest::RolloutStateName(state)) +
                  " pin=" + std::to_string(static_cast<int>(pin)) +
                  " in=" + std::to_string(in_bucket) + " match=" + std::to_string(selectors_match) +
                  " installed=" + inst + " rollback=" + std::to_string(static_cast<int>(rollback));
              EXPECT_EQ(DecisionKindName(got.kind), DecisionKindName(kind)) << label;
              EXPECT_EQ(got.version,
                        version.empty() ? std::nullopt : std::optional<Version>(V(version)))
                  << label;
              EXPECT_FALSE(got.reason.empty()) << label;
              ++checked;
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(checked, 3 * 3 * 2 * 2 * 5 * 3);
}

TEST(EvaluateTest, MatchesSelectorsTable) {
  struct SelectorCase {
    const char* name;
    std::function<void(StageSelectors&)> setup;
    bool matches;
    std::string why_not;
  };
  const std::vector<SelectorCase> cases = {
      {"empty matches", [](StageSelectors&) {}, true, ""},
      {"attribute equal",
       [](StageSelectors& s) {
         s.attributes = {{"soc", {"sm8650"}}};
       },
       true, ""},
      {"attribute member",
       [](StageSelectors& s) {
         s.attributes = {{"soc", {"sm8550", "sm8650"}}};
       },
       true, ""},
      {"attribute differs",
       [](StageSelectors& s) {
         s.attributes = {{"soc", {"sm8550"}}};
       },
       false, "attribute soc \"sm8650\" is not one of sm8550"},
      {"attribute missing",
       [](StageSelectors& s) {
         s.attributes = {{"ram_gb", {"8"}}};
       },
       false, "attribute ram_gb is not set (wanted 8)"},
      {"every attribute must match",
       [](StageSelectors& s) {
         s.attributes = {{"os", {"android"}}, {"soc", {"x"}}};
       },
       false, "attribute soc \"sm8650\" is not one of x"},
      {"app version inside", [](StageSelectors& s) { s.app_version = R(">=3.0.0 <4.0.0"); }, true,
       ""},
      {"app version outside", [](StageSelectors& s) { s.app_version = R(">=3.2.0"); }, false,
       "app version 3.1.0 is not in \">=3.2.0\""},
      {"any tag",
       [](StageSelectors& s) {
         s.tags_any_of = {"canary", "beta"};
       },
       true, ""},
      {"no tag of any_of",
       [](StageSelectors& s) {
         s.tags_any_of = {"canary", "dogfood"};
       },
       false, "no tag is one of canary, dogfood"},
      {"all tags",
       [](StageSelectors& s) {
         s.tags_all_of = {"beta", "wifi"};
       },
       true, ""},
      {"a tag of all_of missing",
       [](StageSelectors& s) {
         s.tags_all_of = {"beta", "charging"};
       },
       false, "tag charging is missing"},
      {"region listed",
       [](StageSelectors& s) {
         s.regions = {"us", "eu"};
       },
       true, ""},
      {"region not listed", [](StageSelectors& s) { s.regions = {"us"}; }, false,
       "region \"eu\" is not one of us"},
  };
  for (const SelectorCase& c : cases) {
    StageSelectors s;
    c.setup(s);
    std::string why_not;
    EXPECT_EQ(MatchesSelectors(s, Device("d"), &why_not), c.matches) << c.name;
    EXPECT_EQ(why_not, c.why_not) << c.name;
  }
  DeviceFacts no_region = Device("d");
  no_region.region.clear();
  StageSelectors regions;
  regions.regions = {"eu"};
  EXPECT_FALSE(MatchesSelectors(regions, no_region));
}

// Raising a stage's percent with the same selectors only adds devices, and a
// device that installed stays on the target afterwards.
TEST(EvaluateTest, WideningOnlyAddsDevices) {
  constexpr int kDevices = 10000;
  RolloutManifest m = Manifest();
  m.stages = {Stage(1), Stage(100), Stage(500), Stage(2000), Stage(5000), Stage(10000)};
  for (RolloutStage& s : m.stages) s.selectors.regions = {"eu"};
  std::vector<bool> on_target(kDevices, false);
  std::size_t previous = 0;
  int eu_devices = 0;
  for (std::size_t stage = 0; stage < m.stages.size(); ++stage) {
    m.current_stage = stage;
    std::size_t installed = 0;
    for (int i = 0; i < kDevices; ++i) {
      DeviceFacts d = Device("device-" + std::to_string(i));
      if (i % 3 == 0) d.region = "us";
      if (stage == 0 && d.region == "eu") ++eu_devices;
      const Decision fresh = Decide(m, d, On("1.0.0"), kNow);
      const bool installs = fresh.kind == DecisionKind::kInstall;
      // Widening never drops a device that an earlier stage took.
      if (on_target[i]) {
        ASSERT_TRUE(installs) << "device " << i << " left at stage " << stage;
        const Decision kept = Decide(m, d, On("2.0.0"), kNow);
        ASSERT_EQ(kept.kind, DecisionKind::kStay);
        ASSERT_EQ(kept.reason, "already on target 2.0.0");
      }
      // Membership is exactly bucket < percent among matching devices.
      ASSERT_EQ(installs, d.region == "eu" && CohortBucket(d.device_id, kRolloutId) <
                                                  m.stages[stage].percent_hundredths)
          << "device " << i << " stage " << stage;
      if (installs) {
        on_target[i] = true;
        ++installed;
      }
    }
    EXPECT_GE(installed, previous) << "stage " << stage;
    previous = installed;
  }
  EXPECT_EQ(previous, static_cast<std::size_t>(eu_devices));
}

// Each device enters at exactly one threshold: percent = bucket + 1
// hundredths. Below it the device stays, from it on it installs.
TEST(EvaluateTest, EachDeviceEntersAtItsBucket) {
  RolloutManifest m = Manifest();
  m.stages = {Stage(1)};
  m.current_stage = 0;
  for (int i = 0; i < 2000; ++i) {
    const DeviceFacts d = Device("device-" + std::to_string(i));
    const std::uint32_t bucket = CohortBucket(d.device_id, kRolloutId);
    if (bucket > 0) {
      m.stages[0].percent_hundredths = bucket;
      ASSERT_EQ(Decide(m, d, On(""), kNow).kind, DecisionKind::kStay) << i;
    }
    m.stages[0].percent_hundredths = bucket + 1;
    ASSERT_EQ(Decide(m, d, On(""), kNow).kind, DecisionKind::kInstall) << i;
  }
}

TEST(EvaluateTest, NextStageAllowedWaitsForTheSoak) {
  RolloutManifest m = Manifest();
  m.stages[2].min_soak_seconds = 7200;
  const TimePoint soak_end = kStart + std::chrono::seconds(7200);
  EXPECT_EQ(SoakEndsAt(m), soak_end);
  EXPECT_FALSE(NextStageAllowed(m, kStart));
  EXPECT_FALSE(NextStageAllowed(m, soak_end - std::chrono::seconds(1)));
  EXPECT_TRUE(NextStageAllowed(m, soak_end));
  EXPECT_TRUE(NextStageAllowed(m, soak_end + std::chrono::hours(100)));

  m.stages[2].min_soak_seconds = 0;
  EXPECT_TRUE(NextStageAllowed(m, kStart));
  EXPECT_FALSE(NextStageAllowed(m, kStart - std::chrono::seconds(1)));
}

TEST(EvaluateTest, NextStageAllowedOnlyForAnActiveRolloutWithAStageLeft) {
  const TimePoint late = kStart + std::chrono::hours(24 * 400);
  RolloutManifest m = Manifest();
  ASSERT_TRUE(NextStageAllowed(m, late));
  m.current_stage = m.stages.size() - 1;
  EXPECT_FALSE(NextStageAllowed(m, late));

  m = Manifest();
  m.state = RolloutState::kPaused;
  EXPECT_FALSE(NextStageAllowed(m, late));
  m.state = RolloutState::kHalted;
  EXPECT_FALSE(NextStageAllowed(m, late));

  m = Manifest();
  m.rollback = RollbackOrder{V("1.0.0"), {}};
  EXPECT_FALSE(NextStageAllowed(m, late));
}

TEST(EvaluateTest, SoakEndSaturatesAtTheEndOfTime) {
  RolloutManifest m = Manifest();
  m.stage_started_at = TimePoint::max() - std::chrono::seconds(10);
  m.stages[2].min_soak_seconds = 3600;
  EXPECT_EQ(SoakEndsAt(m), TimePoint::max());
  EXPECT_FALSE(NextStageAllowed(m, TimePoint::max()));
}

TEST(EvaluateTest, DecisionKindNames) {
  EXPECT_EQ(DecisionKindName(DecisionKind::kInstall), "install");
  EXPECT_EQ(DecisionKindName(DecisionKind::kStay), "stay");
  EXPECT_EQ(DecisionKindName(DecisionKind::kRollBack), "roll-back");
  EXPECT_EQ(DecisionKindName(DecisionKind::kPinned), "pinned");
  EXPECT_EQ(DecisionKindName(DecisionKind::kIncompatiblePin), "incompatible-pin");
}

}  // namespace
}  // namespace ota::rollout
