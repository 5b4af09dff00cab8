// QuantizeModel on synthesized models: the file type llama.cpp reports for
// the output, atomic output, and one precise error per bad input.
#include "ota/runtime_adapter/quantize.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "ota/runtime_adapter/model_synth.h"
#include "ota/runtime_adapter/runtime.h"
#include "test_support.h"

namespace ota::runtime_adapter {
namespace {

// Rows of 256 values everywhere (width and feed-forward), so that K-quants
// apply to every matrix instead of llama.cpp's fallback types.
SynthOptions KQuantable() {
  SynthOptions o;
  o.seed = 21;
  o.layers = 1;
  o.width = 256;
  o.ff = 512;
  o.heads = 4;
  return o;
}

class QuantizeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    master_ = dir_.Sub("master.gguf");
    ASSERT_TRUE(SynthesizeModel(KQuantable(), master_).ok());
  }
  std::string FileTypeOf(const std::string& path) {
    auto runtime = MakeLlamaRuntime();
    EXPECT_TRUE(runtime.ok());
    ModelOpenOptions open;
    open.path = path;
    auto model = (*runtime)->Open(open);
    EXPECT_TRUE(model.ok()) << model.error().ToString();
    return model.ok() ? (*model)->Info().file_type : "";
  }
  // Names in the folder other than `keep`: a failed call leaves no file.
  std::vector<std::string> Others(const std::vector<std::string>& keep) {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir_.path())) {
      const std::string name = e.path().filename().string();
      if (std::find(keep.begin(), keep.end(), name) == keep.end()) names.push_back(name);
    }
    return names;
  }
  ota::testing::TempDir dir_;
  std::string master_;
};

TEST(QuantTypeTest, NamesRoundTripAndUnknownListsTheValidOnes) {
  for (QuantType type : AllQuantTypes()) {
    auto parsed = ParseQuantType(QuantTypeName(type));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, type);
  }
  EXPECT_EQ(*ParseQuantType("Q4_K_M"), QuantType::kQ4_K_M);
  auto bad = ParseQuantType("q4_k_x");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad.error().message,
            "unknown quantization type 'q4_k_x'; valid types: f16, q8_0, q6_k, q5_k_m, q5_k_s, "
            "q4_k_m, q4_k_s, q4_0, q3_k_m, q2_k");
}

TEST_F(QuantizeTest, OutputHasTheRequestedFileType) {
  const struct {
    QuantType type;
    const char* file_type;
  } cases[] = {{QuantType::kQ4_K_M, "Q4_K - Medium"},
               {QuantType::kQ5_K_S, "Q5_K - Small"},
               {QuantType::kQ6_K, "Q6_K"},
               {QuantType::kQ8_0, "Q8_0"},
               {QuantType::kQ4_0, "Q4_0"}};
  for (const auto& c : cases) {
    const std::string out = dir_.Sub(std::string(QuantTypeName(c.type)) + ".gguf");
    QuantizeOptions options;
    options.type = c.type;
    options.threads = 1;
    auto done = QuantizeModel(master_, out, options);
    ASSERT_TRUE(done.ok()) << done.error().ToString();
    EXPECT_EQ(done->file_type, c.file_type);
    EXPECT_EQ(done->bytes, std::filesystem::file_size(out));
    EXPECT_LT(done->bytes, std::filesystem::file_size(master_));
    EXPECT_EQ(FileTypeOf(out), c.file_type);
  }
  EXPECT_EQ(
      Others({"master.gguf", "q4_k_m.gguf", "q5_k_s.gguf", "q6_k.gguf", "q8_0.gguf", "q4_0.gguf"}),
      std::vector<std::string>{});
}

