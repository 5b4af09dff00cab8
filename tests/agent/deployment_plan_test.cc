#include "deployment_plan.h"

#include "test_support.h"

namespace ota::agent {
namespace {

DeltaTarget SomeDelta() {
  manifest::TargetFile file;
  file.length = 1234;
  file.hashes["sha256"] = std::string(64, 'c');
  file.custom = {{"modelota_delta",
                  {{"name", "chat"},
                   {"version", "1.1.0"},
                   {"delta_from", std::string(64, 'a')},
                   {"delta_to", std::string(64, 'b')},
                   {"delta_of", "bundles/chat/1.1.0.otab"},
                   {"head", {{"length", 300}, {"sha256", std::string(64, 'd')}}}}}};
  return DeltaTarget{"deltas/chat/1.1.0-from-aaaa.otad",
                     file,
                     std::string(64, 'c'),
                     false,
                     "",
                     manifest::ContainerHead{300, std::string(64, 'd')}};
}

TEST(DeploymentPlanTest, ADeltaPlanRoundTripsAndCountsTheWorstCase) {
  PlanInputs in;
  in.version = "1.1.0";
  in.target_path = "bundles/chat/1.1.0.otab";
  in.target_id = std::string(64, 'b');
  in.bundle_bytes = 10'000;
  in.unpacked_bytes = 12'000;
  in.delta = SomeDelta();
  in.previous_id = std::string(64, 'a');
  in.previous_version = "1.0.0";
  in.space_margin_bytes = 100;
  in.shadow_policy = nlohmann::json{{"gate", "equivalence"}};
  const DeploymentPlan plan = MakePlan(in);
  EXPECT_EQ(plan.download_bytes, 1234u);
  EXPECT_EQ(plan.space_needed, 10'000u + 12'000u + 100u);
  EXPECT_EQ(plan.rollback_version, "1.0.0");
  EXPECT_EQ(nlohmann::json::parse(plan.shadow_policy)["gate"], "equivalence");
  auto back = PlannedDelta(SavePlan(plan, in.delta));
  ASSERT_OK(back);
  ASSERT_TRUE(back->has_value());
  EXPECT_EQ((*back)->path, in.delta->path);
  EXPECT_EQ((*back)->sha256, in.delta->sha256);
  EXPECT_EQ((*back)->head, in.delta->head);
  EXPECT_EQ((*back)->file.length, 1234u);
  const nlohmann::json shown = PlanJson(plan);
  EXPECT_EQ(shown["delta"]["fallback"], "full bundle");
  EXPECT_EQ(shown["rollback_to"]["version"], "1.0.0");
}

TEST(DeploymentPlanTest, APlanWithoutADeltaAndDamagedPlansAreNotThrown) {
  PlanInputs in;
  in.bundle_bytes = 10;
  const DeploymentPlan plan = MakePlan(in);
  EXPECT_EQ(plan.download_bytes, 10u);
  EXPECT_EQ(plan.space_needed, 20u);  // No unpacked size signed: the bundle's.
  auto none = PlannedDelta(SavePlan(plan, std::nullopt));
  ASSERT_OK(none);
  EXPECT_FALSE(none->has_value());
  for (const char* bad :
       {"", "[]", R"({"schema": 5})", R"({"schema": "modelota.plan/1", "delta_target": {}})",
        R"({"schema": "modelota.plan/1", "plan": {"delta": {"target": 1}}, "delta_target": {}})",
        R"({"schema": "modelota.plan/1", "plan": {"delta": {"target": "x"}},
            "delta_target": {"length": 1, "hashes": {"sha256": "x"}}})"}) {
    auto r = PlannedDelta(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
}

}  // namespace
}  // namespace ota::agent
