// The server audit log: records of operator actions, controller decisions,
// enrollments, tokens and repository changes; signed checkpoints; device
// chain checks at report time; exports verified offline; tampering found.
#include <gtest/gtest.h>

#include <climits>
#include <filesystem>
#include <optional>
#include <sstream>

#include "audit_log.h"
#include "events.h"
#include "fleet_fixture.h"
#include "ota/common/hash.h"
#include "ota/common/sqlite.h"
#include "ota/manifest/audit_log.h"
#include "ota/verifier/audit_verify.h"

namespace ota::server {
namespace {

using nlohmann::json;

class ServerAuditTest : public FleetTest {
 protected:
  // The server's audit public key, as served.
  manifest::Key AuditKey() {
    auto r = Get("/v1/audit/key", "");
    EXPECT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    auto doc = json::parse(r->body, nullptr, false);
    auto key = manifest::ParseKey(doc);
    EXPECT_OK(key);
    return *key;
  }

  std::string Export(const std::string& query = "", int expect_status = 200) {
    auto r = Get("/v1/audit/export" + query, token_);
    EXPECT_TRUE(r);
    if (!r) return "";
    EXPECT_EQ(r->status, expect_status) << r->body;
    return r->body;
  }

  verifier::AuditVerifyResult Verify(const std::string& text) {
    std::istringstream in(text);
    return verifier::VerifyAuditExport(in, {AuditKey()});
  }

  // Device events with their chain links (link version 2), from `prev`.
  static json Chained(std::vector<json> events, std::int64_t first_seq, std::string* prev) {
    json out = json::array();
    std::int64_t seq = first_seq;
    for (json& e : events) {
      auto body = manifest::AuditBody(e);
      EXPECT_OK(body);
      const std::string link = manifest::AuditLink(*prev, seq, manifest::AuditBodyDigest(*body));
      e["seq"] = seq++;
      e["chain"] = link;
      *prev = link;
      out.push_back(e);
    }
    return out;
  }

  static json Activated(const std::string& version, const std::string& time) {
    return {{"type", "state"},    {"state", "committed"}, {"model", "chat"},
            {"version", version}, {"time", time},         {"target", "chat.bundle"}};
  }

  // Events 1 and 2 of a device log: 1.0.0 then 2.0.0 activated at t1, t2.
  static json TwoActivations(const std::string& t1, const std::string& t2, std::string* prev) {
    return Chained({Activated("1.0.0", t1), Activated("2.0.0", t2)}, 1, prev);
  }

  int SendReport(TestDevice& d, const json& events, const json& extra = json::object()) {
    ++d.seq;
    json report = {{"device_id", d.id}, {"seq", d.seq}, {"events", events}};
    for (auto it = extra.begin(); it != extra.end(); ++it) report[it.key()] = it.value();
    auto canonical = manifest::CanonicalJson(report);
    EXPECT_OK(canonical);
    auto sig = verifier::SignBytes(d.key, *canonical);
    EXPECT_OK(sig);
    auto r = Post("/v1/reports", json{{"report", report}, {"signature", *sig}});
    return r ? r->status : -1;
  }

  json Fleet() {
    auto r = Get("/v1/fleet", token_);
    EXPECT_TRUE(r);
    return json::parse(r->body);
  }

  std::string Db() const { return db_; }
  std::string KeyFile() const { return tmp_.Sub("server.db.audit-key"); }
};

TEST_F(ServerAuditTest, OperatorActionsAreRecordedWithDigestsAndExportVerifies) {
  const json body = CreateBody({{"min_reporting", 1}});
  auto created = Post("/v1/rollouts", body, true);
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 201) << created->body;
  auto odd = Post("/v1/rollouts/chat-2/advance", json{{"force", "yes"}}, true);
  ASSERT_TRUE(odd);
  EXPECT_EQ(odd->status, 400);
  EXPECT_EQ(json::parse(odd->body)["error"], "force must be true or false");
  auto paused = Post("/v1/rollouts/chat-2/pause", json{{"reason", "look closer"}}, true);
  ASSERT_TRUE(paused);
  ASSERT_EQ(paused->status, 200);

