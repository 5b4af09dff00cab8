#include "ota/rollout/controller.h"

#include <string>
#include <utility>
#include <vector>

#include "test_support.h"

namespace ota::rollout {
namespace {

using manifest::RolloutManifest;
using manifest::RolloutState;

const manifest::TimePoint kControllerStart =
    manifest::TimePoint(std::chrono::seconds(1'800'000'000));

RolloutManifest ControllerManifest(std::size_t current_stage = 0) {
  RolloutManifest m;
  m.rollout_id = "r1";
  m.model = "chat";
  m.version = 1;
  m.target.bundle_version = *manifest::ParseVersion("2.0.0");
  for (std::uint32_t p : {100u, 1000u, 10000u}) {
    manifest::RolloutStage s;
    s.percent_hundredths = p;
    s.min_soak_seconds = 3600;
    m.stages.push_back(s);
  }
  m.current_stage = current_stage;
  m.stage_started_at = kControllerStart;
  EXPECT_OK(manifest::ValidateRolloutManifest(m));
  return m;
}

StageCounts Counts(std::uint64_t confirmed, std::uint64_t failed, std::uint64_t downloading = 0,
                   std::uint64_t rolled_back = 0, std::uint64_t shadow_fail = 0) {
  StageCounts c;
  c.targeted = 100;
  c.At(DevicePhase::kConfirmed) = confirmed;
  c.At(DevicePhase::kFailed) = failed;
  c.At(DevicePhase::kDownloading) = downloading;
  c.At(DevicePhase::kRolledBack) = rolled_back;
  c.At(DevicePhase::kShadowFail) = shadow_fail;
  return c;
}

struct ControllerCase {
  std::string name;
  RolloutManifest manifest;
  ControllerPolicy policy;
  StageCounts counts;
  manifest::TimePoint now;
  ControllerAction want;
};

ControllerPolicy Policy(double success, std::uint64_t min_reporting, double error_pct,
                        std::uint64_t max_errors, bool manual = false,
                        ErrorAction on_error = ErrorAction::kPause) {
  ControllerPolicy p;
  p.defaults = {success, min_reporting, error_pct, max_errors, on_error};
  p.manual_approval = manual;
  return p;
}

TEST(ControllerTest, DecisionTable) {
  const auto after_soak = kControllerStart + std::chrono::hours(2);
  const auto in_soak = kControllerStart + std::chrono::minutes(30);
  RolloutManifest paused = ControllerManifest();
  paused.state = RolloutState::kPaused;
  RolloutManifest last = ControllerManifest(2);
  const std::vector<ControllerCase> cases = {
      {"advance after soak", ControllerManifest(), Policy(90, 10, 20, 0), Counts(10, 0), after_soak,
       ControllerAction::kAdvance},
      {"wait during soak", ControllerManifest(), Policy(90, 10, 20, 0), Counts(10, 0), in_soak,
       ControllerAction::kNone},
      {"too few reporting", ControllerManifest(), Policy(90, 10, 20, 0), Counts(9, 0), after_soak,
       ControllerAction::kNone},
      {"success below threshold", ControllerManifest(), Policy(90, 10, 50, 0), Counts(8, 0, 2),
       after_soak, ControllerAction::kNone},
      {"pause on error percent", ControllerManifest(), Policy(90, 10, 20, 0), Counts(8, 2), in_soak,
       ControllerAction::kPause},
      {"error percent ignored below min reporting", ControllerManifest(), Policy(90, 10, 20, 0),
       Counts(0, 3), in_soak, ControllerAction::kNone},
      {"absolute errors count below min reporting", ControllerManifest(), Policy(90, 10, 20, 3),
       Counts(0, 1, 0, 1, 1), in_soak, ControllerAction::kPause},
      {"halt when policy says so", ControllerManifest(),
       Policy(90, 2, 20, 0, false, ErrorAction::kHalt), Counts(1, 1), in_soak,
       ControllerAction::kHalt},
      {"manual approval waits for operator", ControllerManifest(), Policy(90, 10, 20, 0, true),
       Counts(10, 0), after_soak, ControllerAction::kAwaitApproval},
      {"paused rollout untouched", paused, Policy(90, 1, 1, 1), Counts(0, 5), after_soak,
       ControllerAction::kNone},
      {"final stage never advances", last, Policy(90, 1, 20, 0), Counts(10, 0), after_soak,
       ControllerAction::kNone},
      {"final stage still pauses on errors", last, Policy(90, 1, 20, 0), Counts(1, 9), after_soak,
       ControllerAction::kPause},
      {"incompatible is not an error", ControllerManifest(), Policy(50, 4, 20, 0),
       [] {
         StageCounts c = Counts(2, 0);
         c.At(DevicePhase::kIncompatible) = 2;
         return c;
       }(),
       after_soak, ControllerAction::kAdvance},
      {"more confirmed than targeted never advances", ControllerManifest(), Policy(90, 10, 20, 0),
       [] {
         StageCounts c = Counts(25, 0);
         c.targeted = 1;
         return c;
       }(),
       after_soak, ControllerAction::kRefuseAdvance},
      {"more reporting than targeted still pauses on errors", ControllerManifest(),
       Policy(90, 10, 20, 0),
       [] {
         StageCounts c = Counts(5, 20);
         c.targeted = 1;
         return c;
       }(),
       in_soak, ControllerAction::kPause},
  };
  for (const ControllerCase& c : cases) {
    ControllerDecision d = EvaluateStage(c.manifest, c.policy, c.counts, c.now);
    EXPECT_EQ(d.action, c.want) << c.name << ": " << d.reason;
    EXPECT_FALSE(d.reason.empty()) << c.name;
  }
}

TEST(ControllerTest, PerStagePolicyOverridesDefaults) {
  ControllerPolicy p = Policy(90, 100, 20, 0);
  p.stages.push_back({90, 2, 20, 0, ErrorAction::kPause});
  const auto after_soak = kControllerStart + std::chrono::hours(2);
  EXPECT_EQ(EvaluateStage(ControllerManifest(0), p, Counts(2, 0), after_soak).action,
            ControllerAction::kAdvance);
  EXPECT_EQ(EvaluateStage(ControllerManifest(1), p, Counts(2, 0), after_soak).action,
            ControllerAction::kNone);
}

TEST(ControllerTest, PhaseForEventMapsAgentEvents) {
  using nlohmann::json;
  struct Row {
    json event;
    std::optional<DevicePhase> want;
  };
  const std::vector<Row> rows = {
      {{{"type", "state"}, {"state", "downloading"}}, DevicePhase::kDownloading},
      {{{"type", "state"}, {"state", "activating"}}, DevicePhase::kDownloading},
      {{{"type", "state"}, {"state", "switching"}}, DevicePhase::kDownloading},
      {{{"type", "state"}, {"state", "confirming"}}, DevicePhase::kActivated},
      {{{"type", "state"}, {"state", "committed"}}, DevicePhase::kConfirmed},
      {{{"type", "state"}, {"state", "rolling-back"}}, DevicePhase::kRolledBack},
      {{{"type", "state"}, {"state", "failed"}}, DevicePhase::kFailed},
      {{{"type", "state"}, {"state", "failed"}, {"error_code", "incompatible"}},
       DevicePhase::kIncompatible},
      {{{"type", "shadow-result"}, {"verdict", "pass"}}, DevicePhase::kShadowPass},
      {{{"type", "shadow-result"}, {"verdict", "fail"}}, DevicePhase::kShadowFail},
      {{{"type", "insufficient-space"}}, DevicePhase::kIncompatible},
      {{{"type", "enrolled"}}, std::nullopt},
      {{{"type", "state"}, {"state", "bogus"}}, std::nullopt},
      {json::array(), std::nullopt},
  };
  for (const Row& r : rows) EXPECT_EQ(PhaseForEvent(r.event), r.want) << r.event.dump();
  EXPECT_EQ(PhaseAfter(DevicePhase::kRolledBack, DevicePhase::kFailed), DevicePhase::kRolledBack);
  EXPECT_EQ(PhaseAfter(DevicePhase::kDownloading, DevicePhase::kFailed), DevicePhase::kFailed);
  // A shadow refusal ends the deployment as failed-incompatible; it stays an error.
  EXPECT_EQ(PhaseAfter(DevicePhase::kShadowFail, DevicePhase::kIncompatible),
            DevicePhase::kShadowFail);
  EXPECT_EQ(PhaseAfter(DevicePhase::kShadowFail, DevicePhase::kFailed), DevicePhase::kShadowFail);
  EXPECT_EQ(PhaseAfter(DevicePhase::kShadowFail, DevicePhase::kDownloading),
            DevicePhase::kDownloading);
  for (int i = 0; i < kDevicePhaseCount; ++i) {
    auto p = static_cast<DevicePhase>(i);
    EXPECT_EQ(ParseDevicePhase(DevicePhaseName(p)), p);
  }
}

TEST(ControllerTest, PolicyParsing) {
  using nlohmann::json;
  auto p = ParseControllerPolicy(json{{"success_percent", 95},
                                      {"min_reporting", 5},
                                      {"error_percent", 2.5},
                                      {"max_errors", 3},
                                      {"on_error", "halt"},
                                      {"approval", "manual"},
                                      {"stages", {{{"min_reporting", 1}}}}});
  ASSERT_OK(p);
  EXPECT_TRUE(p->manual_approval);
  EXPECT_EQ(p->defaults.on_error, ErrorAction::kHalt);
  ASSERT_EQ(p->stages.size(), 1u);
  EXPECT_EQ(p->stages[0].min_reporting, 1u);
  EXPECT_EQ(p->stages[0].max_errors, 3u);  // Inherited from the defaults.
  auto round = ParseControllerPolicy(ToJson(*p));
  ASSERT_OK(round);
  EXPECT_EQ(ToJson(*round), ToJson(*p));
  // Each malformed policy is refused for its own reason.
  const std::vector<std::pair<json, std::string>> bad = {
      {json{{"success_percent", 101}}, "policy.success_percent must be a number from 0 to 100"},
      {json{{"min_reporting", -1}}, "policy.min_reporting must be a non-negative integer"},
      {json{{"min_reporting", 0}}, "policy.min_reporting must be at least 1"},
      {json{{"approval", "sometimes"}}, "policy.approval must be \"auto\" or \"manual\""},
      {json{{"bogus", 1}}, "policy: unknown field bogus"},
      {json::array(), "policy must be an object"},
  };
  for (const auto& [policy, message] : bad) {
    auto parsed = ParseControllerPolicy(policy);
    ASSERT_FALSE(parsed.ok()) << policy.dump();
    EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument) << policy.dump();
    EXPECT_EQ(parsed.error().message, message) << policy.dump();
  }
}

}  // namespace
}  // namespace ota::rollout
