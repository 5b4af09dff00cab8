// The llama.cpp adapter on synthesized tiny models: what it reports, what it
// computes, how it compares model variants and how it refuses bad files.
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "ota/runtime_adapter/model_synth.h"
#include "ota/runtime_adapter/runtime.h"
#include "ota/shadow/metrics.h"
#include "test_support.h"

namespace ota::runtime_adapter {
namespace {

using ota::testing::ReadTestFile;
using ota::testing::TempDir;
using ota::testing::WriteTestFile;

constexpr const char* kPrompt = "The quick brown fox jumps over the lazy dog.";

class LlamaRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<Runtime>> runtime = MakeLlamaRuntime();
    ASSERT_TRUE(runtime.ok()) << runtime.error().ToString();
    runtime_ = std::move(runtime).value();
  }

  std::string Synth(const SynthOptions& options, const std::string& name) {
    const std::string path = dir_.Sub(name);
    const Status status = SynthesizeModel(options, path);
    EXPECT_TRUE(status.ok()) << status.error().ToString();
    return path;
  }

  Result<std::unique_ptr<LoadedModel>> Open(const std::string& path, int context = 128,
                                            std::uint64_t budget = 0) {
    ModelOpenOptions options;
    options.path = path;
    options.context_length = context;
    options.memory_budget_bytes = budget;
    return runtime_->Open(options);
  }

  std::unique_ptr<LoadedModel> OpenOrDie(const std::string& path, int context = 128) {
    Result<std::unique_ptr<LoadedModel>> model = Open(path, context);
    EXPECT_TRUE(model.ok()) << model.error().ToString();
    return model.ok() ? std::move(model).value() : nullptr;
  }

  // Log-probabilities at every position of the prompt.
  static std::vector<LogProbs> AllLogProbs(LoadedModel& model, const std::string& text) {
    Result<std::vector<Token>> tokens = model.Tokenize(text, /*add_bos=*/true);
    EXPECT_TRUE(tokens.ok());
    std::vector<int> positions(tokens->size());
    for (std::size_t i = 0; i < positions.size(); ++i) positions[i] = static_cast<int>(i);
    Result<std::vector<LogProbs>> out = model.EvaluateLogProbs(*tokens, positions);
    EXPECT_TRUE(out.ok()) << out.error().ToString();
    return out.ok() ? *out : std::vector<LogProbs>{};
  }

  struct Comparison {
    double mean_kl = 0;
    double max_kl = 0;
    double top1_agreement = 0;
  };

  // Current vs candidate over the prompt, as a shadow test compares them.
  static Comparison Compare(LoadedModel& current, LoadedModel& candidate) {
    const std::vector<LogProbs> p = AllLogProbs(current, kPrompt);
    const std::vector<LogProbs> q = AllLogProbs(candidate, kPrompt);
    Comparison c;
    EXPECT_EQ(p.size(), q.size());
    if (p.empty() || p.size() != q.size()) return c;
    std::size_t same = 0;
    for (std::size_t i = 0; i < p.size(); ++i) {
      Result<double> kl = shadow::KlDivergence(p[i], q[i]);
      EXPECT_TRUE(kl.ok());
      c.mean_kl += *kl / p.size();
      c.max_kl = std::max(c.max_kl, *kl);
      same += shadow::Top1(p[i]) == shadow::Top1(q[i]) ? 1 : 0;
    }
    c.top1_agreement = static_cast<double>(same) / p.size();
    return c;
  }

  static void Report(const std::string& label, const Comparison& c) {
    std::cout << "[ figures  ] " << label << ": mean KL " << c.mean_kl << ", max KL " << c.max_kl
              << ", top-1 agreement " << c.top1_agreement << "\n";
  }

  std::unique_ptr<Runtime> runtime_;
  TempDir dir_;
};

SynthOptions Base() {
  SynthOptions options;  // 2 layers, width 64, 4 heads, context 256.
  options.seed = 7;
  return options;
}

TEST_F(LlamaRuntimeTest, NameVersionAndFormat) {
  EXPECT_EQ(runtime_->Name(), "llama.cpp");
  EXPECT_EQ(manifest::ToString(runtime_->RuntimeVersion()), "0.5.0+de3ff81");
  EXPECT_EQ(runtime_->Formats(), std::vector<std::string>{"gguf"});
}

