#include "ota/shadow/eval_set.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace ota::shadow {
namespace {

using nlohmann::json;

json Minimal() {
  return json::parse(R"({"schema": "modelota.eval/1", "prompts": [{"text": "Hello"}]})");
}

std::string TextError(const std::string& text, const PromptTemplates& templates = {}) {
  Result<EvalSet> r = ParseEvalSet(text, templates);
  return r.ok() ? std::string("(parsed)") : r.error().message;
}

std::string ErrorOf(const json& j, const PromptTemplates& templates = {}) {
  return TextError(j.dump(), templates);
}

TEST(EvalSetTest, ParsesPromptsTemplatesChecksAndReferences) {
  const PromptTemplates templates = {
      {"prompts/summary.txt", "Summarize {{ topic }} in {{n}} words:"}};
  const json j = json::parse(R"({
    "schema": "modelota.eval/1",
    "max_new_tokens": 12,
    "checks": [{"kind": "max-length", "bytes": 100}],
    "prompts": [
      {"id": "plain", "text": "Hi"},
      {"template": "prompts/summary.txt", "vars": {"topic": "tides", "n": "ten"},
       "max_new_tokens": 4, "checks": [{"kind": "json"}]}
    ],
    "references": [{"id": "r", "text": "Some reference."}]
  })");
  Result<EvalSet> r = ParseEvalSet(j.dump(), templates);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->prompts.size(), 2u);
  EXPECT_EQ(r->prompts[0].id, "plain");
  EXPECT_EQ(r->prompts[0].max_new_tokens, 12);
  ASSERT_EQ(r->prompts[0].checks.size(), 1u);
  EXPECT_EQ(r->prompts[1].id, "prompts[1]");
  EXPECT_EQ(r->prompts[1].text, "Summarize tides in ten words:");
  EXPECT_EQ(r->prompts[1].template_name, "prompts/summary.txt");
  EXPECT_EQ(r->prompts[1].max_new_tokens, 4);
  ASSERT_EQ(r->prompts[1].checks.size(), 2u);
  EXPECT_EQ(r->prompts[1].checks[1]->kind(), CheckKind::kJson);
  EXPECT_EQ(r->CheckCount(), 3u);
  ASSERT_EQ(r->references.size(), 1u);
  EXPECT_EQ(r->references[0].text, "Some reference.");
}

TEST(EvalSetTest, TemplateFillingIsStrict) {
  const std::map<std::string, std::string> vars = {{"a", "1"}};
  EXPECT_EQ(*FillTemplate("x{{a}}y{{ a }}", vars, "p"), "x1y1");
  EXPECT_EQ(FillTemplate("{{b}}", vars, "p").error().message,
            "p.vars lacks \"b\" that the template uses");
  EXPECT_EQ(FillTemplate("no placeholder", vars, "p").error().message,
            "p.vars.a: the template has no {{a}}");
  EXPECT_EQ(FillTemplate("{{a", vars, "p").error().message,
            "p: the template has an unterminated \"{{\" at byte 0");
  EXPECT_EQ(FillTemplate("{{a b}}", vars, "p").error().message,
            "p: the template has an invalid placeholder \"{{a b}}\"");
  // Substitution cannot blow up past the prompt limit.
  const std::map<std::string, std::string> big = {{"a", std::string(kMaxPromptBytes / 2, 'x')}};
  EXPECT_FALSE(FillTemplate("{{a}}{{a}}{{a}}", big, "p").ok());
}

