#include "ota/shadow/policy.h"

#include <gtest/gtest.h>

#include "ota/shadow/report.h"

namespace ota::shadow {
namespace {

using nlohmann::json;

std::string PolicyErrorOf(const json& bundle, const json* rollout = nullptr) {
  Result<Policy> p = ResolvePolicy(&bundle, rollout);
  return p.ok() ? "(ok)" : p.error().message;
}

TEST(PolicyTest, DefaultsPerGate) {
  const Thresholds eq = DefaultThresholds(Gate::kEquivalence);
  EXPECT_EQ(eq.min_same_top1, 0.975);
  EXPECT_EQ(eq.max_mean_kl, 0.002);
  const Thresholds rq = DefaultThresholds(Gate::kRequantization);
  EXPECT_EQ(rq.min_same_top1, 0.91);
  EXPECT_EQ(rq.max_mean_kl, 0.035);
  const Thresholds bh = DefaultThresholds(Gate::kBehaviour);
  EXPECT_FALSE(bh.min_same_top1.has_value());
  EXPECT_EQ(bh.max_regressions, 0u);
  Result<Policy> none = ResolvePolicy(nullptr, nullptr);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->gate, Gate::kEquivalence);
  EXPECT_TRUE(none->sequential_memory);
  EXPECT_EQ(none->on_inconclusive, InconclusiveAction::kTreatAsFail);
}

TEST(PolicyTest, RolloutOverridesBundleFieldByField) {
  const json bundle = json::parse(R"({"gate": "equivalence", "time_budget_seconds": 60,
      "thresholds": {"max_mean_kl": 0.01, "max_p99_kl": 0.5}, "inconclusive": "retry"})");
  const json rollout = json::parse(R"({"gate": "requantization",
      "thresholds": {"max_p99_kl": null, "max_latency_ratio": 3}, "sequential_memory": false})");
  Result<Policy> p = ResolvePolicy(&bundle, &rollout);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->gate, Gate::kRequantization);
  EXPECT_EQ(p->thresholds.min_same_top1, 0.91);        // The rollout's gate defaults...
  EXPECT_EQ(p->thresholds.max_mean_kl, 0.01);          // ... under the bundle's override ...
  EXPECT_FALSE(p->thresholds.max_p99_kl.has_value());  // ... under the rollout's.
  EXPECT_EQ(p->thresholds.max_latency_ratio, 3.0);
  EXPECT_EQ(p->time_budget, std::chrono::seconds(60));
  EXPECT_EQ(p->on_inconclusive, InconclusiveAction::kRetry);
  EXPECT_FALSE(p->sequential_memory);
  EXPECT_EQ(PolicyToJson(*p)["gate"], "requantization");
}

TEST(PolicyTest, RefusesMalformedPolicies) {
  EXPECT_EQ(PolicyErrorOf({{"gate", "vibes"}}),
            "bundle.json shadow.policy.gate: gate \"vibes\" must be one of equivalence, "
            "requantization, behaviour");
  EXPECT_EQ(PolicyErrorOf({{"thresholds", {{"max_mean_kl", -1}}}}),
            "bundle.json shadow.policy.thresholds.max_mean_kl must be a number from 0 to 100 or "
            "null, not -1");
  EXPECT_EQ(PolicyErrorOf({{"thresholds", {{"min_same_top1", 2}}}}),
            "bundle.json shadow.policy.thresholds.min_same_top1 is a rate and must be at most 1, "
            "not 2");
  EXPECT_EQ(PolicyErrorOf({{"thresholds", {{"max_kl", 1}}}}),
            "bundle.json shadow.policy.thresholds has the unknown threshold \"max_kl\"");
  EXPECT_EQ(PolicyErrorOf({{"inconclusive", "shrug"}}),
            "bundle.json shadow.policy.inconclusive must be \"treat-as-fail\", \"treat-as-pass\" "
            "or \"retry\", not \"shrug\"");
  EXPECT_EQ(PolicyErrorOf({{"time_budget_seconds", 0}}),
            "bundle.json shadow.policy.time_budget_seconds must be an integer from 1 to 86400, "
            "not 0");
  EXPECT_EQ(PolicyErrorOf({{"budget", 1}}),
            "bundle.json shadow.policy has the unknown field \"budget\"");
  const json rollout = {{"sequential_memory", "yes"}};
  EXPECT_EQ(PolicyErrorOf(json::object(), &rollout),
            "rollout shadow_policy.sequential_memory must be true or false");
}

