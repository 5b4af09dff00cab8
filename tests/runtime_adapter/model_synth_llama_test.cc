// The synthesized files as the pinned llama.cpp sees them: GGUF metadata,
// tensor types, tokenization of arbitrary bytes and a forward pass.
#include <ggml.h>
#include <gguf.h>
#include <llama.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "ota/runtime_adapter/model_synth.h"
#include "test_support.h"

namespace ota::runtime_adapter {
namespace {

using ota::testing::TempDir;

void IgnoreLog(ggml_log_level, const char*, void*) {}

struct ModelDeleter {
  void operator()(llama_model* m) const { llama_model_free(m); }
};
struct ContextDeleter {
  void operator()(llama_context* c) const { llama_free(c); }
};
struct GgufDeleter {
  void operator()(gguf_context* c) const { gguf_free(c); }
};
using ModelPtr = std::unique_ptr<llama_model, ModelDeleter>;
using ContextPtr = std::unique_ptr<llama_context, ContextDeleter>;

class LlamaLoadTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    llama_log_set(IgnoreLog, nullptr);
    llama_backend_init();
  }

  ModelPtr Load(const std::string& path) {
    llama_model_params params = llama_model_default_params();
    params.n_gpu_layers = 0;
    return ModelPtr(llama_model_load_from_file(path.c_str(), params));
  }

  std::string SynthOrFail(const SynthOptions& options, const std::string& name) {
    const std::string path = dir_.Sub(name);
    const Status status = SynthesizeModel(options, path);
    EXPECT_TRUE(status.ok()) << status.error().ToString();
    return path;
  }

  // Logits after the last token of `tokens`, or empty on failure.
  static std::vector<float> LastLogits(llama_model* model, std::vector<llama_token> tokens) {
    llama_context_params params = llama_context_default_params();
    params.n_ctx = 64;
    params.n_batch = 64;
    params.n_threads = 1;
    params.n_threads_batch = 1;
    ContextPtr ctx(llama_init_from_model(model, params));
    if (!ctx) return {};
    if (llama_decode(ctx.get(), llama_batch_get_one(tokens.data(), tokens.size())) != 0) return {};
    const float* logits = llama_get_logits_ith(ctx.get(), -1);
    if (logits == nullptr) return {};
    const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    return std::vector<float>(logits, logits + n_vocab);
  }

  TempDir dir_;
};

std::vector<llama_token> Tokenize(const llama_vocab* vocab, const std::string& text) {
  std::vector<llama_token> tokens(text.size() + 8);
  const int n = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), tokens.data(),
                               static_cast<int32_t>(tokens.size()),
                               /*add_special=*/true, /*parse_special=*/false);
  tokens.resize(n < 0 ? 0 : n);
  return tokens;
}

