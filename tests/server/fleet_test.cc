// Device registry, signed reports, operator tokens, aggregation and the
// rollout controller of ota-server, over loopback HTTP.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "fleet_fixture.h"
#include "ota/rollout/bucket.h"

namespace ota::server {
namespace {

using nlohmann::json;

TEST_F(FleetTest, EnrollIsIdempotentAndRefusesAnotherKey) {
  TestDevice d = NewDevice("dev-1");
  EXPECT_EQ(Enroll(d), 201);
  EXPECT_EQ(Enroll(d), 200);
  TestDevice impostor = NewDevice("dev-1");
  auto r = Post("/v1/devices",
                {{"device_id", "dev-1"}, {"public_key", impostor.key.public_key.public_value}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 409);
  EXPECT_EQ(json::parse(r->body)["code"], "key-mismatch");
  auto bad = Post("/v1/devices", {{"device_id", "dev-2"}, {"public_key", "abc"}});
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  auto bad_facts = Post("/v1/devices", {{"device_id", "dev-2"},
                                        {"public_key", d.key.public_key.public_value},
                                        {"facts", {{"app_version", "not-a-version"}}}});
  ASSERT_TRUE(bad_facts);
  EXPECT_EQ(bad_facts->status, 400);
}

TEST_F(FleetTest, SignedReportsAreVerifiedAndReplaysRefused) {
  TestDevice d = NewDevice("dev-1");
  ASSERT_EQ(Enroll(d), 201);
  json events = json::array({{{"seq", 1}, {"type", "enrolled"}}});
  // The first report starts at seq 2, so that an older seq (1) is still valid.
  auto ok = Post("/v1/reports", SignedReport(d, 2, events));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;

  // The same report again, and an older seq: replays.
  for (std::int64_t seq : {2, 1}) {
    auto again = Post("/v1/reports", SignedReport(d, seq, events));
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status, 409) << "seq " << seq;
    json body = json::parse(again->body);
    EXPECT_EQ(body["code"], "replay") << "seq " << seq;
    EXPECT_EQ(body["last_seq"], 2) << "seq " << seq;
  }

  // A signature by another key.
  TestDevice other = NewDevice("dev-x");
  auto forged = Post("/v1/reports", SignedReport(d, 2, events, &other.key));
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 401);
  EXPECT_EQ(json::parse(forged->body)["code"], "bad-signature");

  // A signed body altered after signing.
  json tampered = SignedReport(d, 2, events);
  tampered["report"]["events"][0]["type"] = "committed";
  auto t = Post("/v1/reports", tampered);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->status, 401);

  // An unknown device, even with a valid signature of its own.
  auto unknown = Post("/v1/reports", SignedReport(other, 1, events));
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 403);
  EXPECT_EQ(json::parse(unknown->body)["code"], "unknown-device");

  // Malformed envelopes.
  for (const json& body :
       {json{{"report", json::object()}}, json{{"report", 1}, {"signature", "00"}},
        json{{"report", {{"device_id", "dev-1"}, {"seq", -1}, {"events", json::array()}}},
             {"signature", std::string(128, '0')}}}) {
    auto r = Post("/v1/reports", body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << body.dump();
  }

  // A higher seq after all that is accepted, and events are listed.
  auto next = Post("/v1/reports", SignedReport(d, 5, json::array({{{"seq", 2}, {"type", "x"}}})));
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
  auto listed = Get("/v1/events?device_id=dev-1", token_);
  ASSERT_TRUE(listed);
  EXPECT_EQ(json::parse(listed->body)["events"].size(), 2u);
}

TEST_F(FleetTest, ConcurrentCopiesOfAReportAreStoredOnce) {
  // Copies of one signed report race through the group commit: exactly one
  // is accepted, the others are replays, and its event is stored once.
  TestDevice d = NewDevice("dev-1");
  ASSERT_EQ(Enroll(d), 201);
  const json report = SignedReport(d, 1, json::array({{{"seq", 1}, {"type", "enrolled"}}}));
  constexpr int kCopies = 8;
  std::vector<int> status(kCopies, -1);
  std::vector<std::thread> senders;
  for (int i = 0; i < kCopies; ++i) {
    senders.emplace_back([&, i] {
      auto client = Client();
      auto r = client->Post("/v1/reports", report.dump(), "application/json");
      status[static_cast<std::size_t>(i)] = r ? r->status : -1;
    });
  }
  for (auto& t : senders) t.join();
  EXPECT_EQ(std::count(status.begin(), status.end(), 200), 1);
  EXPECT_EQ(std::count(status.begin(), status.end(), 409), kCopies - 1);
  auto listed = Get("/v1/events?device_id=dev-1", token_);
  ASSERT_TRUE(listed);
  EXPECT_EQ(json::parse(listed->body)["events"].size(), 1u);
  // Without a signature the report is refused before anything is stored.
  auto unsigned_report = Post("/v1/reports", {{"report", report["report"]}});
  ASSERT_TRUE(unsigned_report);
  EXPECT_EQ(unsigned_report->status, 400);
}