  const std::string text = Export("?rollout=chat-2");
  auto result = Verify(text);
  ASSERT_EQ(result.verdict, verifier::AuditVerdict::kVerified) << result.message;
  auto actions = OfType(Records(text), "rollout-action");
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_EQ(actions[0]["action"], "create");
  EXPECT_EQ(actions[0]["actor"], (json{{"name", "alice"}, {"role", "operator"}}));
  EXPECT_EQ(actions[0]["request_sha256"], Sha256Hex(body.dump()));
  EXPECT_EQ(actions[0]["model"], "chat");
  EXPECT_EQ(actions[1]["action"], "pause");
  EXPECT_EQ(actions[1]["reason"], "look closer");
  EXPECT_EQ(actions[1]["manifest_before_sha256"], actions[0]["manifest_after_sha256"]);
  EXPECT_NE(actions[1]["manifest_after_sha256"], actions[1]["manifest_before_sha256"]);
  // Records of other kinds are in the file as omitted lines only.
  EXPECT_TRUE(OfType(Records(text), "operator-token-created").empty());
  // The export itself is recorded, with its filters and who asked.
  auto exported = OfType(Records(text), "audit-exported");
  ASSERT_EQ(exported.size(), 0u) << "an export record matches no rollout filter";
  const std::string all = Export();
  auto seen = OfType(Records(all), "audit-exported");
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0]["filters"], (json{{"rollout", "chat-2"}}));
  EXPECT_EQ(seen[0]["actor"]["name"], "alice");
  // The rollout endpoint still shows the rollout's audit trail.
  json s = Status();
  ASSERT_EQ(s["audit"].size(), 2u);
  EXPECT_EQ(s["audit"][1]["action"], "pause");
  EXPECT_EQ(s["audit"][1]["actor"], "operator:alice");
}

TEST_F(ServerAuditTest, ExportNeedsAnOperatorTokenAndRefusesBadParameters) {
  auto none = Get("/v1/audit/export", "");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  auto bad = Get("/v1/audit/export", "ota_not-a-token");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 403);
  auto body = [](const std::string& text) { return json::parse(text)["error"].get<std::string>(); };
  EXPECT_EQ(body(Export("?since=yesterday", 400)),
            "query parameter since must be a UTC time YYYY-MM-DDTHH:MM:SSZ, not \"yesterday\"");
  EXPECT_EQ(body(Export("?colour=red", 400)),
            "unknown query parameter colour (since, until, device, model, rollout, actor)");
  EXPECT_EQ(body(Export("?device=a&device=b", 400)), "query parameter device is given twice");
  EXPECT_EQ(body(Export("?since=2030-01-02T00:00:00Z&until=2030-01-01T00:00:00Z", 400)),
            "query parameter since is after until");
  EXPECT_EQ(body(Export("?device=a%2Fb", 400)),
            "query parameter device must be 1 to 128 characters from [A-Za-z0-9._-]");
}

TEST_F(ServerAuditTest, TokensAndEnrollmentsAreRecorded) {
  ASSERT_OK(RevokeEnrollmentToken(Db(), "factory"));
  TestDevice d = NewDevice("dev-1");
  auto made = CreateEnrollmentToken(Db(), {"line-2", 5, 0});
  ASSERT_OK(made);
  ASSERT_EQ(Enroll(d, json{{"region", "eu"}}, *made), 201);
  const std::string text = Export();
  ASSERT_EQ(Verify(text).verdict, verifier::AuditVerdict::kVerified);
  auto records = Records(text);
  auto created = OfType(records, "operator-token-created");
  ASSERT_EQ(created.size(), 1u);
  EXPECT_EQ(created[0]["token_name"], "alice");
  EXPECT_EQ(created[0]["actor"]["role"], "server-admin");
  EXPECT_EQ(OfType(records, "enrollment-token-created").size(), 2u);
  auto revoked = OfType(records, "enrollment-token-revoked");
  ASSERT_EQ(revoked.size(), 1u);
  EXPECT_EQ(revoked[0]["token_name"], "factory");
  auto enrolled = OfType(records, "device-enrolled");
  ASSERT_EQ(enrolled.size(), 1u);
  EXPECT_EQ(enrolled[0]["device_id"], "dev-1");
  EXPECT_EQ(enrolled[0]["public_key"], d.key.public_key.public_value);
  EXPECT_EQ(enrolled[0]["enrollment_token"], "line-2");
  EXPECT_EQ(enrolled[0]["facts_sha256"], Sha256Hex(json{{"region", "eu"}}.dump()));
  // New facts are recorded; the same facts again are not.
  ASSERT_EQ(Enroll(d, json{{"region", "us"}}, ""), 200);
  ASSERT_EQ(Enroll(d, json{{"region", "us"}}, ""), 200);
  auto updated = OfType(Records(Export("?device=dev-1")), "device-facts-updated");
  ASSERT_EQ(updated.size(), 1u);
  EXPECT_EQ(updated[0]["facts_sha256"], Sha256Hex(json{{"region", "us"}}.dump()));
}

TEST_F(ServerAuditTest, ControllerDecisionsCarryTheirEvidence) {
  auto created =
      Post("/v1/rollouts", CreateBody({{"min_reporting", 1}, {"success_percent", 100}}), true);
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 201);
  TestDevice d = NewDeviceInBucket("canary");
  ASSERT_EQ(Enroll(d), 201);
  ASSERT_EQ(Send(d, StateEvent("committed")), 200);
  clock_.Advance(std::chrono::minutes(11));
  auto changed = server_->RunControllerOnce();
  ASSERT_OK(changed);
  ASSERT_EQ(*changed, 1);
  const std::string text = Export("?rollout=chat-2");
  ASSERT_EQ(Verify(text).verdict, verifier::AuditVerdict::kVerified);
  auto decisions = OfType(Records(text), "controller-decision");
  ASSERT_EQ(decisions.size(), 1u);
  const json& e = decisions[0]["evidence"];
  EXPECT_EQ(decisions[0]["action"], "advance");
  EXPECT_EQ(decisions[0]["actor"]["role"], "controller");
  EXPECT_EQ(e["decision"], "advance");
  EXPECT_EQ(e["stage"], 0);
  EXPECT_EQ(e["reporting"], 1);
  EXPECT_EQ(e["successes"], 1);
  EXPECT_EQ(e["errors"], 0);
  EXPECT_EQ(e["success_percent_hundredths"], 10000);
  EXPECT_EQ(e["min_reporting"], 1);
  EXPECT_TRUE(decisions[0].contains("manifest_before_sha256"));
}

