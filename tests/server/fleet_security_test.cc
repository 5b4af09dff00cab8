// Hostile clients against the fleet endpoints: devices the operator never
// admitted, devices outside a stage trying to move its counts, oversized
// facts, enrollment floods, and unsigned event history (docs/security.md,
// "The fleet server's threat model").
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "fleet_fixture.h"
#include "ota/rollout/bucket.h"

namespace ota::server {
namespace {

using nlohmann::json;

std::int64_t FileSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::int64_t>(st.st_size) : -1;
}

class FleetSecurityTest : public FleetTest {
 protected:
  json Code(const httplib::Result& r) { return r ? json::parse(r->body, nullptr, false) : json(); }
};

TEST_F(FleetSecurityTest, ANewDeviceNeedsAValidEnrollmentToken) {
  TestDevice d = NewDevice("dev-1");
  EXPECT_EQ(Enroll(d, json::object(), ""), 401);
  EXPECT_EQ(Enroll(d, json::object(), "otae_" + std::string(64, '0')), 403);
  EXPECT_EQ(Enroll(d, json::object(), token_), 403)
      << "an operator token is not an enrollment token";
  // Nothing was stored: the device cannot report.
  json events = json::array({{{"seq", 1}, {"type", "enrolled"}}});
  auto report = Post("/v1/reports", SignedReport(d, 1, events));
  ASSERT_TRUE(report);
  EXPECT_EQ(report->status, 403);
  EXPECT_EQ(Code(report)["code"], "unknown-device");

  ASSERT_EQ(Enroll(d), 201);
  // Once enrolled, the device refreshes its signed facts without a token.
  EXPECT_EQ(Enroll(d, {{"app_version", "1.2.0"}}, ""), 200);
  // A revoked token admits nobody new.
  ASSERT_OK(RevokeEnrollmentToken(db_, "factory"));
  EXPECT_EQ(Enroll(NewDevice("dev-2")), 403);
  EXPECT_EQ(Enroll(d, json::object(), ""), 200);
  // A device still presenting its revoked token refreshes its facts.
  EXPECT_EQ(Enroll(d, {{"app_version", "1.3.0"}}), 200);
}

TEST_F(FleetSecurityTest, EnrollmentTokensHaveADeviceQuotaAndAnExpiry) {
  const std::string db = db_;
  auto two = CreateEnrollmentToken(db, {"batch-7", 2, 0});
  ASSERT_OK(two);
  EXPECT_EQ(Enroll(NewDevice("a"), json::object(), *two), 201);
  EXPECT_EQ(Enroll(NewDevice("b"), json::object(), *two), 201);
  TestDevice third = NewDevice("c");
  httplib::Headers h{{"Authorization", "Bearer " + *two}};
  auto r = Client()->Post("/v1/devices", h, EnrollBody(third, json::object()).dump(),
                          "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(Code(r)["code"], "token-used-up");

  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count();
  auto brief = CreateEnrollmentToken(db, {"brief", 0, now + 3600});
  ASSERT_OK(brief);
  EXPECT_EQ(Enroll(NewDevice("d"), json::object(), *brief), 201);
  clock_.Advance(std::chrono::hours(2));
  EXPECT_EQ(Enroll(NewDevice("e"), json::object(), *brief), 403);

  EXPECT_FALSE(CreateEnrollmentToken(db, {"batch-7", 0, 0}).ok()) << "names are unique";
  EXPECT_FALSE(CreateEnrollmentToken(db, {"bad name", 0, 0}).ok());
  auto described = DescribeEnrollmentTokens(db);
  ASSERT_OK(described);
  ASSERT_EQ(described->size(), 3u);
  EXPECT_EQ((*described)[0], "batch-7 devices 2/2 expires never");
}

// The finding: 25 devices outside a 1% canary report `confirmed`; the
// controller must neither count them nor advance.
TEST_F(FleetSecurityTest, ReportsOfDevicesOutsideTheStageDoNotCount) {
  // A 1% canary, then everyone: the rollout of the finding.
  auto created = Post(
      "/v1/rollouts",
      CreateBody({{"min_reporting", 20}, {"success_percent", 90}}, {100, 10000}, "canary"), true);
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 201) << created->body;
  std::vector<TestDevice> outsiders;
  for (int i = 0; outsiders.size() < 25; ++i) {
    const std::string id = "fake-" + std::to_string(i);
    if (rollout::CohortBucket(id, "chat-2") < 100) continue;
    outsiders.push_back(NewDevice(id));
    ASSERT_EQ(Enroll(outsiders.back()), 201);
  }
  for (TestDevice& d : outsiders) {
    ASSERT_EQ(Send(d, StateEvent("committed")), 200);
  }
  clock_.Advance(std::chrono::hours(1));
  auto changed = server_->RunControllerOnce();
  ASSERT_OK(changed);
  EXPECT_EQ(*changed, 0);
  json s = Status();
  EXPECT_EQ(s["current_stage"], 0);
  EXPECT_EQ(s["stages"][0]["reporting"], 0);
  EXPECT_EQ(s["stages"][1]["reporting"], 0) << "stage 1 was not reached yet";
  ASSERT_EQ(publisher_.published.size(), 1u);

  // Devices the canary does hold are counted.
  TestDevice inside = NewDeviceInBucket("canary", 100);
  ASSERT_EQ(Enroll(inside), 201);
  ASSERT_EQ(Send(inside, StateEvent("committed")), 200);
  s = Status();
  EXPECT_EQ(s["stages"][0]["reporting"], 1);
  EXPECT_EQ(s["stages"][0]["targeted"], 1);
}

// Counts that cannot be right (a device counted for a stage that no longer
// covers it, as when its facts change) never advance a stage, and the
// controller says why in the audit trail, once.
TEST_F(FleetSecurityTest, ControllerRefusesToAdvanceOnMoreReportsThanTargeted) {
  json body = CreateBody({{"min_reporting", 1}, {"success_percent", 50}});
  body["manifest"]["stages"][0]["selectors"] = {{"tags", {{"any_of", {"canary"}}}}};
  auto created = Post("/v1/rollouts", body, true);
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 201) << created->body;
  TestDevice d = NewDeviceInBucket("dev");
  ASSERT_EQ(Enroll(d, {{"tags", {"canary"}}}), 201);
  ASSERT_EQ(Send(d, StateEvent("committed")), 200);
  ASSERT_EQ(Enroll(d, {{"tags", {"other"}}}), 200);  // No longer in the canary.
  clock_.Advance(std::chrono::hours(1));
  for (int pass = 0; pass < 3; ++pass) {
    auto changed = server_->RunControllerOnce();
    ASSERT_OK(changed);
    EXPECT_EQ(*changed, 0);
  }
  json s = Status();
  EXPECT_EQ(s["current_stage"], 0);
  EXPECT_EQ(s["next_action"]["action"], "refuse-advance");
  std::vector<std::string> actions;
  for (const json& a : s["audit"]) actions.push_back(a["action"]);
  EXPECT_EQ(actions, (std::vector<std::string>{"create", "refuse-advance"}));
  const std::string reason = s["audit"].back()["reason"];
  EXPECT_NE(reason.find("1 devices report about stage 0 but it targets only 0"), std::string::npos)
      << reason;
  // An operator may still decide to advance, on the record.
  auto plain = Post("/v1/rollouts/chat-2/advance", json::object(), true);
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->status, 409);
  EXPECT_EQ(Code(plain)["code"], "gate-not-met");
}

