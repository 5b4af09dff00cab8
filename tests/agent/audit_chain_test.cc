#include <sqlite3.h>

#include <string>

#include <gtest/gtest.h>

#include "state_db.h"
#include "test_support.h"

namespace ota::agent {
namespace {

using ota::testing::TempDir;

class AuditChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = StateDb::Open(dir_.Sub("agent.db"));
    ASSERT_OK(db);
    db_ = std::move(*db);
    for (const char* type : {"enrolled", "state", "state"}) {
      ASSERT_OK(db_->QueueEvent(std::string(R"({"type":")") + type + "\"}"));
    }
  }

  // Changes the database behind the agent's back, as an attacker with file
  // access would.
  void Tamper(const std::string& sql) {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(dir_.Sub("agent.db").c_str(), &raw), SQLITE_OK);
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
        << (error ? error : "");
    sqlite3_free(error);
    sqlite3_close(raw);
  }

  TempDir dir_;
  std::unique_ptr<StateDb> db_;
};

TEST_F(AuditChainTest, EachEventLinksToThePreviousOne) {
  auto events = db_->AllEvents();
  ASSERT_OK(events);
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ((*events)[0].chain, AuditChainHash(std::string(64, '0'), 1, R"({"type":"enrolled"})"));
  EXPECT_EQ((*events)[2].chain, AuditChainHash((*events)[1].chain, 3, R"({"type":"state"})"));
  auto broken = db_->VerifyAuditChain();
  ASSERT_OK(broken);
  EXPECT_FALSE(broken->has_value());
  // Pending events carry their link to the server.
  auto pending = db_->PendingEvents(10);
  ASSERT_OK(pending);
  EXPECT_EQ((*pending)[1].chain, (*events)[1].chain);
}

TEST_F(AuditChainTest, AnAlteredEventIsFound) {
  Tamper(R"(UPDATE events SET body = '{"type":"nothing happened"}' WHERE seq = 2)");
  auto broken = db_->VerifyAuditChain();
  ASSERT_OK(broken);
  ASSERT_TRUE(broken->has_value());
  EXPECT_EQ((*broken)->seq, 2);
  EXPECT_EQ((*broken)->message, "event 2 does not match its chain link (altered)");
}

TEST_F(AuditChainTest, ARemovedEventIsFound) {
  Tamper("DELETE FROM events WHERE seq = 2");
  auto broken = db_->VerifyAuditChain();
  ASSERT_OK(broken);
  ASSERT_TRUE(broken->has_value());
  EXPECT_EQ((*broken)->message, "events 2 to 2 are missing");
}

TEST_F(AuditChainTest, ARewrittenLinkIsFound) {
  // Recomputing one link is not enough: the next event still names the old one.
  const std::string forged = AuditChainHash(std::string(64, '0'), 1, R"({"type":"forged"})");
  Tamper(R"(UPDATE events SET body = '{"type":"forged"}', chain = ')" + forged + "' WHERE seq = 1");
  auto broken = db_->VerifyAuditChain();
  ASSERT_OK(broken);
  ASSERT_TRUE(broken->has_value());
  EXPECT_EQ((*broken)->seq, 2);
}

TEST_F(AuditChainTest, AnErasedLinkIsFound) {
  Tamper("UPDATE events SET chain = '' WHERE seq = 3");
  auto broken = db_->VerifyAuditChain();
  ASSERT_OK(broken);
  ASSERT_TRUE(broken->has_value());
  EXPECT_EQ((*broken)->message, "event 3 has lost its chain link");
}

}  // namespace
}  // namespace ota::agent
