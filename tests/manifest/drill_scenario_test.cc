// Drill scenarios: the shipped examples parse; every rule refuses with a
// message naming the field.
#include "ota/manifest/drill_scenario.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace ota::manifest {
namespace {

using nlohmann::json;

json Minimal() {
  return {{"schema", "modelota.drill/1"},
          {"name", "small"},
          {"fleet", {{"devices", 10}}},
          {"release", {{"from", "1.0.0"}, {"to", "2.0.0"}}},
          {"rollout", {{"stages", {{{"percent", 100}}}}}}};
}

std::string Refusal(const json& j) {
  auto s = ParseDrillScenario(j.dump());
  EXPECT_FALSE(s.ok()) << j.dump();
  if (s.ok()) return "";
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  return s.error().message;
}

// A shipped scenario of examples/drills, parsed.
Result<DrillScenario> ParseExample(const std::string& name) {
  std::ifstream in(std::string(OTA_SOURCE_DIR) + "/examples/drills/" + name);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream text;
  text << in.rdbuf();
  return ParseDrillScenario(text.str());
}

TEST(DrillScenarioTest, TheShippedExampleParses) {
  auto s = ParseExample("canary-shadow-fail.json");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->fleet.devices, 1000u);
  ASSERT_EQ(s->fleet.groups.size(), 2u);
  EXPECT_EQ(s->fleet.groups[0].tags, std::vector<std::string>({"old-npu"}));
  ASSERT_EQ(s->stages.size(), 3u);
  EXPECT_EQ(s->stages[0].percent, 10u);
  ASSERT_EQ(s->faults.size(), 1u);
  EXPECT_EQ(s->faults[0].kind, DrillFaultKind::kShadowFail);
  EXPECT_EQ(s->faults[0].percent, 100u);
  EXPECT_EQ(s->expect.stopped_before_stage, 1u);
  EXPECT_TRUE(s->expect.canary_only);
  EXPECT_EQ(s->response.reaction_seconds, 900u);
  EXPECT_EQ(s->policy["on_error"], "halt");
}

TEST(DrillScenarioTest, ThePowerLossExampleParses) {
  auto s = ParseExample("power-loss-mid-update.json");
  ASSERT_TRUE(s.ok()) << s.error().message;
  ASSERT_EQ(s->faults.size(), 1u);
  EXPECT_EQ(s->faults[0].kind, DrillFaultKind::kPowerLoss);
  EXPECT_EQ(s->faults[0].percent, 10u);
  EXPECT_TRUE(s->faults[0].groups.empty());
  EXPECT_EQ(DrillFaultName(s->faults[0].kind), "power-loss");
}

TEST(DrillScenarioTest, DefaultsFillWhatIsLeftOut) {
  auto s = ParseDrillScenario(Minimal().dump());
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->seed, 1u);
  EXPECT_EQ(s->fleet.check_interval_seconds, 3600u);
  EXPECT_EQ(s->duration_seconds, 86400u);
  EXPECT_EQ(s->controller_interval_seconds, 300u);
  EXPECT_TRUE(s->response.rollback_on_stop);
  EXPECT_FALSE(s->expect.stopped_before_stage);
}

