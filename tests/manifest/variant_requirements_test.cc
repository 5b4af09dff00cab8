#include "ota/manifest/variant_requirements.h"

#include <string>

#include <gtest/gtest.h>

namespace ota::manifest {
namespace {

using nlohmann::json;

std::string ErrorOf(const json& j) {
  auto r = ParseVariantRequirements(j);
  return r.ok() ? std::string("(accepted)") : r.error().message;
}

TEST(VariantRequirementsTest, ParsesEveryConditionAndRoundTrips) {
  const json j = json::parse(R"({
    "min_ram": 6442450944, "min_available_ram": 1048576,
    "cpu_arch": ["x86_64", "aarch64"], "cpu_features": ["avx2"],
    "os": ["linux"], "os_version": ">=5.10.0", "accelerators": ["cuda", "gpu"],
    "runtime": {"name": "llama.cpp", "version": ">=0.1.0"}, "app_version": ">=2.0.0 <3.0.0"
  })");
  auto r = ParseVariantRequirements(j);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r->min_ram_bytes, 6442450944u);
  EXPECT_EQ(*r->min_available_ram_bytes, 1048576u);
  EXPECT_EQ(r->cpu_arch, (std::vector<std::string>{"x86_64", "aarch64"}));
  EXPECT_EQ(r->cpu_features, (std::vector<std::string>{"avx2"}));
  EXPECT_EQ(r->runtime->name, "llama.cpp");
  EXPECT_EQ(ToString(*r->runtime->version), ">=0.1.0");
  EXPECT_EQ(ToString(*r->app_version), ">=2.0.0 <3.0.0");
  EXPECT_EQ(VariantRequirementsToJson(*r), j);
}

TEST(VariantRequirementsTest, EmptyObjectHasNoConditions) {
  auto r = ParseVariantRequirements(json::object());
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->min_ram_bytes.has_value());
  EXPECT_TRUE(r->cpu_features.empty());
  EXPECT_EQ(VariantRequirementsToJson(*r), json::object());
}

TEST(VariantRequirementsTest, RefusesHostileShapesWithOnePreciseMessage) {
  EXPECT_EQ(ErrorOf(json::array()), "requires must be an object, not array");
  EXPECT_EQ(ErrorOf({{"min_rom", 1}}), "requires has the unknown field \"min_rom\"");
  EXPECT_EQ(ErrorOf({{"min_ram", -1}}), "requires.min_ram must be a non-negative integer");
  EXPECT_EQ(ErrorOf({{"min_ram", 1.5}}), "requires.min_ram must be a non-negative integer");
  EXPECT_EQ(ErrorOf({{"min_ram", "8G"}}), "requires.min_ram must be a non-negative integer");
  EXPECT_EQ(ErrorOf({{"cpu_features", json::array()}}),
            "requires.cpu_features must not be empty (leave it out instead)");
  EXPECT_EQ(ErrorOf({{"cpu_features", {"avx2", "avx2"}}}),
            "requires.cpu_features[1] repeats \"avx2\"");
  EXPECT_EQ(ErrorOf({{"os", {"Linux"}}}),
            "requires.os[0] \"Linux\" is not a name of the form [a-z0-9][a-z0-9._-]{0,63}");
  EXPECT_EQ(ErrorOf({{"os", {1}}}), "requires.os[0] must be a string");
  EXPECT_EQ(ErrorOf({{"runtime", {{"version", ">=1.0.0"}}}}), "requires.runtime.name is missing");
  EXPECT_EQ(ErrorOf({{"runtime", {{"name", "x"}, {"abi", 1}}}}),
            "requires.runtime has the unknown field \"abi\"");
  EXPECT_NE(ErrorOf({{"os_version", ">=banana"}}).find("requires.os_version: "), std::string::npos);
  json many = json::array();
  for (int i = 0; i < 65; ++i) many.push_back("f" + std::to_string(i));
  EXPECT_EQ(ErrorOf({{"cpu_features", many}}), "requires.cpu_features has more than 64 items");
}

TEST(VariantInfoTest, ReadsVariantRankSizeAndRequirements) {
  auto info = ParseVariantInfo(json::parse(
      R"({"kind": "bundle", "name": "m", "version": "1.0.0", "variant": "q8", "rank": 20,
          "unpacked_size": 4096, "requires": {"min_ram": 8}})"));
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->variant, "q8");
  EXPECT_EQ(info->rank, 20);
  EXPECT_EQ(*info->unpacked_size, 4096u);
  EXPECT_EQ(*info->requirements.min_ram_bytes, 8u);

  auto plain = ParseVariantInfo(json::parse(R"({"name": "m"})"));
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->variant, "");
  EXPECT_EQ(plain->rank, 0);
}

TEST(VariantInfoTest, RefusesBadVariantFields) {
  auto err = [](const char* text) {
    auto r = ParseVariantInfo(json::parse(text));
    return r.ok() ? std::string("(accepted)") : r.error().message;
  };
  EXPECT_EQ(err(R"({"variant": "../q8"})"),
            "custom.modelota.variant must be a name of the form [a-z0-9][a-z0-9._-]{0,31}");
  EXPECT_EQ(err(R"({"variant": "abcdefghijklmnopqrstuvwxyz0123456"})"),
            "custom.modelota.variant must be a name of the form [a-z0-9][a-z0-9._-]{0,31}");
  EXPECT_EQ(err(R"({"rank": 1e9})"),
            "custom.modelota.rank must be an integer from -1000000 to 1000000");
  EXPECT_EQ(err(R"({"rank": 2000000})"),
            "custom.modelota.rank must be an integer from -1000000 to 1000000");
  EXPECT_EQ(err(R"({"requires": {"gpu": true}})"),
            "custom.modelota.requires has the unknown field \"gpu\"");
  EXPECT_EQ(err(R"([])"), "custom.modelota must be an object");
}

}  // namespace
}  // namespace ota::manifest