TEST_F(LlamaLoadTest, GgufCarriesLlamaMetadataAndTensorTypes) {
  SynthOptions options;
  options.layers = 2;
  options.width = 32;
  options.heads = 2;
  options.ff = 40;  // Not a multiple of 32: ffn_down falls back to F16.
  options.type = TensorType::kQ8_0;
  options.name = "meta-check";
  const std::string path = SynthOrFail(options, "q8.gguf");

  gguf_init_params params{};
  params.no_alloc = true;
  params.ctx = nullptr;
  std::unique_ptr<gguf_context, GgufDeleter> gguf(gguf_init_from_file(path.c_str(), params));
  ASSERT_NE(gguf, nullptr);
  auto str = [&](const char* key) {
    const int64_t id = gguf_find_key(gguf.get(), key);
    return id < 0 ? std::string("<missing>") : std::string(gguf_get_val_str(gguf.get(), id));
  };
  auto u32 = [&](const char* key) {
    const int64_t id = gguf_find_key(gguf.get(), key);
    return id < 0 ? 0u : gguf_get_val_u32(gguf.get(), id);
  };
  EXPECT_EQ(str("general.architecture"), "llama");
  EXPECT_EQ(str("general.name"), "meta-check");
  EXPECT_EQ(str("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(u32("llama.block_count"), 2u);
  EXPECT_EQ(u32("llama.embedding_length"), 32u);
  EXPECT_EQ(u32("llama.feed_forward_length"), 40u);
  EXPECT_EQ(u32("general.file_type"), 7u);
  const int64_t tokens = gguf_find_key(gguf.get(), "tokenizer.ggml.tokens");
  ASSERT_GE(tokens, 0);
  ASSERT_EQ(gguf_get_arr_n(gguf.get(), tokens), static_cast<size_t>(kSynthVocabSize));
  EXPECT_STREQ(gguf_get_arr_str(gguf.get(), tokens, kSynthFirstByteToken + 0xff), "<0xFF>");

  EXPECT_EQ(gguf_get_n_tensors(gguf.get()), 3 + 9 * 2);
  auto type_of = [&](const char* name) {
    const int64_t id = gguf_find_tensor(gguf.get(), name);
    return id < 0 ? GGML_TYPE_COUNT : gguf_get_tensor_type(gguf.get(), id);
  };
  EXPECT_EQ(type_of("token_embd.weight"), GGML_TYPE_Q8_0);
  EXPECT_EQ(type_of("blk.1.attn_q.weight"), GGML_TYPE_Q8_0);
  EXPECT_EQ(type_of("blk.1.ffn_down.weight"), GGML_TYPE_F16);
  EXPECT_EQ(type_of("blk.0.attn_norm.weight"), GGML_TYPE_F32);
  EXPECT_EQ(type_of("output.weight"), GGML_TYPE_Q8_0);
}

class LlamaLoadTypeTest : public LlamaLoadTest, public ::testing::WithParamInterface<TensorType> {};

TEST_P(LlamaLoadTypeTest, LoadsTokenizesAnyBytesAndDecodes) {
  SynthOptions options;
  options.type = GetParam();
  options.seed = 42;
  const std::string path = SynthOrFail(options, "model.gguf");
  ModelPtr model = Load(path);
  ASSERT_NE(model, nullptr) << "llama.cpp rejected the synthesized model";
  EXPECT_EQ(llama_model_n_embd(model.get()), options.width);
  EXPECT_EQ(llama_model_n_layer(model.get()), options.layers);
  const llama_vocab* vocab = llama_model_get_vocab(model.get());
  ASSERT_EQ(llama_vocab_n_tokens(vocab), kSynthVocabSize);
  EXPECT_EQ(llama_vocab_bos(vocab), kSynthBosToken);
  EXPECT_EQ(llama_vocab_eos(vocab), kSynthEosToken);

  // UTF-8, an invalid byte and a NUL: everything tokenizes, nothing is lost.
  const std::string text("h\xc3\xa9llo w\xc3\xb6rld \xff!\x00?", 17);
  const std::vector<llama_token> tokens = Tokenize(vocab, text);
  ASSERT_GE(tokens.size(), 2u);
  EXPECT_EQ(tokens.front(), kSynthBosToken);
  for (llama_token t : tokens) EXPECT_NE(t, kSynthUnkToken);
  bool saw_ff = false;
  for (llama_token t : tokens) saw_ff |= (t == kSynthFirstByteToken + 0xff);
  EXPECT_TRUE(saw_ff) << "byte 0xFF did not map to <0xFF>";
  std::vector<char> back(text.size() + 16);
  const int n = llama_detokenize(vocab, tokens.data(), static_cast<int32_t>(tokens.size()),
                                 back.data(), static_cast<int32_t>(back.size()),
                                 /*remove_special=*/true, /*unparse_special=*/false);
  ASSERT_GE(n, 0);
  EXPECT_EQ(std::string(back.data(), n), text);

  const std::vector<float> logits = LastLogits(model.get(), tokens);
  ASSERT_EQ(logits.size(), static_cast<size_t>(kSynthVocabSize));
  double sum = 0, sum_sq = 0;
  for (float v : logits) {
    ASSERT_TRUE(std::isfinite(v));
    sum += v;
    sum_sq += static_cast<double>(v) * v;
  }
  const double mean = sum / logits.size();
  const double stddev = std::sqrt(sum_sq / logits.size() - mean * mean);
  EXPECT_GT(stddev, 0.5) << "degenerate logits";
  EXPECT_LT(stddev, 10.0) << "exploding logits";
}

INSTANTIATE_TEST_SUITE_P(AllTypes, LlamaLoadTypeTest,
                         ::testing::Values(TensorType::kF32, TensorType::kF16, TensorType::kQ8_0),
                         [](const ::testing::TestParamInfo<TensorType>& info) {
                           return std::string(TensorTypeName(info.param));
                         });

TEST_F(LlamaLoadTest, SmallNoiseMovesLogitsALittle) {
  SynthOptions base;
  base.type = TensorType::kF32;
  SynthOptions noisy = base;
  noisy.noise = 0.01;
  noisy.noise_seed = 3;
  ModelPtr a = Load(SynthOrFail(base, "base.gguf"));
  ModelPtr b = Load(SynthOrFail(noisy, "noisy.gguf"));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  const std::vector<llama_token> tokens =
      Tokenize(llama_model_get_vocab(a.get()), "the same prompt");
  const std::vector<float> la = LastLogits(a.get(), tokens);
  const std::vector<float> lb = LastLogits(b.get(), tokens);
  ASSERT_EQ(la.size(), lb.size());
  ASSERT_FALSE(la.empty());
  double diff = 0, scale = 0;
  for (size_t i = 0; i < la.size(); ++i) {
    diff += std::fabs(la[i] - lb[i]);
    scale += std::fabs(la[i]);
  }
  EXPECT_GT(diff, 0.0);
  EXPECT_LT(diff, 0.2 * scale) << "1% weight noise changed the logits too much";
}

}  // namespace
}  // namespace ota::runtime_adapter