TEST_F(LlamaRuntimeTest, InfoDescribesTheModel) {
  SynthOptions options = Base();
  options.name = "info-check";
  const std::string path = Synth(options, "m.gguf");
  std::unique_ptr<LoadedModel> model = OpenOrDie(path, 96);
  ASSERT_NE(model, nullptr);
  const ModelInfo& info = model->Info();
  EXPECT_EQ(info.runtime, "llama.cpp");
  EXPECT_EQ(info.architecture, "llama");
  EXPECT_EQ(info.name, "info-check");
  const std::uint64_t w = 64, ff = DefaultFeedForward(64), v = kSynthVocabSize;
  EXPECT_EQ(info.parameter_count, 2 * v * w + 2 * (4 * w * w + 3 * w * ff + 2 * w) + w);
  EXPECT_NE(info.file_type.find("F16"), std::string::npos) << info.file_type;
  EXPECT_EQ(info.file_bytes, std::filesystem::file_size(path));
  // KV cache: 2 (K, V) x 2 layers x 96 tokens x 64 x 2 bytes.
  EXPECT_EQ(info.estimated_bytes, info.file_bytes + 2 * 2 * 96 * 64 * 2);
  EXPECT_EQ(info.context_length, 96);
  EXPECT_EQ(info.training_context_length, 256);
  EXPECT_EQ(info.layers, 2);
  EXPECT_EQ(info.vocab_size, kSynthVocabSize);
  EXPECT_EQ(info.bos_token, kSynthBosToken);
  EXPECT_EQ(info.eos_token, kSynthEosToken);
  ASSERT_EQ(info.vocab_fingerprint.size(), 64u);
  EXPECT_EQ(info.vocab_fingerprint.find_first_not_of("0123456789abcdef"), std::string::npos);

  const ResourceFigures before = model->Resources();
  // Loading took time, measured on a real clock: positive and finite.
  EXPECT_GT(before.load_seconds, 0.0);
  EXPECT_TRUE(std::isfinite(before.load_seconds)) << before.load_seconds;
  EXPECT_GT(before.peak_resident_bytes, 0u);
  EXPECT_EQ(before.tokens_per_second, 0.0);
  (void)AllLogProbs(*model, kPrompt);
  EXPECT_GT(model->Resources().tokens_per_second, 0.0);
}

TEST_F(LlamaRuntimeTest, TokenizeDetokenizeRoundTripsArbitraryBytes) {
  std::unique_ptr<LoadedModel> model = OpenOrDie(Synth(Base(), "m.gguf"));
  ASSERT_NE(model, nullptr);
  std::string text;
  for (int b = 0; b < 256; ++b) text.push_back(static_cast<char>(b));
  text += std::string("h\xc3\xa9llo \xff\xfe|w\xc3\xb6rld \x00 end \xc3", 24);
  Result<std::vector<Token>> with_bos = model->Tokenize(text, true);
  ASSERT_TRUE(with_bos.ok()) << with_bos.error().ToString();
  ASSERT_FALSE(with_bos->empty());
  EXPECT_EQ(with_bos->front(), kSynthBosToken);
  for (Token t : *with_bos) EXPECT_NE(t, kSynthUnkToken);
  Result<std::string> back = model->Detokenize(*with_bos);
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(*back, text);

  Result<std::vector<Token>> without = model->Tokenize(text, false);
  ASSERT_TRUE(without.ok());
  EXPECT_EQ(without->size() + 1, with_bos->size());
  Result<std::string> empty = model->Detokenize({});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, "");
  const std::vector<Token> bad{kSynthVocabSize};
  EXPECT_EQ(model->Detokenize(bad).error().code, ErrorCode::kInvalidArgument);
}

