// Webhooks: rollout pauses, halts and rollback orders reach a receiver on
// loopback, signed with an HMAC, retried with backoff on the injected clock,
// kept across a restart, and given up after the last attempt.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fleet_fixture.h"
#include "webhooks.h"

namespace ota::server {
namespace {

using nlohmann::json;

constexpr char kSecret[] = "a-webhook-secret-of-32-bytes-ok!";

// An HTTP receiver on 127.0.0.1 that records what it is sent and answers
// `failures` requests with 500 before answering 204.
class Receiver {
 public:
  Receiver() {
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      received_.push_back(req);
      res.status = failures_ > 0 ? 500 : 204;
      if (failures_ > 0) --failures_;
    });
    // Bound and listening here: connections wait in the backlog until the
    // accept loop runs.
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~Receiver() {
    server_.stop();
    thread_.join();
  }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  void FailNext(int n) {
    std::lock_guard lock(mu_);
    failures_ = n;
  }
  std::vector<httplib::Request> Received() {
    std::lock_guard lock(mu_);
    return received_;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  int failures_ = 0;
  std::vector<httplib::Request> received_;
};

class FleetWebhooksTest : public FleetTest {
 protected:
  void Configure(ServerOptions& options) override {
    options.webhook_urls = {receiver_.Url()};
    options.webhook_secret = kSecret;
    options.drills_dir = tmp_.Sub("drills");
    std::filesystem::create_directories(options.drills_dir);
  }

  // The server (and its connection to the receiver) goes first, so the
  // receiver does not wait for that connection when it stops.
  void TearDown() override { server_.reset(); }

  int Deliver() {
    auto n = server_->DeliverWebhooksOnce();
    EXPECT_OK(n);
    return n.ok() ? *n : -1;
  }

  void CreateRollout() {
    auto created = Post("/v1/rollouts", CreateBody({{"min_reporting", 1}}), true);
    ASSERT_TRUE(created);
    ASSERT_EQ(created->status, 201) << created->body;
  }

  int Action(const std::string& action, const json& body = {{"reason", "look"}}) {
    auto r = Post("/v1/rollouts/chat-2/" + action, body, true);
    return r ? r->status : -1;
  }

  // Checks the signature and returns the body.
  static json Verified(const httplib::Request& req) {
    const std::string ts = req.get_header_value("X-ModelOTA-Timestamp");
    EXPECT_FALSE(ts.empty());
    EXPECT_EQ(req.get_header_value("X-ModelOTA-Signature"),
              WebhookSignature(kSecret, std::stoll(ts), req.body));
    EXPECT_EQ(req.get_header_value("Content-Type"), "application/json");
    return json::parse(req.body);
  }

