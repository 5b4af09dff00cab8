#include "ota/manifest/rollout_manifest.h"

#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.h"

namespace ota::manifest {
namespace {

using nlohmann::json;

// A manifest that uses every field except rollback.
json Base() {
  return json::parse(R"({
    "schema": "modelota.rollout/1",
    "rollout_id": "chat-small-2026-11",
    "model": "chat-small",
    "version": 7,
    "target": {"bundle_version": "1.3.0", "variants": ["q4", "q8"]},
    "stages": [
      {"percent": 1, "min_soak_seconds": 86400,
       "selectors": {"tags": {"any_of": ["canary", "dogfood"]}}},
      {"percent": 10, "min_soak_seconds": 86400},
      {"percent": 50.5, "min_soak_seconds": 172800,
       "selectors": {"attributes": {"soc": ["sm8650", "sm8550"], "os": "android"},
                     "app_version": ">=2.4.0 <3.0.0",
                     "tags": {"any_of": ["beta"], "all_of": ["wifi", "charging"]},
                     "region": ["eu", "uk"]}}
    ],
    "current_stage": 1,
    "stage_started_at": "2026-11-28T09:00:00Z",
    "pins": [{"app_versions": "<2.0.0", "bundle_version": "1.1.0"}],
    "state": "active"
  })");
}

json WithRollback() {
  json j = Base();
  j["rollback"] = {{"to_version", "1.2.0"}, {"cohorts", {{"stages", {0, 2}}}}};
  return j;
}

Result<RolloutManifest> Parse(const json& j) { return ParseRolloutManifest(j.dump()); }

TEST(RolloutManifestTest, ParsesEveryField) {
  Result<RolloutManifest> r = Parse(WithRollback());
  ASSERT_TRUE(r.ok()) << r.error().message;
  const RolloutManifest& m = *r;
  EXPECT_EQ(m.rollout_id, "chat-small-2026-11");
  EXPECT_EQ(m.model, "chat-small");
  EXPECT_EQ(m.version, 7u);
  EXPECT_EQ(ToString(m.target.bundle_version), "1.3.0");
  EXPECT_EQ(m.target.variants, (std::vector<std::string>{"q4", "q8"}));
  ASSERT_EQ(m.stages.size(), 3u);
  EXPECT_EQ(m.stages[0].percent_hundredths, 100u);
  EXPECT_EQ(m.stages[1].percent_hundredths, 1000u);
  EXPECT_EQ(m.stages[2].percent_hundredths, 5050u);
  EXPECT_EQ(m.stages[0].min_soak_seconds, 86400u);
  EXPECT_EQ(m.stages[0].selectors.tags_any_of, (std::vector<std::string>{"canary", "dogfood"}));
  EXPECT_TRUE(m.stages[1].selectors.Empty());
  const StageSelectors& s = m.stages[2].selectors;
  EXPECT_EQ(s.attributes.at("soc"), (std::vector<std::string>{"sm8650", "sm8550"}));
  EXPECT_EQ(s.attributes.at("os"), (std::vector<std::string>{"android"}));
  ASSERT_TRUE(s.app_version.has_value());
  EXPECT_EQ(s.app_version->text, ">=2.4.0 <3.0.0");
  EXPECT_EQ(s.tags_any_of, (std::vector<std::string>{"beta"}));
  EXPECT_EQ(s.tags_all_of, (std::vector<std::string>{"wifi", "charging"}));
  EXPECT_EQ(s.regions, (std::vector<std::string>{"eu", "uk"}));
  EXPECT_EQ(m.current_stage, 1u);
  EXPECT_EQ(m.stage_started_at.time_since_epoch(), std::chrono::seconds(1795856400));
  ASSERT_EQ(m.pins.size(), 1u);
  EXPECT_EQ(m.pins[0].app_versions.text, "<2.0.0");
  EXPECT_EQ(ToString(m.pins[0].bundle_version), "1.1.0");
  EXPECT_EQ(m.state, RolloutState::kActive);
  ASSERT_TRUE(m.rollback.has_value());
  EXPECT_EQ(ToString(m.rollback->to_version), "1.2.0");
  EXPECT_EQ(m.rollback->cohorts.kind, RollbackCohorts::Kind::kStages);
  EXPECT_EQ(m.rollback->cohorts.stages, (std::vector<std::size_t>{0, 2}));
}

// docs/formats.md documents the format with an example; it must parse.
TEST(RolloutManifestTest, DocumentedExampleParses) {
  std::ifstream in(std::string(OTA_SOURCE_DIR) + "/docs/formats.md");
  ASSERT_TRUE(in.good());
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string doc = buffer.str();
  const std::size_t section = doc.find("## Rollout manifest (rollouts/<model>.json)");
  ASSERT_NE(section, std::string::npos);
  const std::size_t start = doc.find("```json\n", section);
  ASSERT_NE(start, std::string::npos);
  const std::size_t end = doc.find("```", start + 8);
  ASSERT_NE(end, std::string::npos);
  Result<RolloutManifest> r = ParseRolloutManifest(doc.substr(start + 8, end - start - 8));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->model, "chat-small");
  EXPECT_EQ(r->stages.size(), 4u);
  EXPECT_EQ(r->stages[2].percent_hundredths, 5050u);
  EXPECT_TRUE(r->rollback.has_value());
}

