// Synthesized models with real tokenizers (SynthOptions::vocab_from): the
// vocabulary files of llama.cpp kept by scripts/setup, opened through the
// llama runtime and checked against llama.cpp's own expected token ids.
#include <ggml.h>
#include <gguf.h>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "ota/common/hash.h"
#include "ota/runtime_adapter/model_synth.h"
#include "ota/runtime_adapter/runtime.h"
#include "real_vocab.h"
#include "test_support.h"

namespace ota::runtime_adapter {
namespace {

using ota::testing::ReadVocabCases;
using ota::testing::RealVocabFile;
using ota::testing::TempDir;
using ota::testing::VocabCase;

struct GgufFree {
  void operator()(gguf_context* ctx) const { gguf_free(ctx); }
};
using GgufPtr = std::unique_ptr<gguf_context, GgufFree>;

GgufPtr ReadGguf(const std::string& path, ggml_context** tensors = nullptr) {
  gguf_init_params params{};
  params.no_alloc = true;
  params.ctx = tensors;
  return GgufPtr(gguf_init_from_file(path.c_str(), params));
}

std::string Ids(const std::vector<Token>& ids) {
  std::ostringstream out;
  for (Token id : ids) out << ' ' << id;
  return out.str();
}

// A small model: the vocabulary dominates its size.
SynthOptions Small(const std::string& vocab_from) {
  SynthOptions options;
  options.layers = 1;
  options.width = 16;
  options.heads = 2;
  options.vocab_from = vocab_from;
  return options;
}

class RealTokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Result<std::unique_ptr<Runtime>> runtime = MakeLlamaRuntime();
    ASSERT_TRUE(runtime.ok()) << runtime.error().ToString();
    runtime_ = runtime->release();
  }
  static void TearDownTestSuite() {
    delete runtime_;
    runtime_ = nullptr;
  }

  std::string Synth(const SynthOptions& options, const std::string& name) {
    const std::string path = dir_.Sub(name);
    const Status status = SynthesizeModel(options, path);
    EXPECT_TRUE(status.ok()) << status.error().ToString();
    return path;
  }

  std::unique_ptr<LoadedModel> Open(const std::string& path) {
    if (runtime_ == nullptr) {
      ADD_FAILURE() << "no llama runtime";
      return nullptr;
    }
    ModelOpenOptions options;
    options.path = path;
    options.context_length = 64;
    Result<std::unique_ptr<LoadedModel>> model = runtime_->Open(options);
    EXPECT_TRUE(model.ok()) << model.error().ToString();
    return model.ok() ? std::move(*model) : nullptr;
  }

  // The test strings whose tokens differ from the expected ids, with both.
  static std::vector<std::string> Mismatches(LoadedModel& model,
                                             const std::vector<VocabCase>& cases) {
    std::vector<std::string> mismatches;
    for (const VocabCase& c : cases) {
      Result<std::vector<Token>> tokens = model.Tokenize(c.text, /*add_bos=*/false);
      if (!tokens.ok()) {
        mismatches.push_back("'" + c.text + "': " + tokens.error().ToString());
      } else if (*tokens != c.ids) {
        mismatches.push_back("'" + c.text + "': got" + Ids(*tokens) + ", expected" + Ids(c.ids));
      }
    }
    return mismatches;
  }

  static Runtime* runtime_;
  TempDir dir_;
};

Runtime* RealTokenizerTest::runtime_ = nullptr;

class EveryRealTokenizer : public RealTokenizerTest,
                           public ::testing::WithParamInterface<const char*> {};

TEST_P(EveryRealTokenizer, TokenizesLlamaCppTestStringsAsExpected) {
  const std::string vocab = RealVocabFile(GetParam());
  ASSERT_FALSE(vocab.empty());
  const std::vector<VocabCase> cases = ReadVocabCases(vocab);
  ASSERT_GE(cases.size(), 40u);
  const std::unique_ptr<LoadedModel> model = Open(Synth(Small(vocab), "model.gguf"));
  ASSERT_NE(model, nullptr);
  const std::vector<std::string> mismatches = Mismatches(*model, cases);
  for (const std::string& mismatch : mismatches) ADD_FAILURE() << GetParam() << ": " << mismatch;
}

