// Several ota-server nodes sharing one PostgreSQL database: a device enrolled
// at one node reports at another, an operator change at any node is seen at
// every node with manifest versions that only grow, and one node at a time
// runs the rollout controller, another taking over when it ends.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "fleet_fixture.h"
#include "fleet_store.h"
#include "ota/manifest/audit_log.h"
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
  const std::uint64_t targeted = s["stages"][0]["targeted"];
  EXPECT_EQ(targeted, 1u);

  // A device enrolled at the first node is targeted in the second node's
  // counts (kept up to date, not recounted).
  AtFirst();
  ASSERT_EQ(Enroll(NewDeviceInBucket("late")), 201);
  AtSecond();
  EXPECT_EQ(Status()["stages"][0]["targeted"], targeted + 1);

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
    EXPECT_EQ(json::parse(fleet->body)["devices"], 2);
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

// Each node checks a device's event chain from where the last report left
// it, whichever node took that report.
TEST_F(FleetNodesTest, ReportsCommittedSideBySideAtBothNodesKeepCountsAndOrder) {
  // Report groups of the two nodes commit side by side (a shared write
  // lock); devices alternate nodes report by report, so each node's cached
  // view of a device is often stale, and every phase change moves the
  // stage's counts from both nodes at once.
  AtFirst();
  auto created = Post("/v1/rollouts", CreateBody({{"min_reporting", 1}}), true);
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 201) << created->body;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 6;
  constexpr int kReports = 8;
  std::vector<TestDevice> devices;
  for (int i = 0; i < kThreads * kPerThread; ++i) {
    devices.push_back(NewDeviceInBucket("side-" + std::to_string(i)));
    ASSERT_EQ(Enroll(devices.back()), 201);
  }
  // Phases downloading, activated, rolled_back, confirmed, over and over.
  const std::vector<std::string> states = {"downloading", "confirming", "rolling-back",
                                           "committed"};
  const int ports[2] = {server_->port(), second_->port()};
  std::vector<std::vector<int>> answers(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      httplib::Client nodes[2] = {httplib::Client("127.0.0.1", ports[0]),
                                  httplib::Client("127.0.0.1", ports[1])};
      for (int n = 0; n < kReports; ++n) {
        for (int k = 0; k < kPerThread; ++k) {
          TestDevice& d = devices[static_cast<std::size_t>(t * kPerThread + k)];
          ++d.seq;
          json e = StateEvent(states[static_cast<std::size_t>(n) % states.size()]);
          e["seq"] = d.seq;
          auto r = nodes[(n + k) % 2].Post(
              "/v1/reports", SignedReport(d, d.seq, json::array({e})).dump(), "application/json");
          answers[static_cast<std::size_t>(t)].push_back(r ? r->status : -1);
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (const std::vector<int>& a : answers) {
    for (int status : a) EXPECT_EQ(status, 200);
  }
  // Every device's last report was "committed": the stage counts each once,
  // as confirmed, and nothing else, at either node.
  const std::uint64_t n = devices.size();
  for (int node = 0; node < 2; ++node) {
    node == 0 ? AtFirst() : AtSecond();
    json s = Status();
    std::uint64_t reporting = 0;
    for (auto& [phase, count] : s["stages"][0]["phases"].items()) {
      reporting += count.get<std::uint64_t>();
      if (phase != "confirmed") {
        EXPECT_EQ(count, 0) << phase;
      }
    }
    EXPECT_EQ(s["stages"][0]["phases"]["confirmed"], n);
    EXPECT_EQ(reporting, n);
  }
  // Each device's next report is taken exactly once, and its last one is a
  // replay at either node.
  for (std::size_t i = 0; i < devices.size(); ++i) {
    i % 2 == 0 ? AtFirst() : AtSecond();
    TestDevice& d = devices[i];
    --d.seq;
    EXPECT_EQ(Send(d, StateEvent("committed")), 409) << d.id;
    ASSERT_EQ(Send(d, StateEvent("committed")), 200) << d.id;
  }
}

TEST_F(FleetNodesTest, DeviceChainsAreCheckedFromTheStoredHead) {
  TestDevice d = NewDevice("chained");
  AtFirst();
  ASSERT_EQ(Enroll(d), 201);
  std::string prev(manifest::kAuditGenesis);
  // The next event of the device's log, linked to `after`.
  auto linked = [&](const std::string& version, const std::string& after) {
    json e = StateEvent("committed", version);
    e["time"] = "2027-01-01T00:00:00Z";
    auto body = manifest::AuditBody(e);
    EXPECT_OK(body);
    if (!body.ok()) return e;
    e["chain"] = manifest::AuditLink(after, d.seq + 1, manifest::AuditBodyDigest(*body));
    return e;
  };
  for (int i = 0; i < 4; ++i) {
    i % 2 == 0 ? AtFirst() : AtSecond();
    json e = linked("2.0." + std::to_string(i), prev);
    prev = e["chain"];
    ASSERT_EQ(Send(d, e), 200) << i;
  }
  for (bool first : {true, false}) {
    first ? AtFirst() : AtSecond();
    auto fleet = Get("/v1/fleet", token_);
    ASSERT_TRUE(fleet);
    EXPECT_EQ(json::parse(fleet->body)["chain_alerts"].size(), 0u) << fleet->body;
  }
  // An event that does not link to the stored head is caught at the node
  // that did not take the previous report.
  AtSecond();
  ASSERT_EQ(Send(d, linked("2.0.9", std::string(manifest::kAuditGenesis))), 200);
  AtFirst();
  auto fleet = Get("/v1/fleet", token_);
  ASSERT_TRUE(fleet);
  const json alerts = json::parse(fleet->body)["chain_alerts"];
  ASSERT_EQ(alerts.size(), 1u) << fleet->body;
  EXPECT_EQ(alerts[0]["device_id"], "chained");
}

// The node running the controller is killed (SIGKILL, no clean stop): its
// database session ends with the process, and the other node takes the
// controller at its next try. Real ota-server processes, each naming
// itself to PostgreSQL, with a one-second controller interval.
TEST_F(FleetNodesTest, AKilledControllerNodeIsReplacedByTheOther) {
  auto db = OpenFleetDatabase(db_);
  ASSERT_OK(db);
  // The application name of the session holding the controller lock, "" if
  // none does.
  auto holder = [&]() -> std::string {
    auto q = (*db)->Prepare(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.classid = " +
        std::to_string(kControllerLockKey >> 32) +
        " AND l.objid = " + std::to_string(kControllerLockKey & 0xffffffffLL));
    if (!q.ok()) return "error: " + q.error().message;
    auto row = q->Step();
    if (!row.ok()) return "error: " + row.error().message;
    return *row ? q->ColumnText(0) : "";
  };
  // Waits (bounded) until `name` holds the lock; the seconds it took.
  auto until_held_by = [&](const std::string& name) -> double {
    const auto start = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - start < std::chrono::seconds(30)) {
      if (holder() == name) {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      }
      std::this_thread::yield();
    }
    return -1;
  };
  auto start_node = [&](const std::string& name) {
    auto node = std::make_unique<ota::testing::ChildProcess>();
    const std::string line =
        node->Start({ota::testing::BinaryPath("ota-server"), "--repo", tmp_.Sub("repo"), "--port",
                     "0", "--db", db_ + "&application_name=" + name, "--audit-key",
                     tmp_.Sub("server.db.audit-key"), "--controller-interval", "1", "--quiet"});
    EXPECT_NE(line.find("http://"), std::string::npos) << name << ": " << line;
    return node;
  };
  auto a = start_node("node-a");
  ASSERT_GE(until_held_by("node-a"), 0) << holder();
  auto b = start_node("node-b");
  EXPECT_EQ(holder(), "node-a");
  a->Kill();
  const double took = until_held_by("node-b");
  ASSERT_GE(took, 0) << holder();
  // Within about one controller interval of the kill.
  EXPECT_LT(took, 5.0);
  std::printf("controller takeover after SIGKILL: %.2f s\n", took);
}

}  // namespace
}  // namespace ota::server
