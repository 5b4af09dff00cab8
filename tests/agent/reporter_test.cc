// Event delivery against hostile or broken server answers: nothing is marked
// delivered unless the answer acknowledges exactly what was sent, and no
// answer can make the agent throw.
#include "reporter.h"

#include <deque>

#include "ota/common/env.h"
#include "ota/manifest/audit_log.h"
#include "ota/manifest/canonical_json.h"
#include "ota/verifier/keys.h"
#include "state_db.h"
#include "test_support.h"

namespace ota::agent {
namespace {

using ota::testing::ManualClock;
using ota::testing::TempDir;

// Answers enrollment with 201 and each report with the next scripted answer.
class ScriptedServer : public HttpClient {
 public:
  struct Answer {
    int status = 200;
    std::string body;
  };
  std::deque<Answer> answers;
  std::vector<nlohmann::json> reports;  // The "report" objects received.

  Result<HttpResponse> Fetch(const HttpRequest& req, const HttpBodySink&) override {
    HttpResponse r;
    if (req.url.ends_with("/v1/devices")) {
      r.status = 201;
      r.body = "{}";
      return r;
    }
    reports.push_back(nlohmann::json::parse(req.body)["report"]);
    if (answers.empty()) return MakeError(ErrorCode::kRetryLater, "no answer scripted");
    r.status = answers.front().status;
    r.body = answers.front().body;
    answers.pop_front();
    return r;
  }
};

class ReporterTest : public ::testing::Test {
 protected:
  ReporterTest() : fs_(MakePosixFileSystem()), random_(MakeSecureRandom()) {
    env_.clock = &clock_;
    env_.random = random_.get();
    env_.fs = fs_.get();
    env_.http = &server_;
    auto db = StateDb::Open(dir_.Sub("agent.db"));
    EXPECT_TRUE(db.ok());
    db_ = std::move(*db);
    auto key = verifier::GenerateEd25519Key(*random_);
    EXPECT_TRUE(key.ok());
    key_ = std::move(*key);
  }

  void Queue(int n) {
    for (int i = 0; i < n; ++i)
      ASSERT_OK(db_->QueueEvent(R"({"time":"2026-12-06T15:00:00Z","type":"state"})"));
  }
  std::int64_t Pending() {
    auto n = db_->CountPendingEvents();
    EXPECT_TRUE(n.ok());
    return n.ok() ? *n : -1;
  }
  Result<int> Deliver() {
    return DeliverEvents(env_, *db_, "http://127.0.0.1:1", "dev1", key_, {std::nullopt, ""});
  }
  // The seq of the last report sent.
  std::int64_t LastSentSeq() { return server_.reports.back()["seq"].get<std::int64_t>(); }

  TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<FileSystem> fs_;
  std::unique_ptr<Random> random_;
  ScriptedServer server_;
  Env env_;
  std::unique_ptr<StateDb> db_;
  verifier::PrivateKey key_;
};

TEST_F(ReporterTest, MatchingAcknowledgementDelivers) {
  Queue(2);
  server_.answers.push_back({200, R"({"accepted": 2, "last_seq": 2})"});  // Seqs 1 and 2.
  auto delivered = Deliver();
  ASSERT_OK(delivered);
  EXPECT_EQ(LastSentSeq(), 2);
  EXPECT_EQ(*delivered, 2);
  EXPECT_EQ(Pending(), 0);
}

// A malformed answer is an error value: the code field of the wrong type
// used to throw nlohmann's type_error out of the agent on every run.
TEST_F(ReporterTest, ConflictWithNonStringCodeIsAnErrorNotAThrow) {
  Queue(2);
  server_.answers.push_back({409, R"({"code": 1})"});
  Result<int> delivered = MakeError(ErrorCode::kInternal, "not run");
  EXPECT_NO_THROW(delivered = Deliver());
  ASSERT_FALSE(delivered.ok());
  EXPECT_EQ(delivered.error().code, ErrorCode::kRetryLater);
  EXPECT_EQ(Pending(), 2);
}

TEST_F(ReporterTest, OtherMalformedAnswersAreErrorsNotThrows) {
  const std::vector<ScriptedServer::Answer> answers = {
      {409, R"({"code": "replay", "last_seq": "9"})"},
      {409, R"({"code": "replay", "last_seq": 1.5})"},
      {409, R"([1, 2])"},
      {409, R"("replay")"},
      {200, R"({"accepted": "2", "last_seq": null})"},
      {200, R"({"accepted": 2, "last_seq": 18446744073709551615})"},
  };
  Queue(2);
  for (const auto& answer : answers) {
    server_.answers.push_back(answer);
    Result<int> delivered = MakeError(ErrorCode::kInternal, "not run");
    EXPECT_NO_THROW(delivered = Deliver()) << answer.body;
    EXPECT_FALSE(delivered.ok()) << answer.body;
    EXPECT_EQ(Pending(), 2) << answer.body;
  }
}

// A replay answer claiming a seq this device never sent would drop events
// the server never received.
TEST_F(ReporterTest, ConflictAboveWhatWasEverSentIsNotBelieved) {
  Queue(2);
  server_.answers.push_back({409, R"({"code": "replay", "last_seq": 1e18})"});
  server_.answers.push_back({409, R"({"code": "replay", "last_seq": 1000000000000000000})"});
  EXPECT_FALSE(Deliver().ok());
  EXPECT_FALSE(Deliver().ok());
  EXPECT_EQ(Pending(), 2);
}

// The server stored the report but its answer was lost: the resend is a
// replay whose last_seq is exactly what was sent.
TEST_F(ReporterTest, ConflictAtTheSentSeqDelivers) {
  Queue(2);
  server_.answers.push_back({502, "bad gateway"});
  EXPECT_FALSE(Deliver().ok());
  const std::int64_t sent = LastSentSeq();
  server_.answers.push_back({409, nlohmann::json{{"code", "replay"}, {"last_seq", sent}}.dump()});
  auto delivered = Deliver();
  ASSERT_OK(delivered);
  EXPECT_EQ(*delivered, 2);
  EXPECT_EQ(Pending(), 0);
}

TEST_F(ReporterTest, SuccessThatDoesNotMatchWhatWasSentKeepsTheEvents) {
  Queue(2);
  server_.answers.push_back({200, R"({"accepted": 1, "last_seq": 2})"});   // One event short.
  server_.answers.push_back({200, R"({"accepted": 2, "last_seq": 99})"});  // Another seq.
  server_.answers.push_back({200, R"({"accepted": 2})"});                  // No seq.
  server_.answers.push_back({200, "<html>captive portal</html>"});         // Not JSON.
  server_.answers.push_back({200, ""});
  for (int i = 0; i < 5; ++i) {
    Result<int> delivered = MakeError(ErrorCode::kInternal, "not run");
    EXPECT_NO_THROW(delivered = Deliver());
    ASSERT_FALSE(delivered.ok()) << i;
    EXPECT_EQ(delivered.error().code, ErrorCode::kRetryLater);
    EXPECT_EQ(Pending(), 2) << i;
  }
}

// What the server does with a report: each event without "seq" and "chain",
// in canonical form, gives the chain link the device stored.
TEST_F(ReporterTest, EventsGoAsStoredSoTheServerCanRecomputeTheirLinks) {
  ASSERT_OK(db_->QueueEvent(R"({"type":"state","time":"2026-12-06T15:00:00Z","b":[2,1],"a":"x"})"));
  Queue(1);
  server_.answers.push_back({200, R"({"accepted": 2, "last_seq": 2})"});
  ASSERT_OK(Deliver());
  std::string prev(manifest::kAuditGenesis);
  for (nlohmann::json e : server_.reports.at(0)["events"]) {
    const std::int64_t seq = e["seq"].get<std::int64_t>();
    const std::string chain = e["chain"].get<std::string>();
    e.erase("seq");
    e.erase("chain");
    auto body = manifest::CanonicalJson(e);
    ASSERT_OK(body);
    EXPECT_EQ(chain, manifest::AuditLink(prev, seq, manifest::AuditBodyDigest(*body))) << seq;
    prev = chain;
  }
  EXPECT_FALSE(server_.reports.at(0).contains("checkpoints"));
}

TEST_F(ReporterTest, CheckpointsGoWithTheBatchThatCoversThem) {
  Queue(2);
  auto head = db_->GetAuditHead();
  ASSERT_OK(head);
  manifest::AuditCheckpoint c{"device/dev1",          head->seq,  head->head,
                              "2026-12-06T15:00:00Z", key_.keyid, ""};
  auto signature = verifier::SignBytes(key_, manifest::AuditCheckpointSigningBytes(c));
  ASSERT_OK(signature);
  c.signature = *signature;
  ASSERT_OK(db_->StoreCheckpoint(c));
  server_.answers.push_back({503, "busy"});
  EXPECT_FALSE(Deliver().ok());
  auto unsent = db_->UnsentCheckpoints(100);
  ASSERT_OK(unsent);
  EXPECT_EQ(unsent->size(), 1u);  // Not acknowledged: sent again next time.
  server_.answers.push_back({200, R"({"accepted": 2, "last_seq": 2})"});
  ASSERT_OK(Deliver());
  const nlohmann::json& list = server_.reports.back()["checkpoints"];
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0], (nlohmann::json{{"seq", 2},
                                     {"head", c.head},
                                     {"time", c.time},
                                     {"keyid", key_.keyid},
                                     {"signature", c.signature}}));
  unsent = db_->UnsentCheckpoints(100);
  ASSERT_OK(unsent);
  EXPECT_TRUE(unsent->empty());
  // The next report carries none.
  Queue(1);
  server_.answers.push_back({200, R"({"accepted": 1, "last_seq": 3})"});
  ASSERT_OK(Deliver());
  EXPECT_FALSE(server_.reports.back().contains("checkpoints"));
}

// A server that predates checkpoints refuses the field: the events go again
// without it, and the checkpoints wait for a server that takes them.
TEST_F(ReporterTest, AServerRefusingCheckpointsStillGetsTheEvents) {
  Queue(2);
  auto head = db_->GetAuditHead();
  ASSERT_OK(head);
  ASSERT_OK(db_->StoreCheckpoint(
      {"", head->seq, head->head, "2026-12-06T15:00:00Z", key_.keyid, std::string(128, 'a')}));
  server_.answers.push_back(
      {400, R"({"code":"bad-request","message":"report: unknown field checkpoints"})"});
  server_.answers.push_back({200, R"({"accepted": 2, "last_seq": 2})"});
  auto delivered = Deliver();
  ASSERT_OK(delivered);
  EXPECT_EQ(*delivered, 2);
  ASSERT_EQ(server_.reports.size(), 2u);
  EXPECT_TRUE(server_.reports[0].contains("checkpoints"));
  EXPECT_FALSE(server_.reports[1].contains("checkpoints"));
  auto unsent = db_->UnsentCheckpoints(100);
  ASSERT_OK(unsent);
  EXPECT_EQ(unsent->size(), 1u);
}

}  // namespace
}  // namespace ota::agent
