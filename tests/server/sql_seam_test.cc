// The SQL seam's queued writes (Statement::Defer) on the fleet store's
// engine: SQLite files here, PostgreSQL when the suite runs again under the
// "postgres." prefix (there they travel as pipelines).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "ota/common/postgres.h"
#include "ota/common/sql.h"
#include "ota/common/sqlite.h"
#include "test_postgres.h"
#include "test_support.h"

namespace ota {
namespace {

using ota::testing::TempDir;

const std::vector<Migration>& SeamMigrations() {
  static const std::vector<Migration> m = {
      {1,
       "CREATE TABLE kv (k TEXT PRIMARY KEY, v BIGINT NOT NULL);"
       "CREATE TABLE seen (k TEXT NOT NULL);"}};
  return m;
}

class SqlSeamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    where_ = ota::testing::FleetDbForTest(dir_);
    ASSERT_FALSE(where_.empty());
    db_ = Open();
    other_ = Open();
    ASSERT_TRUE(db_ && other_);
  }

  std::unique_ptr<Database> Open() {
    auto db = IsPostgresUri(where_) ? OpenPostgres(where_, SeamMigrations())
                                    : Database::Open(where_, SeamMigrations());
    if (!db.ok()) {
      ADD_FAILURE() << db.error().ToString();
      return nullptr;
    }
    return std::move(*db);
  }

  // The rows of kv as another connection sees them.
  std::int64_t CommittedRows() {
    auto q = other_->Prepare("SELECT COUNT(*) FROM kv");
    EXPECT_TRUE(q.ok());
    if (!q.ok()) return -1;
    auto row = q->Step();
    EXPECT_TRUE(row.ok() && *row);
    return q->ColumnInt(0);
  }

  Status Insert(Statement& ins, const std::string& k, std::int64_t v) {
    ins.Reset();
    ins.Bind(1, k).Bind(2, v);
    return ins.Defer();
  }

  TempDir dir_;
  std::string where_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<Database> other_;
};

TEST_F(SqlSeamTest, QueuedWritesCommitTogetherPastThePipelineChunk) {
  auto ins = db_->Prepare("INSERT INTO kv (k, v) VALUES (?, ?)");
  ASSERT_OK(ins);
  ASSERT_OK(db_->Begin());
  // More than one pipeline's worth (500 statements per sync).
  for (int i = 0; i < 1201; ++i) ASSERT_OK(Insert(*ins, "k" + std::to_string(i), i));
  EXPECT_EQ(CommittedRows(), 0);  // Nothing is visible before the commit.
  ASSERT_OK(db_->Commit());
  EXPECT_EQ(CommittedRows(), 1201);
}

TEST_F(SqlSeamTest, AReadInTheTransactionSeesTheQueuedWritesBeforeIt) {
  auto ins = db_->Prepare("INSERT INTO kv (k, v) VALUES (?, ?)");
  auto sum = db_->Prepare("SELECT COALESCE(SUM(v), 0) FROM kv");
  ASSERT_OK(ins);
  ASSERT_OK(sum);
  ASSERT_OK(db_->Begin());
  ASSERT_OK(Insert(*ins, "a", 2));
  ASSERT_OK(Insert(*ins, "b", 40));
  auto row = sum->Step();
  ASSERT_OK(row);
  ASSERT_TRUE(*row);
  EXPECT_EQ(sum->ColumnInt(0), 42);
  sum->Reset();
  ASSERT_OK(Insert(*ins, "c", 100));
  ASSERT_OK(db_->Commit());
  EXPECT_EQ(CommittedRows(), 3);
}

TEST_F(SqlSeamTest, AFailedQueuedWriteFailsTheCommitAndKeepsNothing) {
  auto ins = db_->Prepare("INSERT INTO kv (k, v) VALUES (?, ?)");
  ASSERT_OK(ins);
  Status s = InTransaction(*db_, [&]() -> Status {
    OTA_TRY(Insert(*ins, "a", 1));
    OTA_TRY(Insert(*ins, "a", 2));  // The key is taken: fails (SQLite now, PostgreSQL at commit).
    return Insert(*ins, "b", 3);
  });
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().code, ErrorCode::kRetryLater);
  EXPECT_EQ(CommittedRows(), 0);
  // The connection is usable afterwards.
  ASSERT_OK(InTransaction(*db_, [&]() -> Status { return Insert(*ins, "a", 1); }));
  EXPECT_EQ(CommittedRows(), 1);
}

