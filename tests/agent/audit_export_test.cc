// The device's audit export, verified offline as an auditor would
// (verifier::VerifyAuditExport with the device's public key), pruning
// behind a signed checkpoint, and hourly session counts.
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "audit_test_util.h"
#include "ota/agent/sessions.h"
#include "ota/verifier/audit_verify.h"

namespace ota::agent {
namespace {

class AuditExportTest : public AuditTestBase {
 protected:
  // Exports with `options`; the file's text.
  std::string Export(const AuditExportOptions& options = {}) {
    std::string text;
    auto summary = ExportAuditLog(env_, *db_, Signer(), options, [&](std::string_view line) {
      text.append(line);
      return Ok();
    });
    EXPECT_TRUE(summary.ok()) << summary.error().ToString();
    if (summary.ok()) last_ = *summary;
    return text;
  }

  verifier::AuditVerifyResult Verify(const std::string& text) {
    std::istringstream in(text);
    return verifier::VerifyAuditExport(in, {key_.public_key});
  }

  void DeliverAll() {
    auto head = db_->GetAuditHead();
    ASSERT_TRUE(head.ok());
    ASSERT_TRUE(db_->MarkDelivered(head->seq).ok());
  }

  AuditExportSummary last_;
};

TEST_F(AuditExportTest, AnExportVerifiesWithTheDevicePublicKey) {
  for (int i = 0; i < 4; ++i) Queue("state");
  ASSERT_EQ(Checkpoint(), 4);
  Queue("state");
  const std::string text = Export();
  const verifier::AuditVerifyResult r = Verify(text);
  EXPECT_EQ(r.verdict, verifier::AuditVerdict::kVerified) << r.message << "\n" << text;
  EXPECT_EQ(r.records, 5u);
  EXPECT_EQ(r.source, "device/dev1");
  ASSERT_EQ(r.logs.count("device/dev1"), 1u);
  EXPECT_EQ(r.logs.at("device/dev1").last_seq, 5);
  // The checkpoint of the head, signed for the export and stored.
  EXPECT_EQ(r.logs.at("device/dev1").checkpoint_seq, 5);
  EXPECT_EQ(last_.records, 5u);
  EXPECT_EQ(last_.checkpoints, 2u);
  EXPECT_EQ(last_.head_seq, 5);
  auto stored = db_->Checkpoints();
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->size(), 2u);
  // The checkpoint of event 4 comes right after record 4.
  EXPECT_NE(text.find(R"("seq":4}
{"head")"),
            std::string::npos);

  // Another key does not verify it; an edited line is found.
  auto other = verifier::GenerateEd25519Key(*random_);
  ASSERT_TRUE(other.ok());
  std::istringstream in(text);
  EXPECT_EQ(verifier::VerifyAuditExport(in, {other->public_key}).verdict,
            verifier::AuditVerdict::kTampered);
  std::string edited = text;
  edited.replace(edited.find(R"("n":2)"), 5, R"("n":7)");
  EXPECT_EQ(Verify(edited).verdict, verifier::AuditVerdict::kTampered);
}

TEST_F(AuditExportTest, FiltersWriteOtherEventsAsOmittedLines) {
  Queue("state", "chat");
  Queue("state", "vision");
  Queue("check-failed", "");
  ASSERT_EQ(Checkpoint(), 3);
  Queue("state", "chat");
  const std::string since = manifest::FormatExpires(clock_.Now() - std::chrono::seconds(1));
  Queue("state", "chat");
  AuditExportOptions by_model;
  by_model.model = "chat";
  verifier::AuditVerifyResult r = Verify(Export(by_model));
  EXPECT_EQ(r.verdict, verifier::AuditVerdict::kVerified) << r.message;
  EXPECT_EQ(r.records, 3u);
  EXPECT_EQ(r.logs.at("device/dev1").omitted, 2u);
  EXPECT_EQ(r.logs.at("device/dev1").first_seq, 1);
  EXPECT_EQ(last_.omitted, 2u);

  // Event 4 only: the export starts at the checkpoint of 3, the newest
  // before it.
  AuditExportOptions window;
  window.since = since;
  window.until = manifest::FormatExpires(clock_.Now() - std::chrono::seconds(1));  // Not 5.
  const std::string text = Export(window);
  r = Verify(text);
  EXPECT_EQ(r.verdict, verifier::AuditVerdict::kVerified) << r.message << "\n" << text;
  EXPECT_EQ(r.records, 1u);
  EXPECT_EQ(r.logs.at("device/dev1").first_seq, 4);
  EXPECT_EQ(last_.omitted, 1u);
  EXPECT_NE(text.find(R"("filters":{"since":")" + since + R"(","until":")"), std::string::npos);

  // Nothing matches: the head's checkpoint alone.
  AuditExportOptions none;
  none.model = "speech";
  r = Verify(Export(none));
  EXPECT_EQ(r.verdict, verifier::AuditVerdict::kVerified) << r.message;
  EXPECT_EQ(r.records, 0u);
  EXPECT_EQ(r.logs.at("device/dev1").checkpoint_seq, 5);
}

TEST_F(AuditExportTest, BadFiltersAndABrokenLogAreRefused) {
  Queue("state");
  AuditExportOptions bad;
  bad.since = "yesterday";
  std::string text;
  auto refused = ExportAuditLog(env_, *db_, Signer(), bad, [&](std::string_view line) {
    text.append(line);
    return Ok();
  });
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  Queue("state");
  Tamper(R"(UPDATE events SET body = replace(body, '"n":1', '"n":9') WHERE seq = 1)");
  auto broken = ExportAuditLog(env_, *db_, Signer(), {}, [&](std::string_view line) {
    text.append(line);
    return Ok();
  });
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.error().code, ErrorCode::kSecurity);
  EXPECT_NE(broken.error().message.find("event 1 does not match"), std::string::npos);
  EXPECT_EQ(text, "");
}

TEST_F(AuditExportTest, PruningLeavesAVerifiableLogAnchoredAtItsCheckpoint) {
  for (int i = 0; i < 6; ++i) Queue("state");
  ASSERT_EQ(Checkpoint(), 6);
  Queue("state");
  Queue("state");
  // Nothing delivered yet: nothing may go.
  auto refused = PruneAuditLog(env_, *db_, Signer(), 8);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kNotFound);
  DeliverAll();
  // Before 8: the newest checkpoint at or before 7 is the one of 6.
  auto pruned = PruneAuditLog(env_, *db_, Signer(), 8);
  ASSERT_TRUE(pruned.ok()) << pruned.error().ToString();
  EXPECT_EQ(pruned->from, 1);
  EXPECT_EQ(pruned->to, 6);
  EXPECT_EQ(pruned->records, 6);
  EXPECT_EQ(pruned->record_seq, 9);
  auto events = db_->AllEvents();
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ(events->front().seq, 7);
  const auto record = nlohmann::json::parse(events->back().body);
  EXPECT_EQ(record["type"], "audit-pruned");
  EXPECT_EQ(record["from"], 1);
  EXPECT_EQ(record["to"], 6);
  EXPECT_EQ(record["records"], 6);
  EXPECT_EQ(record["from_time"], "2027-01-15T08:00:00Z");
  EXPECT_EQ(record["to_time"], "2027-01-15T08:00:05Z");
  auto checkpoints = db_->Checkpoints();
  ASSERT_TRUE(checkpoints.ok());
  EXPECT_EQ(record["head"], checkpoints->front().checkpoint.head);
  EXPECT_EQ(Problem(), "");