TEST(EvalSetTest, RefusesHostileAndMalformedDocuments) {
  EXPECT_EQ(TextError("[]"), "eval set must be a JSON object, not array");
  EXPECT_NE(TextError("{").find("eval set: "), std::string::npos);
  EXPECT_NE(TextError(R"({"schema": "modelota.eval/1", "schema": "x"})").find("duplicate"),
            std::string::npos);
  EXPECT_NE(TextError(std::string(kMaxEvalSetBytes + 1, ' ')).find("eval set: "),
            std::string::npos);
  EXPECT_NE(TextError(std::string(100, '[') + std::string(100, ']')).find("eval set: "),
            std::string::npos);
  json j = Minimal();
  j["schema"] = "modelota.eval/2";
  EXPECT_EQ(ErrorOf(j),
            "schema \"modelota.eval/2\" is not supported (expected \"modelota.eval/1\")");
  j = Minimal();
  j["extra"] = 1;
  EXPECT_EQ(ErrorOf(j), "eval set has the unknown field \"extra\"");
  j = Minimal();
  j["prompts"][0]["template"] = "t";
  EXPECT_EQ(ErrorOf(j),
            "prompts[0] must have exactly one of \"text\", \"template\" and \"messages\"");
  j = Minimal();
  j["prompts"][0] = {{"template", "missing.txt"}};
  EXPECT_EQ(ErrorOf(j),
            "prompts[0].template \"missing.txt\" is not a prompt template of the bundle");
  j = Minimal();
  j["prompts"][0]["max_new_tokens"] = 100000;
  EXPECT_EQ(ErrorOf(j), "prompts[0].max_new_tokens must be an integer from 1 to 512, not 100000");
  j = Minimal();
  j["prompts"][0]["text"] = std::string(kMaxPromptBytes + 1, 'a');
  EXPECT_EQ(ErrorOf(j), "prompts[0].text is 16385 bytes long, more than the maximum of 16384");
  j = Minimal();
  j["prompts"].push_back({{"id", "prompts[0]"}, {"text", "dup"}});
  EXPECT_EQ(ErrorOf(j), "prompts[1].id \"prompts[0]\" is used twice");
  j = Minimal();
  j["prompts"] = json::array();
  EXPECT_EQ(ErrorOf(j), "the eval set has neither prompts nor references");
  j = Minimal();
  j["prompts"][0]["checks"] = json::array();
  for (int i = 0; i < 33; ++i) j["prompts"][0]["checks"].push_back({{"kind", "json"}});
  EXPECT_EQ(ErrorOf(j), "prompts[0].checks has 33 checks, more than the maximum of 32");
  j = Minimal();
  j["prompts"][0]["checks"] = {{{"kind", "regex"}, {"pattern", "(?<name"}}};
  EXPECT_NE(ErrorOf(j).find("prompts[0].checks[0].pattern does not compile"), std::string::npos);
  j = Minimal();
  j["references"] = {{{"text", 5}}};
  EXPECT_EQ(ErrorOf(j), "references[0].text must be a string, not number");
  j = Minimal();
  j["prompts"] = json::array();
  for (std::size_t i = 0; i <= kMaxEvalPrompts; ++i) j["prompts"].push_back({{"text", "a"}});
  EXPECT_EQ(ErrorOf(j), "prompts has 1001 entries, more than the maximum of 1000");
}

TEST(EvalSetTest, BuiltinSetParsesAndIsVaried) {
  Result<EvalSet> r = BuiltinEvalSet();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_GE(r->prompts.size(), 6u);
  EXPECT_GE(r->references.size(), 2u);
  EXPECT_GT(r->CheckCount(), 0u);
}

TEST(EvalSetTest, ChatPromptsCarryTheirMessages) {
  json j = Minimal();
  j["prompts"][0] = {
      {"id", "chat"},
      {"messages",
       {{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", "Hello"}}}}};
  Result<EvalSet> set = ParseEvalSet(j.dump());
  ASSERT_TRUE(set.ok()) << set.error().message;
  ASSERT_EQ(set->prompts[0].messages.size(), 2u);
  EXPECT_EQ(set->prompts[0].messages[1].role, "user");
  EXPECT_EQ(set->prompts[0].messages[1].content, "Hello");
  EXPECT_TRUE(set->prompts[0].text.empty());
  EXPECT_FALSE(set->builtin);

  j["prompts"][0]["messages"] = json::array();
  EXPECT_EQ(ErrorOf(j), "prompts[0].messages must hold 1 to 32 messages");
  j["prompts"][0]["messages"] = {{{"role", "robot"}, {"content", "x"}}};
  EXPECT_EQ(ErrorOf(j),
            "prompts[0].messages[0].role \"robot\" must be one of system, user, assistant");
  j["prompts"][0]["messages"] = {{{"role", "user"}}};
  EXPECT_EQ(ErrorOf(j), "prompts[0].messages[0] needs \"role\" and \"content\"");
  j["prompts"][0]["messages"] = {{{"role", "assistant"}, {"content", "x"}}};
  EXPECT_EQ(ErrorOf(j),
            "prompts[0].messages must not end with an assistant message: the model writes that "
            "turn");
  j["prompts"][0]["messages"] = {{{"role", "user"}, {"content", "x"}, {"name", "n"}}};
  EXPECT_NE(ErrorOf(j).find("unknown field \"name\""), std::string::npos) << ErrorOf(j);
  j["prompts"][0]["text"] = "both";
  EXPECT_EQ(ErrorOf(j),
            "prompts[0] must have exactly one of \"text\", \"template\" and \"messages\"");
}

TEST(EvalSetTest, TheBuiltInSetIsMarkedAndHasChatPrompts) {
  Result<EvalSet> set = BuiltinEvalSet();
  ASSERT_TRUE(set.ok());
  EXPECT_TRUE(set->builtin);
  EXPECT_TRUE(std::any_of(set->prompts.begin(), set->prompts.end(),
                          [](const EvalPrompt& p) { return !p.messages.empty(); }));
}

}  // namespace
}  // namespace ota::shadow