INSTANTIATE_TEST_SUITE_P(KeptVocabularies, EveryRealTokenizer,
                         ::testing::Values("llama-bpe", "qwen2", "phi-3", "gpt-2", "llama-spm"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           std::string name = info.param;
                           for (char& c : name) c = c == '-' ? '_' : c;
                           return name;
                         });

// The comparison above can fail: the built-in byte vocabulary gives other ids
// for nearly every string.
TEST_F(RealTokenizerTest, BuiltInVocabularyFailsTheSameComparison) {
  const std::string vocab = RealVocabFile("llama-bpe");
  ASSERT_FALSE(vocab.empty());
  const std::vector<VocabCase> cases = ReadVocabCases(vocab);
  const std::unique_ptr<LoadedModel> model = Open(Synth(Small(""), "bytes.gguf"));
  ASSERT_NE(model, nullptr);
  EXPECT_GT(Mismatches(*model, cases).size(), cases.size() / 2);
}

struct ExpectedVocab {
  const char* name;
  int tokens;
  Token bos;
  Token eos;
};

TEST_F(RealTokenizerTest, InfoComesFromTheRealVocabulary) {
  std::vector<std::string> fingerprints;
  for (const ExpectedVocab& expected :
       {ExpectedVocab{"llama-bpe", 128256, 128000, 128001},
        ExpectedVocab{"qwen2", 151936, 151643, 151643}, ExpectedVocab{"llama-spm", 32000, 1, 2}}) {
    SCOPED_TRACE(expected.name);
    const std::string vocab = RealVocabFile(expected.name);
    ASSERT_FALSE(vocab.empty());
    const GgufPtr source = ReadGguf(vocab);
    ASSERT_NE(source, nullptr);
    ASSERT_EQ(gguf_get_arr_n(source.get(), gguf_find_key(source.get(), "tokenizer.ggml.tokens")),
              static_cast<std::size_t>(expected.tokens));

    SynthOptions options = Small(vocab);
    const std::unique_ptr<LoadedModel> a = Open(Synth(options, "a.gguf"));
    options.seed = 99;
    options.width = 32;
    const std::unique_ptr<LoadedModel> b = Open(Synth(options, "b.gguf"));
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(a->Info().vocab_size, expected.tokens);
    EXPECT_EQ(a->Info().bos_token, expected.bos);
    EXPECT_EQ(a->Info().eos_token, expected.eos);
    // Weights differ, the vocabulary does not.
    EXPECT_EQ(a->Info().vocab_fingerprint, b->Info().vocab_fingerprint);
    fingerprints.push_back(a->Info().vocab_fingerprint);
  }
  const std::unique_ptr<LoadedModel> bytes = Open(Synth(Small(""), "bytes.gguf"));
  ASSERT_NE(bytes, nullptr);
  EXPECT_EQ(bytes->Info().vocab_size, kSynthVocabSize);
  fingerprints.push_back(bytes->Info().vocab_fingerprint);
  for (std::size_t i = 0; i < fingerprints.size(); ++i) {
    for (std::size_t j = i + 1; j < fingerprints.size(); ++j) {
      EXPECT_NE(fingerprints[i], fingerprints[j]) << i << " and " << j;
    }
  }
}