TEST(PolicyTest, MirrorMergesFieldByFieldAndNullTurnsItOff) {
  const json bundle = {{"mirror", {{"sample_rate", 0.2}, {"min_samples", 5}}}};
  Result<Policy> p = ResolvePolicy(&bundle, nullptr);
  ASSERT_TRUE(p.ok()) << p.error().message;
  ASSERT_TRUE(p->mirror.has_value());
  EXPECT_EQ(p->mirror->sample_rate, 0.2);
  EXPECT_EQ(p->mirror->min_samples, 5u);
  EXPECT_EQ(p->mirror->cpu_budget, 0.1);  // Default.
  EXPECT_EQ(p->mirror->max_regressions, 0u);
  EXPECT_FALSE(p->mirror->min_same_top1.has_value());

  const json rollout = {
      {"mirror", {{"min_samples", 50}, {"min_same_top1", 0.8}, {"max_wait_seconds", 60}}}};
  p = ResolvePolicy(&bundle, &rollout);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->mirror->sample_rate, 0.2);  // The bundle's.
  EXPECT_EQ(p->mirror->min_samples, 50u);  // The rollout's.
  EXPECT_EQ(p->mirror->min_same_top1, 0.8);
  EXPECT_EQ(p->mirror->max_wait, std::chrono::seconds(60));
  EXPECT_EQ(PolicyToJson(*p)["mirror"]["min_samples"], 50);

  const json off = {{"mirror", nullptr}};
  p = ResolvePolicy(&bundle, &off);
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->mirror.has_value());
  EXPECT_TRUE(PolicyToJson(*p)["mirror"].is_null());

  EXPECT_EQ(PolicyErrorOf({{"mirror", {{"sample_rate", 2}}}}),
            "bundle.json shadow.policy.mirror.sample_rate must be a number from 0 to 1, not 2");
  EXPECT_EQ(PolicyErrorOf({{"mirror", {{"cpu_budget", 0}}}}),
            "bundle.json shadow.policy.mirror.cpu_budget must be a number above 0 and at most 1, "
            "not 0");
  EXPECT_EQ(PolicyErrorOf({{"mirror", {{"texts", true}}}}),
            "bundle.json shadow.policy.mirror has the unknown field \"texts\"");
  EXPECT_EQ(PolicyErrorOf({{"mirror", 3}}),
            "bundle.json shadow.policy.mirror must be an object or null");
  const json bad_rollout = {{"mirror", {{"min_samples", 0}}}};
  EXPECT_EQ(PolicyErrorOf(json::object(), &bad_rollout),
            "rollout shadow_policy.mirror.min_samples must be an integer from 1 to 1000000, not 0");
}

TEST(PolicyTest, InconclusiveHandling) {
  Policy p;
  EXPECT_EQ(ActionFor(Verdict::kPass, p), Action::kAccept);
  EXPECT_EQ(ActionFor(Verdict::kFail, p), Action::kReject);
  EXPECT_EQ(ActionFor(Verdict::kInconclusive, p), Action::kReject);
  p.on_inconclusive = InconclusiveAction::kTreatAsPass;
  EXPECT_EQ(ActionFor(Verdict::kInconclusive, p), Action::kAccept);
  p.on_inconclusive = InconclusiveAction::kRetry;
  p.max_retries = 2;
  EXPECT_EQ(ActionFor(Verdict::kInconclusive, p, 1), Action::kRetry);
  EXPECT_EQ(ActionFor(Verdict::kInconclusive, p, 2), Action::kRetry);
  EXPECT_EQ(ActionFor(Verdict::kInconclusive, p, 3), Action::kReject);
}

