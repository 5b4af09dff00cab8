// The generation contract: candidates with the current model's weights but
// another end-of-generation token, chat template, context length, RoPE base
// or tokenizer flag. Each change is reported by name; distribution gates fail
// on it; the behaviour gate passes it only when a measurement vouches for it.
#include <gguf.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>

#include "gguf_edit.h"
#include "ota/runtime_adapter/model_synth.h"
#include "ota/shadow/shadow.h"
#include "real_vocab.h"
#include "test_support.h"

namespace ota::shadow {
namespace {

namespace ra = ota::runtime_adapter;

// An app's eval set: prompts with checks, one of them a conversation.
constexpr std::string_view kAppEval = R"({
  "schema": "modelota.eval/1",
  "max_new_tokens": 12,
  "checks": [{"kind": "max-length", "bytes": 1000}],
  "prompts": [
    {"id": "story", "text": "Once upon a time"},
    {"id": "code", "text": "int main() {"},
    {"id": "fact", "text": "The capital of France is"},
    {"id": "chat", "messages": [{"role": "user", "content": "Say hello."}]}
  ]
})";

// ChatML, which llama.cpp's template matcher knows.
constexpr const char* kChatMl =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] "
    "+ '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' "
    "}}{% endif %}";

class ContractTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new ota::testing::TempDir();
    ra::SynthOptions o;
    o.seed = 11;
    o.type = ra::TensorType::kF32;
    const Status s = ra::SynthesizeModel(o, dir_->Sub("base.gguf"));
    ASSERT_TRUE(s.ok()) << s.error().ToString();
    Edit("base.gguf", "chat.gguf",
         [](gguf_context* c) { gguf_set_val_str(c, "tokenizer.chat_template", kChatMl); });
    // The same template text plus a comment: another digest, the same output.
    const std::string commented = std::string("{# revision 2 #}") + kChatMl;
    Edit("base.gguf", "chat-comment.gguf", [&](gguf_context* c) {
      gguf_set_val_str(c, "tokenizer.chat_template", commented.c_str());
    });
    Edit("base.gguf", "chat-llama2.gguf", [](gguf_context* c) {
      gguf_set_val_str(c, "tokenizer.chat_template",
                       "{% for message in messages %}[INST] {{ message['content'] }} [/INST]"
                       "{% endfor %}");
    });
    Edit("base.gguf", "short-context.gguf",
         [](gguf_context* c) { gguf_set_val_u32(c, "llama.context_length", 64); });
    Edit("base.gguf", "rope.gguf",
         [](gguf_context* c) { gguf_set_val_f32(c, "llama.rope.freq_base", 500000.0f); });
    Edit("base.gguf", "no-bos.gguf",
         [](gguf_context* c) { gguf_set_val_bool(c, "tokenizer.ggml.add_bos_token", false); });
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  template <typename F>
  static void Edit(const std::string& from, const std::string& to, F&& edit) {
    const std::string error = ota::testing::EditGgufMetadata(dir_->Sub(from), dir_->Sub(to), edit);
    ASSERT_EQ(error, "");
  }

  void SetUp() override {
    auto runtime = ra::MakeLlamaRuntime(&clock_);
    ASSERT_TRUE(runtime.ok()) << runtime.error().ToString();
    runtime_ = std::move(*runtime);
  }

  Report Shadow(const std::string& current, const std::string& candidate, Gate gate,
                bool builtin_eval) {
    Result<EvalSet> eval = builtin_eval ? BuiltinEvalSet() : ParseEvalSet(kAppEval);
    EXPECT_TRUE(eval.ok());
    Policy policy;
    policy.gate = gate;
    policy.thresholds = DefaultThresholds(gate);
    policy.thresholds.max_latency_ratio.reset();  // Throughput of tiny models is noise.
    policy.context_length = 256;  // The byte vocabulary spends a token per character.
    CancelToken cancel;
    Result<Report> r = shadow::Run(*runtime_, dir_->Sub(current), dir_->Sub(candidate), *eval,
                                   policy, clock_, cancel);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return std::move(r).value();
  }

  // The first token the model generates after `text`.
  ra::Token FirstGenerated(const std::string& model, const std::string& text) {
    ra::ModelOpenOptions options;
    options.path = dir_->Sub(model);
    options.context_length = 128;
    auto m = runtime_->Open(options);
    EXPECT_TRUE(m.ok());
    auto tokens = (*m)->Tokenize(text, true);
    auto out = (*m)->Generate(*tokens, 1);
    EXPECT_TRUE(out.ok() && out->size() == 1u);
    return out->front();
  }

  static std::vector<std::string> Changed(const Report& r) {
    std::vector<std::string> names;
    for (const ContractChange& c : r.contract_changes) names.push_back(c.name);
    return names;
  }
  static const ContractChange* Change(const Report& r, const std::string& name) {
    for (const ContractChange& c : r.contract_changes) {
      if (c.name == name) return &c;
    }
    return nullptr;
  }
  static bool ReasonMentions(const Report& r, const std::string& text) {
    return std::any_of(r.reasons.begin(), r.reasons.end(), [&](const std::string& reason) {
      return reason.find(text) != std::string::npos;
    });
  }
  static std::string Describe(const Report& r) { return ReportToJson(r).dump(1); }

  static ota::testing::TempDir* dir_;
  std::unique_ptr<Clock> clock_owner_ = MakeSystemClock();
  Clock& clock_ = *clock_owner_;
  std::unique_ptr<ra::Runtime> runtime_;
};

