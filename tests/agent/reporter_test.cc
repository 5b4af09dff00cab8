// Event delivery against hostile or broken server answers: nothing is marked
// delivered unless the answer acknowledges exactly what was sent, and no
// answer can make the agent throw.
#include "reporter.h"

#include <deque>

#include "ota/common/env.h"
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
    for (int i = 0; i < n; ++i) ASSERT_OK(db_->QueueEvent(R"({"type":"state"})"));
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

}  // namespace
}  // namespace ota::agent
