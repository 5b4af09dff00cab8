// Several ota-server nodes sharing one PostgreSQL database: a device enrolled
// at one node reports at another, an operator change at any node is seen at
// every node with manifest versions that only grow, and one node at a time
// runs the rollout controller, another taking over when it ends.
#include <gtest/gtest.h>

#include "fleet_fixture.h"
#include "test_postgres.h"

namespace ota::server {
namespace {

class FleetNodesTest : public FleetTest {
 protected:
  void SetUp() override {
    if (!ota::testing::FleetTestsOnPostgres()) {
      GTEST_SKIP() << "several nodes share a PostgreSQL database (OTA_TEST_FLEET_DB)";
    }
    FleetTest::SetUp();
    ServerOptions o;
    o.publisher = &publisher_;
    o.enroll_burst = 1000;
    o.repo_dir = tmp_.Sub("repo");
    o.db_path = db_;
    o.audit_key_path = tmp_.Sub("server.db.audit-key");
    o.port = 0;
    o.quiet = true;
    o.clock = &clock_;
    second_ = std::make_unique<Server>(o);
    ASSERT_OK(second_->Start());
  }

  void TearDown() override {
    if (second_) second_->Stop();
  }

  // Routes Client() (and so Enroll, Send, Post, Get) to a node.
  void AtFirst() { client_port_ = server_->port(); }
  void AtSecond() { client_port_ = second_->port(); }

  std::unique_ptr<Server> second_;
};

TEST_F(FleetNodesTest, DevicesAndOperatorsMoveBetweenNodes) {
  AtFirst();
  TestDevice d = NewDeviceInBucket("moving");
  ASSERT_EQ(Enroll(d), 201);
  auto created = Post("/v1/rollouts", CreateBody({{"min_reporting", 1}}), true);
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 201) << created->body;

  // The second node knows the device enrolled at the first, and the rollout.
  AtSecond();
  EXPECT_EQ(Enroll(d, json::object(), ""), 200);
  ASSERT_EQ(Send(d, StateEvent("downloading")), 200);
  json s = Status();
  EXPECT_EQ(s["version"], 1);
  EXPECT_EQ(s["stages"][0]["phases"]["downloading"], 1);

  // Reports alternate between nodes; each seq is taken once, at either node.
  AtFirst();
  ASSERT_EQ(Send(d, StateEvent("committed")), 200);
  AtSecond();
  --d.seq;  // The same report again, now at the other node: a replay.
  EXPECT_EQ(Send(d, StateEvent("committed")), 409);
  ASSERT_EQ(Send(d, StateEvent("committed")), 200);
  EXPECT_EQ(Status()["stages"][0]["phases"]["confirmed"], 1);

  // An operator pauses at one node and resumes at the other; every change
  // gets the next version, whichever node makes it.
  auto paused = Post("/v1/rollouts/chat-2/pause", {{"reason", "look"}}, true);
  ASSERT_TRUE(paused);
  ASSERT_EQ(paused->status, 200) << paused->body;
  AtFirst();
  EXPECT_EQ(Status()["state"], "paused");
  auto resumed = Post("/v1/rollouts/chat-2/resume", {{"reason", "fine"}}, true);
  ASSERT_TRUE(resumed);
  ASSERT_EQ(resumed->status, 200) << resumed->body;
  AtSecond();
  s = Status();
  EXPECT_EQ(s["state"], "active");
  EXPECT_EQ(s["version"], 3);
  ASSERT_EQ(publisher_.published.size(), 3u);
  for (std::size_t i = 0; i < publisher_.published.size(); ++i) {
    EXPECT_EQ(publisher_.published[i].version, i + 1);
  }

  // Both nodes count the same fleet.
  for (bool first : {true, false}) {
    first ? AtFirst() : AtSecond();
    auto fleet = Get("/v1/fleet", token_);
    ASSERT_TRUE(fleet);
    EXPECT_EQ(json::parse(fleet->body)["devices"], 1);
  }
  // And one audit log, intact, in which both nodes wrote.
  auto verified = VerifyServerAuditLog(db_, tmp_.Sub("server.db.audit-key"));
  EXPECT_OK(verified);
}

TEST_F(FleetNodesTest, OneNodeRunsTheControllerAndAnotherTakesOver) {
  auto created = Post("/v1/rollouts", CreateBody({{"min_reporting", 1}}), true);
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 201) << created->body;
  TestDevice d = NewDeviceInBucket("canary");
  ASSERT_EQ(Enroll(d), 201);
  ASSERT_EQ(Send(d, StateEvent("committed")), 200);
  auto first = server_->RunControllerOnce();
  ASSERT_OK(first);
  EXPECT_EQ(*first, 0) << "soak not over";
  auto other = second_->RunControllerOnce();
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code, ErrorCode::kRetryLater);
  EXPECT_NE(other.error().message.find("another server node"), std::string::npos);
  ASSERT_FALSE(second_->RunControllerOnce().ok()) << "still led by the first node";

  // The first node stops (giving up its locks); the second leads from its
  // next try, and its pass continues the rollout with the next version.
  server_->Stop();
  clock_.Advance(std::chrono::minutes(11));
  auto changed = second_->RunControllerOnce();
  ASSERT_OK(changed);
  EXPECT_EQ(*changed, 1);
  AtSecond();
  json s = Status();
  EXPECT_EQ(s["current_stage"], 1);
  EXPECT_EQ(s["version"], 2);
  EXPECT_EQ(s["audit"].back()["actor"], "controller");
}

}  // namespace
}  // namespace ota::server
