// The OpenAPI document against the server's real answers: a scenario calls
// every documented operation (and the errors each documents), records every
// request and answer, and tests/api/openapi_contract.py checks them against
// docs/openapi.yaml. A field, status, content type or endpoint the document
// does not describe fails the test, and so does a documented operation the
// scenario never got a 2xx from.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "fleet_fixture.h"
#include "test_support.h"

namespace ota::server {
namespace {

using nlohmann::json;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class ApiContractTest : public FleetTest {
 protected:
  void Configure(ServerOptions& options) override {
    ota::testing::WriteTestFile(tmp_.Sub("drills/canary/report.json"),
                                R"({"scenario": "canary", "passed": true, "devices": 3})");
    ota::testing::WriteTestFile(tmp_.Sub("drills/canary/timeline.svg"),
                                R"(<svg xmlns="http://www.w3.org/2000/svg"/>)");
    options.drills_dir = tmp_.Sub("drills");
  }

  struct Call {
    Call(std::string m, std::string p, std::string b = "", std::string t = "",
         httplib::Headers h = {}, bool is_probe = false)
        : method(std::move(m)),
          path(std::move(p)),
          body(std::move(b)),
          token(std::move(t)),
          headers(std::move(h)),
          probe(is_probe) {}
    std::string method, path, body, token;
    httplib::Headers headers;
    bool probe = false;
  };

  // Sends the request and records it with its answer.
  httplib::Result Do(const Call& c) {
    httplib::Headers h = c.headers;
    if (!c.token.empty()) h.emplace("Authorization", "Bearer " + c.token);
    auto client = Client();
    httplib::Result r = [&] {
      if (c.method == "GET") return client->Get(c.path.c_str(), h);
      if (c.method == "HEAD") return client->Head(c.path.c_str(), h);
      if (c.method == "DELETE") return client->Delete(c.path.c_str(), h);
      return client->Post(c.path.c_str(), h, c.body, "application/json");
    }();
    EXPECT_TRUE(r) << c.method << " " << c.path;
    if (r) {
      exchanges_ << json{{"method", c.method},
                         {"path", c.path},
                         {"status", r->status},
                         {"content_type", r->get_header_value("Content-Type")},
                         {"body", r->body},
                         {"probe", c.probe}}
                        .dump(-1, ' ', false, json::error_handler_t::replace)
                 << "\n";
    }
    return r;
  }

  int StatusOf(const Call& c) {
    auto r = Do(c);
    return r ? r->status : -1;
  }

  // Runs the checker on what was recorded; its output goes to the log.
  void CheckAgainstTheDocument() {
    const std::string file = tmp_.Sub("exchanges.jsonl");
    {
      std::ofstream out(file);
      out << exchanges_.str();
    }
    const std::string cmd = std::string("/usr/bin/python3 ") + OTA_SOURCE_DIR +
                            "/tests/api/openapi_contract.py " + OTA_SOURCE_DIR +
                            "/docs/openapi.yaml " + file + " > " + file + ".out 2>&1";
    const int rc = std::system(cmd.c_str());
    EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0) << ReadAll(file + ".out");
  }

  std::ostringstream exchanges_;
};

TEST_F(ApiContractTest, EveryAnswerIsWhatTheOpenApiDocumentSays) {
  const std::string t = token_;
  // Service.
  EXPECT_EQ(StatusOf({"GET", "/v1/health"}), 200);
  auto doc = Do({"GET", "/v1/openapi.yaml"});
  ASSERT_TRUE(doc);
  EXPECT_EQ(doc->body, ReadAll(std::string(OTA_SOURCE_DIR) + "/docs/openapi.yaml"));
  EXPECT_EQ(StatusOf({"GET", "/v1/audit/key"}), 200);
  EXPECT_EQ(StatusOf({"GET", "/v1/nothing-here", "", t, {}, true}), 404);
  EXPECT_EQ(StatusOf({"POST", "/v1/events", "{}"}), 410);

  // Devices.
  TestDevice a = NewDevice("dev-a");
  const json facts = {{"app_version", "1.2.0"}, {"region", "eu"}, {"tags", {"beta"}}};
  const std::string enroll = EnrollBody(a, facts).dump();
  EXPECT_EQ(StatusOf({"POST", "/v1/devices", enroll, enroll_token_}), 201);
  EXPECT_EQ(StatusOf({"POST", "/v1/devices", enroll, enroll_token_}), 200);
  EXPECT_EQ(StatusOf({"POST", "/v1/devices", EnrollBody(NewDevice("dev-b"), facts).dump()}), 401);
  EXPECT_EQ(StatusOf({"POST", "/v1/devices", EnrollBody(NewDevice("dev-c"), facts).dump(),
                      "otae_wrong-token"}),
            403);
  EXPECT_EQ(StatusOf({"POST", "/v1/devices", "{\"device_id\": 1}", enroll_token_}), 400);
  EXPECT_EQ(StatusOf({"POST", "/v1/devices", std::string(200 * 1024, ' '), enroll_token_}), 413);
  EXPECT_EQ(StatusOf({"POST", "/v1/devices", EnrollBody(NewDevice("dev-a"), facts).dump(),
                      enroll_token_}),
            409);

  // Rollouts.
  EXPECT_EQ(StatusOf({"POST", "/v1/rollouts", CreateBody({{"min_reporting", 1}}).dump(), t}), 201);
  EXPECT_EQ(StatusOf({"POST", "/v1/rollouts", CreateBody({{"min_reporting", 1}}).dump(), t}), 409);
  EXPECT_EQ(StatusOf({"POST", "/v1/rollouts", "{\"manifest\": 3}", t}), 400);
  EXPECT_EQ(StatusOf({"POST", "/v1/rollouts", "{}", ""}), 401);
  EXPECT_EQ(StatusOf({"GET", "/v1/rollouts", "", t}), 200);

  // Reports.
  ++a.seq;
  json ev = StateEvent("committed");
  ev["seq"] = a.seq;
  const std::string report = SignedReport(a, a.seq, json::array({ev})).dump();
  EXPECT_EQ(StatusOf({"POST", "/v1/reports", report}), 200);
  EXPECT_EQ(StatusOf({"POST", "/v1/reports", report}), 409);
  EXPECT_EQ(StatusOf({"POST", "/v1/reports", "[]"}), 400);
  TestDevice stranger = NewDevice("dev-z");
  EXPECT_EQ(StatusOf({"POST", "/v1/reports", SignedReport(stranger, 1, json::array()).dump()}),
            403);
  const TestDevice forger = NewDevice("dev-f");
  EXPECT_EQ(
      StatusOf({"POST", "/v1/reports", SignedReport(a, 5, json::array(), &forger.key).dump()}),
      401);
  EXPECT_EQ(StatusOf({"POST", "/v1/reports", std::string(2 << 20, ' ')}), 413);
  EXPECT_EQ(StatusOf({"GET", "/v1/events?device_id=dev-a", "", t}), 200);
  EXPECT_EQ(StatusOf({"GET", "/v1/events", "", t}), 400);
  EXPECT_EQ(StatusOf({"GET", "/v1/events?device_id=dev-a"}), 401);
  EXPECT_EQ(StatusOf({"GET", "/v1/events?device_id=dev-a", "", "ota_wrong-token"}), 403);

  EXPECT_EQ(StatusOf({"GET", "/v1/rollouts/chat-2", "", t}), 200);
  EXPECT_EQ(StatusOf({"GET", "/v1/rollouts/none", "", t}), 404);
  EXPECT_EQ(StatusOf({"POST", "/v1/rollouts/chat-2/pause", "{\"reason\": \"look\"}", t}), 200);
  EXPECT_EQ(StatusOf({"POST", "/v1/rollouts/chat-2/pause", "{}", t}), 409);
  EXPECT_EQ(StatusOf({"POST", "/v1/rollouts/chat-2/dance", "{}", t}), 404);
  EXPECT_EQ(StatusOf({"POST", "/v1/rollouts/chat-2/rollback", "{}", t}), 400);
  EXPECT_EQ(StatusOf({"POST", "/v1/rollouts/chat-2/resume", "{}", t}), 200);
  EXPECT_EQ(StatusOf({"GET", "/v1/fleet", "", t}), 200);

  // Console views.
  EXPECT_EQ(StatusOf({"GET", "/v1/devices?limit=10", "", t}), 200);
  EXPECT_EQ(StatusOf({"GET", "/v1/devices?limit=0", "", t}), 400);
  EXPECT_EQ(StatusOf({"GET", "/v1/devices"}), 401);
  EXPECT_EQ(StatusOf({"GET", "/v1/devices/dev-a", "", t}), 200);
  EXPECT_EQ(StatusOf({"GET", "/v1/devices/dev-a?limit=x", "", t}), 400);
  EXPECT_EQ(StatusOf({"GET", "/v1/devices/nobody", "", t}), 404);
  EXPECT_EQ(StatusOf({"GET", "/v1/shadow?model=chat", "", t}), 200);
  EXPECT_EQ(StatusOf({"GET", "/v1/shadow", "", t}), 400);
  EXPECT_EQ(StatusOf({"GET", "/v1/drills", "", t}), 200);
  EXPECT_EQ(StatusOf({"GET", "/v1/drills/canary", "", t}), 200);
  EXPECT_EQ(StatusOf({"GET", "/v1/drills/canary/timeline.svg", "", t}), 200);
  EXPECT_EQ(StatusOf({"GET", "/v1/drills/..", "", t}), 404);
  EXPECT_EQ(StatusOf({"GET", "/console/"}), 200);
  EXPECT_EQ(StatusOf({"GET", "/console/app.js"}), 200);
  EXPECT_EQ(StatusOf({"GET", "/console/console.css"}), 200);
  EXPECT_EQ(StatusOf({"GET", "/console/nothing.js"}), 404);

  // A live drill's record: only for a rollout of a drill-marked version.
  json drill_rollout = CreateBody({{"min_reporting", 1}});
  drill_rollout["manifest"]["rollout_id"] = "drill-1";
  drill_rollout["manifest"]["model"] = "chatd";
  drill_rollout["manifest"]["target"]["bundle_version"] = "2.1.0-drill.1";
  EXPECT_EQ(StatusOf({"POST", "/v1/rollouts", drill_rollout.dump(), t}), 201);
  json record = {
      {"rollout_id", "drill-1"},
      {"model", "chatd"},
      {"drill_version", "2.1.0-drill.1"},
      {"baseline_version", "2.0.0"},
      {"tag", "drill"},
      {"ordered_at", "2027-01-15T08:00:00Z"},
      {"devices", 3},
      {"exposed", 3},
      {"back", 2},
      {"back_p50_seconds", 4},
      {"back_p95_seconds", 9},
      {"back_max_seconds", 9},
      {"stuck", {{{"device_id", "dev-9"}, {"why", "not back: 2.1.0-drill.1 confirmed"}}}},
      {"passed", false}};
  EXPECT_EQ(StatusOf({"POST", "/v1/live-drills", record.dump(), t}), 201);
  json not_drill = record;
  not_drill["rollout_id"] = "chat-2";
  EXPECT_EQ(StatusOf({"POST", "/v1/live-drills", not_drill.dump(), t}), 409);
  json unknown = record;
  unknown["rollout_id"] = "nope";
  EXPECT_EQ(StatusOf({"POST", "/v1/live-drills", unknown.dump(), t}), 404);
  json bad = record;
  bad["back"] = 7;
  EXPECT_EQ(StatusOf({"POST", "/v1/live-drills", bad.dump(), t}), 400);
  bad = record;
  bad["back_max_seconds"] = 1.5;
  EXPECT_EQ(StatusOf({"POST", "/v1/live-drills", bad.dump(), t}), 400);

  // Tokens and roles.
  EXPECT_EQ(StatusOf({"GET", "/v1/whoami", "", t}), 200);
  auto made = Do({"POST", "/v1/tokens", R"({"name": "vera", "role": "viewer"})", t});
  ASSERT_TRUE(made);
  ASSERT_EQ(made->status, 201);
  const std::string viewer = json::parse(made->body)["token"];
  EXPECT_EQ(StatusOf({"POST", "/v1/tokens", R"({"name": "vera", "role": "viewer"})", t}), 409);
  EXPECT_EQ(StatusOf({"POST", "/v1/tokens", R"({"name": "x", "role": "root"})", t}), 400);
  EXPECT_EQ(StatusOf({"POST", "/v1/tokens", std::string(5000, ' '), t}), 413);
  EXPECT_EQ(StatusOf({"GET", "/v1/tokens", "", t}), 200);
  EXPECT_EQ(StatusOf({"GET", "/v1/tokens", "", viewer}), 403);
  EXPECT_EQ(StatusOf({"GET", "/v1/tokens"}), 401);
  EXPECT_EQ(StatusOf({"GET", "/v1/whoami", "", viewer}), 200);
  EXPECT_EQ(StatusOf({"POST", "/v1/rollouts/chat-2/halt", "{}", viewer}), 403);
  EXPECT_EQ(StatusOf({"POST", "/v1/rollouts/chat-2/halt", "{}", t}), 200);
  EXPECT_EQ(StatusOf({"GET", "/metrics", "", viewer}), 200);
  EXPECT_EQ(StatusOf({"GET", "/metrics"}), 401);
  EXPECT_EQ(StatusOf({"GET", "/metrics", "", "ota_wrong-token"}), 403);
  EXPECT_EQ(StatusOf({"DELETE", "/v1/tokens/vera", "", t}), 200);
  EXPECT_EQ(StatusOf({"DELETE", "/v1/tokens/vera", "", t}), 404);
  EXPECT_EQ(StatusOf({"GET", "/v1/whoami", "", viewer}), 403);

  // Audit.
  EXPECT_EQ(StatusOf({"GET", "/v1/audit/export?device=dev-a", "", t}), 200);
  EXPECT_EQ(StatusOf({"GET", "/v1/audit/export?since=yesterday", "", t}), 400);

  // Repository.
  EXPECT_EQ(StatusOf({"GET", "/repo/targets/model.bin"}), 200);
  EXPECT_EQ(StatusOf({"GET", "/repo/timestamp.json"}), 200);
  EXPECT_EQ(StatusOf({"GET", "/repo/targets/model.bin", "", "", {{"Range", "bytes=10-19"}}}), 206);
  EXPECT_EQ(StatusOf({"GET", "/repo/targets/model.bin", "", "", {{"Range", "bytes=99999-"}}}), 416);
  EXPECT_EQ(StatusOf({"GET", "/repo/targets/none.bin"}), 404);
  EXPECT_EQ(StatusOf({"GET", "/repo/targets/../secret.txt"}), 400);
  EXPECT_EQ(StatusOf({"HEAD", "/repo/targets/model.bin"}), 200);

  CheckAgainstTheDocument();
}

}  // namespace
}  // namespace ota::server
