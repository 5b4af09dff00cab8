// SynthOptions::vocab_from with files that cannot give a tokenizer: each
// fails with one precise line, leaves no output, and never crashes.
#include <ggml.h>
#include <gguf.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ota/runtime_adapter/model_synth.h"
#include "real_vocab.h"
#include "test_support.h"

namespace ota::runtime_adapter {
namespace {

using ota::testing::TempDir;

struct ErrorsGgufFree {
  void operator()(gguf_context* ctx) const { gguf_free(ctx); }
};
using ErrorsGgufPtr = std::unique_ptr<gguf_context, ErrorsGgufFree>;

// A metadata-only GGUF with `tokens` tokens "t0", "t1", ...; `edit` changes
// it before it is written.
template <typename Edit>
std::string WriteVocab(const TempDir& dir, const std::string& name, std::size_t tokens, Edit edit) {
  ErrorsGgufPtr ctx(gguf_init_empty());
  gguf_set_val_str(ctx.get(), "general.architecture", "llama");
  std::vector<std::string> texts;
  texts.reserve(tokens);
  for (std::size_t i = 0; i < tokens; ++i) texts.push_back("t" + std::to_string(i));
  std::vector<const char*> pointers;
  for (const std::string& text : texts) pointers.push_back(text.c_str());
  gguf_set_val_str(ctx.get(), "tokenizer.ggml.model", "llama");
  gguf_set_arr_str(ctx.get(), "tokenizer.ggml.tokens", pointers.data(), pointers.size());
  gguf_set_val_u32(ctx.get(), "tokenizer.ggml.bos_token_id", 0);
  edit(ctx.get());
  const std::string path = dir.Sub(name);
  EXPECT_TRUE(gguf_write_to_file(ctx.get(), path.c_str(), /*only_meta=*/false));
  return path;
}

class SynthTokenizerErrorsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ggml_log_set([](ggml_log_level, const char*, void*) {}, nullptr);
  }

  // Synthesizes from `vocab_from` and returns the error; the output must not
  // exist afterwards, and the message must be one line.
  Error Refused(const std::string& vocab_from) {
    SynthOptions options;
    options.layers = 1;
    options.width = 16;
    options.heads = 2;
    options.vocab_from = vocab_from;
    const std::string out = dir_.Sub("out.gguf");
    const Status status = SynthesizeModel(options, out);
    EXPECT_FALSE(status.ok()) << vocab_from;
    EXPECT_FALSE(std::filesystem::exists(out));
    if (status.ok()) return MakeError(ErrorCode::kInternal, "accepted");
    EXPECT_EQ(status.error().message.find('\n'), std::string::npos) << status.error().message;
    return status.error();
  }

  TempDir dir_;
};

TEST_F(SynthTokenizerErrorsTest, AMinimalVocabularyIsAccepted) {
  const std::string vocab = WriteVocab(dir_, "v.gguf", 40, [](gguf_context*) {});
  SynthOptions options;
  options.layers = 1;
  options.width = 16;
  options.heads = 2;
  options.vocab_from = vocab;
  const Status status = SynthesizeModel(options, dir_.Sub("out.gguf"));
  EXPECT_TRUE(status.ok()) << status.error().ToString();
}

TEST_F(SynthTokenizerErrorsTest, MissingDirectoryAndNonGgufFiles) {
  Error e = Refused(dir_.Sub("missing.gguf"));
  EXPECT_EQ(e.code, ErrorCode::kNotFound);
  EXPECT_NE(e.message.find("does not exist"), std::string::npos) << e.message;

  e = Refused(dir_.path());
  EXPECT_EQ(e.code, ErrorCode::kIo);
  EXPECT_NE(e.message.find("not a regular file"), std::string::npos) << e.message;

  for (const std::string& bytes : {std::string(), std::string("GGU"), std::string("hello world"),
                                   std::string("{\"tokens\": []}")}) {
    ota::testing::WriteTestFile(dir_.Sub("junk"), bytes);
    e = Refused(dir_.Sub("junk"));
    EXPECT_EQ(e.code, ErrorCode::kIncompatible) << bytes;
    EXPECT_NE(e.message.find("is not a GGUF file"), std::string::npos) << e.message;
  }
}

