// The console's read-only endpoints (GET /v1/devices, /v1/devices/<id>,
// /v1/shadow, /v1/drills) and the embedded console files, on a real server.
#include <filesystem>

#include "console_assets.h"
#include "fleet_fixture.h"

namespace ota::server {
namespace {

using nlohmann::json;

class FleetViewsTest : public FleetTest {
 protected:
  json GetJson(const std::string& path, int expected_status = 200) {
    auto r = Get(path, token_);
    EXPECT_TRUE(r) << path;
    if (!r) return json();
    EXPECT_EQ(r->status, expected_status) << path << ": " << r->body;
    return json::parse(r->body, nullptr, false);
  }

  std::string ErrorOf(const std::string& path) { return GetJson(path, 400).value("error", ""); }

  // Three devices: "ok" confirmed 2.0.0 after 1.0.0, "bad" failed 2.0.0,
  // "slow" downloading 2.0.0.
  void SeedFleet() {
    ok_ = NewDevice("ok");
    bad_ = NewDevice("bad");
    slow_ = NewDevice("slow");
    ASSERT_EQ(Enroll(ok_, {{"region", "eu"}, {"tags", {"beta"}}, {"app_version", "2.3.0"}}), 201);
    ASSERT_EQ(Enroll(bad_, {{"region", "us"}, {"tags", {"beta", "lab"}}}), 201);
    ASSERT_EQ(Enroll(slow_, {{"region", "eu"}}), 201);
    ASSERT_EQ(Send(ok_, StateEvent("committed", "1.0.0")), 200);
    ASSERT_EQ(Send(ok_, StateEvent("downloading")), 200);
    ASSERT_EQ(Send(ok_, {{"type", "shadow-result"},
                         {"verdict", "pass"},
                         {"model", "chat"},
                         {"version", "2.0.0"},
                         {"report",
                          {{"metrics", {{"mean_kl", "0.01"}, {"prompts", 12}}},
                           {"rows",
                            {{{"metric", "mean_kl"},
                              {"value", "0.01"},
                              {"threshold", "0.02"},
                              {"comparison", "<="},
                              {"ok", true}}}}}}}),
              200);
    ASSERT_EQ(Send(ok_, StateEvent("committed")), 200);
    ASSERT_EQ(Send(bad_, StateEvent("downloading")), 200);
    json failed = StateEvent("failed");
    failed["error_code"] = "integrity";
    failed["error"] = "sha256 of model.gguf does not match";
    ASSERT_EQ(Send(bad_, failed), 200);
    ASSERT_EQ(Send(slow_, StateEvent("downloading")), 200);
  }

