// otactl shadow run: the built binary on synthesized models.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "ota/runtime_adapter/model_synth.h"
#include "test_support.h"

namespace ota::tools {
namespace {

namespace ra = ota::runtime_adapter;
using ota::testing::RunCommand;

class ShadowCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ra::SynthOptions o;
    o.seed = 5;
    ASSERT_TRUE(ra::SynthesizeModel(o, dir_.Sub("a.gguf")).ok());
    ASSERT_TRUE(ra::SynthesizeModel(o, dir_.Sub("copy.gguf")).ok());
    o.breakage = ra::SynthBreak::kZeroLayer;
    o.break_layer = 0;
    ASSERT_TRUE(ra::SynthesizeModel(o, dir_.Sub("broken.gguf")).ok());
  }
  ota::testing::CommandResult Shadow(std::vector<std::string> extra) {
    std::vector<std::string> argv = {ota::testing::BinaryPath("otactl"), "shadow", "run",
                                     "--current", dir_.Sub("a.gguf")};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return RunCommand(argv);
  }
  ota::testing::TempDir dir_;
};

TEST_F(ShadowCliTest, CopyPassesWithATable) {
  auto r = Shadow({"--candidate", dir_.Sub("copy.gguf")});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("mean_kl"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("verdict: pass"), std::string::npos) << r.out;
}

TEST_F(ShadowCliTest, BrokenModelFailsWithJsonVerdict) {
  auto r = Shadow({"--candidate", dir_.Sub("broken.gguf"), "--json", "--sequential", "--gate",
                   "requantization"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  const auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j["verdict"], "fail");
  EXPECT_EQ(j["gate"], "requantization");
  EXPECT_TRUE(j["sequential_memory"].get<bool>());
}

TEST_F(ShadowCliTest, UsesTheGivenEvalSet) {
  ota::testing::WriteTestFile(dir_.Sub("eval.json"),
                              R"({"schema": "modelota.eval/1", "prompts": [{"text": "Hi"}]})");
  auto r =
      Shadow({"--candidate", dir_.Sub("copy.gguf"), "--eval", dir_.Sub("eval.json"), "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["metrics"]["prompts"], 1);
}

TEST_F(ShadowCliTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Shadow({}).exit_code, 2);  // --candidate missing.
  auto r = Shadow({"--candidate", dir_.Sub("missing.gguf")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no such model file"), std::string::npos) << r.err;
  r = Shadow({"--candidate", dir_.Sub("copy.gguf"), "--gate", "vibes"});
  EXPECT_EQ(r.exit_code, 2);
  ota::testing::WriteTestFile(dir_.Sub("bad.json"), R"({"schema": "modelota.eval/1"})");
  r = Shadow({"--candidate", dir_.Sub("copy.gguf"), "--eval", dir_.Sub("bad.json")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("neither prompts nor references"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ota::tools
