#include "ota/manifest/target_custom.h"

#include <gtest/gtest.h>

#include "test_support.h"

namespace ota::manifest {
namespace {

using nlohmann::json;

const std::string kA(64, 'a');
const std::string kB(64, 'b');

TEST(TargetCustomTest, BundleWithVariantAndHead) {
  auto c = ParseTargetCustom(json::parse(R"({"modelota": {"kind": "bundle", "name": "chat",
      "version": "1.2.0", "bundle_format": 2, "variant": "q4", "rank": 3,
      "head": {"length": 1843, "sha256": ")" +
                                         kA + R"("}, "future": true},
      "other-tool": {"x": 1}})"));
  ASSERT_OK(c);
  ASSERT_TRUE(c->bundle.has_value());
  EXPECT_FALSE(c->delta.has_value());
  EXPECT_EQ(c->bundle->name, "chat");
  EXPECT_EQ(c->bundle->version_text, "1.2.0");
  EXPECT_EQ(c->bundle->variant.variant, "q4");
  EXPECT_EQ(c->bundle->variant.rank, 3);
  EXPECT_EQ(c->bundle->head, (ContainerHead{1843, kA}));
}

TEST(TargetCustomTest, DeltasAndOtherTargets) {
  auto d = ParseTargetCustom(json::parse(R"({"modelota_delta": {"name": "chat", "version": "1.1.0",
      "delta_from": ")" + kA + R"(", "delta_to": ")" +
                                         kB + R"(",
      "delta_of": "bundles/chat/1.1.0.otab"}})"));
  ASSERT_OK(d);
  ASSERT_TRUE(d->delta.has_value());
  EXPECT_FALSE(d->delta->compact);
  EXPECT_EQ(d->delta->delta_of, "bundles/chat/1.1.0.otab");
  EXPECT_FALSE(d->delta->head.has_value());
  auto compact = ParseTargetCustom(json::parse(R"({"modelota_compact_delta": {"name": "chat",
      "version": "1.1.0", "delta_from": ")" + kA +
                                               R"(", "delta_to": ")" + kB + R"(",
      "delta_of": "bundles/chat/1.1.0.otab", "manifest_sha256": ")" +
                                               kA + R"("}})"));
  ASSERT_OK(compact);
  EXPECT_TRUE(compact->delta->compact);
  EXPECT_EQ(compact->delta->manifest_sha256, kA);
  for (const char* other : {"null", "{}", R"({"tool": {"a": 1}})"}) {
    auto c = ParseTargetCustom(json::parse(other));
    ASSERT_OK(c);
    EXPECT_FALSE(c->bundle || c->delta) << other;
  }
}

// A wrong type never throws: every malformed field is one precise error.
TEST(TargetCustomTest, MalformedFieldsAreErrors) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"([1, 2])", "custom must be an object"},
      {R"({"modelota": 1})", "custom.modelota"},
      {R"({"modelota": {"name": 1, "version": "1.0.0"}})", "\"name\""},
      {R"({"modelota": {"name": "chat"}})", "\"version\" is missing"},
      {R"({"modelota": {"name": "chat", "version": "one"}})", "\"version\""},
      {R"({"modelota": {"name": "chat", "version": "1.0.0", "rank": "x"}})", "rank"},
      {R"({"modelota": {"name": "chat", "version": "1.0.0", "head": {"length": 10,
          "sha256": ")" +
           kA + R"("}}})",
       "between 57 and"},
      {R"({"modelota": {"name": "chat", "version": "1.0.0", "head": {"length": 100,
          "sha256": "ABC"}}})",
       "64 lower-case hex"},
      {R"({"modelota": {"name": "chat", "version": "1.0.0", "head": {"length": 100,
          "sha256": ")" +
           kA + R"(", "more": 1}}})",
       "unknown field"},
      {R"({"modelota_delta": {"name": "chat", "version": "1", "delta_from": "x",
          "delta_to": ")" +
           kB + R"(", "delta_of": "p"}})",
       "delta_from"},
      {R"({"modelota_compact_delta": {"name": "chat", "version": "1", "delta_from": ")" + kA +
           R"(", "delta_to": ")" + kB + R"(", "delta_of": "p"}})",
       "manifest_sha256"},
      {R"({"modelota": {"name": "chat", "version": "1.0.0"}, "modelota_delta": {}})",
       "more than one"},
  };
  for (const auto& [text, words] : bad) {
    auto c = ParseTargetCustom(json::parse(text));
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(c.error().message.find(words), std::string::npos) << c.error().message;
  }
}

}  // namespace
}  // namespace ota::manifest