TEST_F(QuantizeTest, RefusesAnExistingOutputUnlessOverwrite) {
  const std::string out = dir_.Sub("out.gguf");
  ota::testing::WriteTestFile(out, "keep me");
  QuantizeOptions options;
  options.type = QuantType::kQ8_0;
  auto refused = QuantizeModel(master_, out, options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(refused.error().message, out + " already exists");
  EXPECT_EQ(ota::testing::ReadTestFile(out), "keep me");
  options.overwrite = true;
  ASSERT_TRUE(QuantizeModel(master_, out, options).ok());
  EXPECT_EQ(FileTypeOf(out), "Q8_0");
}

TEST_F(QuantizeTest, RefusesTheInputAsOutputEvenWithOverwrite) {
  const auto before = std::filesystem::file_size(master_);
  QuantizeOptions options;
  options.overwrite = true;
  auto refused = QuantizeModel(master_, dir_.path() + "/./master.gguf", options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.error().message.find("is the input file"), std::string::npos);
  EXPECT_EQ(std::filesystem::file_size(master_), before);
}

TEST_F(QuantizeTest, BadInputsFailPreciselyAndLeaveNothing) {
  QuantizeOptions options;
  auto missing = QuantizeModel(dir_.Sub("none.gguf"), dir_.Sub("a.gguf"), options);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);

  ota::testing::WriteTestFile(dir_.Sub("garbage.gguf"), std::string(4096, 'x'));
  auto garbage = QuantizeModel(dir_.Sub("garbage.gguf"), dir_.Sub("b.gguf"), options);
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.error().code, ErrorCode::kIncompatible) << garbage.error().ToString();

  // A truncated model: its tensor data ends before the header says.
  const auto size = std::filesystem::file_size(master_);
  std::filesystem::copy_file(master_, dir_.Sub("cut.gguf"));
  std::filesystem::resize_file(dir_.Sub("cut.gguf"), size / 2);
  auto cut = QuantizeModel(dir_.Sub("cut.gguf"), dir_.Sub("c.gguf"), options);
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.error().code, ErrorCode::kIntegrity) << cut.error().ToString();

  auto no_folder = QuantizeModel(master_, dir_.Sub("nowhere/d.gguf"), options);
  ASSERT_FALSE(no_folder.ok());
  EXPECT_EQ(no_folder.error().code, ErrorCode::kNotFound);

  options.threads = 257;
  auto threads = QuantizeModel(master_, dir_.Sub("e.gguf"), options);
  ASSERT_FALSE(threads.ok());
  EXPECT_EQ(threads.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(Others({"master.gguf", "garbage.gguf", "cut.gguf"}), std::vector<std::string>{});
}

TEST_F(QuantizeTest, PerTensorTypesMustBeOneTypeAndAPattern) {
  QuantizeOptions options;
  options.tensor_types = {{"^blk\\.0\\.", QuantType::kQ4_K_M}};
  auto mix = QuantizeModel(master_, dir_.Sub("mix.gguf"), options);
  ASSERT_FALSE(mix.ok());
  EXPECT_EQ(mix.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(mix.error().message.find("q4_k_m is a mix"), std::string::npos) << mix.error().message;
  options.tensor_types = {{"blk[", QuantType::kQ6_K}};
  auto regex = QuantizeModel(master_, dir_.Sub("regex.gguf"), options);
  ASSERT_FALSE(regex.ok());
  EXPECT_EQ(regex.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(regex.error().message.find("'blk[' is not a regular expression"), std::string::npos)
      << regex.error().message;
  EXPECT_EQ(Others({"master.gguf"}), std::vector<std::string>{});
}

TEST_F(QuantizeTest, AQuantizedInputIsRefusedByLlamaCppWithItsReason) {
  SynthOptions o = KQuantable();
  o.type = TensorType::kQ8_0;
  ASSERT_TRUE(SynthesizeModel(o, dir_.Sub("q8.gguf")).ok());
  QuantizeOptions options;
  options.type = QuantType::kQ4_K_M;
  auto refused = QuantizeModel(dir_.Sub("q8.gguf"), dir_.Sub("out.gguf"), options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kInternal);
  EXPECT_NE(refused.error().message.find("(llama.cpp: "), std::string::npos)
      << refused.error().message;
  EXPECT_EQ(Others({"master.gguf", "q8.gguf"}), std::vector<std::string>{});
}

}  // namespace
}  // namespace ota::runtime_adapter
