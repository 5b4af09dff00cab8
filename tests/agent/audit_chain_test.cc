// The device's event log: link version 2 over canonical bodies, version 1
// rows kept, and every kind of tampering with agent.db found with the seq
// it concerns.
#include <string>

#include <gtest/gtest.h>

#include "audit_test_util.h"
#include "ota/manifest/canonical_json.h"

namespace ota::agent {
namespace {

class AuditChainTest : public AuditTestBase {
 protected:
  void SetUp() override {
    AuditTestBase::SetUp();
    for (int i = 0; i < 5; ++i) Queue("state");
  }

  std::vector<PendingEvent> Events() {
    auto events = db_->AllEvents();
    EXPECT_TRUE(events.ok());
    return events.ok() ? *events : std::vector<PendingEvent>{};
  }
};

TEST_F(AuditChainTest, NewEventsAreCanonicalAndLinkedWithVersion2) {
  ASSERT_TRUE(db_->QueueEvent(R"({"type": "state", "zeta": [1, {"b": 2, "a": 1}],)"
                              R"( "time": "2026-12-06T15:00:00Z"})")
                  .ok());
  const std::vector<PendingEvent> events = Events();
  ASSERT_EQ(events.size(), 6u);
  const PendingEvent& e = events.back();
  EXPECT_EQ(e.body, R"({"time":"2026-12-06T15:00:00Z","type":"state","zeta":[1,{"a":1,"b":2}]})");
  EXPECT_EQ(e.link_version, 2);
  EXPECT_EQ(e.chain, manifest::AuditLink(events[4].chain, 6, manifest::AuditBodyDigest(e.body)));
  EXPECT_EQ(events[0].chain, manifest::AuditLink(manifest::kAuditGenesis, 1,
                                                 manifest::AuditBodyDigest(events[0].body)));
  EXPECT_EQ(Problem(), "");
}

TEST_F(AuditChainTest, BodiesThatAreNoAuditRecordAreRefused) {
  for (const char* body : {R"({"type":"state"})", R"({"time":"2026-12-06T15:00:00Z"})",
                           R"({"type":"state","time":"2026-12-06T15:00:00Z","kl":0.5})",
                           R"({"type":"","time":"2026-12-06T15:00:00Z"})", "[1]", "{nope"}) {
    Status s = db_->QueueEvent(body);
    ASSERT_FALSE(s.ok()) << body;
    EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument) << body;
  }
  EXPECT_EQ(Events().size(), 5u);
}

// The agent's event writer turns floats (a shadow report's metrics) into
// their text, so every event has a canonical body.
TEST_F(AuditChainTest, FloatsBecomeText) {
  const nlohmann::json safe =
      WithoutFloats({{"kl", 0.25}, {"n", 3}, {"list", {1.5, "x"}}, {"o", {{"p", 2.0}}}});
  EXPECT_EQ(safe.dump(), R"({"kl":"0.25","list":["1.5","x"],"n":3,"o":{"p":"2.0"}})");
  EXPECT_TRUE(manifest::CanonicalJson(safe).ok());
}

TEST_F(AuditChainTest, Version1RowsStayValidAndVersion2FollowsThem) {
  // A log written before link version 2: rows 6 and 7 as that build wrote
  // them (link_version 1 after migration 006).
  Tamper("DELETE FROM events; DELETE FROM sqlite_sequence;");
  std::string prev(manifest::kAuditGenesis);
  std::string sql;
  for (int seq = 1; seq <= 2; ++seq) {
    const std::string body = R"({"type":"state","seq_was":)" + std::to_string(seq) + "}";
    const std::string chain = AuditChainHash(prev, seq, body);
    EXPECT_EQ(chain, manifest::AuditLinkV1(prev, seq, body));
    sql += "INSERT INTO events(seq, body, chain, link_version) VALUES (" + std::to_string(seq) +
           ", '" + body + "', '" + chain + "', 1);";
    prev = chain;
  }
  Tamper(sql);
  Queue("state");
  const std::vector<PendingEvent> events = Events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].link_version, 1);
  EXPECT_EQ(events[2].link_version, 2);
  EXPECT_EQ(events[2].seq, 3);
  EXPECT_EQ(events[2].chain,
            manifest::AuditLink(events[1].chain, 3, manifest::AuditBodyDigest(events[2].body)));
  EXPECT_EQ(Problem(), "");
}

TEST_F(AuditChainTest, Version1AfterVersion2IsFound) {
  Tamper("UPDATE events SET link_version = 1 WHERE seq = 4");
  EXPECT_EQ(Problem(), "event 4 uses link version 1 after version 2 events");
  EXPECT_EQ(ProblemSeq(), 4);
}

TEST_F(AuditChainTest, AnEditedBodyIsFound) {
  Tamper(R"(UPDATE events SET body = replace(body, '"n":2', '"n":9') WHERE seq = 2)");
  EXPECT_EQ(Problem(), "event 2 does not match its chain link (altered)");
  EXPECT_EQ(ProblemSeq(), 2);
}

TEST_F(AuditChainTest, ADeletedEventIsFound) {
  Tamper("DELETE FROM events WHERE seq = 3");
  EXPECT_EQ(Problem(), "events 3 to 3 are missing");
  EXPECT_EQ(ProblemSeq(), 4);
}

TEST_F(AuditChainTest, ReorderedEventsAreFound) {
  Tamper(
      "UPDATE events SET seq = 100 WHERE seq = 2; UPDATE events SET seq = 2 WHERE seq = 3;"
      "UPDATE events SET seq = 3 WHERE seq = 100;");
  EXPECT_EQ(Problem(), "event 2 does not match its chain link (altered)");
}