TEST_F(SynthTokenizerErrorsTest, GgufWithoutTokensOrWithTooMany) {
  ErrorsGgufPtr ctx(gguf_init_empty());
  gguf_set_val_str(ctx.get(), "general.architecture", "llama");
  const std::string none = dir_.Sub("none.gguf");
  ASSERT_TRUE(gguf_write_to_file(ctx.get(), none.c_str(), false));
  Error e = Refused(none);
  EXPECT_EQ(e.code, ErrorCode::kIncompatible);
  EXPECT_NE(e.message.find("no tokenizer.ggml.tokens"), std::string::npos) << e.message;

  e = Refused(WriteVocab(dir_, "empty.gguf", 0, [](gguf_context* c) {
    gguf_remove_key(c, "tokenizer.ggml.bos_token_id");
  }));
  EXPECT_EQ(e.code, ErrorCode::kIncompatible);
  EXPECT_NE(e.message.find("is empty"), std::string::npos) << e.message;

  e = Refused(WriteVocab(dir_, "big.gguf", kMaxSynthVocabTokens + 1, [](gguf_context*) {}));
  EXPECT_EQ(e.code, ErrorCode::kIncompatible);
  EXPECT_NE(e.message.find("300001 tokens, more than the limit of 300000"), std::string::npos)
      << e.message;
}

TEST_F(SynthTokenizerErrorsTest, KeysOfTheWrongTypeOrLength) {
  struct Case {
    const char* name;
    void (*edit)(gguf_context*);
    const char* message;
  };
  const std::vector<Case> cases = {
      {"tokens_i32",
       [](gguf_context* c) {
         const std::int32_t ids[2] = {1, 2};
         gguf_set_arr_data(c, "tokenizer.ggml.tokens", GGUF_TYPE_INT32, ids, 2);
       },
       "tokenizer.ggml.tokens must be an array of str, is array of i32"},
      {"tokens_str", [](gguf_context* c) { gguf_set_val_str(c, "tokenizer.ggml.tokens", "abc"); },
       "tokenizer.ggml.tokens must be an array of str, is str"},
      {"scores_short",
       [](gguf_context* c) {
         const float scores[3] = {0, 0, 0};
         gguf_set_arr_data(c, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores, 3);
       },
       "tokenizer.ggml.scores has 3 entries for 40 tokens"},
      {"types_f32",
       [](gguf_context* c) {
         const std::vector<float> types(40, 1.0f);
         gguf_set_arr_data(c, "tokenizer.ggml.token_type", GGUF_TYPE_FLOAT32, types.data(), 40);
       },
       "tokenizer.ggml.token_type must be an array of i32, is array of f32"},
      {"bos_i32", [](gguf_context* c) { gguf_set_val_i32(c, "tokenizer.ggml.bos_token_id", 1); },
       "tokenizer.ggml.bos_token_id must be a u32, is i32"},
      {"eos_outside",
       [](gguf_context* c) { gguf_set_val_u32(c, "tokenizer.ggml.eos_token_id", 40); },
       "tokenizer.ggml.eos_token_id is 40, outside the vocabulary of 40 tokens"},
      {"add_bos_u8", [](gguf_context* c) { gguf_set_val_u8(c, "tokenizer.ggml.add_bos_token", 1); },
       "tokenizer.ggml.add_bos_token must be a bool, is u8"},
      {"model_u32", [](gguf_context* c) { gguf_set_val_u32(c, "tokenizer.ggml.model", 1); },
       "tokenizer.ggml.model must be a string, is u32"},
      {"merges_str", [](gguf_context* c) { gguf_set_val_str(c, "tokenizer.ggml.merges", "a b"); },
       "tokenizer.ggml.merges must be an array of str, is str"},
      {"template_bool",
       [](gguf_context* c) { gguf_set_val_bool(c, "tokenizer.chat_template", true); },
       "tokenizer.chat_template must be a string, is bool"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const Error e = Refused(WriteVocab(dir_, std::string(c.name) + ".gguf", 40, c.edit));
    EXPECT_EQ(e.code, ErrorCode::kInvalidArgument);
    EXPECT_NE(e.message.find(c.message), std::string::npos) << e.message;
  }
}

// Every prefix of a real vocabulary file's header is refused as truncated or
// not GGUF; none crashes.
TEST_F(SynthTokenizerErrorsTest, TruncatedRealVocabularyIsRefusedAtEveryLength) {
  const std::string vocab = ota::testing::RealVocabFile("llama-spm");
  ASSERT_FALSE(vocab.empty());
  const std::string bytes = ota::testing::ReadTestFile(vocab);
  ASSERT_GT(bytes.size(), 100000u);
  std::vector<std::size_t> lengths;
  for (std::size_t n = 0; n < 512; n += 3) lengths.push_back(n);
  for (std::size_t n = 512; n < bytes.size(); n += bytes.size() / 37) lengths.push_back(n);
  lengths.push_back(bytes.size() - 1);
  for (std::size_t n : lengths) {
    ota::testing::WriteTestFile(dir_.Sub("cut.gguf"), bytes.substr(0, n));
    const Error e = Refused(dir_.Sub("cut.gguf"));
    EXPECT_TRUE(e.code == ErrorCode::kIncompatible || e.code == ErrorCode::kIntegrity)
        << n << ": " << e.message;
  }
}

}  // namespace
}  // namespace ota::runtime_adapter
