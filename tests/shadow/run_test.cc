// Run's verdict logic on scripted models: behaviour gate, vocabulary
// fallback, budget, cancellation and the memory modes.
#include <gtest/gtest.h>

#include <algorithm>

#include "fake_runtime.h"
#include "ota/shadow/shadow.h"
#include "test_support.h"

namespace ota::shadow {
namespace {

using testing::FakeRuntime;
using testing::FakeSpec;

// Every call to Monotonic() moves time on by one second.
class TickingClock : public ota::testing::ManualClock {
 public:
  std::chrono::steady_clock::time_point Monotonic() const override {
    const_cast<TickingClock*>(this)->Advance(std::chrono::seconds(1));
    return ManualClock::Monotonic();
  }
};

EvalSet JsonEvalSet() {
  Result<EvalSet> set = ParseEvalSet(R"({
    "schema": "modelota.eval/1",
    "max_new_tokens": 64,
    "checks": [{"kind": "json-schema", "schema": {"type": "object", "required": ["name", "age"],
                "properties": {"age": {"type": "integer"}}}}],
    "prompts": [{"id": "ada", "text": "Ada"}, {"id": "bob", "text": "Bob"}],
    "references": [{"text": "A reference text."}]
  })");
  EXPECT_TRUE(set.ok()) << set.error().message;
  return std::move(set).value();
}

std::string Person(const std::string& prompt) {
  return R"({"name": ")" + prompt + R"(", "age": 36})";
}

class RunTest : public ::testing::Test {
 protected:
  RunTest() {
    FakeSpec current;
    current.output = Person;
    runtime_.models["current"] = current;
  }
  Report RunWith(const std::string& candidate, const Policy& policy, const EvalSet& eval) {
    Result<Report> r = shadow::Run(runtime_, "current", candidate, eval, policy, clock_, cancel_);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return std::move(r).value();
  }