ota::testing::TempDir* ContractTest::dir_ = nullptr;

TEST_F(ContractTest, TheSameFileChangesNothing) {
  const Report r = Shadow("base.gguf", "base.gguf", Gate::kEquivalence, false);
  EXPECT_TRUE(r.contract_changes.empty()) << Describe(r);
  EXPECT_EQ(r.verdict, Verdict::kPass) << Describe(r);
  EXPECT_EQ(r.metrics.tokenization_agreement, 1.0);
  EXPECT_EQ(ReportToJson(r)["contract_changes"], nlohmann::json::array());
}

TEST_F(ContractTest, APromptBeyondBothTrainingContextsIsNoRegression) {
  // 300 byte tokens: past the training context (256) of both models, inside
  // the policy's. Nothing changed, so nothing may count against the candidate.
  nlohmann::json eval = nlohmann::json::parse(kAppEval);
  eval["prompts"] = {{{"id", "long"}, {"text", std::string(300, 'a')}}};
  Result<EvalSet> set = ParseEvalSet(eval.dump());
  ASSERT_TRUE(set.ok()) << set.error().message;
  Policy policy;
  policy.gate = Gate::kBehaviour;
  policy.thresholds = DefaultThresholds(Gate::kBehaviour);
  policy.context_length = 512;
  CancelToken cancel;
  Result<Report> r = shadow::Run(*runtime_, dir_->Sub("base.gguf"), dir_->Sub("base.gguf"), *set,
                                 policy, clock_, cancel);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->metrics.regressions, 0u) << Describe(*r);
  EXPECT_TRUE(r->metrics.context_fits);
  EXPECT_EQ(r->verdict, Verdict::kPass) << Describe(*r);
}

TEST_F(ContractTest, LatencyIsComparedByCpuTimeWhenTheRuntimeMeasuresIt) {
  Result<EvalSet> eval = ParseEvalSet(kAppEval);
  ASSERT_TRUE(eval.ok());
  Policy policy;
  policy.gate = Gate::kBehaviour;
  policy.thresholds = DefaultThresholds(Gate::kBehaviour);
  policy.context_length = 256;
  policy.min_timed_seconds = 0;
  CancelToken cancel;
  Result<Report> r = shadow::Run(*runtime_, dir_->Sub("base.gguf"), dir_->Sub("base.gguf"), *eval,
                                 policy, clock_, cancel);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->metrics.latency_basis, "cpu") << Describe(*r);
  EXPECT_GT(r->metrics.current_cpu_tokens_per_second, 0);
  EXPECT_GT(r->metrics.candidate_cpu_tokens_per_second, 0);
  ASSERT_TRUE(r->metrics.latency_ratio.has_value());
  // The same file: a ratio near 1 (loose, the run is milliseconds long).
  EXPECT_GT(*r->metrics.latency_ratio, 0.25);
  EXPECT_LT(*r->metrics.latency_ratio, 4.0);
}