TEST(RolloutManifestTest, OptionalFieldsMayBeLeftOut) {
  json j = Base();
  j.erase("pins");
  j["target"].erase("variants");
  j["stages"][0].erase("selectors");
  Result<RolloutManifest> r = Parse(j);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->pins.empty());
  EXPECT_TRUE(r->target.variants.empty());
  EXPECT_TRUE(r->stages[0].selectors.Empty());
  EXPECT_FALSE(r->rollback.has_value());
}

TEST(RolloutManifestTest, ParsesStatesAndCohortForms) {
  for (const char* state : {"active", "paused", "halted"}) {
    json j = Base();
    j["state"] = state;
    Result<RolloutManifest> r = Parse(j);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(RolloutStateName(r->state), state);
  }
  json all = WithRollback();
  all["rollback"]["cohorts"] = "all";
  Result<RolloutManifest> r = Parse(all);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->rollback->cohorts.kind, RollbackCohorts::Kind::kAll);

  json percent = WithRollback();
  percent["rollback"]["cohorts"] = {{"percent", 2.5}};
  r = Parse(percent);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->rollback->cohorts.kind, RollbackCohorts::Kind::kPercent);
  EXPECT_EQ(r->rollback->cohorts.percent_hundredths, 250u);
}

TEST(RolloutManifestTest, PercentHasTwoDecimalsAtMost) {
  const std::pair<const char*, std::uint32_t> cases[] = {
      {"0.01", 1},     {"0.1", 10},     {"1", 100},      {"1.0", 100},
      {"12.34", 1234}, {"33.33", 3333}, {"99.99", 9999}, {"100", 10000},
      {"1e2", 10000},  {"0.29", 29},    {"0.57", 57}};
  for (const auto& [text, hundredths] : cases) {
    json j = Base();
    j["stages"] = json::array({{{"percent", json::parse(text)}, {"min_soak_seconds", 0}}});
    j["current_stage"] = 0;
    Result<RolloutManifest> r = Parse(j);
    ASSERT_TRUE(r.ok()) << text << ": " << r.error().message;
    EXPECT_EQ(r->stages[0].percent_hundredths, hundredths) << text;
  }
}