// Retention removes old device events as a prefix of each device's log;
// what is kept is still checked on arrival and still exports and verifies.
TEST_F(ServerAuditTest, OldEventsArePrunedAndWhatIsKeptStillVerifies) {
  server_->Stop();
  ServerOptions o;
  o.publisher = &publisher_;
  o.enroll_burst = 1000;
  o.event_retention = std::chrono::hours(24 * 30);
  StartServer(o);
  TestDevice d = NewDevice("dev-kept");
  ASSERT_EQ(Enroll(d), 201);
  std::string prev(manifest::kAuditGenesis);
  ASSERT_EQ(SendReport(d, TwoActivations("2027-01-01T00:00:00Z", "2027-01-02T00:00:00Z", &prev)),
            200);
  clock_.Advance(std::chrono::hours(24 * 40));
  ASSERT_EQ(SendReport(d, Chained({Activated("3.0.0", "2027-02-10T00:00:00Z")}, 3, &prev)), 200);
  ASSERT_OK(server_->RunAuditMaintenance());

  // Events 1 and 2 are gone, event 3 stays.
  auto listed = Get("/v1/events?device_id=dev-kept", token_);
  ASSERT_TRUE(listed);
  const json events = json::parse(listed->body)["events"];
  ASSERT_EQ(events.size(), 1u) << listed->body;
  EXPECT_EQ(events[0]["seq"], 3);
  // The next event links to the kept head, and nothing is flagged.
  ASSERT_EQ(SendReport(d, Chained({Activated("3.0.1", "2027-02-11T00:00:00Z")}, 4, &prev)), 200);
  EXPECT_EQ(Fleet()["chain_alerts"].size(), 0u);

  const std::string text = Export("?device=dev-kept");
  auto result = Verify(text);
  ASSERT_EQ(result.verdict, verifier::AuditVerdict::kVerified) << result.message;
  EXPECT_EQ(Records(text, manifest::DeviceAuditLog("dev-kept")).size(), 2u);
  const auto pruned = OfType(Records(Export()), "device-events-pruned");
  ASSERT_EQ(pruned.size(), 1u);
  EXPECT_EQ(pruned[0]["events"], 2);
  // A second run finds nothing more to do and records nothing.
  ASSERT_OK(server_->RunAuditMaintenance());
  EXPECT_EQ(OfType(Records(Export()), "device-events-pruned").size(), 1u);
}

TEST_F(ServerAuditTest, DeviceChainsAreCheckedAndExportedWithCheckpoints) {
  TestDevice d = NewDevice("dev-ok");
  ASSERT_EQ(Enroll(d), 201);
  std::string prev(manifest::kAuditGenesis);
  json first = TwoActivations("2027-01-01T00:00:00Z", "2027-01-02T00:00:00Z", &prev);
  // A device checkpoint of its head, signed with its report key.
  manifest::AuditCheckpoint c{manifest::DeviceAuditLog(d.id), 2,           prev,
                              "2027-01-02T00:00:01Z",         d.key.keyid, ""};
  auto sig = verifier::SignBytes(d.key, manifest::AuditCheckpointSigningBytes(c));
  ASSERT_OK(sig);
  json cps = json::array(
      {{{"seq", 2}, {"head", prev}, {"time", c.time}, {"keyid", c.keyid}, {"signature", *sig}}});
  // An extra report field (a newer agent's) is accepted: it is signed.
  ASSERT_EQ(SendReport(d, first, {{"checkpoints", cps}, {"agent_build", "x"}}), 200);
  ASSERT_EQ(Fleet()["chain_alerts"].size(), 0u);

  const std::string text = Export("?device=dev-ok");
  auto result = Verify(text);
  ASSERT_EQ(result.verdict, verifier::AuditVerdict::kVerified) << result.message;
  const std::string log = manifest::DeviceAuditLog("dev-ok");
  ASSERT_TRUE(result.logs.count(log));
  EXPECT_EQ(result.logs[log].records, 2u);
  EXPECT_EQ(result.logs[log].checkpoint_seq, 2);
  auto device_records = Records(text, log);
  ASSERT_EQ(device_records.size(), 2u);
  EXPECT_EQ(device_records[1]["version"], "2.0.0");
  EXPECT_EQ(OfType(Records(text), "device-enrolled").size(), 1u);

  // A tampered export fails.
  std::string altered = text;
  const auto at = altered.find("2.0.0");
  ASSERT_NE(at, std::string::npos);
  altered.replace(at, 5, "9.0.0");
  EXPECT_EQ(Verify(altered).verdict, verifier::AuditVerdict::kTampered);
}