  FakeRuntime runtime_;
  ota::testing::ManualClock clock_;
  CancelToken cancel_;
};

TEST_F(RunTest, IdenticalModelPassesEveryGate) {
  runtime_.models["same"] = runtime_.models["current"];
  for (Gate gate : {Gate::kEquivalence, Gate::kRequantization, Gate::kBehaviour}) {
    Policy policy;
    policy.gate = gate;
    policy.thresholds = DefaultThresholds(gate);
    const Report r = RunWith("same", policy, JsonEvalSet());
    EXPECT_EQ(r.verdict, Verdict::kPass) << GateName(gate) << ": " << r.reasons[0];
    EXPECT_EQ(r.action, Action::kAccept);
    EXPECT_EQ(r.metrics.mean_kl, 0.0);
    EXPECT_EQ(r.metrics.same_top1, 1.0);
    EXPECT_EQ(r.metrics.greedy_exact_rate, 1.0);
    EXPECT_EQ(r.metrics.pass_rate_current, 1.0);
    EXPECT_EQ(r.metrics.perplexity_ratio, 1.0);
    EXPECT_TRUE(r.calibration.ran);
    EXPECT_EQ(ReportToJson(r)["verdict"], "pass");
  }
}

TEST_F(RunTest, CandidateBreakingTheAppSchemaFailsTheBehaviourGate) {
  FakeSpec broken = runtime_.models["current"];
  broken.output = [](const std::string& prompt) {
    return prompt == "Bob" ? std::string(R"({"name": "Bob", "age": "old"})") : Person(prompt);
  };
  runtime_.models["broken"] = broken;
  Policy policy;
  policy.gate = Gate::kBehaviour;
  policy.thresholds = DefaultThresholds(Gate::kBehaviour);
  const Report r = RunWith("broken", policy, JsonEvalSet());
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_EQ(r.metrics.regressions, 1u);
  EXPECT_EQ(r.metrics.pass_rate_current, 1.0);
  EXPECT_EQ(r.metrics.pass_rate_candidate, 0.5);
  ASSERT_EQ(r.regressions.size(), 1u);
  EXPECT_EQ(r.regressions[0].prompt_id, "bob");
  EXPECT_EQ(r.regressions[0].why,
            "output does not match the schema: $.age: is a string, not integer");
  const nlohmann::json j = ReportToJson(r);
  EXPECT_EQ(j["verdict"], "fail");
  EXPECT_EQ(j["action"], "reject");
  EXPECT_NE(FormatReportTable(r).find("verdict: fail"), std::string::npos);

  // Allowing one regression and a 0.5 margin lets it through.
  policy.thresholds.max_regressions = 1;
  policy.thresholds.pass_rate_margin = 0.5;
  EXPECT_EQ(RunWith("broken", policy, JsonEvalSet()).verdict, Verdict::kPass);
}

TEST_F(RunTest, AVocabularyChangeFailsTheEquivalenceGateAndNeedsChecksUnderBehaviour) {
  FakeSpec other = runtime_.models["current"];
  other.vocab = "alt";
  runtime_.models["other"] = other;
  const Report r = RunWith("other", Policy{}, JsonEvalSet());
  EXPECT_FALSE(r.metrics.vocab_match);
  EXPECT_EQ(r.gate, Gate::kEquivalence);
  EXPECT_EQ(r.applied_gate, Gate::kBehaviour);
  EXPECT_FALSE(r.metrics.mean_kl.has_value());
  EXPECT_FALSE(r.metrics.perplexity_ratio.has_value());
  ASSERT_EQ(r.contract_changes.size(), 1u);
  EXPECT_EQ(r.contract_changes[0].name, "vocabulary");
  EXPECT_EQ(r.verdict, Verdict::kFail);
  ASSERT_FALSE(r.reasons.empty());
  EXPECT_NE(r.reasons[0].find("the candidate changes vocabulary"), std::string::npos);
  EXPECT_TRUE(std::any_of(r.notes.begin(), r.notes.end(), [](const std::string& note) {
    return note.find("vocabulary fingerprints differ") != std::string::npos;
  }));
  EXPECT_EQ(ReportToJson(r)["metrics"]["mean_kl"], nullptr);

  // The behaviour gate: the app's checks pass on the candidate's outputs.
  Policy behaviour;
  behaviour.gate = Gate::kBehaviour;
  behaviour.thresholds = DefaultThresholds(Gate::kBehaviour);
  const Report b = RunWith("other", behaviour, JsonEvalSet());
  ASSERT_EQ(b.contract_changes.size(), 1u);
  EXPECT_TRUE(b.contract_changes[0].vouched);
  EXPECT_EQ(b.verdict, Verdict::kPass);
}

TEST_F(RunTest, CostRatiosAreGated) {
  FakeSpec slow = runtime_.models["current"];
  slow.tokens_per_second = 250;  // Four times slower.
  slow.estimated_bytes = 1200;
  runtime_.models["slow"] = slow;
  Policy policy;
  policy.min_timed_seconds = 0;  // The scripted models compute for milliseconds.
  const Report r = RunWith("slow", policy, JsonEvalSet());
  EXPECT_DOUBLE_EQ(*r.metrics.latency_ratio, 4.0);
  EXPECT_EQ(r.metrics.latency_basis, "wall");  // The scripted runtime measures no CPU time.
  EXPECT_DOUBLE_EQ(*r.metrics.memory_ratio, 1.2);
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_EQ(r.reasons[0], "latency_ratio 4.0000 is not <= 2.0000");

  // Under a second of compute per model, a ratio of rates is noise: not gated.
  const Report quick = RunWith("slow", Policy{}, JsonEvalSet());
  EXPECT_FALSE(quick.metrics.latency_ratio.has_value());
  ASSERT_FALSE(quick.notes.empty());
  EXPECT_NE(quick.notes[0].find("latency not compared"), std::string::npos);
}

TEST_F(RunTest, ExhaustedTimeBudgetIsInconclusive) {
  runtime_.models["same"] = runtime_.models["current"];
  TickingClock clock;
  Policy policy;
  policy.time_budget = std::chrono::seconds(5);
  Result<Report> r =
      shadow::Run(runtime_, "current", "same", JsonEvalSet(), policy, clock, cancel_);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->verdict, Verdict::kInconclusive);
  EXPECT_EQ(r->action, Action::kReject);  // treat-as-fail by default.
  EXPECT_EQ(r->reasons[0], "time budget of 5 s exhausted");
  EXPECT_EQ(ReportToJson(*r)["verdict"], "inconclusive");