TEST_F(RealTokenizerTest, EveryTokenizerKeyIsCopiedAndMatricesHaveOneRowPerToken) {
  const std::string vocab = RealVocabFile("qwen2");
  ASSERT_FALSE(vocab.empty());
  const std::string path = Synth(Small(vocab), "model.gguf");
  const GgufPtr source = ReadGguf(vocab);
  ggml_context* tensors = nullptr;
  const GgufPtr model = ReadGguf(path, &tensors);
  ASSERT_NE(source, nullptr);
  ASSERT_NE(model, nullptr);
  std::unique_ptr<ggml_context, decltype(&ggml_free)> tensors_owner(tensors, &ggml_free);
  int copied = 0;
  for (std::int64_t id = 0; id < gguf_get_n_kv(source.get()); ++id) {
    const std::string key = gguf_get_key(source.get(), id);
    if (key.rfind("tokenizer.", 0) != 0) continue;
    SCOPED_TRACE(key);
    const std::int64_t out = gguf_find_key(model.get(), key.c_str());
    ASSERT_GE(out, 0);
    ++copied;
    const gguf_type type = gguf_get_kv_type(source.get(), id);
    ASSERT_EQ(gguf_get_kv_type(model.get(), out), type);
    if (type == GGUF_TYPE_STRING) {
      EXPECT_STREQ(gguf_get_val_str(model.get(), out), gguf_get_val_str(source.get(), id));
    } else if (type == GGUF_TYPE_ARRAY) {
      const std::size_t n = gguf_get_arr_n(source.get(), id);
      ASSERT_EQ(gguf_get_arr_n(model.get(), out), n);
      if (gguf_get_arr_type(source.get(), id) == GGUF_TYPE_STRING) {
        for (std::size_t i : {std::size_t{0}, n / 2, n - 1}) {
          EXPECT_STREQ(gguf_get_arr_str(model.get(), out, i),
                       gguf_get_arr_str(source.get(), id, i));
        }
      }
    } else if (type == GGUF_TYPE_UINT32) {
      EXPECT_EQ(gguf_get_val_u32(model.get(), out), gguf_get_val_u32(source.get(), id));
    }
  }
  EXPECT_GE(copied, 8);  // model, pre, tokens, token_type, merges, 3 ids, chat template.
  EXPECT_GE(gguf_find_key(model.get(), "tokenizer.chat_template"), 0);
  EXPECT_EQ(gguf_find_key(model.get(), "qwen2.context_length"), -1);  // Only tokenizer keys.
  for (const char* name : {"token_embd.weight", "output.weight"}) {
    const ggml_tensor* t = ggml_get_tensor(tensors, name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(t->ne[1], 151936) << name;
  }
  const std::int64_t vocab_size = gguf_find_key(model.get(), "llama.vocab_size");
  ASSERT_GE(vocab_size, 0);
  EXPECT_EQ(gguf_get_val_u32(model.get(), vocab_size), 151936u);
}

TEST_F(RealTokenizerTest, ChatTemplateReplacesTheCopiedOne) {
  const std::string vocab = RealVocabFile("qwen2");
  ASSERT_FALSE(vocab.empty());
  const std::string text = ota::testing::ReadTestFile(
      ota::testing::RealVocabDir() + "/templates/meta-llama-Llama-3.1-8B-Instruct.jinja");
  ASSERT_FALSE(text.empty());
  SynthOptions options = Small(vocab);
  options.chat_template = text;
  const GgufPtr model = ReadGguf(Synth(options, "model.gguf"));
  ASSERT_NE(model, nullptr);
  const std::int64_t id = gguf_find_key(model.get(), "tokenizer.chat_template");
  ASSERT_GE(id, 0);
  EXPECT_EQ(std::string(gguf_get_val_str(model.get(), id)), text);

  // The built-in vocabulary takes a template too; without one it has none.
  options = Small("");
  options.chat_template = "{{ messages[0].content }}";
  const GgufPtr bytes = ReadGguf(Synth(options, "bytes.gguf"));
  ASSERT_NE(bytes, nullptr);
  const std::int64_t bytes_id = gguf_find_key(bytes.get(), "tokenizer.chat_template");
  ASSERT_GE(bytes_id, 0);
  EXPECT_STREQ(gguf_get_val_str(bytes.get(), bytes_id), "{{ messages[0].content }}");
  const GgufPtr plain = ReadGguf(Synth(Small(""), "plain.gguf"));
  EXPECT_EQ(gguf_find_key(plain.get(), "tokenizer.chat_template"), -1);
}

TEST_F(RealTokenizerTest, SameOptionsAndVocabularyGiveTheSameBytes) {
  const std::string vocab = RealVocabFile("phi-3");
  ASSERT_FALSE(vocab.empty());
  const Result<std::string> a = HashFileHex(Synth(Small(vocab), "a.gguf"), HashAlgorithm::kSha256);
  const Result<std::string> b = HashFileHex(Synth(Small(vocab), "b.gguf"), HashAlgorithm::kSha256);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
}

}  // namespace
}  // namespace ota::runtime_adapter