TEST_F(FleetSecurityTest, FactsAreBoundedFieldByFieldAndInTotal) {
  const std::vector<json> hostile = {
      {{"attributes", {{std::string(100000, 'a'), "x"}}}},
      {{"attributes", {{"Upper", "x"}}}},
      {{"attributes", {{"soc", std::string(257, 'x')}}}},
      {{"attributes", {{"soc", ""}}}},
      {{"tags", {std::string("bad\ntag")}}},
      {{"region", std::string(257, 'r')}},
      {{"app_version", "1." + std::string(300, '9') + ".0"}},
  };
  int i = 0;
  for (const json& facts : hostile) {
    TestDevice d = NewDevice("dev-" + std::to_string(i++));
    EXPECT_EQ(Enroll(d, facts), 400) << facts.dump().substr(0, 80);
  }
  // A body past the enrollment limit is refused before it is parsed.
  TestDevice big = NewDevice("big");
  json body = EnrollBody(big, json::object());
  body["padding"] = std::string(200 * 1024, 'x');
  httplib::Headers h{{"Authorization", "Bearer " + enroll_token_}};
  auto r = Client()->Post("/v1/devices", h, body.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  auto fleet = Get("/v1/fleet", token_);
  ASSERT_TRUE(fleet);
  EXPECT_EQ(json::parse(fleet->body)["devices"], 0);
}

// The original finding: 150 unauthenticated enrollments with 1 MiB of facts
// each grew the server by 223 MB of memory and its database by 148 MB.
TEST_F(FleetSecurityTest, UnauthenticatedEnrollmentsStoreNothing) {
  const std::int64_t db_before =
      FileSize(tmp_.Sub("server.db")) + FileSize(tmp_.Sub("server.db-wal"));
  for (int i = 0; i < 150; ++i) {
    TestDevice d = NewDevice("flood-" + std::to_string(i));
    json facts = {{"attributes", json::object()}};
    for (int a = 0; a < 100; ++a)
      facts["attributes"]["k" + std::to_string(a)] = std::string(256, 'v');
    EXPECT_EQ(Enroll(d, facts, ""), 401);
  }
  auto fleet = Get("/v1/fleet", token_);
  ASSERT_TRUE(fleet);
  EXPECT_EQ(json::parse(fleet->body)["devices"], 0);
  if (ota::testing::FleetTestsOnPostgres()) return;  // The file sizes are SQLite's.
  const std::int64_t db_after = FileSize(tmp_.Sub("server.db")) +
                                std::max<std::int64_t>(0, FileSize(tmp_.Sub("server.db-wal")));
  EXPECT_LE(db_after - std::max<std::int64_t>(0, db_before), 0);
}

TEST_F(FleetSecurityTest, EnrollmentIsRateLimitedPerClientAddress) {
  server_->Stop();
  ServerOptions o;
  o.publisher = &publisher_;
  o.enroll_burst = 3;
  o.enroll_per_second = 0.5;
  StartServer(o);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Enroll(NewDevice("d" + std::to_string(i))), 201);
  TestDevice late = NewDevice("late");
  httplib::Headers h{{"Authorization", "Bearer " + enroll_token_}};
  auto r =
      Client()->Post("/v1/devices", h, EnrollBody(late, json::object()).dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(r->get_header_value("Retry-After"), "2");
  // Refused attempts count too: guessing tokens is as limited as enrolling.
  EXPECT_EQ(Enroll(late, json::object(), "otae_guess"), 429);
  clock_.Advance(std::chrono::seconds(2));
  EXPECT_EQ(Enroll(late), 201);
}

TEST_F(FleetSecurityTest, EventHistoryIsWrittenBySignedReportsOnlyAndReadByOperators) {
  TestDevice d = NewDevice("dev-1");
  ASSERT_EQ(Enroll(d), 201);
  // The forgery of the finding: the device's next sequence numbers, unsigned.
  auto forged = Post("/v1/events",
                     {{"device_id", "dev-1"}, {"events", {{{"seq", 1}, {"type", "committed"}}}}});
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 410);
  ASSERT_EQ(Send(d, {{"type", "enrolled"}}), 200);
  auto anonymous = Get("/v1/events?device_id=dev-1", "");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  auto listed = Get("/v1/events?device_id=dev-1", token_);
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->status, 200);
  const json events = json::parse(listed->body)["events"];
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["type"], "enrolled");
}

// Rollout ids in request paths that are not ids (bytes that are not text,
// quotes) name no rollout, on either database engine: 404, not an error
// from the database.
TEST_F(FleetSecurityTest, RolloutPathsThatAreNotIdsAreNotFound) {
  for (const std::string& id : {std::string("%FF%FE"), std::string("\xff\xfe"),
                                std::string("a%27%20OR%201=1--"), std::string("%00")}) {
    auto status = Get("/v1/rollouts/" + id, token_);
    ASSERT_TRUE(status) << id;
    EXPECT_EQ(status->status, 404) << id << ": " << status->body;
    auto action = Post("/v1/rollouts/" + id + "/pause", json::object(), true);
    ASSERT_TRUE(action) << id;
    EXPECT_EQ(action->status, 404) << id << ": " << action->body;
  }
}

}  // namespace
}  // namespace ota::server
