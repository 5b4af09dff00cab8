#include <limits>

#include "ota/runtime_adapter/model_synth.h"
#include "test_support.h"

namespace ota::runtime_adapter {
namespace {

SynthOptions With(void (*change)(SynthOptions&)) {
  SynthOptions options;
  change(options);
  return options;
}

void ExpectInvalid(const SynthOptions& options, const std::string& mentions) {
  const Status status = ValidateSynthOptions(options);
  ASSERT_FALSE(status.ok()) << "accepted options that should fail on " << mentions;
  EXPECT_EQ(status.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(status.error().message.find(mentions), std::string::npos) << status.error().message;
}

TEST(SynthOptionsTest, DefaultsAreValid) { EXPECT_OK(ValidateSynthOptions(SynthOptions{})); }

TEST(SynthOptionsTest, RejectsOutOfRangeValues) {
  ExpectInvalid(With([](SynthOptions& o) { o.layers = 0; }), "layers");
  ExpectInvalid(With([](SynthOptions& o) { o.layers = 257; }), "layers");
  ExpectInvalid(With([](SynthOptions& o) { o.width = 4; }), "width");
  ExpectInvalid(With([](SynthOptions& o) { o.width = 16384; }), "width");
  ExpectInvalid(With([](SynthOptions& o) { o.heads = 0; }), "heads");
  ExpectInvalid(With([](SynthOptions& o) { o.ff = -1; }), "ff");
  ExpectInvalid(With([](SynthOptions& o) { o.context = 4; }), "context");
  ExpectInvalid(With([](SynthOptions& o) { o.noise = -0.1; }), "noise");
  ExpectInvalid(With([](SynthOptions& o) { o.noise = std::numeric_limits<double>::quiet_NaN(); }),
                "noise");
  ExpectInvalid(With([](SynthOptions& o) { o.name.clear(); }), "name");
  ExpectInvalid(With([](SynthOptions& o) { o.name = std::string(257, 'x'); }), "name");
}

TEST(SynthOptionsTest, ChecksShapeConstraints) {
  ExpectInvalid(With([](SynthOptions& o) {
                  o.width = 64;
                  o.heads = 3;
                }),
                "multiple of heads");
  ExpectInvalid(With([](SynthOptions& o) {
                  o.width = 40;
                  o.heads = 8;  // Head size 5: rotary embeddings need it even.
                }),
                "even");
  ExpectInvalid(With([](SynthOptions& o) {
                  o.width = 48;
                  o.heads = 4;
                  o.type = TensorType::kQ8_0;
                }),
                "multiple of 32");
  EXPECT_OK(ValidateSynthOptions(With([](SynthOptions& o) {
    o.width = 48;
    o.heads = 4;
    o.type = TensorType::kF16;
  })));
}

TEST(SynthOptionsTest, DefaultFeedForwardIsEightThirdsRoundedTo32) {
  EXPECT_EQ(DefaultFeedForward(64), 192);  // 170.7 -> 192
  EXPECT_EQ(DefaultFeedForward(96), 256);
  EXPECT_EQ(DefaultFeedForward(8), 32);
  EXPECT_EQ(DefaultFeedForward(8192) % 32, 0);
}

TEST(SynthOptionsTest, TensorTypeNamesRoundTrip) {
  for (TensorType type : {TensorType::kF32, TensorType::kF16, TensorType::kQ8_0}) {
    auto parsed = ParseTensorType(TensorTypeName(type));
    ASSERT_OK(parsed);
    EXPECT_EQ(*parsed, type);
  }
  EXPECT_EQ(TensorTypeName(TensorType::kQ8_0), "q8_0");
  auto bad = ParseTensorType("q4_0");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

TEST(SynthOptionsTest, AvailabilityMatchesBuild) {
  EXPECT_EQ(ModelSynthesisAvailable(), OTA_HAVE_LLAMA == 1);
}

TEST(SynthOptionsTest, VocabFromAndChatTemplateAreChecked) {
  SynthOptions options;
  options.vocab_from = "v.gguf";
  options.vocab = SynthVocabKind::kAlt;
  Status status = ValidateSynthOptions(options);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("vocab must stay bytes"), std::string::npos);

  options = SynthOptions{};
  options.chat_template = std::string("{{ a }}\0{{ b }}", 15);
  status = ValidateSynthOptions(options);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("NUL"), std::string::npos);

  options.chat_template = std::string(kMaxChatTemplateBytes + 1, 'x');
  status = ValidateSynthOptions(options);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("more than the limit"), std::string::npos);

  options.chat_template = std::string(kMaxChatTemplateBytes, 'x');
  EXPECT_TRUE(ValidateSynthOptions(options).ok());
}

}  // namespace
}  // namespace ota::runtime_adapter