// llama.cpp's SentencePiece tokenizer turns spaces into "▁" before it splits
// the text into UTF-8 characters, so a space within the 1 to 3 bytes that an
// invalid lead byte claims is encoded as the bytes of "▁". Pinned here so that
// a llama.cpp upgrade that changes it is noticed (docs/runtime-adapters.md).
TEST_F(LlamaRuntimeTest, SpaceAfterAnInvalidLeadByteComesBackAsTheSpaceSymbol) {
  std::unique_ptr<LoadedModel> model = OpenOrDie(Synth(Base(), "m.gguf"));
  ASSERT_NE(model, nullptr);
  Result<std::vector<Token>> tokens = model->Tokenize("a\xff b", false);
  ASSERT_TRUE(tokens.ok());
  Result<std::string> back = model->Detokenize(*tokens);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back,
            "a\xff\xe2\x96\x81"
            "b");
}

TEST_F(LlamaRuntimeTest, LogProbsAreNormalizedAndDeterministic) {
  std::unique_ptr<LoadedModel> model = OpenOrDie(Synth(Base(), "m.gguf"));
  ASSERT_NE(model, nullptr);
  const std::vector<LogProbs> first = AllLogProbs(*model, kPrompt);
  ASSERT_FALSE(first.empty());
  for (const LogProbs& row : first) {
    ASSERT_EQ(row.size(), static_cast<std::size_t>(kSynthVocabSize));
    double sum = 0;
    for (float lp : row) {
      ASSERT_TRUE(std::isfinite(lp));
      ASSERT_LE(lp, 0.0f);
      sum += std::exp(static_cast<double>(lp));
    }
    EXPECT_NEAR(std::log(sum), 0.0, 1e-5);
  }
  // A second call starts from an empty cache: exactly the same numbers.
  EXPECT_EQ(AllLogProbs(*model, kPrompt), first);
}

TEST_F(LlamaRuntimeTest, ChosenPositionsComeBackInOrderAndMatchAFullRun) {
  std::unique_ptr<LoadedModel> model = OpenOrDie(Synth(Base(), "m.gguf"));
  ASSERT_NE(model, nullptr);
  const std::vector<LogProbs> all = AllLogProbs(*model, kPrompt);
  ASSERT_GT(all.size(), 6u);
  Result<std::vector<Token>> tokens = model->Tokenize(kPrompt, true);
  ASSERT_TRUE(tokens.ok());
  const std::vector<int> positions{5, 2, 5, 0};
  Result<std::vector<LogProbs>> some = model->EvaluateLogProbs(*tokens, positions);
  ASSERT_TRUE(some.ok()) << some.error().ToString();
  ASSERT_EQ(some->size(), positions.size());
  for (std::size_t k = 0; k < positions.size(); ++k) {
    const LogProbs& expected = all[static_cast<std::size_t>(positions[k])];
    for (std::size_t t = 0; t < expected.size(); ++t) {
      ASSERT_NEAR((*some)[k][t], expected[t], 1e-4) << "position " << positions[k];
    }
  }
}

TEST_F(LlamaRuntimeTest, LongInputsAreDecodedInSeveralBatches) {
  std::unique_ptr<LoadedModel> model = OpenOrDie(Synth(Base(), "m.gguf"), 640);
  ASSERT_NE(model, nullptr);
  std::vector<Token> tokens(600);
  for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = 3 + static_cast<Token>(i * 7 % 256);
  const std::vector<int> positions{0, 511, 512, 599};
  Result<std::vector<LogProbs>> out = model->EvaluateLogProbs(tokens, positions);
  ASSERT_TRUE(out.ok()) << out.error().ToString();
  ASSERT_EQ(out->size(), 4u);
  // Causal: the first position does not depend on what follows.
  Result<std::vector<LogProbs>> prefix =
      model->EvaluateLogProbs(std::span<const Token>(tokens).first(1), std::vector<int>{0});
  ASSERT_TRUE(prefix.ok());
  for (std::size_t t = 0; t < (*out)[0].size(); ++t) {
    ASSERT_NEAR((*out)[0][t], (*prefix)[0][t], 1e-4);
  }
}