TEST_F(ServerAuditTest, DeviceRecordsAreFilteredByTheTimeTheDeviceWroteInThem) {
  TestDevice d = NewDevice("dev-late");
  ASSERT_EQ(Enroll(d), 201);
  std::string prev(manifest::kAuditGenesis);
  // Events from 2020, received now (a device that was offline for long).
  json events = TwoActivations("2020-03-01T00:00:00Z", "2020-06-01T00:00:00Z", &prev);
  ASSERT_EQ(SendReport(d, events), 200);
  const std::string log = manifest::DeviceAuditLog("dev-late");
  auto versions = [&](const std::string& query) {
    const std::string text = Export("?device=dev-late&" + query);
    EXPECT_EQ(Verify(text).verdict, verifier::AuditVerdict::kVerified);
    std::vector<std::string> out;
    for (const json& r : Records(text, log)) out.push_back(r["version"]);
    return out;
  };
  EXPECT_EQ(versions("since=2020-05-01T00:00:00Z&until=2020-12-31T00:00:00Z"),
            std::vector<std::string>({"2.0.0"}));
  EXPECT_EQ(versions("until=2020-04-01T00:00:00Z"), std::vector<std::string>({"1.0.0"}));
  EXPECT_TRUE(versions("since=2021-01-01T00:00:00Z").empty());
}

TEST_F(ServerAuditTest, VersionOneLinksAreAcceptedAndExported) {
  TestDevice d = NewDevice("dev-v1");
  ASSERT_EQ(Enroll(d), 201);
  json e = Activated("1.0.0", "2027-01-01T00:00:00Z");
  const std::string v1 = manifest::AuditLinkV1(manifest::kAuditGenesis, 1, e.dump());
  json sent = e;
  sent["seq"] = 1;
  sent["chain"] = v1;
  ASSERT_EQ(SendReport(d, json::array({sent})), 200);
  std::string prev = v1;
  ASSERT_EQ(SendReport(d, Chained({Activated("2.0.0", "2027-01-02T00:00:00Z")}, 2, &prev)), 200);
  EXPECT_EQ(Fleet()["chain_alerts"].size(), 0u);
  const std::string text = Export("?device=dev-v1");
  auto result = Verify(text);
  ASSERT_EQ(result.verdict, verifier::AuditVerdict::kVerified) << result.message;
  EXPECT_EQ(result.logs[manifest::DeviceAuditLog("dev-v1")].records, 2u);
}

TEST_F(ServerAuditTest, EditedGappedAndForkedChainsRaiseAlertsAndKeepEvents) {
  TestDevice d = NewDevice("dev-bad");
  ASSERT_EQ(Enroll(d), 201);
  std::string prev(manifest::kAuditGenesis);
  json events = Chained(
      {Activated("1.0.0", "2027-01-01T00:00:00Z"), Activated("2.0.0", "2027-01-02T00:00:00Z")}, 1,
      &prev);
  events[1]["version"] = "6.6.6";  // Edited after it was chained.
  ASSERT_EQ(SendReport(d, events), 200);
  // A gap: events 3 and 4 never arrive.
  std::string later = prev;
  ASSERT_EQ(SendReport(d, Chained({Activated("3.0.0", "2027-01-05T00:00:00Z")}, 5, &later)), 200);
  // A fork: event 1 again with another link.
  std::string other(manifest::kAuditGenesis);
  ASSERT_EQ(SendReport(d, Chained({Activated("1.5.0", "2027-01-01T00:00:00Z")}, 1, &other)), 200);

  const std::string text = Export("?device=dev-bad");
  ASSERT_EQ(Verify(text).verdict, verifier::AuditVerdict::kVerified) << Verify(text).message;
  auto alerts = OfType(Records(text), "device-chain-alert");
  ASSERT_EQ(alerts.size(), 3u);
  EXPECT_EQ(alerts[0]["kind"], "edited");
  EXPECT_EQ(alerts[0]["seq"], 2);
  EXPECT_EQ(alerts[0]["device_id"], "dev-bad");
  EXPECT_EQ(alerts[0]["problem"],
            "event 2 does not match its chain link from event 1 (edited or "
            "replaced)");
  EXPECT_EQ(alerts[1]["kind"], "gap");
  EXPECT_EQ(alerts[1]["problem"], "events 3 to 4 are missing before event 5");
  EXPECT_EQ(alerts[2]["kind"], "fork");
  EXPECT_EQ(alerts[2]["seq"], 1);
  EXPECT_NE(alerts[2]["event"].get<std::string>().find("1.5.0"), std::string::npos);
  // The device is flagged in the fleet view; its events were all stored.
  json f = Fleet();
  ASSERT_EQ(f["chain_alerts"].size(), 1u);
  EXPECT_EQ(f["chain_alerts"][0]["device_id"], "dev-bad");
  EXPECT_EQ(f["chain_alerts"][0]["seq"], 2);
  auto listed = Get("/v1/events?device_id=dev-bad", token_);
  ASSERT_TRUE(listed);
  EXPECT_EQ(json::parse(listed->body)["events"].size(), 3u);
  // The exported device log stops before the edited event.
  EXPECT_EQ(Records(text, manifest::DeviceAuditLog("dev-bad")).size(), 1u);
}