  Receiver receiver_;
};

TEST_F(FleetWebhooksTest, PausesHaltsAndRollbacksAreAnnouncedSigned) {
  CreateRollout();
  EXPECT_EQ(Deliver(), 0) << "creating a rollout announces nothing";
  ASSERT_EQ(Action("pause", {{"reason", "error budget"}}), 200);
  ASSERT_EQ(Action("rollback", {{"to_version", "1.0.0"}, {"reason", "bad"}}), 200);
  ASSERT_EQ(Action("halt"), 200);
  EXPECT_EQ(Deliver(), 3);
  const auto got = receiver_.Received();
  ASSERT_EQ(got.size(), 3u);
  const json paused = Verified(got[0]);
  EXPECT_EQ(got[0].get_header_value("X-ModelOTA-Event"), "rollout.paused");
  EXPECT_EQ(paused["event"], "rollout.paused");
  EXPECT_EQ(paused["rollout_id"], "chat-2");
  EXPECT_EQ(paused["model"], "chat");
  EXPECT_EQ(paused["actor"], "operator:alice");
  EXPECT_EQ(paused["reason"], "error budget");
  EXPECT_EQ(paused["manifest_version"], 2);
  EXPECT_TRUE(paused["audit_seq"].is_number_integer());
  EXPECT_EQ(Verified(got[1])["event"], "rollout.rollback-ordered");
  EXPECT_EQ(Verified(got[2])["event"], "rollout.halted");
  // A tampered body or another secret does not verify.
  EXPECT_NE(WebhookSignature(kSecret, 1, got[0].body + " "),
            WebhookSignature(kSecret, 1, got[0].body));
  EXPECT_NE(WebhookSignature("another-secret-of-16+", 1, got[0].body),
            WebhookSignature(kSecret, 1, got[0].body));
  EXPECT_EQ(Deliver(), 0) << "delivered messages are not sent again";
}

TEST_F(FleetWebhooksTest, AControllerPauseIsAnnouncedWithItsEvidence) {
  CreateRollout();
  TestDevice d = NewDeviceInBucket("dev");
  ASSERT_EQ(Enroll(d), 201);
  ASSERT_EQ(Send(d, StateEvent("failed")), 200);
  ASSERT_OK(server_->RunControllerOnce());
  ASSERT_EQ(Status()["state"], "paused");
  EXPECT_EQ(Deliver(), 1);
  const auto got = receiver_.Received();
  ASSERT_EQ(got.size(), 1u);
  const json body = Verified(got[0]);
  EXPECT_EQ(body["actor"], "controller");
  EXPECT_TRUE(body.contains("evidence")) << body.dump();
}

TEST_F(FleetWebhooksTest, FailedDeliveriesAreRetriedWithBackoffUnderOneDeliveryId) {
  CreateRollout();
  receiver_.FailNext(2);
  ASSERT_EQ(Action("pause"), 200);
  EXPECT_EQ(Deliver(), 1);  // 500.
  EXPECT_EQ(Deliver(), 0) << "not due before its backoff";
  clock_.Advance(std::chrono::seconds(WebhookRetryDelaySeconds(1) - 1));
  EXPECT_EQ(Deliver(), 0);
  clock_.Advance(std::chrono::seconds(1));
  EXPECT_EQ(Deliver(), 1);  // 500 again.
  clock_.Advance(std::chrono::seconds(WebhookRetryDelaySeconds(1)));
  EXPECT_EQ(Deliver(), 0) << "the second wait is longer";
  clock_.Advance(std::chrono::seconds(WebhookRetryDelaySeconds(2)));
  EXPECT_EQ(Deliver(), 1);  // 204.
  const auto got = receiver_.Received();
  ASSERT_EQ(got.size(), 3u);
  for (const auto& req : got) {
    EXPECT_EQ(req.get_header_value("X-ModelOTA-Delivery"),
              got[0].get_header_value("X-ModelOTA-Delivery"));
    EXPECT_EQ(req.body, got[0].body);
  }
  EXPECT_NE(got[0].get_header_value("X-ModelOTA-Timestamp"),
            got[2].get_header_value("X-ModelOTA-Timestamp"));
  auto metrics = Get("/metrics", token_);
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("ota_webhook_deliveries_total{result=\"retry\"} 2"),
            std::string::npos);
  EXPECT_NE(metrics->body.find("ota_webhook_deliveries_total{result=\"delivered\"} 1"),
            std::string::npos);
}

TEST_F(FleetWebhooksTest, AnUnreachableReceiverIsGivenUpAfterTheLastAttempt) {
  CreateRollout();
  receiver_.FailNext(1000);
  ASSERT_EQ(Action("pause"), 200);
  for (std::int64_t attempt = 1; attempt <= kWebhookMaxAttempts; ++attempt) {
    ASSERT_EQ(Deliver(), 1) << attempt;
    clock_.Advance(std::chrono::seconds(WebhookRetryDelaySeconds(attempt)));
  }
  clock_.Advance(std::chrono::hours(24));
  EXPECT_EQ(Deliver(), 0);
  EXPECT_EQ(receiver_.Received().size(), static_cast<std::size_t>(kWebhookMaxAttempts));
  auto metrics = Get("/metrics", token_);
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("ota_webhook_deliveries_total{result=\"failed\"} 1"),
            std::string::npos);
}

TEST_F(FleetWebhooksTest, AMessageWrittenBeforeAStopIsDeliveredAfterTheRestart) {
  CreateRollout();
  ASSERT_EQ(Action("pause"), 200);
  server_->Stop();
  server_.reset();
  EXPECT_TRUE(receiver_.Received().empty());
  ServerOptions o;
  o.publisher = &publisher_;
  Configure(o);
  StartServer(o);
  EXPECT_EQ(Deliver(), 1);
  ASSERT_EQ(receiver_.Received().size(), 1u);
  EXPECT_EQ(Verified(receiver_.Received()[0])["event"], "rollout.paused");
}

TEST_F(FleetWebhooksTest, EachDrillReportIsAnnouncedOnce) {
  EXPECT_EQ(Deliver(), 0);
  ota::testing::WriteTestFile(tmp_.Sub("drills/canary-1/report.json"),
                              R"({"scenario": "canary", "passed": false, "devices": 1000})");
  ota::testing::WriteTestFile(tmp_.Sub("drills/half-written/notes.txt"), "no report yet");
  EXPECT_EQ(Deliver(), 1);
  EXPECT_EQ(Deliver(), 0) << "announced once";
  const auto got = receiver_.Received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].get_header_value("X-ModelOTA-Event"), "drill.finished");
  const json body = Verified(got[0]);
  EXPECT_EQ(body["drill"], "canary-1");
  EXPECT_EQ(body["scenario"], "canary");
  EXPECT_EQ(body["passed"], false);
  EXPECT_EQ(body["devices"], 1000);
}

TEST(WebhookOptionsTest, ReceiversNeedAUrlAndASecret) {
  ota::testing::TempDir tmp;
  ota::testing::WriteTestFile(tmp.Sub("repo/root.json"), "{}");
  for (const auto& [urls, secret] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"ftp://example/hook"}, kSecret},
           {{"http://127.0.0.1/a b"}, kSecret},
           {{"http://127.0.0.1/hook"}, "short"}}) {
    ServerOptions o;
    o.repo_dir = tmp.Sub("repo");
    o.db_path = tmp.Sub("server.db");
    o.port = 0;
    o.quiet = true;
    o.webhook_urls = urls;
    o.webhook_secret = secret;
    Server server(o);
    Status s = server.Start();
    ASSERT_FALSE(s.ok()) << urls[0];
    EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace ota::server