TEST(RolloutManifestTest, RoundTripsThroughToJson) {
  for (const json& j : {Base(), WithRollback()}) {
    Result<RolloutManifest> first = Parse(j);
    ASSERT_TRUE(first.ok()) << first.error().message;
    const std::string text = SerializeRolloutManifest(*first);
    Result<RolloutManifest> second = ParseRolloutManifest(text);
    ASSERT_TRUE(second.ok()) << second.error().message << "\n" << text;
    EXPECT_EQ(SerializeRolloutManifest(*second), text);
    EXPECT_EQ(ToJson(*second), ToJson(*first));
    EXPECT_EQ(second->stages[2].percent_hundredths, 5050u);
    EXPECT_EQ(second->stage_started_at, first->stage_started_at);
    EXPECT_EQ(text.back(), '\n');
  }
  // The input document itself comes back (single attribute values are
  // written as strings, as in the input).
  EXPECT_EQ(ToJson(*Parse(WithRollback())), WithRollback());
}

TEST(RolloutManifestTest, EveryPercentRoundTrips) {
  Result<RolloutManifest> base = Parse(Base());
  ASSERT_TRUE(base.ok());
  RolloutManifest m = *base;
  m.stages.resize(1);
  m.current_stage = 0;
  m.rollback = RollbackOrder{*ParseVersion("1.0.0"), {}};
  m.rollback->cohorts.kind = RollbackCohorts::Kind::kPercent;
  for (std::uint32_t h = 1; h <= kFullPercentHundredths; ++h) {
    m.stages[0].percent_hundredths = h;
    m.rollback->cohorts.percent_hundredths = kFullPercentHundredths + 1 - h;
    Result<RolloutManifest> back = ParseRolloutManifest(ToJson(m).dump());
    ASSERT_TRUE(back.ok()) << h << ": " << back.error().message;
    ASSERT_EQ(back->stages[0].percent_hundredths, h);
    ASSERT_EQ(back->rollback->cohorts.percent_hundredths, kFullPercentHundredths + 1 - h);
  }
}

TEST(RolloutManifestTest, FormatsPercentsAndPaths) {
  EXPECT_EQ(FormatPercent(1), "0.01");
  EXPECT_EQ(FormatPercent(10), "0.1");
  EXPECT_EQ(FormatPercent(100), "1");
  EXPECT_EQ(FormatPercent(1250), "12.5");
  EXPECT_EQ(FormatPercent(1234), "12.34");
  EXPECT_EQ(FormatPercent(10000), "100");
  EXPECT_EQ(RolloutTargetPath("chat-small"), "rollouts/chat-small.json");
}

struct FieldError {
  std::function<void(json&)> mutate;
  std::string message;  // The whole error message.
};