TEST_F(ContractTest, AnEndOfGenerationTokenTheModelEmitsIsCaughtByEveryGate) {
  // The candidate ends generation on the token the model writes first, so
  // its answers stop where the current model's go on.
  const ra::Token emitted = FirstGenerated("base.gguf", "Once upon a time");
  Edit("base.gguf", "eos.gguf", [&](gguf_context* c) {
    gguf_set_val_u32(c, "tokenizer.ggml.eos_token_id", static_cast<std::uint32_t>(emitted));
  });
  const Report eq = Shadow("base.gguf", "eos.gguf", Gate::kEquivalence, false);
  EXPECT_EQ(eq.verdict, Verdict::kFail) << Describe(eq);
  ASSERT_NE(Change(eq, "special.eos"), nullptr) << Describe(eq);
  EXPECT_EQ(Change(eq, "special.eos")->current, "2 \"</s>\"");
  EXPECT_EQ(Change(eq, "special.eos")->category, "stop");
  EXPECT_TRUE(ReasonMentions(eq, "the candidate changes special.eos"));
  // The weights are the same: the distributions alone would have passed.
  EXPECT_LT(*eq.metrics.mean_kl, 1e-9);

  const Report be = Shadow("base.gguf", "eos.gguf", Gate::kBehaviour, false);
  EXPECT_EQ(be.verdict, Verdict::kFail) << Describe(be);
  EXPECT_GT(be.metrics.stop_prompts, 0u);
  EXPECT_LT(*be.metrics.stop_agreement, 1.0);
  EXPECT_FALSE(Change(be, "special.eos")->vouched);
  EXPECT_TRUE(ReasonMentions(be, "generation ends where the current model's does on only"))
      << Describe(be);
}

TEST_F(ContractTest, AnEndOfGenerationChangeNoPromptExercisesFailsTheBehaviourGate) {
  // <0x01> (byte token 4): no prompt makes the model write it.
  Edit("base.gguf", "eos-unused.gguf",
       [](gguf_context* c) { gguf_set_val_u32(c, "tokenizer.ggml.eos_token_id", 4); });
  const Report r = Shadow("base.gguf", "eos-unused.gguf", Gate::kBehaviour, false);
  EXPECT_EQ(r.verdict, Verdict::kFail) << Describe(r);
  ASSERT_NE(Change(r, "special.eos"), nullptr);
  EXPECT_FALSE(Change(r, "special.eos")->vouched);
}

TEST_F(ContractTest, ATemplateThatRendersTheSamePassesOnlyTheBehaviourGate) {
  const Report eq = Shadow("chat.gguf", "chat-comment.gguf", Gate::kEquivalence, true);
  EXPECT_EQ(Changed(eq), std::vector<std::string>{"chat_template"}) << Describe(eq);
  EXPECT_EQ(eq.verdict, Verdict::kFail);

  const Report be = Shadow("chat.gguf", "chat-comment.gguf", Gate::kBehaviour, true);
  EXPECT_EQ(be.metrics.template_agreement, 1.0) << Describe(be);
  EXPECT_GE(be.metrics.chat_renders, 3u);  // The two built-in chat prompts and the probe.
  ASSERT_NE(Change(be, "chat_template"), nullptr);
  EXPECT_TRUE(Change(be, "chat_template")->vouched) << Describe(be);
  EXPECT_EQ(be.verdict, Verdict::kPass) << Describe(be);
}

TEST_F(ContractTest, ATemplateThatRendersDifferentlyNeedsTheAppsChecks) {
  const Report builtin = Shadow("chat.gguf", "chat-llama2.gguf", Gate::kBehaviour, true);
  EXPECT_LT(*builtin.metrics.template_agreement, 1.0) << Describe(builtin);
  EXPECT_EQ(builtin.verdict, Verdict::kFail) << Describe(builtin);
  EXPECT_TRUE(ReasonMentions(builtin, "the candidate changes chat_template"));

  // The app's own checks on its chat prompt pass on the new rendering.
  const Report app = Shadow("chat.gguf", "chat-llama2.gguf", Gate::kBehaviour, false);
  EXPECT_TRUE(Change(app, "chat_template")->vouched) << Describe(app);
  EXPECT_EQ(app.verdict, Verdict::kPass) << Describe(app);
}

TEST_F(ContractTest, AShorterTrainingContextFailsWhenTheAppsContextNoLongerFits) {
  const Report r = Shadow("base.gguf", "short-context.gguf", Gate::kBehaviour, false);
  ASSERT_NE(Change(r, "context.training"), nullptr) << Describe(r);
  EXPECT_EQ(Change(r, "context.training")->current, "256");
  EXPECT_EQ(Change(r, "context.training")->candidate, "64");
  EXPECT_FALSE(r.metrics.context_fits);
  EXPECT_EQ(r.verdict, Verdict::kFail) << Describe(r);
}

