// The variant flags of test-model synthesis: vocabularies and deliberate
// damage, parsed from their text forms and written deterministically.
#include <string>

#include "ota/common/hash.h"
#include "ota/runtime_adapter/model_synth.h"
#include "test_support.h"

namespace ota::runtime_adapter {
namespace {

using ota::testing::ReadTestFile;
using ota::testing::TempDir;

TEST(SynthVariantOptionsTest, ParsesBreaks) {
  SynthOptions o;
  ASSERT_TRUE(ParseSynthBreak("zero-layer:1", o).ok());
  EXPECT_EQ(o.breakage, SynthBreak::kZeroLayer);
  EXPECT_EQ(o.break_layer, 1);
  EXPECT_EQ(SynthBreakName(o), "zero-layer:1");
  ASSERT_TRUE(ParseSynthBreak("swap-tensors", o).ok());
  EXPECT_EQ(o.breakage, SynthBreak::kSwapTensors);
  EXPECT_EQ(SynthBreakName(o), "swap-tensors");
  ASSERT_TRUE(ParseSynthBreak("none", o).ok());
  EXPECT_EQ(o.breakage, SynthBreak::kNone);
  for (const char* bad : {"", "zero-layer", "zero-layer:", "zero-layer:-1", "zero-layer:1x",
                          "zero-layer:1234", "swap", "ZERO-LAYER:1"}) {
    SynthOptions before;
    const Status s = ParseSynthBreak(bad, before);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(before.breakage, SynthBreak::kNone) << bad;
  }
}

TEST(SynthVariantOptionsTest, ZeroLayerMustNameABlock) {
  SynthOptions o;
  o.layers = 2;
  ASSERT_TRUE(ParseSynthBreak("zero-layer:2", o).ok());
  const Status s = ValidateSynthOptions(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "zero-layer block must be in [0, 1], got 2");
  o.break_layer = 1;
  EXPECT_TRUE(ValidateSynthOptions(o).ok());
}

TEST(SynthVariantOptionsTest, ParsesVocabularies) {
  EXPECT_EQ(*ParseSynthVocab("bytes"), SynthVocabKind::kBytes);
  EXPECT_EQ(*ParseSynthVocab("alt"), SynthVocabKind::kAlt);
  EXPECT_EQ(ParseSynthVocab("utf8").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(SynthVocabSize(SynthVocabKind::kBytes), kSynthVocabSize);
  EXPECT_EQ(SynthVocabSize(SynthVocabKind::kAlt), kSynthAltVocabSize);
}

class SynthVariantFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!ModelSynthesisAvailable()) GTEST_SKIP() << "built without llama.cpp";
  }
  std::string Digest(const SynthOptions& options, const std::string& name) {
    const std::string path = dir_.Sub(name);
    const Status status = SynthesizeModel(options, path);
    EXPECT_TRUE(status.ok()) << status.error().ToString();
    return Sha256Hex(ReadTestFile(path));
  }
  TempDir dir_;
};

TEST_F(SynthVariantFileTest, EveryVariantIsDeterministicAndDistinct) {
  SynthOptions base;
  base.width = 32;
  base.heads = 2;
  SynthOptions zero = base;
  ASSERT_TRUE(ParseSynthBreak("zero-layer:1", zero).ok());
  SynthOptions swap = base;
  ASSERT_TRUE(ParseSynthBreak("swap-tensors", swap).ok());
  SynthOptions alt = base;
  alt.vocab = SynthVocabKind::kAlt;
  SynthOptions requant = base;
  requant.type = TensorType::kQ8_0;

  std::vector<std::string> digests;
  int n = 0;
  for (const SynthOptions* o : {&base, &zero, &swap, &alt, &requant}) {
    const std::string first = Digest(*o, "a" + std::to_string(n) + ".gguf");
    EXPECT_EQ(Digest(*o, "b" + std::to_string(n) + ".gguf"), first) << "variant " << n;
    for (const std::string& other : digests) EXPECT_NE(first, other) << "variant " << n;
    digests.push_back(first);
    ++n;
  }
}

TEST_F(SynthVariantFileTest, SwapAndZeroKeepTheSizeOfTheBaseModel) {
  SynthOptions base;
  base.width = 32;
  base.heads = 2;
  SynthOptions swap = base;
  swap.breakage = SynthBreak::kSwapTensors;
  SynthOptions zero = base;
  zero.breakage = SynthBreak::kZeroLayer;
  ASSERT_TRUE(SynthesizeModel(base, dir_.Sub("base.gguf")).ok());
  ASSERT_TRUE(SynthesizeModel(swap, dir_.Sub("swap.gguf")).ok());
  ASSERT_TRUE(SynthesizeModel(zero, dir_.Sub("zero.gguf")).ok());
  const std::string b = ReadTestFile(dir_.Sub("base.gguf"));
  EXPECT_EQ(ReadTestFile(dir_.Sub("swap.gguf")).size(), b.size());
  EXPECT_EQ(ReadTestFile(dir_.Sub("zero.gguf")).size(), b.size());
}

}  // namespace
}  // namespace ota::runtime_adapter