TEST_F(ServerAuditTest, AChainFirstSeenMidwayIsAnchoredAndExportVerifies) {
  TestDevice d = NewDevice("dev-late");
  ASSERT_EQ(Enroll(d), 201);
  std::string prev(64, 'a');  // The link before event 40, unknown to the server.
  ASSERT_EQ(SendReport(d, Chained({Activated("1.0.0", "2027-01-01T00:00:00Z"),
                                   Activated("2.0.0", "2027-01-02T00:00:00Z")},
                                  40, &prev)),
            200);
  EXPECT_EQ(Fleet()["chain_alerts"].size(), 0u);
  const std::string text = Export("?device=dev-late");
  auto result = Verify(text);
  ASSERT_EQ(result.verdict, verifier::AuditVerdict::kVerified) << result.message;
  auto anchored = OfType(Records(text), "device-chain-anchored");
  ASSERT_EQ(anchored.size(), 1u);
  EXPECT_EQ(anchored[0]["seq"], 40);
  EXPECT_EQ(result.logs[manifest::DeviceAuditLog("dev-late")].records, 1u);
}

TEST_F(ServerAuditTest, ABadDeviceCheckpointIsAnAlert) {
  TestDevice d = NewDevice("dev-cp");
  ASSERT_EQ(Enroll(d), 201);
  std::string prev(manifest::kAuditGenesis);
  json events = Chained({Activated("1.0.0", "2027-01-01T00:00:00Z")}, 1, &prev);
  manifest::AuditCheckpoint c{manifest::DeviceAuditLog(d.id), 1,           std::string(64, 'b'),
                              "2027-01-02T00:00:01Z",         d.key.keyid, ""};
  auto sig = verifier::SignBytes(d.key, manifest::AuditCheckpointSigningBytes(c));
  ASSERT_OK(sig);
  json cps = json::array(
      {{{"seq", 1}, {"head", c.head}, {"time", c.time}, {"keyid", c.keyid}, {"signature", *sig}},
       {{"seq", 1},
        {"head", prev},
        {"time", c.time},
        {"keyid", c.keyid},
        {"signature", std::string(128, '0')}}});
  ASSERT_EQ(SendReport(d, events, {{"checkpoints", cps}}), 200);
  auto malformed = json::array({{{"seq", -1}}});
  EXPECT_EQ(SendReport(d, events, {{"checkpoints", malformed}}), 400);
  auto alerts = OfType(Records(Export("?device=dev-cp")), "device-chain-alert");
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_EQ(alerts[0]["problem"],
            "checkpoint #1 signs a head other than the chain link of event 1 as received");
  EXPECT_EQ(alerts[1]["problem"], "checkpoint #1 has a bad signature");
}

TEST_F(ServerAuditTest, CheckpointsFollowTheInjectedClock) {
  auto count = [&] {
    auto db = OpenFleetDatabase(Db());
    EXPECT_OK(db);
    auto q = (*db)->Prepare("SELECT COUNT(*) FROM audit_checkpoints WHERE log = 'server'");
    EXPECT_OK(q);
    EXPECT_OK(q->Step());
    return q->ColumnInt(0);
  };
  const std::int64_t at_start = count();
  EXPECT_GE(at_start, 1) << "the start signs the head";
  TestDevice d = NewDevice("dev-clock");
  ASSERT_EQ(Enroll(d), 201);
  ASSERT_OK(server_->RunAuditMaintenance());
  EXPECT_EQ(count(), at_start) << "not due yet";
  clock_.Advance(std::chrono::seconds(301));
  ASSERT_OK(server_->RunAuditMaintenance());
  EXPECT_EQ(count(), at_start + 1);
  clock_.Advance(std::chrono::seconds(301));
  ASSERT_OK(server_->RunAuditMaintenance());
  EXPECT_EQ(count(), at_start + 1) << "the head did not move";
  ASSERT_EQ(Enroll(NewDevice("dev-clock-2")), 201);
  server_->Stop();
  EXPECT_EQ(count(), at_start + 2) << "shutdown signs the head";
  auto verified = VerifyServerAuditLog(Db(), KeyFile());
  ASSERT_OK(verified);
  EXPECT_NE(verified->find("verified"), std::string::npos);
}