TEST(RolloutManifestTest, NamesTheFieldOfEveryError) {
  const std::vector<FieldError> cases = {
      // Document and top level.
      {[](json& j) { j["extra"] = 1; }, "the rollout manifest has the unknown field \"extra\""},
      {[](json& j) { j.erase("schema"); }, "schema is missing"},
      {[](json& j) { j["schema"] = "modelota.rollout/2"; },
       "schema \"modelota.rollout/2\" is not supported (expected \"modelota.rollout/1\")"},
      {[](json& j) { j.erase("rollout_id"); }, "rollout_id is missing"},
      {[](json& j) { j["rollout_id"] = 5; }, "rollout_id must be a string, not number"},
      {[](json& j) { j["rollout_id"] = "Chat Small"; },
       "rollout_id \"Chat Small\" must match [a-z0-9][a-z0-9._-]{0,63}"},
      {[](json& j) { j["rollout_id"] = std::string(65, 'a'); },
       "rollout_id \"" + std::string(65, 'a') + "\" must match [a-z0-9][a-z0-9._-]{0,63}"},
      {[](json& j) { j.erase("model"); }, "model is missing"},
      {[](json& j) { j["model"] = ""; }, "model \"\" must match [a-z0-9][a-z0-9._-]{0,63}"},
      {[](json& j) { j["model"] = "../x"; }, "model \"../x\" must match [a-z0-9][a-z0-9._-]{0,63}"},
      {[](json& j) { j.erase("version"); }, "version is missing"},
      {[](json& j) { j["version"] = 0; }, "version must be at least 1, not 0"},
      {[](json& j) { j["version"] = -3; }, "version must not be negative, not -3"},
      {[](json& j) { j["version"] = 1.5; },
       "version must be a whole number without fraction or exponent, not 1.5"},
      {[](json& j) { j["version"] = "7"; }, "version must be a non-negative integer, not string"},
      {[](json& j) { j["version"] = true; }, "version must be a non-negative integer, not boolean"},
      // target
      {[](json& j) { j.erase("target"); }, "target is missing"},
      {[](json& j) { j["target"] = json::array(); }, "target must be an object, not array"},
      {[](json& j) { j["target"]["name"] = "x"; }, "target has the unknown field \"name\""},
      {[](json& j) { j["target"].erase("bundle_version"); }, "target.bundle_version is missing"},
      {[](json& j) { j["target"]["bundle_version"] = "1.3"; }, "target.bundle_version \"1.3\": "},
      {[](json& j) { j["target"]["variants"] = json::array(); },
       "target.variants must list at least one value (or be left out)"},
      {[](json& j) { j["target"]["variants"] = "q4"; },
       "target.variants must be an array, not string"},
      {[](json& j) {
         j["target"]["variants"] = {"q4", 8};
       },
       "target.variants[1] must be a string, not number"},
      {[](json& j) {
         j["target"]["variants"] = {"q4", "q4"};
       },
       "target.variants[1] \"q4\" is listed twice"},
      {[](json& j) { j["target"]["variants"] = {""}; }, "target.variants[0] must not be empty"},
      // stages
      {[](json& j) { j.erase("stages"); }, "stages is missing"},
      {[](json& j) { j["stages"] = json::object(); }, "stages must be an array, not object"},
      {[](json& j) { j["stages"] = json::array(); }, "stages must list at least one stage"},
      {[](json& j) { j["stages"][2] = 5; }, "stages[2] must be an object, not number"},
      {[](json& j) { j["stages"][2]["weight"] = 1; }, "stages[2] has the unknown field \"weight\""},
      {[](json& j) { j["stages"][2].erase("percent"); }, "stages[2].percent is missing"},
      {[](json& j) { j["stages"][2]["percent"] = "50"; },
       "stages[2].percent must be a number, not string"},
      {[](json& j) { j["stages"][2]["percent"] = 150; },
       "stages[2].percent must be more than 0 and at most 100, not 150"},
      {[](json& j) { j["stages"][2]["percent"] = 100.01; },
       "stages[2].percent must be more than 0 and at most 100, not 100.01"},
      {[](json& j) { j["stages"][2]["percent"] = 0; },
       "stages[2].percent must be more than 0 and at most 100, not 0"},
      {[](json& j) { j["stages"][2]["percent"] = -5; },
       "stages[2].percent must be more than 0 and at most 100, not -5"},
      {[](json& j) { j["stages"][2]["percent"] = 12.345; },
       "stages[2].percent must have at most two decimal places, not 12.345"},
      {[](json& j) { j["stages"][2]["percent"] = 0.001; },
       "stages[2].percent must have at most two decimal places, not 0.001"},
      {[](json& j) { j["stages"][2]["percent"] = 5; },
       "stages[2].percent must not be below stages[1].percent (10), not 5"},
      {[](json& j) { j["stages"][2]["percent"] = 9.99; },
       "stages[2].percent must not be below stages[1].percent (10), not 9.99"},
      {[](json& j) { j["stages"][1].erase("min_soak_seconds"); },
       "stages[1].min_soak_seconds is missing"},
      {[](json& j) { j["stages"][1]["min_soak_seconds"] = -1; },
       "stages[1].min_soak_seconds must not be negative, not -1"},
      {[](json& j) { j["stages"][1]["min_soak_seconds"] = 31622401; },
       "stages[1].min_soak_seconds must be at most 31622400 (366 days), not 31622401"},
      // selectors
      {[](json& j) { j["stages"][1]["selectors"] = json::array(); },
       "stages[1].selectors must be an object, not array"},
      {[](json& j) { j["stages"][2]["selectors"]["os"] = "android"; },
       "stages[2].selectors has the unknown field \"os\""},
      {[](json& j) { j["stages"][2]["selectors"]["attributes"] = json::object(); },
       "stages[2].selectors.attributes must name at least one attribute (leave it out to match "
       "every device)"},
      {[](json& j) { j["stages"][2]["selectors"]["attributes"]["soc"] = 5; },
       "stages[2].selectors.attributes.soc must be a string or an array of strings, not number"},
      {[](json& j) { j["stages"][2]["selectors"]["attributes"]["soc"] = json::array(); },
       "stages[2].selectors.attributes.soc must list at least one value (or be left out)"},
      {[](json& j) {
         j["stages"][2]["selectors"]["attributes"]["soc"] = {"a", ""};
       },
       "stages[2].selectors.attributes.soc[1] must not be empty"},
      {[](json& j) {
         j["stages"][2]["selectors"]["attributes"]["soc"] = {"a", "a"};
       },
       "stages[2].selectors.attributes.soc[1] \"a\" is listed twice"},
      {[](json& j) { j["stages"][2]["selectors"]["attributes"]["SoC"] = "a"; },
       "stages[2].selectors.attributes name \"SoC\" must match [a-z0-9][a-z0-9._-]{0,63}"},
      {[](json& j) { j["stages"][2]["selectors"]["attributes"]["os"] = "a\tb"; },
       "stages[2].selectors.attributes.os[0] contains a control character"},
      {[](json& j) { j["stages"][2]["selectors"]["attributes"]["os"] = std::string(257, 'x'); },
       "stages[2].selectors.attributes.os[0] is 257 bytes long, more than the maximum of 256"},
      {[](json& j) { j["stages"][2]["selectors"]["app_version"] = 2; },
       "stages[2].selectors.app_version must be a string, not number"},
      {[](json& j) { j["stages"][2]["selectors"]["app_version"] = "~2.4"; },
       "stages[2].selectors.app_version: version range \"~2.4\": \"~2.4\" is not a version: "},
      {[](json& j) { j["stages"][2]["selectors"]["tags"] = json::array(); },
       "stages[2].selectors.tags must be an object, not array"},
      {[](json& j) { j["stages"][2]["selectors"]["tags"] = json::object(); },
       "stages[2].selectors.tags must hold any_of, all_of or both"},
      {[](json& j) { j["stages"][2]["selectors"]["tags"]["none_of"] = {"x"}; },
       "stages[2].selectors.tags has the unknown field \"none_of\""},
      {[](json& j) { j["stages"][2]["selectors"]["tags"]["any_of"] = json::array(); },
       "stages[2].selectors.tags.any_of must list at least one value (or be left out)"},
      {[](json& j) {
         j["stages"][2]["selectors"]["tags"]["all_of"] = {"wifi", "wifi"};
       },
       "stages[2].selectors.tags.all_of[1] \"wifi\" is listed twice"},
      {[](json& j) { j["stages"][2]["selectors"]["region"] = "eu"; },
       "stages[2].selectors.region must be an array, not string"},
      {[](json& j) { j["stages"][2]["selectors"]["region"] = json::array(); },
       "stages[2].selectors.region must list at least one value (or be left out)"},
      {[](json& j) {
         j["stages"][2]["selectors"]["region"] = {"eu", nullptr};
       },
       "stages[2].selectors.region[1] must be a string, not null"},
      // current_stage, stage_started_at
      {[](json& j) { j.erase("current_stage"); }, "current_stage is missing"},
      {[](json& j) { j["current_stage"] = 3; },
       "current_stage must be a stage index below 3, not 3"},
      {[](json& j) { j["current_stage"] = -1; }, "current_stage must not be negative, not -1"},
      {[](json& j) { j.erase("stage_started_at"); }, "stage_started_at is missing"},
      {[](json& j) { j["stage_started_at"] = 1795856400; },
       "stage_started_at must be a string, not number"},
      {[](json& j) { j["stage_started_at"] = "2026-11-28 09:00:00"; },
       "stage_started_at \"2026-11-28 09:00:00\" must be a UTC time of the form "
       "YYYY-MM-DDTHH:MM:SSZ"},
      {[](json& j) { j["stage_started_at"] = "2026-11-28T09:00:00+01:00"; },
       "stage_started_at \"2026-11-28T09:00:00+01:00\" must be a UTC time of the form "
       "YYYY-MM-DDTHH:MM:SSZ"},
      {[](json& j) { j["stage_started_at"] = "2026-02-30T09:00:00Z"; },
       "stage_started_at \"2026-02-30T09:00:00Z\" must be a UTC time of the form "
       "YYYY-MM-DDTHH:MM:SSZ"},
      {[](json& j) { j["stage_started_at"] = "9999-12-31T23:59:59Z"; },
       "stage_started_at \"9999-12-31T23:59:59Z\" is later than this system's clock can "
       "represent"},
      // pins
      {[](json& j) { j["pins"] = json::object(); }, "pins must be an array, not object"},
      {[](json& j) { j["pins"][0] = "1.1.0"; }, "pins[0] must be an object, not string"},
      {[](json& j) { j["pins"][0]["reason"] = "x"; }, "pins[0] has the unknown field \"reason\""},
      {[](json& j) { j["pins"][0].erase("app_versions"); }, "pins[0].app_versions is missing"},
      {[](json& j) { j["pins"][0]["app_versions"] = ""; },
       "pins[0].app_versions: version range \"\": is empty"},
      {[](json& j) { j["pins"][0].erase("bundle_version"); }, "pins[0].bundle_version is missing"},
      {[](json& j) { j["pins"][0]["bundle_version"] = ">=1.1.0"; },
       "pins[0].bundle_version \">=1.1.0\": "},
      {[](json& j) {
         j["pins"] = json::array({j["pins"][0], {{"app_versions", "*"}}});
       },
       "pins[1].bundle_version is missing"},
      // state
      {[](json& j) { j.erase("state"); }, "state is missing"},
      {[](json& j) { j["state"] = "running"; },
       "state \"running\" must be one of active, paused, halted"},
      {[](json& j) { j["state"] = "Active"; },
       "state \"Active\" must be one of active, paused, halted"},
      // rollback
      {[](json& j) { j["rollback"] = "all"; }, "rollback must be an object, not string"},
      {[](json& j) {
         j["rollback"] = {{"cohorts", "all"}};
       },
       "rollback.to_version is missing"},
      {[](json& j) {
         j["rollback"] = {{"to_version", "1.2.0"}};
       },
       "rollback.cohorts is missing"},
      {[](json& j) {
         j["rollback"] = {{"to_version", "1.2.0"}, {"cohorts", "all"}, {"x", 1}};
       },
       "rollback has the unknown field \"x\""},
      {[](json& j) {
         j["rollback"] = {{"to_version", "1.2"}, {"cohorts", "all"}};
       },
       "rollback.to_version \"1.2\": "},
      {[](json& j) {
         j["rollback"] = {{"to_version", "1.3.0+other"}, {"cohorts", "all"}};
       },
       "rollback.to_version \"1.3.0+other\" must differ from target.bundle_version"},
      {[](json& j) {
         j["rollback"] = {{"to_version", "1.2.0"}, {"cohorts", "some"}};
       },
       "rollback.cohorts \"some\" must be \"all\", {\"stages\": [...]} or {\"percent\": p}"},
      {[](json& j) {
         j["rollback"] = {{"to_version", "1.2.0"}, {"cohorts", 1}};
       },
       "rollback.cohorts must be \"all\" or an object, not number"},
      {[](json& j) {
         j["rollback"] = {{"to_version", "1.2.0"}, {"cohorts", json::object()}};
       },
       "rollback.cohorts must hold exactly one of stages, percent"},
      {[](json& j) {
         j["rollback"] = {{"to_version", "1.2.0"}, {"cohorts", {{"stages", {0}}, {"percent", 1}}}};
       },
       "rollback.cohorts must hold exactly one of stages, percent"},
      {[](json& j) {
         j["rollback"] = {{"to_version", "1.2.0"}, {"cohorts", {{"devices", 1}}}};
       },
       "rollback.cohorts has the unknown field \"devices\""},
      {[](json& j) {
         j["rollback"] = {{"to_version", "1.2.0"}, {"cohorts", {{"stages", json::array()}}}};
       },
       "rollback.cohorts.stages must list at least one stage index"},
      {[](json& j) {
         j["rollback"] = {{"to_version", "1.2.0"}, {"cohorts", {{"stages", 0}}}};
       },
       "rollback.cohorts.stages must be an array, not number"},
      {[](json& j) {
         j["rollback"] = {{"to_version", "1.2.0"}, {"cohorts", {{"stages", {0, 3}}}}};
       },
       "rollback.cohorts.stages[1] must be a stage index below 3, not 3"},
      {[](json& j) {
         j["rollback"] = {{"to_version", "1.2.0"}, {"cohorts", {{"stages", {1, 1}}}}};
       },
       "rollback.cohorts.stages[1] 1 is listed twice"},
      {[](json& j) {
         j["rollback"] = {{"to_version", "1.2.0"}, {"cohorts", {{"stages", {-1}}}}};
       },
       "rollback.cohorts.stages[0] must be a stage index (an integer >= 0), not -1"},
      {[](json& j) {
         j["rollback"] = {{"to_version", "1.2.0"}, {"cohorts", {{"stages", {"1"}}}}};
       },
       "rollback.cohorts.stages[0] must be a stage index (an integer >= 0), not \"1\""},
      {[](json& j) {
         j["rollback"] = {{"to_version", "1.2.0"}, {"cohorts", {{"percent", 0}}}};
       },
       "rollback.cohorts.percent must be more than 0 and at most 100, not 0"},
      {[](json& j) {
         j["rollback"] = {{"to_version", "1.2.0"}, {"cohorts", {{"percent", 0.125}}}};
       },
       "rollback.cohorts.percent must have at most two decimal places, not 0.125"},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    json j = Base();
    cases[i].mutate(j);
    Result<RolloutManifest> r = Parse(j);
    ASSERT_FALSE(r.ok()) << "case " << i << " (" << cases[i].message << ") parsed";
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    // Messages that end in ": " continue with ParseVersion's own reason.
    if (cases[i].message.ends_with(": ")) {
      EXPECT_TRUE(r.error().message.starts_with(cases[i].message))
          << "case " << i << ": " << r.error().message;
    } else {
      EXPECT_EQ(r.error().message, cases[i].message) << "case " << i;
    }
  }
}

