// Shadow runs on tiny llama models synthesized here: each model variant the
// gates must tell apart (docs/runtime-adapters.md lists their measured KL).
#include <gtest/gtest.h>

#include <memory>

#include "ota/runtime_adapter/model_synth.h"
#include "ota/shadow/shadow.h"
#include "test_support.h"

namespace ota::shadow {
namespace {

namespace ra = ota::runtime_adapter;

constexpr std::string_view kEval = R"({
  "schema": "modelota.eval/1",
  "max_new_tokens": 12,
  "checks": [{"kind": "max-length", "bytes": 1000}],
  "prompts": [
    {"id": "story", "text": "Once upon a time"},
    {"id": "code", "text": "int main() {"},
    {"id": "list", "text": "1. apples\n2."},
    {"id": "fact", "text": "The capital of France is"}
  ],
  "references": [{"id": "prose", "text": "The market square filled early with farmers."}]
})";

class ShadowLlamaTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new ota::testing::TempDir();
    auto synth = [](const std::string& name, auto&& edit) {
      ra::SynthOptions o;
      o.seed = 11;
      o.type = ra::TensorType::kF32;
      edit(o);
      const std::string path = dir_->Sub(name);
      const Status s = ra::SynthesizeModel(o, path);
      ASSERT_TRUE(s.ok()) << s.error().ToString();
    };
    synth("base.gguf", [](ra::SynthOptions&) {});
    synth("copy.gguf", [](ra::SynthOptions&) {});
    synth("f16.gguf", [](ra::SynthOptions& o) { o.type = ra::TensorType::kF16; });
    synth("q8.gguf", [](ra::SynthOptions& o) { o.type = ra::TensorType::kQ8_0; });
    synth("noise.gguf", [](ra::SynthOptions& o) {
      o.noise = 0.5;
      o.noise_seed = 3;
    });
    synth("zero.gguf", [](ra::SynthOptions& o) {
      o.breakage = ra::SynthBreak::kZeroLayer;
      o.break_layer = 1;
    });
    synth("swap.gguf", [](ra::SynthOptions& o) { o.breakage = ra::SynthBreak::kSwapTensors; });
    synth("alt.gguf", [](ra::SynthOptions& o) { o.vocab = ra::SynthVocabKind::kAlt; });
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override {
    auto runtime = ra::MakeLlamaRuntime(&clock_);
    ASSERT_TRUE(runtime.ok()) << runtime.error().ToString();
    runtime_ = std::move(*runtime);
    Result<EvalSet> eval = ParseEvalSet(kEval);
    ASSERT_TRUE(eval.ok()) << eval.error().message;
    eval_ = std::move(*eval);
  }

  Report Shadow(const std::string& candidate, Gate gate, bool sequential = true) {
    Policy policy;
    policy.gate = gate;
    policy.thresholds = DefaultThresholds(gate);
    // Throughput of tiny models on a shared machine is noise; cost is
    // covered by the scripted-model tests.
    policy.thresholds.max_latency_ratio.reset();
    policy.context_length = 128;
    policy.sequential_memory = sequential;
    CancelToken cancel;
    Result<Report> r = shadow::Run(*runtime_, dir_->Sub("base.gguf"), dir_->Sub(candidate), eval_,
                                   policy, clock_, cancel);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return std::move(r).value();
  }

  static std::string Describe(const Report& r) { return ReportToJson(r).dump(1); }

  static ota::testing::TempDir* dir_;
  std::unique_ptr<Clock> clock_owner_ = MakeSystemClock();
  Clock& clock_ = *clock_owner_;
  std::unique_ptr<ra::Runtime> runtime_;
  EvalSet eval_;
};

ota::testing::TempDir* ShadowLlamaTest::dir_ = nullptr;

TEST_F(ShadowLlamaTest, IdenticalCopyPassesWithZeroDivergence) {
  const Report r = Shadow("copy.gguf", Gate::kEquivalence);
  EXPECT_EQ(r.verdict, Verdict::kPass) << Describe(r);
  EXPECT_LT(*r.metrics.mean_kl, 1e-9);
  EXPECT_EQ(*r.metrics.same_top1, 1.0);
  EXPECT_EQ(*r.metrics.greedy_exact_rate, 1.0);
  EXPECT_NEAR(*r.metrics.perplexity_ratio, 1.0, 1e-9);
  EXPECT_TRUE(r.calibration.ran);
  EXPECT_LT(r.calibration.mean_kl, 1e-9);  // CPU inference is deterministic.
  EXPECT_EQ(r.metrics.positions, 48u);
}

TEST_F(ShadowLlamaTest, F16CopyPassesEquivalenceInBothMemoryModes) {
  for (bool sequential : {true, false}) {
    const Report r = Shadow("f16.gguf", Gate::kEquivalence, sequential);
    EXPECT_EQ(r.verdict, Verdict::kPass) << Describe(r);
    EXPECT_LT(*r.metrics.mean_kl, 1e-4);
  }
}

TEST_F(ShadowLlamaTest, Q8RequantizationPassesTheRequantizationGate) {
  const Report r = Shadow("q8.gguf", Gate::kRequantization);
  EXPECT_EQ(r.verdict, Verdict::kPass) << Describe(r);
  EXPECT_GT(*r.metrics.mean_kl, 0.0);
  EXPECT_LT(*r.metrics.mean_kl, 0.035);
  EXPECT_LT(*r.metrics.memory_ratio, 0.5);  // Q8_0 is about a quarter of F32.
}

TEST_F(ShadowLlamaTest, LargeNoiseFailsRequantization) {
  const Report r = Shadow("noise.gguf", Gate::kRequantization);
  EXPECT_EQ(r.verdict, Verdict::kFail) << Describe(r);
  EXPECT_GT(*r.metrics.mean_kl, 0.035);
}

TEST_F(ShadowLlamaTest, ZeroedLayerAndSwappedTensorsFail) {
  for (const char* model : {"zero.gguf", "swap.gguf"}) {
    const Report r = Shadow(model, Gate::kRequantization);
    EXPECT_EQ(r.verdict, Verdict::kFail) << model << Describe(r);
    EXPECT_GT(*r.metrics.mean_kl, 0.1) << model;
    EXPECT_LT(*r.metrics.same_top1, 0.91) << model;
  }
}

TEST_F(ShadowLlamaTest, ADifferentVocabularyFailsEquivalenceAndPassesBehaviourOnTheAppsChecks) {
  const Report r = Shadow("alt.gguf", Gate::kEquivalence);
  EXPECT_FALSE(r.metrics.vocab_match) << Describe(r);
  EXPECT_EQ(r.applied_gate, Gate::kBehaviour);
  EXPECT_FALSE(r.metrics.mean_kl.has_value());
  EXPECT_FALSE(r.metrics.same_top1.has_value());
  EXPECT_EQ(r.metrics.checks, 4u);
  EXPECT_EQ(r.verdict, Verdict::kFail) << Describe(r);
  // Token pieces compared across the vocabularies: the alternative one has
  // two-character tokens, so some texts tokenize differently.
  EXPECT_LT(*r.metrics.tokenization_agreement, 1.0) << Describe(r);

  const Report b = Shadow("alt.gguf", Gate::kBehaviour);
  EXPECT_EQ(b.verdict, Verdict::kPass) << Describe(b);  // The app's size checks pass on both.
}

}  // namespace
}  // namespace ota::shadow