TEST_F(ServerAuditTest, RepositoryChangesAreRecordedWithSigners) {
  auto write_role = [&](const std::string& role, int version, const std::string& keyid,
                        const json& targets = json::object()) {
    json s = {{"_type", role}, {"version", version}};
    if (role == "targets") s["targets"] = targets;
    ota::testing::WriteTestFile(
        Repo("metadata/" + role + ".json"),
        json{{"signed", s}, {"signatures", json::array({{{"keyid", keyid}, {"sig", "00"}}})}}
            .dump());
  };
  write_role("root", 1, std::string(64, '1'));
  write_role(
      "targets", 1, std::string(64, '2'),
      {{"chat/1.0.0.bundle", {{"length", 3}, {"hashes", {{"sha256", std::string(64, 'c')}}}}}});
  write_role("snapshot", 1, std::string(64, '3'));
  write_role("timestamp", 1, std::string(64, '4'));
  ASSERT_OK(server_->RunAuditMaintenance());
  write_role("timestamp", 2, std::string(64, '4'));
  auto served = Client()->Get("/repo/metadata/timestamp.json");
  ASSERT_TRUE(served);
  ASSERT_OK(server_->RunAuditMaintenance());  // Nothing new: not recorded twice.
  const std::string text = Export();
  ASSERT_EQ(Verify(text).verdict, verifier::AuditVerdict::kVerified);
  auto changes = OfType(Records(text), "repository-changed");
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0]["roles"]["targets"]["version"], 1);
  EXPECT_EQ(changes[0]["changed_targets"][0]["path"], "chat/1.0.0.bundle");
  EXPECT_EQ(changes[0]["changed_targets"][0]["sha256"], std::string(64, 'c'));
  EXPECT_EQ(changes[1]["changed_roles"], json::array({"timestamp"}));
  EXPECT_EQ(changes[1]["roles"]["timestamp"]["version"], 2);
  EXPECT_EQ(changes[1]["actor"]["name"], std::string(64, '4'));
  EXPECT_EQ(changes[1]["signer_keyids"], json::array({std::string(64, '4')}));
}

TEST_F(ServerAuditTest, OldAuditRowsAreCarriedIntoTheLogOnce) {
  server_->Stop();
  {
    auto db = OpenFleetDatabase(Db());
    ASSERT_OK(db);
    ASSERT_OK(
        (*db)->Exec("INSERT INTO audit (at, actor, rollout_id, action, reason, version) VALUES "
                    "(1700000000, 'operator:bob', 'old-1', 'create', 'first', 1), "
                    "(1700000100, 'controller', 'old-1', 'advance', '3 of 3 confirmed', 2)"));
    // A device enrolled before the log existed (no device-enrolled record).
    ASSERT_OK((*db)->Exec("DELETE FROM server_settings WHERE name = 'legacy_devices_carried'"));
    ASSERT_OK(
        (*db)->Exec("INSERT INTO devices (device_id, public_key, facts, enrolled_at) VALUES "
                    "('old-dev', '" +
                    std::string(64, 'e') + "', '{}', 1690000000)"));
  }
  for (int restart = 0; restart < 2; ++restart) {
    ServerOptions o;
    o.publisher = &publisher_;
    StartServer(o);
    const std::string text = Export("?rollout=old-1");
    ASSERT_EQ(Verify(text).verdict, verifier::AuditVerdict::kVerified);
    auto records = Records(text);
    ASSERT_EQ(OfType(records, "rollout-action").size(), 1u);
    auto decisions = OfType(records, "controller-decision");
    ASSERT_EQ(decisions.size(), 1u);
    EXPECT_EQ(decisions[0]["carried_from"], "audit");
    EXPECT_EQ(decisions[0]["reason"], "3 of 3 confirmed");
    EXPECT_EQ(decisions[0]["time"], "2023-11-14T22:15:00Z");
    auto enrolled = OfType(Records(Export("?device=old-dev")), "device-enrolled");
    ASSERT_EQ(enrolled.size(), 1u);
    EXPECT_EQ(enrolled[0]["public_key"], std::string(64, 'e'));
    EXPECT_EQ(enrolled[0]["carried_from"], "devices");
    server_->Stop();
  }
}

// Server log tampering in the database, found by VerifyServerAuditLog.
class ServerLogTamperTest : public ServerAuditTest {
 protected:
  void SetUp() override {
    ServerAuditTest::SetUp();
    for (int i = 0; i < 4; ++i) ASSERT_EQ(Enroll(NewDevice("t-" + std::to_string(i))), 201);
    server_->Stop();  // Signs the head (checkpoint at the last record).
    auto db = OpenFleetDatabase(Db());
    ASSERT_OK(db);
    db_ = std::move(*db);
    auto q = db_->Prepare("SELECT MAX(seq) FROM audit_log");
    ASSERT_OK(q);
    ASSERT_OK(q->Step());
    last_ = q->ColumnInt(0);
    ASSERT_GE(last_, 6);
    auto ok = VerifyServerAuditLog(Db(), KeyFile());
    ASSERT_OK(ok);
  }