TEST(RolloutManifestTest, RefusesBadDocuments) {
  const std::pair<std::string, std::string> cases[] = {
      {"[]", "the rollout manifest must be an object, not array"},
      {"{", "rollout manifest: "},
      {R"({"schema": "modelota.rollout/1", "schema": "modelota.rollout/1"})", "rollout manifest: "},
      {std::string(kMaxRolloutManifestBytes + 1, ' '), "rollout manifest: "},
  };
  for (const auto& [text, message] : cases) {
    Result<RolloutManifest> r = ParseRolloutManifest(text);
    ASSERT_FALSE(r.ok()) << text.substr(0, 80);
    EXPECT_TRUE(r.error().message.starts_with(message)) << r.error().message;
  }
}

TEST(RolloutManifestTest, RefusesTooManyEntries) {
  json stages = Base();
  stages["stages"] = json::array();
  for (std::size_t i = 0; i <= kMaxRolloutStages; ++i) {
    stages["stages"].push_back({{"percent", 100}, {"min_soak_seconds", 0}});
  }
  Result<RolloutManifest> r = Parse(stages);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "stages has 101 entries, more than the maximum of 100");

  json pins = Base();
  pins["pins"] = json::array();
  for (std::size_t i = 0; i <= kMaxRolloutPins; ++i) {
    pins["pins"].push_back({{"app_versions", "*"}, {"bundle_version", "1.0.0"}});
  }
  r = Parse(pins);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "pins has 1001 entries, more than the maximum of 1000");

  json tags = Base();
  json& any_of = tags["stages"][0]["selectors"]["tags"]["any_of"];
  any_of = json::array();
  for (std::size_t i = 0; i <= kMaxSelectorValues; ++i) any_of.push_back("t" + std::to_string(i));
  r = Parse(tags);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            "stages[0].selectors.tags.any_of has 1001 entries, more than the maximum of 1000");
}

