#include "ota/shadow/checks.h"

#include <gtest/gtest.h>

#include <string>

namespace ota::shadow {
namespace {

using nlohmann::json;

Check Parse(const json& j) {
  Result<Check> c = Check::FromJson(j, "check");
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  return std::move(c).value();
}

std::string ParseError(const json& j) {
  Result<Check> c = Check::FromJson(j, "check");
  EXPECT_FALSE(c.ok());
  return c.ok() ? "" : c.error().message;
}

TEST(SchemaTest, TypesIncludingIntegerAndUnions) {
  EXPECT_TRUE(MatchesSchema({{"type", "integer"}}, 3));
  EXPECT_TRUE(MatchesSchema({{"type", "integer"}}, 3.0));
  EXPECT_FALSE(MatchesSchema({{"type", "integer"}}, 3.5));
  EXPECT_TRUE(MatchesSchema({{"type", "number"}}, 3.5));
  EXPECT_FALSE(MatchesSchema({{"type", "string"}}, 1));
  EXPECT_TRUE(MatchesSchema({{"type", {"string", "null"}}}, nullptr));
  EXPECT_FALSE(MatchesSchema({{"type", "boolean"}}, "true"));
  EXPECT_TRUE(MatchesSchema(json::object(), json::array()));  // Empty schema: anything.
}

TEST(SchemaTest, RequiredPropertiesEnumAndItemsWithAPath) {
  const json schema = json::parse(R"({
    "type": "object", "required": ["name", "tags"],
    "properties": {
      "name": {"type": "string"},
      "mood": {"enum": ["happy", "sad"]},
      "tags": {"type": "array", "items": {"type": "string"}}
    }})");
  std::string why;
  EXPECT_TRUE(MatchesSchema(schema, json::parse(R"({"name": "a", "tags": []})"), &why)) << why;
  EXPECT_FALSE(MatchesSchema(schema, json::parse(R"({"name": "a"})"), &why));
  EXPECT_EQ(why, "$: lacks the required property \"tags\"");
  EXPECT_FALSE(MatchesSchema(schema, json::parse(R"({"name": "a", "tags": ["x", 2]})"), &why));
  EXPECT_EQ(why, "$.tags[1]: is an integer, not string");
  EXPECT_FALSE(
      MatchesSchema(schema, json::parse(R"({"name": "a", "tags": [], "mood": "meh"})"), &why));
  EXPECT_EQ(why, "$.mood: is not one of the enum values");
  EXPECT_FALSE(MatchesSchema(schema, json::parse("[1]"), &why));
  EXPECT_EQ(why, "$: is an array, not object");
}

TEST(SchemaTest, RefusesUnsupportedOrMalformedSchemas) {
  auto error = [](const json& s) {
    Status st = ValidateSchema(s);
    return st.ok() ? std::string() : st.error().message;
  };
  EXPECT_EQ(error({{"type", "object"}, {"minProperties", 1}}),
            "schema: unsupported keyword \"minProperties\" (supported: type, required, "
            "properties, enum, items, title, description)");
  EXPECT_EQ(error({{"type", "text"}}), "schema.type: unknown type \"text\"");
  EXPECT_EQ(error({{"required", {"a", "a"}}}), "schema.required lists \"a\" twice");
  EXPECT_EQ(error({{"enum", json::array()}}), "schema.enum must be a non-empty array");
  EXPECT_EQ(error({{"properties", {{"x", {{"type", 5}}}}}}),
            "schema.properties.x.type must be a type name or a non-empty array of type names");
  EXPECT_EQ(error("string"), "schema must be an object, not a string");
  json deep = json::object();
  for (int i = 0; i < 40; ++i) deep = {{"items", deep}};
  EXPECT_NE(error(deep).find("nested deeper than 16"), std::string::npos) << error(deep);
  EXPECT_TRUE(ValidateSchema({{"title", "t"}, {"description", "d"}, {"type", "null"}}).ok());
}

TEST(CheckTest, TextChecksAndMaxLength) {
  EXPECT_TRUE(Parse({{"kind", "contains"}, {"text", "ok"}}).Apply("it is ok"));
  EXPECT_FALSE(Parse({{"kind", "contains"}, {"text", "ok"}}).Apply("no"));
  EXPECT_TRUE(Parse({{"kind", "not-contains"}, {"text", "error"}}).Apply("fine"));
  std::string why;
  EXPECT_FALSE(Parse({{"kind", "not-contains"}, {"text", "error"}}).Apply("an error", &why));
  EXPECT_EQ(why, "output contains the text");
  const Check max = Parse({{"kind", "max-length"}, {"bytes", 3}});
  EXPECT_TRUE(max.Apply("abc"));
  EXPECT_FALSE(max.Apply("abcd", &why));
  EXPECT_EQ(why, "output is 4 bytes, more than 3");
}

TEST(CheckTest, JsonAndSchemaChecks) {
  const Check json_check = Parse({{"kind", "json"}});
  EXPECT_TRUE(json_check.Apply(R"({"a": 1})"));
  EXPECT_TRUE(json_check.Apply(" [1, 2] "));
  EXPECT_FALSE(json_check.Apply("{\"a\": "));
  EXPECT_FALSE(json_check.Apply(R"({"a": 1, "a": 2})"));  // Duplicate keys are ambiguous.
  EXPECT_FALSE(json_check.Apply(std::string(5000, '[') + std::string(5000, ']')));
  const Check schema =
      Parse({{"kind", "json-schema"}, {"schema", {{"type", "object"}, {"required", {"answer"}}}}});
  std::string why;
  EXPECT_TRUE(schema.Apply(R"({"answer": 42})"));
  EXPECT_FALSE(schema.Apply(R"({"other": 42})", &why));
  EXPECT_EQ(why, "output does not match the schema: $: lacks the required property \"answer\"");
  EXPECT_FALSE(schema.Apply("not json", &why));
  EXPECT_EQ(why.rfind("output is not JSON", 0), 0u) << why;
}

TEST(CheckTest, RegexUsesRe2AndHostilePatternsFinishQuickly) {
  const Check digits = Parse({{"kind", "regex"}, {"pattern", "^[0-9]+$"}});
  EXPECT_TRUE(digits.Apply("12345"));
  EXPECT_FALSE(digits.Apply("12a45"));
  // Catastrophic backtracking for a backtracking engine; linear for RE2.
  const Check hostile = Parse({{"kind", "regex"}, {"pattern", "^(a+)+$"}});
  EXPECT_FALSE(hostile.Apply(std::string(100000, 'a') + "b"));
  EXPECT_TRUE(hostile.Apply(std::string(100000, 'a')));
  // Backreferences are not regular: RE2 refuses them at parse time.
  EXPECT_NE(ParseError({{"kind", "regex"}, {"pattern", "(a)\\1"}}).find("does not compile"),
            std::string::npos);
  EXPECT_NE(
      ParseError({{"kind", "regex"}, {"pattern", "("}}).find("check.pattern does not compile"),
      std::string::npos);
  EXPECT_NE(ParseError({{"kind", "regex"}, {"pattern", std::string(2000, 'a')}})
                .find("more than the maximum of 1024"),
            std::string::npos);
  // A pattern whose program would need too much memory is refused.
  EXPECT_FALSE(
      Check::FromJson({{"kind", "regex"}, {"pattern", "((((a{100}){100}){100}){100})"}}, "check")
          .ok());
}

TEST(CheckTest, RefusesMalformedChecks) {
  EXPECT_EQ(ParseError({{"kind", "maybe"}}),
            "check.kind \"maybe\" must be one of regex, contains, not-contains, json, "
            "json-schema, max-length");
  EXPECT_EQ(ParseError({{"text", "x"}}), "check.kind is missing");
  EXPECT_EQ(ParseError({{"kind", "contains"}}), "check.text is missing");
  EXPECT_EQ(ParseError({{"kind", "contains"}, {"text", ""}}), "check.text must not be empty");
  EXPECT_EQ(ParseError({{"kind", "contains"}, {"text", 3}}),
            "check.text must be a string, not an integer");
  EXPECT_EQ(ParseError({{"kind", "json"}, {"strict", true}}),
            "check has the unknown field \"strict\"");
  EXPECT_EQ(ParseError({{"kind", "max-length"}, {"bytes", -1}}),
            "check.bytes must be an integer from 1 to 1048576, not -1");
  EXPECT_EQ(ParseError({{"kind", "json-schema"}, {"schema", {{"type", "object"}, {"x", 1}}}}),
            "check.schema: unsupported keyword \"x\" (supported: type, required, properties, "
            "enum, items, title, description)");
  EXPECT_EQ(ParseError(json::array()), "check must be an object, not an array");
}

}  // namespace
}  // namespace ota::shadow