  TestDevice ok_, bad_, slow_;
};

std::vector<std::string> Ids(const json& page) {
  std::vector<std::string> ids;
  for (const json& d : page["devices"]) ids.push_back(d["device_id"]);
  return ids;
}

TEST_F(FleetViewsTest, DevicesAreFilteredPagedAndExplained) {
  SeedFleet();
  json all = GetJson("/v1/devices");
  EXPECT_EQ(all["total"], 3);
  EXPECT_EQ(Ids(all), (std::vector<std::string>{"bad", "ok", "slow"}));
  const json& bad = all["devices"][0];
  EXPECT_EQ(bad["facts"]["region"], "us");
  EXPECT_EQ(bad["models"][0]["phase"], "failed");
  ASSERT_EQ(bad["problems"].size(), 1u);
  EXPECT_EQ(bad["problems"][0]["kind"], "failing");
  EXPECT_EQ(bad["problems"][0]["why"], "failed: integrity: sha256 of model.gguf does not match");

  EXPECT_EQ(Ids(GetJson("/v1/devices?model=chat&state=failed")), std::vector<std::string>{"bad"});
  EXPECT_EQ(Ids(GetJson("/v1/devices?model=chat&version=2.0.0&state=confirmed")),
            std::vector<std::string>{"ok"});
  EXPECT_EQ(Ids(GetJson("/v1/devices?region=eu")), (std::vector<std::string>{"ok", "slow"}));
  EXPECT_EQ(Ids(GetJson("/v1/devices?region=EU")), std::vector<std::string>{});
  EXPECT_EQ(Ids(GetJson("/v1/devices?tag=lab")), std::vector<std::string>{"bad"});
  EXPECT_EQ(Ids(GetJson("/v1/devices?tag=beta&app_version=2.3.0")), std::vector<std::string>{"ok"});
  // Failing at once; stuck once the phase is older than an hour.
  EXPECT_EQ(Ids(GetJson("/v1/devices?problem=1")), std::vector<std::string>{"bad"});
  clock_.Advance(std::chrono::hours(2));
  json problems = GetJson("/v1/devices?problem=1");
  EXPECT_EQ(Ids(problems), (std::vector<std::string>{"bad", "slow"}));
  EXPECT_EQ(problems["devices"][1]["problems"][0]["kind"], "stuck");

  json page = GetJson("/v1/devices?limit=1&offset=1");
  EXPECT_EQ(page["total"], 3);
  EXPECT_EQ(Ids(page), std::vector<std::string>{"ok"});
  EXPECT_EQ(Ids(GetJson("/v1/devices?region=eu&limit=1&offset=1")),
            std::vector<std::string>{"slow"});
  EXPECT_EQ(GetJson("/v1/devices?offset=10")["devices"].size(), 0u);
}

TEST_F(FleetViewsTest, BadQueryParametersGetPreciseErrors) {
  EXPECT_EQ(ErrorOf("/v1/devices?limit=0"),
            "query parameter limit must be an integer from 1 to 500, not \"0\"");
  EXPECT_EQ(ErrorOf("/v1/devices?limit=501"),
            "query parameter limit must be an integer from 1 to 500, not \"501\"");
  EXPECT_EQ(ErrorOf("/v1/devices?offset=-1"),
            "query parameter offset must be an integer from 0 to 1000000000, not \"-1\"");
  EXPECT_EQ(ErrorOf("/v1/devices?limit=2x"),
            "query parameter limit must be an integer from 1 to 500, not \"2x\"");
  EXPECT_EQ(ErrorOf("/v1/devices?colour=red"),
            "unknown query parameter colour (model, version, state, region, tag, app_version, "
            "problem, limit, offset)");
  EXPECT_EQ(ErrorOf("/v1/devices?model=a&model=b"), "query parameter model is given twice");
  EXPECT_EQ(ErrorOf("/v1/devices?state=broken").substr(0, 33), "query parameter state must be one");
  EXPECT_EQ(ErrorOf("/v1/devices?version=latest"),
            "query parameter version must be a semantic version such as 2.0.0");
  EXPECT_EQ(ErrorOf("/v1/devices?model=Chat"),
            "query parameter model must match [a-z0-9][a-z0-9._-]{0,63}");
  EXPECT_EQ(ErrorOf("/v1/devices?problem=yes"), "query parameter problem must be 1 or 0");
  EXPECT_EQ(ErrorOf("/v1/devices?region="),
            "query parameter region must be 1 to 256 bytes without control characters");
  EXPECT_EQ(ErrorOf("/v1/devices/ok?before=0"),
            "query parameter before must be an integer from 1 to 9223372036854775807, not \"0\"");
  EXPECT_EQ(ErrorOf("/v1/shadow"),
            "query parameter model is required and must match [a-z0-9][a-z0-9._-]{0,63}");
  EXPECT_EQ(ErrorOf("/v1/shadow?model=chat&limit=10001"),
            "query parameter limit must be an integer from 1 to 10000, not \"10001\"");
  EXPECT_EQ(GetJson("/v1/devices/bad%2Fid", 404)["code"], "not-found");
  EXPECT_EQ(GetJson("/v1/devices/nobody", 404)["error"], "no enrolled device nobody");

  ExpectOperatorOnly({"/v1/devices", "/v1/devices/ok", "/v1/shadow?model=chat", "/v1/drills",
                      "/v1/drills/x", "/v1/drills/x/timeline.svg"});
}

TEST_F(FleetViewsTest, DeviceDetailHasVersionsTimelineVerdictsAndChain) {
  SeedFleet();
  json d = GetJson("/v1/devices/ok");
  EXPECT_EQ(d["device_id"], "ok");
  EXPECT_EQ(d["enrolled_with"], "factory");
  EXPECT_EQ(d["facts"]["app_version"], "2.3.0");
  ASSERT_EQ(d["models"].size(), 1u);
  EXPECT_EQ(d["models"][0]["version"], "2.0.0");
  EXPECT_EQ(d["models"][0]["previous_version"], "1.0.0");
  ASSERT_EQ(d["events"].size(), 4u);
  EXPECT_EQ(d["events"][0]["seq"], 4);  // Newest first.
  EXPECT_EQ(d["events"][1]["type"], "shadow-result");
  EXPECT_EQ(d["events"][1]["event"]["report"]["rows"][0]["threshold"], "0.02");
  EXPECT_EQ(d["events_truncated"], false);
  EXPECT_EQ(d["chain"]["problem"], "");

  json page = GetJson("/v1/devices/ok?limit=2");
  EXPECT_EQ(page["events"].size(), 2u);
  EXPECT_EQ(page["events_truncated"], true);
  EXPECT_EQ(page["next_before"], 3);
  json older = GetJson("/v1/devices/ok?limit=2&before=3");
  EXPECT_EQ(older["events"][0]["seq"], 2);
  EXPECT_EQ(older["events_truncated"], false);

  // The first chained event anchors the chain; a link that does not follow
  // from the next event and that anchor breaks it.
  json anchored = StateEvent("downloading", "3.0.0");
  anchored["chain"] = std::string(64, 'a');
  ASSERT_EQ(Send(bad_, anchored), 200);
  EXPECT_EQ(GetJson("/v1/devices/bad")["chain"]["verified"], true);
  json edited = StateEvent("verifying", "3.0.0");
  edited["chain"] = std::string(64, 'b');
  ASSERT_EQ(Send(bad_, edited), 200);
  json broken = GetJson("/v1/devices/bad");
  EXPECT_EQ(broken["chain"]["verified"], false);
  EXPECT_NE(broken["chain"]["problem"], "");
  bool chain_problem = false;
  for (const json& p : broken["problems"]) chain_problem |= p["kind"] == "chain";
  EXPECT_TRUE(chain_problem) << broken["problems"];
}

TEST_F(FleetViewsTest, ShadowResultsAreCountedAndSummarizedPerVersion) {
  SeedFleet();
  TestDevice more = NewDevice("more");
  ASSERT_EQ(Enroll(more), 201);
  ASSERT_EQ(Send(more, {{"type", "shadow-result"},
                        {"verdict", "fail"},
                        {"model", "chat"},
                        {"version", "2.0.0"},
                        {"report", {{"metrics", {{"mean_kl", "0.5"}, {"prompts", 8}}}}}}),
            200);
  ASSERT_EQ(Send(more, {{"type", "shadow-skipped"},
                        {"model", "chat"},
                        {"version", "2.1.0"},
                        {"reason", "rollback"}}),
            200);
  ASSERT_EQ(Send(more, {{"type", "shadow-result"},
                        {"verdict", "pass"},
                        {"model", "chatter"},
                        {"version", "2.0.0"}}),
            200);
  json s = GetJson("/v1/shadow?model=chat");
  EXPECT_EQ(s["events"], 3);
  ASSERT_EQ(s["versions"].size(), 2u);
  const json& v2 = s["versions"][0];
  EXPECT_EQ(v2["version"], "2.0.0");
  EXPECT_EQ(v2["verdicts"]["pass"], 1);
  EXPECT_EQ(v2["verdicts"]["fail"], 1);
  EXPECT_EQ(v2["metrics"]["mean_kl"]["min"], 0.01);
  EXPECT_EQ(v2["metrics"]["mean_kl"]["max"], 0.5);
  EXPECT_EQ(v2["metrics"]["mean_kl"]["p50"], 0.01);
  EXPECT_EQ(v2["metrics"]["prompts"]["p95"], 12);
  EXPECT_EQ(s["versions"][1]["verdicts"]["skip"], 1);
  EXPECT_EQ(GetJson("/v1/shadow?model=none")["versions"].size(), 0u);
}

TEST_F(FleetViewsTest, DrillReportsAreServedFromTheDrillsFolderOnly) {
  EXPECT_EQ(GetJson("/v1/drills", 404)["code"], "not-found");
  const std::string drills = tmp_.Sub("drills");
  ota::testing::WriteTestFile(drills + "/canary/report.json",
                              R"({"scenario": "canary", "passed": true, "devices": 10})");
  ota::testing::WriteTestFile(drills + "/canary/timeline.svg", "<svg></svg>");
  ota::testing::WriteTestFile(drills + "/notes/readme.txt", "no report here");
  ota::testing::WriteTestFile(tmp_.Sub("outside/report.json"), R"({"secret": 1})");
  std::filesystem::create_symlink(tmp_.Sub("outside"), drills + "/escape");
  server_.reset();
  ServerOptions o;
  o.publisher = &publisher_;
  o.drills_dir = drills;
  StartServer(o);

  json list = GetJson("/v1/drills");
  ASSERT_EQ(list["drills"].size(), 1u) << list;
  EXPECT_EQ(list["drills"][0]["name"], "canary");
  EXPECT_EQ(list["drills"][0]["passed"], true);
  EXPECT_EQ(list["drills"][0]["has_timeline"], true);
  EXPECT_EQ(GetJson("/v1/drills/canary")["scenario"], "canary");
  auto svg = Get("/v1/drills/canary/timeline.svg", token_);
  ASSERT_TRUE(svg);
  EXPECT_EQ(svg->status, 200);
  EXPECT_EQ(svg->body, "<svg></svg>");
  EXPECT_EQ(svg->get_header_value("Content-Type"), "image/svg+xml");
  EXPECT_EQ(svg->get_header_value("Content-Security-Policy"),
            "default-src 'none'; style-src 'unsafe-inline'");
  for (const std::string& name :
       std::vector<std::string>{"notes", "escape", "..", "..%2F..%2Fsecret.txt", "a%00b",
                                std::string(65, 'a'), "missing"}) {
    EXPECT_EQ(GetJson("/v1/drills/" + name, 404)["code"], "not-found") << name;
    auto r = Get("/v1/drills/" + name + "/timeline.svg", token_);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404) << name;
  }
}

TEST_F(FleetViewsTest, ConsoleFilesAreEmbeddedWithStrictHeaders) {
  auto index = Client()->Get("/console/");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->status, 200);
  EXPECT_EQ(index->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(index->get_header_value("Cache-Control"), "no-cache");
  EXPECT_EQ(index->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(index->get_header_value("Content-Security-Policy"),
            std::string(kConsoleContentSecurityPolicy));
  EXPECT_NE(index->body.find("<title>"), std::string::npos);
  for (const EmbeddedFile& f : ConsoleFiles()) {
    auto r = Client()->Get("/console/" + std::string(f.name));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << f.name;
    EXPECT_EQ(r->body, f.bytes) << f.name;
    if (f.name.ends_with(".js")) {
      EXPECT_EQ(r->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
    }
  }
  auto bare = Client()->Get("/console");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->status, 301);
  EXPECT_EQ(bare->get_header_value("Location"), "/console/");
  auto missing = Client()->Get("/console/../v1/fleet");
  ASSERT_TRUE(missing);
  EXPECT_NE(missing->status, 200);
  auto none = Client()->Get("/console/nothing.js");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 404);
}

}  // namespace
}  // namespace ota::server