TEST_F(FleetTest, EnrollmentFactsAreRefreshedAndCounted) {
  TestDevice a = NewDevice("dev-a");
  TestDevice b = NewDevice("dev-b");
  ASSERT_EQ(Enroll(a, {{"app_version", "1.5.0"},
                       {"region", "eu"},
                       {"tags", {"beta", "staff"}},
                       {"cpu_arch", "aarch64"},
                       {"os", "android"},
                       {"total_ram", 8589934592}}),
            201);
  ASSERT_EQ(Enroll(b, {{"app_version", "1.5.0"}}), 201);
  auto fleet = [&] {
    auto r = Get("/v1/fleet", token_);
    EXPECT_TRUE(r);
    return r ? json::parse(r->body) : json();
  };
  json f = fleet();
  EXPECT_EQ(f["app_versions"]["1.5.0"], 2);
  EXPECT_EQ(f["regions"]["eu"], 1);
  EXPECT_EQ(f["regions"]["unknown"], 1);
  EXPECT_EQ(f["tags"]["staff"], 1);
  // The same key again with new facts replaces them (the app was updated).
  ASSERT_EQ(Enroll(b, {{"app_version", "2.0.0"}, {"region", "us"}}), 200);
  f = fleet();
  EXPECT_EQ(f["app_versions"]["1.5.0"], 1);
  EXPECT_EQ(f["app_versions"]["2.0.0"], 1);
  EXPECT_EQ(f["regions"]["us"], 1);
  for (const json& bad : {json{{"total_ram", -1}}, json{{"os", ""}}, json{{"cpu_arch", 3}}}) {
    EXPECT_EQ(Enroll(b, bad), 400) << bad.dump();
  }
}