  policy.on_inconclusive = InconclusiveAction::kRetry;
  r = shadow::Run(runtime_, "current", "same", JsonEvalSet(), policy, clock, cancel_);
  EXPECT_EQ(r->action, Action::kRetry);
}

TEST_F(RunTest, CancellationMidRunIsInconclusive) {
  FakeSpec cancelling = runtime_.models["current"];
  cancelling.on_generate = [this] { cancel_.Cancel(); };
  runtime_.models["cancelling"] = cancelling;
  const Report r = RunWith("cancelling", Policy{}, JsonEvalSet());
  EXPECT_EQ(r.verdict, Verdict::kInconclusive);
  EXPECT_EQ(r.reasons[0], "cancelled");
  EXPECT_LT(r.metrics.prompts_evaluated, 2u);
}

TEST_F(RunTest, PolledConditionStopsTheRunWithItsReasonBeforeTheNextPrompt) {
  // The condition turns true during the candidate's first generation (as an
  // app's lease would): no further prompt is evaluated.
  int generations = 0;
  bool leased = false;
  FakeSpec candidate = runtime_.models["current"];
  candidate.on_generate = [&] {
    ++generations;
    leased = true;
  };
  runtime_.models["polled"] = candidate;
  CancelToken token("stopped: the app needed the runtime");
  int polls = 0;
  token.PollWith([&] {
    ++polls;
    return leased;
  });
  Policy policy;
  policy.calibrate = false;
  Result<Report> r =
      shadow::Run(runtime_, "current", "polled", JsonEvalSet(), policy, clock_, token);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->verdict, Verdict::kInconclusive);
  ASSERT_FALSE(r->reasons.empty());
  EXPECT_EQ(r->reasons[0], "stopped: the app needed the runtime");
  EXPECT_EQ(generations, 1);  // The second prompt never reached the candidate.
  EXPECT_EQ(r->metrics.prompts_evaluated, 1u);
  EXPECT_GT(polls, 1);
  EXPECT_TRUE(token.Cancelled());  // Stays cancelled.
}

TEST_F(RunTest, ModelThatDoesNotLoadIsInconclusive) {
  const Report r = RunWith("missing", Policy{}, JsonEvalSet());
  EXPECT_EQ(r.verdict, Verdict::kInconclusive);
  EXPECT_NE(r.reasons[0].find("candidate model missing did not load"), std::string::npos)
      << r.reasons[0];
}

TEST_F(RunTest, SequentialModeNeverHoldsTwoModels) {
  runtime_.models["same"] = runtime_.models["current"];
  Policy policy;
  policy.sequential_memory = true;
  EXPECT_EQ(RunWith("same", policy, JsonEvalSet()).verdict, Verdict::kPass);
  EXPECT_EQ(runtime_.max_open, 1);
  EXPECT_EQ(runtime_.opens, 3);  // current, A/A copy, candidate.

  FakeRuntime& rt = runtime_;
  rt.max_open = 0;
  policy.sequential_memory = false;
  const Report together = RunWith("same", policy, JsonEvalSet());
  EXPECT_EQ(together.verdict, Verdict::kPass);
  EXPECT_EQ(rt.max_open, 3);
  EXPECT_FALSE(together.sequential_memory);
}

TEST_F(RunTest, BehaviourGateWithoutChecksIsInconclusive) {
  runtime_.models["same"] = runtime_.models["current"];
  Result<EvalSet> eval =
      ParseEvalSet(R"({"schema": "modelota.eval/1", "prompts": [{"text": "x"}]})");
  ASSERT_TRUE(eval.ok());
  Policy policy;
  policy.gate = Gate::kBehaviour;
  const Report r = RunWith("same", policy, *eval);
  EXPECT_EQ(r.verdict, Verdict::kInconclusive);
  EXPECT_EQ(r.reasons[0], "the behaviour gate needs checks and the eval set has none");
}

TEST_F(RunTest, RefusesAnEmptyEvalSet) {
  Result<Report> r =
      shadow::Run(runtime_, "current", "current", EvalSet{}, Policy{}, clock_, cancel_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace ota::shadow