  std::string Problem() {
    auto r = VerifyServerAuditLog(Db(), KeyFile());
    EXPECT_FALSE(r.ok());
    if (r.ok()) return "";
    EXPECT_EQ(r.error().code, ErrorCode::kSecurity);
    return r.error().message;
  }

  void Exec(const std::string& sql) { ASSERT_OK(db_->Exec(sql)); }

  std::unique_ptr<Database> db_;
  std::int64_t last_ = 0;
};

TEST_F(ServerLogTamperTest, EditedBody) {
  Exec("UPDATE audit_log SET body = replace(body, 't-1', 't-9') WHERE seq = 4");
  EXPECT_EQ(Problem(),
            "record #4: its link does not match its body and the record before it (edited, "
            "inserted or reordered)");
}

TEST_F(ServerLogTamperTest, EditedColumn) {
  Exec("UPDATE audit_log SET device_id = 'someone-else' WHERE seq = 4");
  EXPECT_EQ(Problem(), "record #4: its columns differ from its body (edited)");
}

TEST_F(ServerLogTamperTest, DeletedRecord) {
  Exec("DELETE FROM audit_log WHERE seq = 3");
  EXPECT_EQ(Problem(), "record #4 follows #2: 1 record(s) missing");
}

TEST_F(ServerLogTamperTest, TailDeletedBeyondTheLastCheckpoint) {
  Exec("DELETE FROM audit_log WHERE seq >= " + std::to_string(last_ - 1));
  EXPECT_EQ(Problem(), "checkpoint #" + std::to_string(last_) + " signs record #" +
                           std::to_string(last_) + " but the log ends at #" +
                           std::to_string(last_ - 2) + " (records deleted from the end)");
}

