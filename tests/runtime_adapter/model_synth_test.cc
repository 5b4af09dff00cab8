// Behaviour of SynthesizeModel as seen through the file it writes.
#include <sys/stat.h>

#include <filesystem>
#include <memory>

#include "ota/common/filesystem.h"
#include "ota/common/hash.h"
#include "ota/runtime_adapter/model_synth.h"
#include "test_support.h"

namespace ota::runtime_adapter {
namespace {

using ota::testing::ReadTestFile;
using ota::testing::TempDir;

SynthOptions Tiny() {
  SynthOptions options;
  options.layers = 1;
  options.width = 32;
  options.heads = 2;
  options.context = 64;
  return options;
}

class ModelSynthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!ModelSynthesisAvailable()) GTEST_SKIP() << "built without llama.cpp";
  }

  // Synthesizes into the temp folder and returns the file's bytes.
  std::string Synth(const SynthOptions& options, const std::string& name = "model.gguf") {
    const std::string path = dir_.Sub(name);
    const Status status = SynthesizeModel(options, path);
    EXPECT_TRUE(status.ok()) << status.error().ToString();
    return ReadTestFile(path);
  }

  TempDir dir_;
};

TEST_F(ModelSynthTest, SameOptionsGiveIdenticalBytes) {
  const std::string a = Synth(Tiny(), "a.gguf");
  const std::string b = Synth(Tiny(), "b.gguf");
  ASSERT_GT(a.size(), 1000u);
  EXPECT_EQ(a.substr(0, 4), "GGUF");
  EXPECT_TRUE(a == b) << "two runs with the same options differ";
}

TEST_F(ModelSynthTest, OutputIsPinnedAcrossBuildsAndPlatforms) {
  // Weights come from integer-only generation and ggml's reference
  // conversions, so these digests must not change unless the synthesized
  // format is changed on purpose (then update them and say so in the docs).
  SynthOptions options = Tiny();
  options.type = TensorType::kF32;
  EXPECT_EQ(Sha256Hex(Synth(options, "f32.gguf")),
            "84bf37c375f9c95b9331b857e31d78c9d1aee7a1456ab83a2ad148e7a7443d57");
  options.type = TensorType::kQ8_0;
  options.noise = 0.5;
  EXPECT_EQ(Sha256Hex(Synth(options, "q8.gguf")),
            "bff472c02a81cbd240c9eeefc5fb46e0c807d8bcee6ebd2a6be390d5e76bec38");
}

TEST_F(ModelSynthTest, DifferentSeedsGiveDifferentWeightsOfTheSameShape) {
  SynthOptions other = Tiny();
  other.seed = 2;
  const std::string a = Synth(Tiny(), "a.gguf");
  const std::string b = Synth(other, "b.gguf");
  EXPECT_EQ(a.size(), b.size());
  EXPECT_FALSE(a == b);
}

TEST_F(ModelSynthTest, NoiseSeedMattersOnlyWithNoise) {
  SynthOptions quiet = Tiny();
  quiet.noise_seed = 99;
  EXPECT_TRUE(Synth(Tiny(), "a.gguf") == Synth(quiet, "b.gguf"));

  SynthOptions noisy = Tiny();
  noisy.noise = 0.01;
  noisy.noise_seed = 7;
  SynthOptions noisy_other = noisy;
  noisy_other.noise_seed = 8;
  const std::string base = Synth(Tiny(), "base.gguf");
  const std::string perturbed = Synth(noisy, "noisy.gguf");
  EXPECT_EQ(base.size(), perturbed.size());
  EXPECT_FALSE(base == perturbed);
  EXPECT_FALSE(perturbed == Synth(noisy_other, "noisy2.gguf"));
  EXPECT_TRUE(perturbed == Synth(noisy, "noisy3.gguf"));
}

TEST_F(ModelSynthTest, EveryTypeWritesAModelAndSmallerTypesGiveSmallerFiles) {
  std::size_t sizes[3] = {};
  int i = 0;
  for (TensorType type : {TensorType::kF32, TensorType::kF16, TensorType::kQ8_0}) {
    SynthOptions options = Tiny();
    options.type = type;
    const std::string bytes = Synth(options, std::string(TensorTypeName(type)) + ".gguf");
    EXPECT_EQ(bytes.substr(0, 4), "GGUF") << TensorTypeName(type);
    sizes[i++] = bytes.size();
  }
  EXPECT_GT(sizes[0], sizes[1]);
  EXPECT_GT(sizes[1], sizes[2]);
}

TEST_F(ModelSynthTest, ReplacesAnExistingFileAndLeavesNoTemporaryFiles) {
  ota::testing::WriteTestFile(dir_.Sub("model.gguf"), "old content");
  const std::string bytes = Synth(Tiny());
  EXPECT_EQ(bytes.substr(0, 4), "GGUF");
  auto fs = MakePosixFileSystem();
  auto names = fs->ListDir(dir_.path());
  ASSERT_OK(names);
  EXPECT_EQ(*names, std::vector<std::string>{"model.gguf"});
}

TEST_F(ModelSynthTest, InvalidOptionsWriteNothing) {
  SynthOptions options = Tiny();
  options.heads = 3;
  const Status status = SynthesizeModel(options, dir_.Sub("model.gguf"));
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("model.gguf")));
}

TEST_F(ModelSynthTest, MissingFolderIsAFileSystemError) {
  const Status status = SynthesizeModel(Tiny(), dir_.Sub("missing/model.gguf"));
  ASSERT_FALSE(status.ok());
  EXPECT_TRUE(status.error().code == ErrorCode::kNotFound || status.error().code == ErrorCode::kIo)
      << status.error().ToString();
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("missing")));
}

TEST(ModelSynthUnavailableTest, FailsAsIncompatibleWithoutLlama) {
  if (ModelSynthesisAvailable()) GTEST_SKIP() << "built with llama.cpp";
  TempDir dir;
  const Status status = SynthesizeModel(Tiny(), dir.Sub("model.gguf"));
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, ErrorCode::kIncompatible);
  EXPECT_NE(status.error().message.find("scripts/setup"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("model.gguf")));
}

}  // namespace
}  // namespace ota::runtime_adapter
