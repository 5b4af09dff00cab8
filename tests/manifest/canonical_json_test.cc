#include "ota/manifest/canonical_json.h"

#include "test_support.h"

namespace ota::manifest {
namespace {

std::string Canon(const nlohmann::json& v) {
  auto out = CanonicalJson(v);
  EXPECT_OK(out);
  return out.ok() ? *out : std::string();
}

TEST(CanonicalJsonTest, SortsKeysByBytesWithoutWhitespace) {
  nlohmann::json v = nlohmann::json::parse(
      R"({"b": 1, "a": {"z": [3, 1, 2], "y": null}, "A": true, "\u00e9": false, "aa": "x"})");
  EXPECT_EQ(
      Canon(v),
      "{\"A\":true,\"a\":{\"y\":null,\"z\":[3,1,2]},\"aa\":\"x\",\"b\":1,\"\xc3\xa9\":false}");
}

TEST(CanonicalJsonTest, EscapesOnlyQuoteAndBackslash) {
  nlohmann::json v = std::string("q\"b\\n\nt\t\x01/\xe2\x82\xac");
  EXPECT_EQ(Canon(v), std::string("\"q\\\"b\\\\n\nt\t\x01/\xe2\x82\xac\""));
}

TEST(CanonicalJsonTest, IntegersInPlainDecimal) {
  EXPECT_EQ(Canon(nlohmann::json::parse("-0")), "0");
  EXPECT_EQ(Canon(nlohmann::json::parse("[0, -17, 18446744073709551615]")),
            "[0,-17,18446744073709551615]");
  EXPECT_EQ(Canon(nlohmann::json::parse("-9223372036854775808")), "-9223372036854775808");
}

TEST(CanonicalJsonTest, RefusesFloats) {
  for (const char* text : {"1.5", "{\"a\":[1.0]}", "1e3", "1.0"}) {
    auto out = CanonicalJson(nlohmann::json::parse(text));
    ASSERT_FALSE(out.ok()) << text;
    EXPECT_EQ(out.error().code, ErrorCode::kInvalidArgument);
  }
}

TEST(CanonicalJsonTest, EmptyContainers) {
  EXPECT_EQ(Canon(nlohmann::json::object()), "{}");
  EXPECT_EQ(Canon(nlohmann::json::array()), "[]");
  EXPECT_EQ(Canon(nlohmann::json::parse("{\"a\":{},\"b\":[]}")), "{\"a\":{},\"b\":[]}");
}

TEST(StrictJsonTest, ParsesValidDocuments) {
  auto v = ParseJsonStrict(R"({"a": [1, {"b": "c"}], "d": null})");
  ASSERT_OK(v);
  EXPECT_EQ((*v)["a"][1]["b"], "c");
  EXPECT_TRUE((*v)["d"].is_null());
}

TEST(StrictJsonTest, RefusesDuplicateKeys) {
  auto v = ParseJsonStrict(R"({"signed": {"version": 1, "version": 2}})");
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(v.error().message.find("duplicate key \"version\""), std::string::npos);
  // The same key in sibling objects is fine.
  EXPECT_OK(ParseJsonStrict(R"([{"a": 1}, {"a": 2}])"));
}

TEST(StrictJsonTest, EnforcesDepthAndSize) {
  JsonLimits limits;
  limits.max_depth = 3;
  EXPECT_OK(ParseJsonStrict("[[[1]]]", limits));
  EXPECT_FALSE(ParseJsonStrict("[[[[1]]]]", limits).ok());
  EXPECT_FALSE(ParseJsonStrict(std::string(100000, '['), {}).ok());
  limits.max_bytes = 4;
  EXPECT_FALSE(ParseJsonStrict("[1,2]", limits).ok());
}

TEST(StrictJsonTest, RefusesMalformedInput) {
  for (const char* text : {"", "{", "{\"a\":}", "[1,]", "{\"a\":1} x", "\"\xff\""}) {
    auto v = ParseJsonStrict(text);
    ASSERT_FALSE(v.ok()) << text;
    EXPECT_EQ(v.error().code, ErrorCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace ota::manifest