TEST(PolicyTest, BundleShadowSection) {
  manifest::BundleManifest m;
  m.files = {{"model.gguf", 1, std::string(64, 'a'), "model"},
             {"eval/eval.json", 1, std::string(64, 'b'), "eval"},
             {"notes.txt", 1, std::string(64, 'c'), "other"}};
  EXPECT_FALSE(BundleShadowSectionOf(m)->eval_file.has_value());
  m.extra["shadow"] = {{"eval", "eval/eval.json"}, {"policy", {{"gate", "behaviour"}}}};
  Result<BundleShadowSection> s = BundleShadowSectionOf(m);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->eval_file, "eval/eval.json");
  Result<Policy> p = PolicyFor(m, nullptr);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->gate, Gate::kBehaviour);
  manifest::RolloutManifest rollout;
  rollout.shadow_policy = json{{"gate", "requantization"}};
  EXPECT_EQ(PolicyFor(m, &rollout)->gate, Gate::kRequantization);
  m.extra["shadow"]["eval"] = "notes.txt";
  EXPECT_EQ(BundleShadowSectionOf(m).error().message,
            "bundle.json shadow.eval \"notes.txt\" is not a file of the bundle with role \"eval\"");
  m.extra["shadow"] = {{"evals", "x"}};
  EXPECT_EQ(BundleShadowSectionOf(m).error().message,
            "bundle.json shadow has the unknown field \"evals\"");
}

TEST(PolicyTest, WithoutASectionTheBundleIsTestedUnderTheBehaviourGate) {
  manifest::BundleManifest m;
  m.files = {{"model.gguf", 1, std::string(64, 'a'), "model"}};
  Result<BundleShadowSection> s = BundleShadowSectionOf(m);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->declared);
  EXPECT_FALSE(s->skip.has_value());
  EXPECT_EQ(s->policy, DefaultBundlePolicy());
  Result<Policy> p = PolicyFor(m, nullptr);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->gate, Gate::kBehaviour);
  EXPECT_FALSE(p->skip.has_value());
  // A rollout may still ask for another gate.
  manifest::RolloutManifest rollout;
  rollout.shadow_policy = json{{"gate", "equivalence"}};
  EXPECT_EQ(PolicyFor(m, &rollout)->gate, Gate::kEquivalence);
}

TEST(PolicyTest, SkippingIsExplicitWithAReason) {
  manifest::BundleManifest m;
  m.files = {{"model.gguf", 1, std::string(64, 'a'), "model"},
             {"eval/eval.json", 1, std::string(64, 'b'), "eval"}};
  m.extra["shadow"] = {{"skip", "emergency security fix"}};
  Result<BundleShadowSection> s = BundleShadowSectionOf(m);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_TRUE(s->declared);
  EXPECT_EQ(s->skip, "emergency security fix");
  EXPECT_EQ(PolicyFor(m, nullptr)->skip, "emergency security fix");
  EXPECT_EQ(PolicyToJson(*PolicyFor(m, nullptr))["skip"], "emergency security fix");

  for (const json& bad : {json(""), json(std::string(257, 'x')), json(3)}) {
    m.extra["shadow"] = {{"skip", bad}};
    EXPECT_EQ(BundleShadowSectionOf(m).error().message,
              "bundle.json shadow.skip must be a reason of 1 to 256 bytes");
  }
  m.extra["shadow"] = {{"skip", "why"}, {"eval", "eval/eval.json"}};
  EXPECT_EQ(BundleShadowSectionOf(m).error().message,
            "bundle.json shadow.skip cannot stand beside eval or policy");

  // The rollout's override may skip; a bundle policy object may not.
  const json rollout = {{"skip", "canary drill"}};
  Result<Policy> p = ResolvePolicy(nullptr, &rollout);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->skip, "canary drill");
  EXPECT_EQ(ResolvePolicy(&rollout, nullptr).error().message,
            "bundle.json shadow.policy has the unknown field \"skip\"");
  const json empty = {{"skip", ""}};
  EXPECT_EQ(ResolvePolicy(nullptr, &empty).error().message,
            "rollout shadow_policy.skip must be a reason of 1 to 256 bytes");
  EXPECT_FALSE(PolicyToJson(Policy{}).contains("skip"));
}

}  // namespace
}  // namespace ota::shadow
