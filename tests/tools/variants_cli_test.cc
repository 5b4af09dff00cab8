// otactl model quantize and otactl variants build (the built binary on a
// synthesized master), and otactl publish --variants-from.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "ota/runtime_adapter/model_synth.h"
#include "test_support.h"

namespace ota::tools {
namespace {

namespace ra = ota::runtime_adapter;
using ota::testing::RunOtactl;

class VariantsCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Rows of 256 values, so that K-quants apply to every matrix.
    ra::SynthOptions o;
    o.seed = 33;
    o.layers = 1;
    o.width = 256;
    o.ff = 512;
    ASSERT_TRUE(ra::SynthesizeModel(o, master_).ok());
  }
  bool Exists(const std::string& name) { return std::filesystem::exists(dir_.Sub(name)); }

  ota::testing::TempDir dir_;
  const std::string master_ = dir_.Sub("master.gguf");
};

TEST_F(VariantsCliTest, QuantizePrintsTheFileType) {
  auto r = RunOtactl({"model", "quantize", "--in", master_, "--out", dir_.Sub("q4.gguf"), "--type",
                      "q4_k_m", "--threads", "1"});
  EXPECT_NE(r.out.find("Q4_K - Medium"), std::string::npos) << r.out;
  EXPECT_TRUE(Exists("q4.gguf"));
}