// An event slipped in with a valid link of its own: the event after it now
// has another seq and another previous link.
TEST_F(AuditChainTest, AnInsertedEventIsFound) {
  const std::string prev = Events()[2].chain;
  Tamper(
      "UPDATE events SET seq = seq + 10 WHERE seq >= 4; UPDATE events SET seq = seq - 9 "
      "WHERE seq >= 14;");
  const std::string body = R"({"time":"2026-12-06T15:00:00Z","type":"forged"})";
  const std::string chain = manifest::AuditLink(prev, 4, manifest::AuditBodyDigest(body));
  Tamper("INSERT INTO events(seq, body, chain, link_version) VALUES (4, '" + body + "', '" + chain +
         "', 2)");
  EXPECT_EQ(Problem(), "event 5 does not match its chain link (altered)");
}

TEST_F(AuditChainTest, ARewrittenLinkIsFound) {
  // Recomputing one link is not enough: the next event still names the old one.
  const std::string body = R"({"time":"2026-12-06T15:00:00Z","type":"forged"})";
  const std::string forged =
      manifest::AuditLink(manifest::kAuditGenesis, 1, manifest::AuditBodyDigest(body));
  Tamper("UPDATE events SET body = '" + body + "', chain = '" + forged + "' WHERE seq = 1");
  EXPECT_EQ(ProblemSeq(), 2);
}

TEST_F(AuditChainTest, AnErasedLinkIsFound) {
  Tamper("UPDATE events SET chain = '' WHERE seq = 3");
  EXPECT_EQ(Problem(), "event 3 has lost its chain link");
}

TEST_F(AuditChainTest, ADeletedTailBeforeTheLastCheckpointIsFound) {
  ASSERT_EQ(Checkpoint(), 5);
  EXPECT_EQ(Problem(), "");
  Tamper("DELETE FROM events WHERE seq >= 4");
  EXPECT_EQ(Problem(),
            "the log ends at event 3 but the checkpoint of event 5 covers events up to 5: "
            "events 4 to 5 were deleted");
  EXPECT_EQ(ProblemSeq(), 5);
}

TEST_F(AuditChainTest, ATailRewrittenUnderACheckpointIsFound) {
  ASSERT_EQ(Checkpoint(), 5);
  // The tail replaced by other events with valid links of their own.
  std::string prev = Events()[2].chain;
  Tamper("DELETE FROM events WHERE seq >= 4");
  std::string sql;
  for (int seq = 4; seq <= 5; ++seq) {
    const std::string body = R"({"time":"2026-12-06T15:00:00Z","type":"forged"})";
    const std::string chain = manifest::AuditLink(prev, seq, manifest::AuditBodyDigest(body));
    sql += "INSERT INTO events(seq, body, chain, link_version) VALUES (" + std::to_string(seq) +
           ", '" + body + "', '" + chain + "', 2);";
    prev = chain;
  }
  Tamper(sql);
  EXPECT_EQ(Problem(),
            "the checkpoint of event 5 signs another head than the log's link of event 5 "
            "(events edited, inserted or replaced)");
}

TEST_F(AuditChainTest, ADeletedTailBeyondTheLastCheckpointIsFound) {
  ASSERT_EQ(Checkpoint(), 5);
  Queue("state");
  Queue("state");
  // The reporter sent events up to 7 to the server.
  ASSERT_TRUE(db_->SetSetting(kReportHighestSentSetting, "7").ok());
  EXPECT_EQ(Problem(), "");
  Tamper("DELETE FROM events WHERE seq >= 6");
  EXPECT_EQ(Problem(),
            "the log ends at event 5 but events up to 7 were sent to the server: events 6 to 7 "
            "were deleted");
  EXPECT_EQ(ProblemSeq(), 6);
}

TEST_F(AuditChainTest, AReplacedCheckpointSignatureIsFound) {
  ASSERT_EQ(Checkpoint(), 5);
  auto other = verifier::GenerateEd25519Key(*random_);
  ASSERT_TRUE(other.ok());
  auto rows = db_->Checkpoints();
  ASSERT_TRUE(rows.ok());
  manifest::AuditCheckpoint c = rows->back().checkpoint;
  c.log = "device/dev1";
  auto forged = verifier::SignBytes(*other, manifest::AuditCheckpointSigningBytes(c));
  ASSERT_TRUE(forged.ok());
  // Another key's signature, under this key's id and under its own.
  Tamper("UPDATE audit_checkpoints SET signature = '" + *forged + "'");
  EXPECT_EQ(Problem(), "the checkpoint of event 5 has a bad signature (not by this device's key)");
  Tamper("UPDATE audit_checkpoints SET keyid = '" + other->keyid + "'");
  EXPECT_EQ(Problem(), "the checkpoint of event 5 has a bad signature (not by this device's key)");
  EXPECT_EQ(ProblemSeq(), 5);
}

TEST_F(AuditChainTest, CheckpointsAreSignedOnlyWhenTheHeadMoved) {
  EXPECT_EQ(Checkpoint(), 5);
  EXPECT_EQ(Checkpoint(), 0);
  Queue("state");
  EXPECT_EQ(Checkpoint(), 6);
  auto rows = db_->Checkpoints();
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  const manifest::AuditCheckpoint& c = rows->back().checkpoint;
  EXPECT_EQ(c.head, Events().back().chain);
  EXPECT_EQ(c.keyid, key_.keyid);
  EXPECT_EQ(c.time, "2027-01-15T08:00:06Z");  // The manual clock, one second per event.
  manifest::AuditCheckpoint signed_part = c;
  signed_part.log = "device/dev1";
  EXPECT_TRUE(verifier::VerifySignature(key_.public_key, c.signature,
                                        manifest::AuditCheckpointSigningBytes(signed_part))
                  .ok());
  EXPECT_FALSE(rows->back().sent);
}

}  // namespace
}  // namespace ota::agent