TEST_F(ServerLogTamperTest, TailAfterTheLastCheckpointIsReportedAsUnsigned) {
  // Records after the last checkpoint can be cut without a trace in the
  // database alone; the check says how many no checkpoint covers.
  auto db = db_.get();
  ServerAuditRecord r{"note", "server-admin", "", "", "", json::object()};
  ASSERT_OK(AppendServerAuditStatus(*db, r, 1'800'000'000));
  auto ok = VerifyServerAuditLog(Db(), KeyFile());
  ASSERT_OK(ok);
  EXPECT_NE(ok->find("the last 1 record(s) are after the last checkpoint"), std::string::npos);
}

TEST_F(ServerLogTamperTest, ReorderedRecords) {
  Exec(
      "UPDATE audit_log SET seq = -1 WHERE seq = 3; UPDATE audit_log SET seq = 3 WHERE seq = 4; "
      "UPDATE audit_log SET seq = 4 WHERE seq = -1");
  EXPECT_EQ(Problem(),
            "record #3: its link does not match its body and the record before it (edited, "
            "inserted or reordered)");
}

TEST_F(ServerLogTamperTest, InsertedRecord) {
  Exec("UPDATE audit_log SET seq = -(seq + 1) WHERE seq >= 3");
  Exec("UPDATE audit_log SET seq = -seq WHERE seq < 0");
  Exec(
      "INSERT INTO audit_log (seq, at, type, actor, body, link) SELECT 3, at, type, actor, "
      "body, link FROM audit_log WHERE seq = 2");
  EXPECT_EQ(Problem(),
            "record #3: its link does not match its body and the record before it (edited, "
            "inserted or reordered)");
}

TEST_F(ServerLogTamperTest, ReplacedCheckpointSignature) {
  Exec("UPDATE audit_checkpoints SET signature = '" + std::string(128, '0') +
       "' WHERE log = 'server' AND seq = " + std::to_string(last_));
  EXPECT_EQ(Problem(),
            "checkpoint #" + std::to_string(last_) + " has a bad signature (replaced or edited)");
}

TEST_F(ServerLogTamperTest, RewrittenChainBehindACheckpoint) {
  // Someone recomputes every link after an edit: the signed head differs.
  auto q = db_->Prepare("SELECT seq, body FROM audit_log ORDER BY seq");
  ASSERT_OK(q);
  std::string prev(manifest::kAuditGenesis);
  std::vector<std::pair<std::int64_t, std::string>> links;
  while (*q->Step()) {
    std::string body = q->ColumnText(1);
    if (q->ColumnInt(0) == 2) body = body.substr(0, body.size() - 1) + ",\"z\":1}";
    prev = manifest::AuditLink(prev, q->ColumnInt(0), manifest::AuditBodyDigest(body));
    links.emplace_back(q->ColumnInt(0), prev);
    if (q->ColumnInt(0) == 2) {
      auto u = db_->Prepare("UPDATE audit_log SET body = ? WHERE seq = 2");
      ASSERT_OK(u);
      u->Bind(1, body);
      ASSERT_OK(u->Run());
    }
  }
  for (const auto& [seq, link] : links) {
    auto u = db_->Prepare("UPDATE audit_log SET link = ? WHERE seq = ?");
    ASSERT_OK(u);
    u->Bind(1, link).Bind(2, seq);
    ASSERT_OK(u->Run());
  }
  const std::string message = Problem();
  EXPECT_NE(message.find("signs a head that the records up to it do not give"), std::string::npos)
      << message;
}

// Pruning behind a checkpoint: a signed summary, an anchor, enrollments
// carried forward, and a log that still verifies (and exports).
TEST_F(ServerLogTamperTest, PruningLeavesASignedSummaryAndTheLogVerifies) {
  auto pruned = PruneServerAuditLog(Db(), KeyFile(), last_ + 1, std::nullopt);
  ASSERT_OK(pruned);
  EXPECT_NE(pruned->find("pruned records #1 to #" + std::to_string(last_)), std::string::npos)
      << *pruned;
  auto ok = VerifyServerAuditLog(Db(), KeyFile());
  ASSERT_OK(ok);
  EXPECT_EQ(ok->find("after the last checkpoint"), std::string::npos) << *ok;

  auto q = db_->Prepare("SELECT seq, type, body FROM audit_log ORDER BY seq");
  ASSERT_OK(q);
  std::vector<json> bodies;
  while (*q->Step()) bodies.push_back(json::parse(q->ColumnText(2)));
  ASSERT_EQ(bodies.size(), 5u);  // The summary and the 4 enrollments carried.
  EXPECT_EQ(bodies[0]["type"], "audit-pruned");
  EXPECT_EQ(bodies[0]["from"], 1);
  EXPECT_EQ(bodies[0]["to"], last_);
  EXPECT_EQ(bodies[0]["records"], last_);
  for (std::size_t i = 1; i < bodies.size(); ++i) {
    EXPECT_EQ(bodies[i]["type"], "device-enrolled");
    EXPECT_EQ(bodies[i]["carried_from"], "audit-pruned");
  }

  // An export of the pruned log starts at the anchor and verifies, device
  // keys included.
  ServerOptions o;
  o.publisher = &publisher_;
  StartServer(o);
  const std::string text = Export("?device=t-2");
  auto result = Verify(text);
  EXPECT_EQ(result.verdict, verifier::AuditVerdict::kVerified) << result.message;
  EXPECT_EQ(OfType(Records(text), "device-enrolled").size(), 1u);
  server_->Stop();

  // Pruned again behind the newer checkpoint: the newest summary counts.
  auto again = PruneServerAuditLog(Db(), KeyFile(), INT64_MAX, std::nullopt);
  ASSERT_OK(again);
  ASSERT_OK(VerifyServerAuditLog(Db(), KeyFile()));
}

TEST_F(ServerLogTamperTest, PruneNeedsACheckpointInRangeAndAnIntactLog) {
  auto none = PruneServerAuditLog(Db(), KeyFile(), 2, std::nullopt);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, ErrorCode::kNotFound);
  // Dated before everything: nothing is old enough.
  auto early = PruneServerAuditLog(Db(), KeyFile(), INT64_MAX, 1'000'000'000);
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.error().code, ErrorCode::kNotFound) << early.error().message;

  Exec("UPDATE audit_log SET body = replace(body, 't-1', 't-9') WHERE seq = 4");
  auto tampered = PruneServerAuditLog(Db(), KeyFile(), last_ + 1, std::nullopt);
  ASSERT_FALSE(tampered.ok());
  EXPECT_EQ(tampered.error().code, ErrorCode::kSecurity);
  EXPECT_NE(tampered.error().message.find("nothing pruned"), std::string::npos);
  auto q = db_->Prepare("SELECT MIN(seq) FROM audit_log");
  ASSERT_OK(q);
  ASSERT_OK(q->Step());
  EXPECT_EQ(q->ColumnInt(0), 1);
}

TEST_F(ServerLogTamperTest, PrefixDeletedWithoutAnAnchor) {
  // The first record no checkpoint signs.
  auto q = db_->Prepare(
      "SELECT MIN(seq) FROM audit_log WHERE seq NOT IN (SELECT seq FROM audit_checkpoints)");
  ASSERT_OK(q);
  ASSERT_OK(q->Step());
  const std::int64_t k = q->ColumnInt(0);
  ASSERT_LT(k, last_);
  Exec("DELETE FROM audit_log WHERE seq <= " + std::to_string(k));
  EXPECT_EQ(Problem(), "records #1 to #" + std::to_string(k) +
                           " are missing (no signed checkpoint anchors record #" +
                           std::to_string(k + 1) + ")");
}

TEST_F(ServerLogTamperTest, PrefixDeletedAtACheckpointWithoutASummary) {
  // Someone deletes everything up to a signed checkpoint, as a prune would,
  // but leaves no audit-pruned record for it.
  ServerAuditRecord r{"note", "server-admin", "", "", "", json::object()};
  ASSERT_OK(AppendServerAuditStatus(*db_, r, 1'800'000'000));
  Exec("DELETE FROM audit_log WHERE seq <= " + std::to_string(last_));
  EXPECT_EQ(Problem(), "records #1 to #" + std::to_string(last_) +
                           " are gone without an audit-pruned record for them (deleted)");
}

}  // namespace
}  // namespace ota::server