TEST_F(VariantsCliTest, QuantizeTakesPerTensorTypes) {
  RunOtactl({"model", "quantize", "--in", master_, "--out", dir_.Sub("plain.gguf"), "--type",
             "q4_k_m", "--threads", "1"});
  // The first block's matrices at Q6_K instead: a larger file.
  RunOtactl({"model", "quantize", "--in", master_, "--out", dir_.Sub("mixed.gguf"), "--type",
             "q4_k_m", "--threads", "1", "--tensor-type", R"(blk\.0\..*=q6_k)"});
  EXPECT_GT(std::filesystem::file_size(dir_.Sub("mixed.gguf")),
            std::filesystem::file_size(dir_.Sub("plain.gguf")));
  auto r = RunOtactl({"model", "quantize", "--in", master_, "--out", dir_.Sub("x.gguf"), "--type",
                      "q4_k_m", "--tensor-type", "no-type"},
                     1);
  EXPECT_EQ(r.err, "otactl: model quantize: --tensor-type no-type must be REGEX=TYPE\n");
  r = RunOtactl({"model", "quantize", "--in", master_, "--out", dir_.Sub("x.gguf"), "--type",
                 "q4_k_m", "--tensor-type", "blk=q7_x"},
                1);
  EXPECT_NE(r.err.find("--tensor-type blk=q7_x: unknown quantization type 'q7_x'"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(Exists("x.gguf"));
}

TEST_F(VariantsCliTest, QuantizeBadInputsExitOneWithOneLine) {
  const std::string out = dir_.Sub("out.gguf");
  auto r = RunOtactl(
      {"model", "quantize", "--in", dir_.Sub("none.gguf"), "--out", out, "--type", "q8_0"}, 1);
  EXPECT_EQ(r.err, "otactl: model quantize: " + dir_.Sub("none.gguf") + ": no such model file\n");
  r = RunOtactl({"model", "quantize", "--in", master_, "--out", out, "--type", "q7_x"}, 1);
  EXPECT_NE(r.err.find("unknown quantization type 'q7_x'; valid types: f16, q8_0"),
            std::string::npos)
      << r.err;
  r = RunOtactl({"model", "quantize", "--in", master_, "--out", master_, "--type", "q8_0"}, 1);
  EXPECT_NE(r.err.find("is the input file"), std::string::npos) << r.err;
  ota::testing::WriteTestFile(out, "old");
  r = RunOtactl({"model", "quantize", "--in", master_, "--out", out, "--type", "q8_0"}, 1);
  EXPECT_EQ(r.err, "otactl: model quantize: " + out + " already exists (--force replaces it)\n");
  EXPECT_EQ(ota::testing::ReadTestFile(out), "old");
  ota::testing::WriteTestFile(dir_.Sub("text.gguf"), "not a model at all");
  r = RunOtactl({"model", "quantize", "--in", dir_.Sub("text.gguf"), "--out", dir_.Sub("t.gguf"),
                 "--type", "q8_0"},
                1);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  RunOtactl({"model", "quantize", "--in", master_, "--out", out, "--type", "q8_0", "--force"});
}

TEST_F(VariantsCliTest, BuildsGatedVariantsAndPublishesThemAsOneRelease) {
  auto r = RunOtactl({"variants", "build", "--master", master_, "--types", "q8_0,q6_k", "--out-dir",
                      dir_.Sub("out"), "--name", "chat", "--version", "1.2.0", "--threads", "1",
                      "--context", "512"});
  EXPECT_NE(r.out.find("pass"), std::string::npos) << r.out;
  const auto set = nlohmann::json::parse(ota::testing::ReadTestFile(dir_.Sub("out/variants.json")));
  EXPECT_EQ(set["schema"], "modelota.variants/1");
  ASSERT_EQ(set["variants"].size(), 2u) << set.dump(2);
  for (const auto& v : set["variants"]) {
    const std::string bundle = v["bundle"];
    EXPECT_TRUE(Exists("out/" + bundle)) << bundle;
    // The runtime's estimate: the file plus a KV cache for 512 tokens.
    EXPECT_GT(v["requires"]["min_ram"].get<std::uint64_t>(),
              v["info"]["model_bytes"].get<std::uint64_t>());
  }
  EXPECT_EQ(set["variants"][0]["variant"], "q8_0");
  EXPECT_EQ(set["variants"][0]["info"]["file_type"], "Q8_0");
  EXPECT_GT(set["variants"][0]["rank"], set["variants"][1]["rank"]);

  ota::testing::InitSignedRepository(dir_);
  auto key = [&](const std::string& role) { return dir_.Sub("keys/" + role + ".key"); };
  RunOtactl({"publish", "--repo", dir_.Sub("repo"), "--variants-from", dir_.Sub("out"),
             "--targets-key", key("targets"), "--snapshot-key", key("snapshot"), "--timestamp-key",
             key("timestamp")});
  const auto targets =
      nlohmann::json::parse(ota::testing::ReadTestFile(dir_.Sub("repo/metadata/targets.json")));
  EXPECT_EQ(targets["signed"]["version"], 2);  // Both variants in one new version.
  const auto& q8 = targets["signed"]["targets"]["bundles/chat/1.2.0-q8_0.otab"]["custom"];
  EXPECT_EQ(q8["modelota"]["variant"], "q8_0");
  EXPECT_EQ(q8["modelota"]["requires"]["min_ram"], set["variants"][0]["requires"]["min_ram"]);
  EXPECT_TRUE(targets["signed"]["targets"].contains("bundles/chat/1.2.0-q6_k.otab"));
}

// An operator who demands near-identical distributions (mean KL at most
// 1e-9 nats) gets no 4-bit variant: it is measured, fails, and is not built.
TEST_F(VariantsCliTest, AVariantFailingItsGateIsNotBuilt) {
  auto r = RunOtactl({"variants", "build", "--master", master_, "--types", "q8_0,q4_0", "--out-dir",
                      dir_.Sub("out"), "--name", "chat", "--version", "1.2.0", "--threads", "1",
                      "--thresholds", R"({"max_mean_kl": 0.000000001})"},
                     1);
  EXPECT_EQ(r.err, "otactl: variants build: not built: q8_0 (fail), q4_0 (fail)\n") << r.out;
  EXPECT_NE(r.out.find("mean_kl"), std::string::npos) << r.out;
  EXPECT_FALSE(Exists("out/chat-1.2.0-q4_0.otab"));
  EXPECT_FALSE(Exists("out/chat-1.2.0-q4_0.gguf"));
  EXPECT_FALSE(Exists("out/variants.json"));
}

TEST_F(VariantsCliTest, BuildRefusesBadRequestsBeforeAnyWork) {
  const std::vector<std::string> base = {"variants",  "build",         "--master", master_,
                                         "--out-dir", dir_.Sub("out"), "--name",   "chat",
                                         "--version", "1.0.0"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  auto r = RunOtactl(with({"--types", "q4_k_m,q9"}), 1);
  EXPECT_NE(r.err.find("unknown quantization type 'q9'; valid types:"), std::string::npos);
  r = RunOtactl(with({"--types", "q8_0,q8_0"}), 1);
  EXPECT_NE(r.err.find("lists q8_0 twice"), std::string::npos) << r.err;
  r = RunOtactl(with({"--types", "q8_0", "--thresholds", R"({"max_mean_kl": -1})"}), 1);
  EXPECT_NE(r.err.find("--thresholds.max_mean_kl must be"), std::string::npos) << r.err;
  r = RunOtactl({"variants", "build", "--master", dir_.Sub("none.gguf"), "--types", "q8_0",
                 "--out-dir", dir_.Sub("out"), "--name", "chat", "--version", "1.0.0"},
                1);
  EXPECT_NE(r.err.find("no such model file"), std::string::npos) << r.err;
  ota::testing::WriteTestFile(dir_.Sub("out/chat-1.0.0-q8_0.otab"), "old");
  r = RunOtactl(with({"--types", "q8_0"}), 1);
  EXPECT_NE(r.err.find("already exists (--force replaces the outputs)"), std::string::npos)
      << r.err;
  EXPECT_FALSE(Exists("out/chat-1.0.0-q8_0.gguf"));
}

TEST_F(VariantsCliTest, PublishRefusesABadVariantSet) {
  ota::testing::InitSignedRepository(dir_);
  auto publish = [&](int expected) {
    return RunOtactl(
        {"publish", "--repo", dir_.Sub("repo"), "--variants-from", dir_.Sub("set"), "--targets-key",
         dir_.Sub("keys/targets.key"), "--snapshot-key", dir_.Sub("keys/snapshot.key"),
         "--timestamp-key", dir_.Sub("keys/timestamp.key")},
        expected);
  };
  std::filesystem::create_directories(dir_.Sub("set"));
  auto r = publish(1);
  EXPECT_NE(r.err.find("variants.json"), std::string::npos) << r.err;
  ota::testing::WriteTestFile(
      dir_.Sub("set/variants.json"),
      R"({"schema": "modelota.variants/1", "name": "chat", "version": "1.0.0",
          "variants": [{"variant": "q8_0", "bundle": "../x.otab"}]})");
  r = publish(1);
  EXPECT_NE(r.err.find("variants[0].bundle must be a file name in the same folder"),
            std::string::npos)
      << r.err;
  ota::testing::WriteTestFile(dir_.Sub("set/x.otab"), "not a bundle");
  ota::testing::WriteTestFile(
      dir_.Sub("set/variants.json"),
      R"({"schema": "modelota.variants/1", "name": "chat", "version": "1.0.0",
          "variants": [{"variant": "q8_0", "bundle": "x.otab"}]})");
  r = publish(1);
  EXPECT_NE(r.err.find("not a valid bundle"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ota::tools