  const verifier::AuditVerifyResult r = Verify(Export());
  EXPECT_EQ(r.verdict, verifier::AuditVerdict::kVerified) << r.message;
  EXPECT_EQ(r.records, 3u);
  EXPECT_EQ(r.logs.at("device/dev1").first_seq, 7);

  // Pruning again finds nothing new to prune before the anchor.
  EXPECT_FALSE(PruneAuditLog(env_, *db_, Signer(), 7).ok());
  // Deleting more rows is still found: the first remaining event has no anchor.
  Tamper("DELETE FROM events WHERE seq = 7");
  EXPECT_EQ(Problem(), "events 1 to 7 are missing (no signed checkpoint anchors event 8)");
  EXPECT_EQ(ProblemSeq(), 8);
}

TEST_F(AuditExportTest, DeletingThePruningAnchorIsFound) {
  for (int i = 0; i < 3; ++i) Queue("state");
  ASSERT_EQ(Checkpoint(), 3);
  Queue("state");
  DeliverAll();
  ASSERT_TRUE(PruneAuditLog(env_, *db_, Signer(), 4).ok());
  Tamper("DELETE FROM audit_checkpoints");
  EXPECT_EQ(Problem(), "events 1 to 3 are missing (no signed checkpoint anchors event 4)");
}

TEST_F(AuditExportTest, SessionsAreCountedPerVersionAndCompletedHour) {
  const std::string v1(64, 'a');
  const std::string v2(64, 'b');
  ASSERT_TRUE(db_->RecordVersion({v1, "chat", "1.0.0", 1}).ok());
  ASSERT_TRUE(db_->RecordVersion({v2, "chat", "1.1.0", 2}).ok());
  // The manual clock starts at 08:00:00; sessions at 08:10, 08:20 and 09:05.
  ota::testing::ManualClock app_clock(clock_.Now());
  auto log = SessionLog::Open(dir_.path(), &app_clock);
  ASSERT_TRUE(log.ok());
  app_clock.Advance(std::chrono::minutes(10));
  ASSERT_TRUE((*log)->Report(v1, true, "the prompt text never leaves the app").ok());
  app_clock.Advance(std::chrono::minutes(10));
  ASSERT_TRUE((*log)->Report(v1, false, "out of memory").ok());
  ASSERT_TRUE((*log)->Report(v2, true, "").ok());
  app_clock.Advance(std::chrono::minutes(45));
  ASSERT_TRUE((*log)->Report(v2, true, "").ok());

  // At 08:30 no hour is complete.
  clock_.Advance(std::chrono::minutes(30));
  ASSERT_TRUE(RecordSessionHours(env_, *db_, dir_.path()).ok());
  auto events = db_->AllEvents();
  ASSERT_TRUE(events.ok());
  EXPECT_TRUE(events->empty());
  // At 10:00 both hours are; recorded once.
  clock_.Advance(std::chrono::minutes(90));
  ASSERT_TRUE(RecordSessionHours(env_, *db_, dir_.path()).ok());
  ASSERT_TRUE(RecordSessionHours(env_, *db_, dir_.path()).ok());
  events = db_->AllEvents();
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ((*events)[0].body, R"({"failed":1,"hour":"2027-01-15T08:00:00Z","id":")" + v1 +
                                   R"(","model":"chat","sessions":2,"time":"2027-01-15T10:00:00Z",)"
                                   R"("type":"sessions-hourly","version":"1.0.0"})");
  const auto second = nlohmann::json::parse((*events)[1].body);
  EXPECT_EQ(second["version"], "1.1.0");
  EXPECT_EQ(second["hour"], "2027-01-15T08:00:00Z");
  EXPECT_EQ(second["sessions"], 1);
  EXPECT_EQ(second["failed"], 0);
  const auto third = nlohmann::json::parse((*events)[2].body);
  EXPECT_EQ(third["hour"], "2027-01-15T09:00:00Z");
  EXPECT_EQ(third["sessions"], 1);
  for (const PendingEvent& e : *events) EXPECT_EQ(e.body.find("memory"), std::string::npos);
  EXPECT_EQ(Problem(), "");
}

}  // namespace
}  // namespace ota::agent