TEST_F(LlamaRuntimeTest, RejectsInvalidEvaluationInput) {
  std::unique_ptr<LoadedModel> model = OpenOrDie(Synth(Base(), "m.gguf"), 16);
  ASSERT_NE(model, nullptr);
  const std::vector<Token> tokens{1, 40, 41};
  EXPECT_EQ(model->EvaluateLogProbs({}, {}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(model->EvaluateLogProbs(tokens, std::vector<int>{3}).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(model->EvaluateLogProbs(tokens, std::vector<int>{-1}).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(model->EvaluateLogProbs(std::vector<Token>{1, -5}, std::vector<int>{0}).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(model->EvaluateLogProbs(std::vector<Token>(17, 40), std::vector<int>{0}).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(model->Generate(tokens, -1).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(model->Generate(std::vector<Token>(16, 40), 1).error().code,
            ErrorCode::kInvalidArgument);
  // Still usable afterwards.
  EXPECT_TRUE(model->EvaluateLogProbs(tokens, std::vector<int>{2}).ok());
}

TEST_F(LlamaRuntimeTest, GenerateIsGreedyAndStopsAtTheLimit) {
  std::unique_ptr<LoadedModel> model = OpenOrDie(Synth(Base(), "m.gguf"));
  ASSERT_NE(model, nullptr);
  Result<std::vector<Token>> prompt = model->Tokenize("Once upon a time", true);
  ASSERT_TRUE(prompt.ok());
  Result<std::vector<Token>> none = model->Generate(*prompt, 0);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  Result<std::vector<Token>> five = model->Generate(*prompt, 5);
  Result<std::vector<Token>> twelve = model->Generate(*prompt, 12);
  ASSERT_TRUE(five.ok()) << five.error().ToString();
  ASSERT_TRUE(twelve.ok()) << twelve.error().ToString();
  ASSERT_LE(five->size(), 5u);
  ASSERT_LE(twelve->size(), 12u);
  ASSERT_GE(twelve->size(), five->size());
  EXPECT_TRUE(std::equal(five->begin(), five->end(), twelve->begin()));
  for (Token t : *twelve) EXPECT_NE(t, kSynthEosToken);
  if (twelve->size() < 12u) {
    std::cout << "[ note     ] generation ended at EOS after " << twelve->size() << " tokens\n";
  } else {
    EXPECT_EQ(five->size(), 5u);
  }
  if (!twelve->empty()) {
    // Greedy: the first token is the top-1 of the prompt's last position.
    const int last = static_cast<int>(prompt->size()) - 1;
    Result<std::vector<LogProbs>> lp = model->EvaluateLogProbs(*prompt, std::vector<int>{last});
    ASSERT_TRUE(lp.ok());
    EXPECT_EQ(static_cast<Token>(shadow::Top1((*lp)[0])), twelve->front());
  }
  EXPECT_GT(model->Resources().tokens_per_second, 0.0);
}

TEST_F(LlamaRuntimeTest, GenerateStopsWhenTheContextIsFull) {
  std::unique_ptr<LoadedModel> model = OpenOrDie(Synth(Base(), "m.gguf"), 16);
  ASSERT_NE(model, nullptr);
  const std::vector<Token> prompt(12, 40);
  Result<std::vector<Token>> out = model->Generate(prompt, 100);
  ASSERT_TRUE(out.ok()) << out.error().ToString();
  EXPECT_LE(out->size(), 5u);  // Positions 12..15 decode, one more token is read out.
}

TEST_F(LlamaRuntimeTest, IdenticalCopyGivesZeroKlAndTheSameTop1) {
  std::unique_ptr<LoadedModel> a = OpenOrDie(Synth(Base(), "a.gguf"));
  std::unique_ptr<LoadedModel> b = OpenOrDie(Synth(Base(), "b.gguf"));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(a->Info().vocab_fingerprint, b->Info().vocab_fingerprint);
  const Comparison c = Compare(*a, *b);
  Report("identical copy", c);
  EXPECT_LT(c.max_kl, 1e-9);
  EXPECT_EQ(c.top1_agreement, 1.0);
}

TEST_F(LlamaRuntimeTest, VariantsRankByHowMuchTheyChangeTheModel) {
  SynthOptions f32 = Base();
  f32.type = TensorType::kF32;
  SynthOptions q8 = Base();
  q8.type = TensorType::kQ8_0;
  SynthOptions noisy = Base();
  noisy.type = TensorType::kF32;
  noisy.noise = 0.5;
  noisy.noise_seed = 3;
  SynthOptions slight = noisy;
  slight.noise = 0.05;
  SynthOptions zero = Base();
  zero.type = TensorType::kF32;
  zero.breakage = SynthBreak::kZeroLayer;
  zero.break_layer = 0;
  SynthOptions swap = zero;
  swap.breakage = SynthBreak::kSwapTensors;

  std::unique_ptr<LoadedModel> current = OpenOrDie(Synth(f32, "f32.gguf"));
  std::unique_ptr<LoadedModel> half = OpenOrDie(Synth(Base(), "f16.gguf"));
  std::unique_ptr<LoadedModel> quant = OpenOrDie(Synth(q8, "q8.gguf"));
  std::unique_ptr<LoadedModel> noise = OpenOrDie(Synth(noisy, "noisy.gguf"));
  std::unique_ptr<LoadedModel> slightly = OpenOrDie(Synth(slight, "slight.gguf"));
  std::unique_ptr<LoadedModel> zeroed = OpenOrDie(Synth(zero, "zero.gguf"));
  std::unique_ptr<LoadedModel> swapped = OpenOrDie(Synth(swap, "swap.gguf"));
  for (auto* m : {&current, &half, &quant, &slightly, &noise, &zeroed, &swapped})
    ASSERT_NE(*m, nullptr);
  // Requantized models keep the vocabulary.
  EXPECT_EQ(half->Info().vocab_fingerprint, current->Info().vocab_fingerprint);
  EXPECT_EQ(quant->Info().vocab_fingerprint, current->Info().vocab_fingerprint);

  const Comparison c_f16 = Compare(*current, *half);
  const Comparison c_q8 = Compare(*current, *quant);
  const Comparison c_slight = Compare(*current, *slightly);
  const Comparison c_noise = Compare(*current, *noise);
  const Comparison c_zero = Compare(*current, *zeroed);
  const Comparison c_swap = Compare(*current, *swapped);
  Report("f32 -> f16", c_f16);
  Report("f32 -> q8_0", c_q8);
  Report("noise 0.05", c_slight);
  Report("noise 0.5", c_noise);
  Report("zero-layer:0", c_zero);
  Report("swap-tensors", c_swap);

  EXPECT_LT(c_f16.mean_kl, 1e-3);
  EXPECT_GE(c_f16.top1_agreement, 0.9);
  EXPECT_LT(c_q8.mean_kl, 1e-2);
  EXPECT_GT(c_q8.mean_kl, c_f16.mean_kl);
  EXPECT_GT(c_slight.mean_kl, c_q8.mean_kl);
  EXPECT_GT(c_noise.mean_kl, 10 * c_slight.mean_kl);
  EXPECT_GT(c_zero.mean_kl, 10 * c_q8.mean_kl);
  EXPECT_GT(c_swap.mean_kl, 10 * c_q8.mean_kl);
  EXPECT_LT(c_zero.top1_agreement, 0.9);
  EXPECT_LT(c_noise.top1_agreement, c_f16.top1_agreement);
}

TEST_F(LlamaRuntimeTest, AlternativeVocabularyHasAnotherFingerprint) {
  SynthOptions alt = Base();
  alt.vocab = SynthVocabKind::kAlt;
  std::unique_ptr<LoadedModel> a = OpenOrDie(Synth(Base(), "bytes.gguf"));
  std::unique_ptr<LoadedModel> b = OpenOrDie(Synth(alt, "alt.gguf"));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->Info().vocab_size, kSynthAltVocabSize);
  EXPECT_NE(a->Info().vocab_fingerprint, b->Info().vocab_fingerprint);
  // Still a byte-fallback vocabulary: any bytes survive a round trip.
  const std::string text("the \xff\x01-other \xc3\xa9", 15);
  Result<std::vector<Token>> tokens = b->Tokenize(text, true);
  ASSERT_TRUE(tokens.ok());
  Result<std::string> back = b->Detokenize(*tokens);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, text);
  Result<std::vector<Token>> bytes_tokens = a->Tokenize(text, true);
  ASSERT_TRUE(bytes_tokens.ok());
  EXPECT_NE(*tokens, *bytes_tokens);
}

TEST_F(LlamaRuntimeTest, RefusesAModelOverTheMemoryBudget) {
  const std::string path = Synth(Base(), "m.gguf");
  const std::uint64_t size = std::filesystem::file_size(path);
  Result<std::unique_ptr<LoadedModel>> refused = Open(path, 128, size);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kIncompatible);
  const std::uint64_t needed = size + 2 * 2 * 128 * 64 * 2;
  EXPECT_EQ(refused.error().message,
            "model needs " + std::to_string(needed) + " bytes, budget is " + std::to_string(size));
  EXPECT_TRUE(Open(path, 128, needed).ok());
}

TEST_F(LlamaRuntimeTest, MissingFileIsNotFound) {
  Result<std::unique_ptr<LoadedModel>> r = Open(dir_.Sub("absent.gguf"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
}

TEST_F(LlamaRuntimeTest, GarbageAndEmptyFilesAreNotGguf) {
  const std::string garbage = dir_.Sub("garbage.gguf");
  WriteTestFile(garbage, std::string(4096, '\x5a'));
  Result<std::unique_ptr<LoadedModel>> r = Open(garbage);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kIncompatible);
  EXPECT_NE(r.error().message.find("not a GGUF file"), std::string::npos) << r.error().message;

  const std::string empty = dir_.Sub("empty.gguf");
  WriteTestFile(empty, "");
  EXPECT_EQ(Open(empty).error().code, ErrorCode::kIncompatible);
  EXPECT_EQ(Open(dir_.path()).error().code, ErrorCode::kIo);  // A folder.
}

TEST_F(LlamaRuntimeTest, GgufMagicFollowedByGarbageIsRefused) {
  const std::string path = dir_.Sub("fake.gguf");
  std::string bytes = "GGUF";
  std::uint32_t x = 12345;
  for (int i = 0; i < 4096; ++i) {
    x = x * 1103515245u + 12345u;
    bytes.push_back(static_cast<char>(x >> 24));
  }
  WriteTestFile(path, bytes);
  Result<std::unique_ptr<LoadedModel>> r = Open(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kIntegrity) << r.error().ToString();
}

TEST_F(LlamaRuntimeTest, TruncatedFilesAreRefusedAtEveryLength) {
  const std::string bytes = ReadTestFile(Synth(Base(), "m.gguf"));
  const std::string path = dir_.Sub("cut.gguf");
  for (std::size_t cut :
       {std::size_t{3}, std::size_t{16}, std::size_t{200}, bytes.size() / 3, bytes.size() - 1}) {
    WriteTestFile(path, bytes.substr(0, cut));
    Result<std::unique_ptr<LoadedModel>> r = Open(path);
    ASSERT_FALSE(r.ok()) << "cut at " << cut;
    if (cut < 4) {
      EXPECT_EQ(r.error().code, ErrorCode::kIncompatible);
    } else {
      EXPECT_EQ(r.error().code, ErrorCode::kIntegrity)
          << "cut at " << cut << ": " << r.error().ToString();
    }
  }
}

TEST_F(LlamaRuntimeTest, UnknownArchitectureIsIncompatible) {
  std::string bytes = ReadTestFile(Synth(Base(), "m.gguf"));
  // The value of general.architecture follows its key: "llama" -> "llamx".
  const std::size_t key = bytes.find("general.architecture");
  ASSERT_NE(key, std::string::npos);
  const std::size_t value = bytes.find("llama", key);
  ASSERT_NE(value, std::string::npos);
  bytes[value + 4] = 'x';
  const std::string path = dir_.Sub("alien.gguf");
  WriteTestFile(path, bytes);
  Result<std::unique_ptr<LoadedModel>> r = Open(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kIncompatible) << r.error().ToString();
  EXPECT_NE(r.error().message.find("unknown architecture 'llamx'"), std::string::npos)
      << r.error().message;
}

TEST_F(LlamaRuntimeTest, InvalidOpenOptions) {
  const std::string path = Synth(Base(), "m.gguf");
  ModelOpenOptions options;
  options.path = path;
  options.threads = 0;
  EXPECT_EQ(runtime_->Open(options).error().code, ErrorCode::kInvalidArgument);
  options.threads = 1;
  options.context_length = 4;
  EXPECT_EQ(runtime_->Open(options).error().code, ErrorCode::kInvalidArgument);
  options.path.clear();
  options.context_length = 64;
  EXPECT_EQ(runtime_->Open(options).error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace ota::runtime_adapter