// Anyone may know a device's public key: facts must be signed by its
// private key, or the fleet view and stage counts could be rewritten.
TEST_F(FleetTest, EnrollmentFactsMustBeSignedByTheDeviceKey) {
  TestDevice d = NewDevice("dev-1");
  TestDevice impostor = NewDevice("dev-1");
  ASSERT_EQ(Enroll(d, {{"app_version", "1.5.0"}}), 201);
  json unsigned_facts = EnrollBody(d, {{"app_version", "9.0.0"}});
  unsigned_facts.erase("facts_signature");
  auto r = Post("/v1/devices", unsigned_facts);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = Post("/v1/devices", EnrollBody(d, {{"app_version", "9.0.0"}}, &impostor.key));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(json::parse(r->body)["code"], "bad-signature");
  // A signature over other facts does not carry over.
  json swapped = EnrollBody(d, {{"app_version", "1.5.0"}});
  swapped["facts"] = {{"app_version", "9.0.0"}};
  r = Post("/v1/devices", swapped);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  r = Post("/v1/devices", {{"device_id", "dev-1"},
                           {"public_key", d.key.public_key.public_value},
                           {"facts_signature", std::string(128, '0')}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  // The key alone again (no facts) keeps the signed facts.
  r = Post("/v1/devices", {{"device_id", "dev-1"}, {"public_key", d.key.public_key.public_value}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  auto fleet = Get("/v1/fleet", token_);
  ASSERT_TRUE(fleet);
  const json f = json::parse(fleet->body);
  EXPECT_EQ(f["app_versions"]["1.5.0"], 1) << f.dump();
  EXPECT_FALSE(f["app_versions"].contains("9.0.0")) << f.dump();
}

TEST_F(FleetTest, OperatorEndpointsNeedAValidToken) {
  ExpectOperatorOnly({"/v1/rollouts", "/v1/fleet", "/v1/rollouts/x", "/metrics", "/v1/whoami",
                      "/v1/tokens", "/v1/events?device_id=x"});
  auto ok = Get("/v1/rollouts", token_);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  auto post = Post("/v1/rollouts", CreateBody(json::object()));
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 401);
  EXPECT_TRUE(publisher_.published.empty());

  ASSERT_OK(RevokeOperatorToken(db_, "alice"));
  auto revoked = Get("/v1/rollouts", token_);
  ASSERT_TRUE(revoked);
  EXPECT_EQ(revoked->status, 403);
  EXPECT_FALSE(CreateOperatorToken(db_, "bad name!").ok());
}

TEST_F(FleetTest, AggregatesReportsAndControllerAdvancesAfterSoak) {
  auto created = Post(
      "/v1/rollouts",
      CreateBody({{"min_reporting", 3}, {"success_percent", 100}, {"error_percent", 50}}), true);
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 201) << created->body;
  ASSERT_EQ(publisher_.published.size(), 1u);
  EXPECT_EQ(publisher_.published[0].version, 1u);

  std::vector<TestDevice> devices;
  for (int i = 0; i < 40; ++i) {
    devices.push_back(NewDevice("dev-" + std::to_string(i)));
    ASSERT_EQ(Enroll(devices.back()), 201);
  }
  std::size_t in_stage0 = 0;
  std::vector<TestDevice*> canary;
  for (TestDevice& d : devices) {
    if (rollout::CohortBucket(d.id, "chat-2") < 5000) {
      ++in_stage0;
      canary.push_back(&d);
    }
  }
  ASSERT_GE(canary.size(), 4u);
  ASSERT_EQ(Send(*canary[0], StateEvent("downloading")), 200);
  ASSERT_EQ(Send(*canary[0], StateEvent("committed")), 200);
  ASSERT_EQ(Send(*canary[1], StateEvent("committed")), 200);
  ASSERT_EQ(Send(*canary[2], StateEvent("confirming")), 200);
  ASSERT_EQ(Send(*canary[3], StateEvent("committed", "1.0.0")), 200);  // Not the target.

  json s = Status();
  EXPECT_EQ(s["stages"][0]["targeted"], in_stage0);
  EXPECT_EQ(s["stages"][1]["targeted"], devices.size() - in_stage0);
  EXPECT_EQ(s["stages"][0]["phases"]["confirmed"], 2);
  EXPECT_EQ(s["stages"][0]["phases"]["activated"], 1);
  EXPECT_EQ(s["stages"][0]["reporting"], 3);
  EXPECT_EQ(s["next_action"]["action"], "none");

  ASSERT_EQ(Send(*canary[2], StateEvent("committed")), 200);
  ASSERT_OK(server_->RunControllerOnce());
  EXPECT_EQ(Status()["current_stage"], 0) << "soak not over";
  clock_.Advance(std::chrono::minutes(11));
  auto changed = server_->RunControllerOnce();
  ASSERT_OK(changed);
  EXPECT_EQ(*changed, 1);
  s = Status();
  EXPECT_EQ(s["current_stage"], 1);
  EXPECT_EQ(s["version"], 2);
  ASSERT_EQ(publisher_.published.size(), 2u);
  EXPECT_EQ(publisher_.published[1].current_stage, 1u);
  EXPECT_EQ(s["audit"].back()["actor"], "controller");
  EXPECT_EQ(s["audit"].back()["action"], "advance");

  auto fleet = Get("/v1/fleet", token_);
  ASSERT_TRUE(fleet);
  json f = json::parse(fleet->body);
  EXPECT_EQ(f["devices"], 40);
  EXPECT_EQ(f["models"]["chat"]["2.0.0"]["confirmed"], 3);
  EXPECT_EQ(f["models"]["chat"]["1.0.0"]["confirmed"], 1);
}

TEST_F(FleetTest, ControllerPausesOnErrorsAndApprovalModeWaits) {
  auto created = Post("/v1/rollouts",
                      CreateBody({{"min_reporting", 2},
                                  {"error_percent", 40},
                                  {"approval", "manual"},
                                  {"success_percent", 50}}),
                      true);
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 201);
  std::vector<TestDevice> d;
  for (int i = 0; i < 3; ++i) {
    d.push_back(NewDeviceInBucket("dev-" + std::to_string(i)));
    ASSERT_EQ(Enroll(d.back()), 201);
  }
  ASSERT_EQ(Send(d[0], StateEvent("committed")), 200);
  ASSERT_EQ(Send(d[1], StateEvent("committed")), 200);
  clock_.Advance(std::chrono::hours(1));
  ASSERT_OK(server_->RunControllerOnce());
  json s = Status();
  EXPECT_EQ(s["current_stage"], 0);
  EXPECT_EQ(s["next_action"]["action"], "await-approval");

  // The rolling-back -> failed sequence counts as one rolled-back device.
  ASSERT_EQ(Send(d[2], StateEvent("rolling-back")), 200);
  ASSERT_EQ(Send(d[2], StateEvent("failed")), 200);
  s = Status();
  EXPECT_EQ(s["stages"][0]["phases"]["rolled_back"], 1);
  EXPECT_EQ(s["stages"][0]["phases"]["failed"], 0);
  // 1 of 3 = 33% < 40%: still fine. A shadow failure on a fourth device
  // makes 2 of 4 = 50%.
  d.push_back(NewDeviceInBucket("dev-3"));
  ASSERT_EQ(Enroll(d.back()), 201);
  ASSERT_EQ(Send(d[3], {{"type", "shadow-result"},
                        {"verdict", "fail"},
                        {"model", "chat"},
                        {"version", "2.0.0"}}),
            200);
  auto changed = server_->RunControllerOnce();
  ASSERT_OK(changed);
  EXPECT_EQ(*changed, 1);
  s = Status();
  EXPECT_EQ(s["state"], "paused");
  EXPECT_EQ(publisher_.published.back().state, manifest::RolloutState::kPaused);
  EXPECT_EQ(s["audit"].back()["action"], "pause");

  // Operator actions, each a new signed version with an audit row.
  auto advance = Post("/v1/rollouts/chat-2/advance", json::object(), true);
  ASSERT_TRUE(advance);
  EXPECT_EQ(advance->status, 409);
  auto resume = Post("/v1/rollouts/chat-2/resume", {{"reason", "fixed the app"}}, true);
  ASSERT_TRUE(resume);
  EXPECT_EQ(resume->status, 200) << resume->body;
  auto forced = Post("/v1/rollouts/chat-2/advance", {{"force", true}}, true);
  ASSERT_TRUE(forced);
  EXPECT_EQ(forced->status, 200) << forced->body;
  auto pin = Post("/v1/rollouts/chat-2/pin",
                  {{"app_versions", ">=1.0.0 <2.0.0"}, {"bundle_version", "1.0.0"}}, true);
  ASSERT_TRUE(pin);
  EXPECT_EQ(pin->status, 200) << pin->body;
  EXPECT_EQ(publisher_.published.back().pins.size(), 1u);
  auto unpin = Post("/v1/rollouts/chat-2/unpin", {{"app_versions", ">=1.0.0 <2.0.0"}}, true);
  ASSERT_TRUE(unpin);
  EXPECT_EQ(unpin->status, 200) << unpin->body;
  EXPECT_TRUE(publisher_.published.back().pins.empty());
  auto rollback = Post("/v1/rollouts/chat-2/rollback", {{"to_version", "1.0.0"}}, true);
  ASSERT_TRUE(rollback);
  EXPECT_EQ(rollback->status, 200) << rollback->body;
  ASSERT_TRUE(publisher_.published.back().rollback.has_value());
  auto halt = Post("/v1/rollouts/chat-2/halt", json::object(), true);
  ASSERT_TRUE(halt);
  EXPECT_EQ(halt->status, 200);
  s = Status();
  EXPECT_EQ(s["state"], "halted");
  std::vector<std::string> actions;
  for (const json& a : s["audit"]) actions.push_back(a["action"]);
  EXPECT_EQ(actions, (std::vector<std::string>{"create", "pause", "resume", "advance-forced", "pin",
                                               "unpin", "rollback", "halt"}));
  // Versions strictly increase with every change.
  for (std::size_t i = 1; i < publisher_.published.size(); ++i) {
    EXPECT_GT(publisher_.published[i].version, publisher_.published[i - 1].version);
  }
  auto unknown = Post("/v1/rollouts/chat-2/explode", json::object(), true);
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
}

TEST_F(FleetTest, PublishFailureChangesNothing) {
  ASSERT_EQ(Post("/v1/rollouts", CreateBody(json::object()), true)->status, 201);
  publisher_.fail = true;
  auto pause = Post("/v1/rollouts/chat-2/pause", json::object(), true);
  ASSERT_TRUE(pause);
  EXPECT_EQ(pause->status, 502);
  EXPECT_EQ(Status()["state"], "active");
  publisher_.fail = false;
  auto again = Post("/v1/rollouts/chat-2/pause", json::object(), true);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
  auto dup = Post("/v1/rollouts", CreateBody(json::object()), true);
  ASSERT_TRUE(dup);
  EXPECT_EQ(dup->status, 409);
}

}  // namespace
}  // namespace ota::server
