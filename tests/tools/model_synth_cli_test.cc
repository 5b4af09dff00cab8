// otactl model synth --vocab-from / --chat-template: the built binary with the
// real tokenizers kept by scripts/setup.
#include <gguf.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ota/runtime_adapter/runtime.h"
#include "real_vocab.h"
#include "test_support.h"

namespace ota::tools {
namespace {

namespace ra = ota::runtime_adapter;
using ota::testing::CommandResult;
using ota::testing::RunCommand;

struct GgufFree {
  void operator()(gguf_context* ctx) const { gguf_free(ctx); }
};

class ModelSynthCliTest : public ::testing::Test {
 protected:
  CommandResult Synth(std::vector<std::string> extra) {
    std::vector<std::string> argv = {ota::testing::BinaryPath("otactl"),
                                     "model",
                                     "synth",
                                     "--layers",
                                     "1",
                                     "--width",
                                     "16",
                                     "--heads",
                                     "2",
                                     "--out",
                                     dir_.Sub("model.gguf")};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return RunCommand(argv);
  }

  // The error output is one line naming the command.
  static void ExpectOneLineError(const CommandResult& r, const std::string& text) {
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_EQ(r.err.rfind("otactl: model synth: ", 0), 0u) << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
    EXPECT_NE(r.err.find(text), std::string::npos) << r.err;
  }

  ota::testing::TempDir dir_;
};

TEST_F(ModelSynthCliTest, VocabFromAndChatTemplateMakeALlama3Model) {
  const std::string vocab = ota::testing::RealVocabFile("llama-bpe");
  ASSERT_FALSE(vocab.empty());
  const std::string chat_template =
      ota::testing::RealVocabDir() + "/templates/meta-llama-Llama-3.1-8B-Instruct.jinja";
  const CommandResult r = Synth({"--vocab-from", vocab, "--chat-template", chat_template});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("vocabulary from " + vocab), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("chat template"), std::string::npos) << r.out;

  Result<std::unique_ptr<ra::Runtime>> runtime = ra::MakeLlamaRuntime();
  ASSERT_TRUE(runtime.ok());
  ra::ModelOpenOptions open;
  open.path = dir_.Sub("model.gguf");
  open.context_length = 64;
  Result<std::unique_ptr<ra::LoadedModel>> model = (*runtime)->Open(open);
  ASSERT_TRUE(model.ok()) << model.error().ToString();
  EXPECT_EQ((*model)->Info().vocab_size, 128256);
  EXPECT_EQ((*model)->Info().bos_token, 128000);
  // From ggml-vocab-llama-bpe.gguf.out: "Hello world" is 9906 1917.
  Result<std::vector<ra::Token>> tokens = (*model)->Tokenize("Hello world", false);
  ASSERT_TRUE(tokens.ok());
  EXPECT_EQ(*tokens, (std::vector<ra::Token>{9906, 1917}));

  gguf_init_params params{};
  params.no_alloc = true;
  std::unique_ptr<gguf_context, GgufFree> gguf(
      gguf_init_from_file(dir_.Sub("model.gguf").c_str(), params));
  ASSERT_NE(gguf, nullptr);
  const std::int64_t id = gguf_find_key(gguf.get(), "tokenizer.chat_template");
  ASSERT_GE(id, 0);
  EXPECT_EQ(std::string(gguf_get_val_str(gguf.get(), id)),
            ota::testing::ReadTestFile(chat_template));
}

TEST_F(ModelSynthCliTest, BadVocabulariesAndTemplatesFailWithOneLine) {
  ota::testing::WriteTestFile(dir_.Sub("text.txt"), "not a model");
  ExpectOneLineError(Synth({"--vocab-from", dir_.Sub("text.txt")}), "is not a GGUF file");
  ExpectOneLineError(Synth({"--vocab-from", dir_.Sub("missing.gguf")}), "does not exist");
  ExpectOneLineError(Synth({"--vocab-from", dir_.path()}), "not a regular file");
  // A GGUF magic and a version, then nothing: ggml's reason joins the line.
  ota::testing::WriteTestFile(dir_.Sub("cut.gguf"), std::string("GGUF\3\0\0\0", 8));
  ExpectOneLineError(Synth({"--vocab-from", dir_.Sub("cut.gguf")}), "malformed or truncated");
  ExpectOneLineError(Synth({"--chat-template", dir_.Sub("missing.jinja")}), "--chat-template");
  ota::testing::WriteTestFile(dir_.Sub("empty.jinja"), "");
  ExpectOneLineError(Synth({"--chat-template", dir_.Sub("empty.jinja")}), "is empty");
  ota::testing::WriteTestFile(dir_.Sub("nul.jinja"), std::string("a\0b", 3));
  ExpectOneLineError(Synth({"--chat-template", dir_.Sub("nul.jinja")}), "NUL");
  ota::testing::WriteTestFile(dir_.Sub("big.jinja"), std::string((1u << 20) + 1, 'x'));
  ExpectOneLineError(Synth({"--chat-template", dir_.Sub("big.jinja")}), "more than the limit");
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("model.gguf")));

  // --vocab and --vocab-from exclude each other: a usage error.
  const CommandResult r = Synth({"--vocab", "alt", "--vocab-from", dir_.Sub("text.txt")});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
}

}  // namespace
}  // namespace ota::tools