TEST(DrillScenarioTest, RefusesWithTheFieldAndTheRule) {
  EXPECT_EQ(ParseDrillScenario("{").error().message, "drill scenario: not valid JSON");
  json j = Minimal();
  j["schema"] = "modelota.drill/2";
  EXPECT_EQ(Refusal(j),
            "drill scenario: schema must be \"modelota.drill/1\", not \"modelota.drill/2\"");
  j = Minimal();
  j["extra"] = 1;
  EXPECT_EQ(Refusal(j), "drill scenario: the scenario has the unknown field \"extra\"");
  j = Minimal();
  j["fleet"]["devices"] = 0;
  EXPECT_EQ(Refusal(j),
            "drill scenario: fleet.devices must be a whole number from 1 to 100000, not 0");
  j = Minimal();
  j["fleet"]["devices"] = -3;
  EXPECT_NE(Refusal(j).find("fleet.devices must be a whole number"), std::string::npos);
  j = Minimal();
  j["fleet"]["jitter_seconds"] = 7200;
  EXPECT_EQ(Refusal(j),
            "drill scenario: fleet.jitter_seconds must be a whole number from 0 to 3600, not 7200");
  j = Minimal();
  j["release"]["to"] = "0.9.0";
  EXPECT_EQ(Refusal(j), "drill scenario: release.to must be a higher version than release.from");
  j = Minimal();
  j["release"]["from"] = "one";
  EXPECT_NE(Refusal(j).find("release.from: "), std::string::npos);
  j = Minimal();
  j["rollout"]["stages"] = {{{"percent", 50}}, {{"percent", 40}}};
  EXPECT_EQ(Refusal(j),
            "drill scenario: rollout.stages[1].percent must be above the stage before it (50)");
  j = Minimal();
  j["rollout"]["stages"] = {{{"percent", 50}}};
  EXPECT_EQ(Refusal(j), "drill scenario: the last of rollout.stages must be 100%");
  j = Minimal();
  j["fleet"]["groups"] = {{{"name", "a"}, {"percent", 60}}, {{"name", "b"}, {"percent", 50}}};
  EXPECT_EQ(Refusal(j), "drill scenario: fleet.groups add up to more than 100 percent");
  j = Minimal();
  j["fleet"]["groups"] = {{{"name", "a"}, {"percent", 10}}, {{"name", "a"}, {"percent", 10}}};
  EXPECT_EQ(Refusal(j), "drill scenario: fleet.groups[1].name \"a\" is used twice");
  j = Minimal();
  j["faults"] = {{{"kind", "shadow-fail"}, {"groups", {"nobody"}}}};
  EXPECT_EQ(Refusal(j), "drill scenario: faults[0].groups names the unknown group \"nobody\"");
  j = Minimal();
  j["faults"] = {{{"kind", "meteor"}}};
  EXPECT_EQ(Refusal(j),
            "drill scenario: faults[0].kind must be \"shadow-fail\", \"sessions-fail\", "
            "\"crash-after-activation\", \"load-fail\" or \"power-loss\", not \"meteor\"");
  j = Minimal();
  j["faults"] = {{{"kind", "power-loss"}, {"percent", 0}}};
  EXPECT_EQ(Refusal(j),
            "drill scenario: faults[0].percent must be a whole number from 1 to 100, not 0");
  j = Minimal();
  j["faults"] = {{{"kind", "power-loss"}, {"share", 0.1}}};
  EXPECT_EQ(Refusal(j), "drill scenario: faults[0] has the unknown field \"share\"");
  j = Minimal();
  j["operator"] = {{"on_stop", "panic"}};
  EXPECT_EQ(Refusal(j),
            "drill scenario: operator.on_stop must be \"rollback\" or \"none\", not \"panic\"");
  j = Minimal();
  j["expect"] = {{"stopped_before_stage", 2}};
  EXPECT_EQ(
      Refusal(j),
      "drill scenario: expect.stopped_before_stage must be a whole number from 1 to 1, not 2");
  j = Minimal();
  j["rollout"]["policy"] = "strict";
  EXPECT_EQ(Refusal(j), "drill scenario: rollout.policy must be an object, not string");
  j = Minimal();
  j["network"] = {{"outages",
                   {{{"at_seconds", 100}, {"duration_seconds", 600}},
                    {{"at_seconds", 500}, {"duration_seconds", 60}}}}};
  EXPECT_EQ(Refusal(j),
            "drill scenario: network.outages[1] starts before the outage before it ends (outages "
            "go in time order and do not overlap)");
  j = Minimal();
  j["network"] = {{"truncated_downloads", -1}};
  EXPECT_NE(Refusal(j).find("network.truncated_downloads must be a whole number"),
            std::string::npos);
  EXPECT_EQ(ParseDrillScenario(std::string(2 << 20, ' ')).error().message,
            "drill scenario: more than 1 MiB of JSON");
}

}  // namespace
}  // namespace ota::manifest