TEST(RolloutManifestTest, ValidatesManifestsBuiltInCode) {
  Result<RolloutManifest> base = Parse(WithRollback());
  ASSERT_TRUE(base.ok());
  EXPECT_TRUE(ValidateRolloutManifest(*base).ok());
  const std::vector<std::pair<std::function<void(RolloutManifest&)>, std::string>> cases = {
      {[](RolloutManifest& m) { m.version = 0; }, "version must be at least 1, not 0"},
      {[](RolloutManifest& m) { m.stages[0].percent_hundredths = 0; },
       "stages[0].percent must be more than 0 and at most 100, not 0"},
      {[](RolloutManifest& m) { m.stages[2].percent_hundredths = 10001; },
       "stages[2].percent must be more than 0 and at most 100, not 100.01"},
      {[](RolloutManifest& m) { m.stages.clear(); }, "stages must list at least one stage"},
      {[](RolloutManifest& m) { m.stages[0].selectors.attributes["soc"] = {}; },
       "stages[0].selectors.attributes.soc must list at least one value"},
      {[](RolloutManifest& m) { m.stage_started_at += std::chrono::milliseconds(5); },
       "stage_started_at must be a whole number of seconds"},
      {[](RolloutManifest& m) { m.pins[0].app_versions.text = "nonsense"; },
       "pins[0].app_versions: version range \"nonsense\": \"nonsense\" is not a version: "},
      {[](RolloutManifest& m) { m.rollback->cohorts.stages = {7}; },
       "rollback.cohorts.stages[0] must be a stage index below 3, not 7"},
      {[](RolloutManifest& m) { m.current_stage = 9; },
       "current_stage must be a stage index below 3, not 9"},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    RolloutManifest m = *base;
    cases[i].first(m);
    Status s = ValidateRolloutManifest(m);
    ASSERT_FALSE(s.ok()) << "case " << i;
    EXPECT_TRUE(s.error().message.starts_with(cases[i].second))
        << "case " << i << ": " << s.error().message;
  }
}

}  // namespace
}  // namespace ota::manifest

namespace ota::manifest {
namespace {

TEST(RolloutManifestTest, KeepsTheShadowPolicyOverride) {
  nlohmann::json j = Base();
  j["shadow_policy"] = {{"gate", "requantization"}, {"thresholds", {{"max_mean_kl", 0.01}}}};
  Result<RolloutManifest> r = ParseRolloutManifest(j.dump());
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->shadow_policy.has_value());
  EXPECT_EQ((*r->shadow_policy)["gate"], "requantization");
  EXPECT_EQ(ToJson(*r)["shadow_policy"], j["shadow_policy"]);

  j["shadow_policy"] = "requantization";
  Result<RolloutManifest> bad = ParseRolloutManifest(j.dump());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("shadow_policy must be an object"), std::string::npos)
      << bad.error().message;
  EXPECT_FALSE(ParseRolloutManifest(Base().dump())->shadow_policy.has_value());
}

}  // namespace
}  // namespace ota::manifest