TEST_F(ContractTest, ARopeChangeIsNamedAndNeedsTheAppsChecks) {
  const Report eq = Shadow("base.gguf", "rope.gguf", Gate::kEquivalence, false);
  ASSERT_NE(Change(eq, "rope.freq_base"), nullptr) << Describe(eq);
  EXPECT_EQ(Change(eq, "rope.freq_base")->category, "rope");
  EXPECT_EQ(eq.verdict, Verdict::kFail);
  EXPECT_EQ(Shadow("base.gguf", "rope.gguf", Gate::kBehaviour, true).verdict, Verdict::kFail);
  EXPECT_EQ(Shadow("base.gguf", "rope.gguf", Gate::kBehaviour, false).verdict, Verdict::kPass);
}

TEST_F(ContractTest, ADroppedBeginningOfSequenceChangesTokenization) {
  const Report r = Shadow("base.gguf", "no-bos.gguf", Gate::kBehaviour, true);
  ASSERT_NE(Change(r, "tokenizer.add_bos"), nullptr) << Describe(r);
  EXPECT_EQ(Change(r, "tokenizer.add_bos")->category, "tokenizer");
  EXPECT_EQ(*r.metrics.tokenization_agreement, 0.0) << Describe(r);
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_EQ(Shadow("base.gguf", "no-bos.gguf", Gate::kRequantization, false).verdict,
            Verdict::kFail);
}

TEST_F(ContractTest, ARealTokenizerWithMergesDroppedIsCaughtOnTokenization) {
  // Llama 3's BPE tokenizer; the candidate loses its 2000 most frequent
  // merges, so common words fall apart into smaller pieces.
  ra::SynthOptions o;
  o.seed = 5;
  o.layers = 1;
  o.width = 32;
  o.heads = 2;
  o.type = ra::TensorType::kF32;
  o.vocab_from = ota::testing::RealVocabFile("llama-bpe");
  ASSERT_FALSE(o.vocab_from.empty());
  const Status s = ra::SynthesizeModel(o, dir_->Sub("llama3.gguf"));
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  Edit("llama3.gguf", "llama3-merges.gguf", [](gguf_context* c) {
    const std::int64_t id = gguf_find_key(c, "tokenizer.ggml.merges");
    ASSERT_GE(id, 0);
    const std::size_t n = gguf_get_arr_n(c, id);
    std::vector<std::string> kept;
    for (std::size_t i = 2000; i < n; ++i) kept.emplace_back(gguf_get_arr_str(c, id, i));
    std::vector<const char*> ptrs;
    for (const std::string& m : kept) ptrs.push_back(m.c_str());
    gguf_set_arr_str(c, "tokenizer.ggml.merges", ptrs.data(), ptrs.size());
  });

  const Report eq = Shadow("llama3.gguf", "llama3-merges.gguf", Gate::kEquivalence, true);
  EXPECT_EQ(Changed(eq), std::vector<std::string>{"tokenizer.merges"}) << Describe(eq);
  EXPECT_EQ(eq.verdict, Verdict::kFail);
  const Report be = Shadow("llama3.gguf", "llama3-merges.gguf", Gate::kBehaviour, true);
  EXPECT_LT(*be.metrics.tokenization_agreement, 1.0) << Describe(be);
  EXPECT_FALSE(Change(be, "tokenizer.merges")->vouched);
  EXPECT_EQ(be.verdict, Verdict::kFail) << Describe(be);
}

TEST_F(ContractTest, TheReportTableNamesEveryChange) {
  const Report r = Shadow("chat.gguf", "chat-llama2.gguf", Gate::kEquivalence, true);
  const std::string table = FormatReportTable(r);
  EXPECT_NE(table.find("changed chat_template"), std::string::npos) << table;
  const nlohmann::json j = ReportToJson(r);
  ASSERT_EQ(j["contract_changes"].size(), 1u);
  EXPECT_EQ(j["contract_changes"][0]["name"], "chat_template");
  EXPECT_EQ(j["contract_changes"][0]["category"], "chat_template");
}

}  // namespace
}  // namespace ota::shadow