TEST_F(SqlSeamTest, ARowCheckThatFailsRollsTheTransactionBackAsRetryLater) {
  auto ins = db_->Prepare("INSERT INTO kv (k, v) VALUES (?, ?)");
  auto bump = db_->Prepare("UPDATE kv SET v = v + 1 WHERE k = ? AND v = ? RETURNING 1");
  auto seen = db_->Prepare("INSERT INTO seen (k) VALUES (?)");
  ASSERT_OK(ins);
  ASSERT_OK(bump);
  ASSERT_OK(seen);
  ASSERT_OK(InTransaction(*db_, [&]() -> Status { return Insert(*ins, "a", 1); }));

  // The expected value is stale: the update changes no row.
  Status s = InTransaction(*db_, [&]() -> Status {
    seen->Reset();
    seen->Bind(1, "first");
    OTA_TRY(seen->Defer());
    bump->Reset();
    bump->Bind(1, "a").Bind(2, 7);
    OTA_TRY(bump->Defer(1));
    seen->Reset();
    seen->Bind(1, "after");
    return seen->Defer();
  });
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kRetryLater) << s.error().ToString();
  auto count = other_->Prepare("SELECT COUNT(*) FROM seen");
  ASSERT_OK(count);
  ASSERT_TRUE(*count->Step());
  EXPECT_EQ(count->ColumnInt(0), 0) << "a write queued before the failed check was kept";
  count->Reset();

  // With the value as stored, the check passes and everything commits.
  ASSERT_OK(InTransaction(*db_, [&]() -> Status {
    bump->Reset();
    bump->Bind(1, "a").Bind(2, 1);
    OTA_TRY(bump->Defer(1));
    seen->Reset();
    seen->Bind(1, "ok");
    return seen->Defer();
  }));
  ASSERT_TRUE(*count->Step());
  EXPECT_EQ(count->ColumnInt(0), 1);
  auto v = other_->Prepare("SELECT v FROM kv WHERE k = 'a'");
  ASSERT_OK(v);
  ASSERT_TRUE(*v->Step());
  EXPECT_EQ(v->ColumnInt(0), 2);
}

TEST_F(SqlSeamTest, RollbackDropsQueuedWritesAndAnEmptyTransactionCommits) {
  auto ins = db_->Prepare("INSERT INTO kv (k, v) VALUES (?, ?)");
  ASSERT_OK(ins);
  ASSERT_OK(db_->Begin());
  ASSERT_OK(Insert(*ins, "a", 1));
  ASSERT_OK(db_->Rollback());
  EXPECT_EQ(CommittedRows(), 0);
  ASSERT_OK(db_->Begin());
  ASSERT_OK(db_->Commit());
  ASSERT_OK(InTransaction(*db_, [&]() -> Status { return Insert(*ins, "b", 1); }));
  EXPECT_EQ(CommittedRows(), 1);
}

TEST_F(SqlSeamTest, AQueuedWriteWithABadParameterIsRefusedAtOnce) {
  auto ins = db_->Prepare("INSERT INTO kv (k, v) VALUES (?, ?)");
  ASSERT_OK(ins);
  ASSERT_OK(db_->Begin());
  ins->Bind(1, std::string("a\0b", 3)).Bind(2, 1);
  Status s = ins->Defer();
  if (db_->engine() == Database::Engine::kPostgres) {
    // PostgreSQL text holds no NUL byte: refused before anything is sent.
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  }
  ASSERT_OK(Insert(*ins, "c", 1));
  ASSERT_OK(db_->Commit());
  EXPECT_EQ(CommittedRows(), s.ok() ? 2 : 1);
}

}  // namespace
}  // namespace ota
