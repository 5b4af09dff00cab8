#include "ota/common/sqlite.h"

#include <sqlite3.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "ota/common/crash_points.h"

namespace ota {
namespace {

Error SqlError(sqlite3* db, const std::string& what) {
  int code = db != nullptr ? sqlite3_errcode(db) : SQLITE_ERROR;
  std::string msg = what + ": " + (db != nullptr ? sqlite3_errmsg(db) : "no database");
  switch (code & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return MakeError(ErrorCode::kRestartDeployment, msg);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return MakeError(ErrorCode::kRetryLater, msg);
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return MakeError(ErrorCode::kIo, msg);
    default:
      return MakeError(ErrorCode::kInternal, msg);
  }
}

// Statements a connection prepared and that are not in use, by their SQL,
// so that a statement the code prepares again (most are prepared once per
// call) is not parsed and planned again. Parsing was about a tenth of an
// agent's update cycle (docs/decisions.md D54). Shared with the statements
// out in use, which come back when destroyed, or are finalized if the
// connection closed first.
class StatementCache {
 public:
  static constexpr std::size_t kMax = 128;

  sqlite3_stmt* Take(std::string_view sql) {
    std::lock_guard lock(mu_);
    auto it = idle_.find(sql);
    if (it == idle_.end()) return nullptr;
    sqlite3_stmt* stmt = it->second;
    idle_.erase(it);
    return stmt;
  }
  // Keeps `stmt` (reset, without bindings) for `sql`, or finalizes it:
  // when the connection is closing, the cache is full, or the same SQL is
  // already kept (two were in use at once).
  void Give(std::string sql, sqlite3_stmt* stmt) {
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    {
      std::lock_guard lock(mu_);
      if (!closed_ && idle_.size() < kMax && idle_.emplace(std::move(sql), stmt).second) return;
    }
    sqlite3_finalize(stmt);
  }
  // The connection closes: nothing is kept from now on.
  void Close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    for (auto& [sql, stmt] : idle_) sqlite3_finalize(stmt);
    idle_.clear();
  }

 private:
  std::mutex mu_;
  bool closed_ = false;
  std::map<std::string, sqlite3_stmt*, std::less<>> idle_;
};

// One prepared SQLite statement.
class SqliteStatement final : public StatementImpl {
 public:
  SqliteStatement(sqlite3* db, std::string_view sql, sqlite3_stmt* stmt,
                  std::shared_ptr<StatementCache> cache)
      : db_(db), sql_(sql), stmt_(stmt), cache_(std::move(cache)) {}
  ~SqliteStatement() override { cache_->Give(std::move(sql_), stmt_); }
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;

  void BindInt(int index, std::int64_t value) override {
    Check(sqlite3_bind_int64(stmt_, index, value));
  }
  void BindText(int index, std::string_view text) override {
    Check(
        sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  }
  void BindBlob(int index, std::string_view bytes) override {
    Check(sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_TRANSIENT));
  }
  void BindNull(int index) override { Check(sqlite3_bind_null(stmt_, index)); }

  Result<bool> Step() override {
    if (!bind_error_.ok()) return bind_error_.error();
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqlError(db_, "statement failed");
  }

  void Reset() override {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    bind_error_ = Ok();
  }

  std::int64_t ColumnInt(int col) const override { return sqlite3_column_int64(stmt_, col); }
  std::string ColumnText(int col) const override {
    const void* data = sqlite3_column_blob(stmt_, col);
    int size = sqlite3_column_bytes(stmt_, col);
    if (data == nullptr || size <= 0) return std::string();
    return std::string(static_cast<const char*>(data), static_cast<std::size_t>(size));
  }
  bool ColumnIsNull(int col) const override {
    return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
  }

 private:
  void Check(int rc) {
    if (rc != SQLITE_OK && bind_error_.ok()) bind_error_ = SqlError(db_, "bind failed");
  }
  sqlite3* db_;
  std::string sql_;
  sqlite3_stmt* stmt_;
  std::shared_ptr<StatementCache> cache_;
  Status bind_error_;
};

class SqliteDatabase final : public Database {
 public:
  explicit SqliteDatabase(sqlite3* db) : db_(db) {}
  // A statement still in use keeps the connection open until it is
  // destroyed (sqlite3_close_v2).
  ~SqliteDatabase() override {
    cache_->Close();
    sqlite3_close_v2(db_);
  }

  Engine engine() const override { return Engine::kSqlite; }

  Result<Statement> Prepare(std::string_view sql) override {
    sqlite3_stmt* stmt = cache_->Take(sql);
    if (stmt == nullptr) {
      int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
      ++compiled_;
      if (rc != SQLITE_OK) return SqlError(db_, "cannot prepare \"" + std::string(sql) + "\"");
      if (stmt == nullptr)
        return MakeError(ErrorCode::kInternal, "cannot prepare an empty statement");
    }
    return Statement(std::make_unique<SqliteStatement>(db_, sql, stmt, cache_));
  }

  Status Exec(std::string_view sql) override {
    std::string owned(sql);
    char* err = nullptr;
    int rc = sqlite3_exec(db_, owned.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      Error e = SqlError(db_, "exec failed");
      sqlite3_free(err);
      return e;
    }
    return Ok();
  }

  Status Begin() override { return Exec("BEGIN IMMEDIATE"); }
  Status BeginShared() override { return Begin(); }
  Status BeginRead() override { return Exec("BEGIN DEFERRED"); }
  Status Commit() override {
    CrashPoint("db.commit");
    return Exec("COMMIT");
  }
  Status Rollback() override { return Exec("ROLLBACK"); }

  std::int64_t LastInsertRowId() const override { return sqlite3_last_insert_rowid(db_); }
  std::uint64_t compiled() const { return compiled_; }

  int SchemaVersion() override {
    auto stmt = Prepare("PRAGMA user_version");
    if (!stmt.ok()) return 0;
    auto row = stmt->Step();
    if (!row.ok() || !*row) return 0;
    return static_cast<int>(stmt->ColumnInt(0));
  }

 private:
  sqlite3* db_;
  std::shared_ptr<StatementCache> cache_ = std::make_shared<StatementCache>();
  std::atomic<std::uint64_t> compiled_{0};
};

}  // namespace

std::uint64_t StatementsCompiled(const Database& db) {
  const auto* sqlite = dynamic_cast<const SqliteDatabase*>(&db);
  return sqlite != nullptr ? sqlite->compiled() : 0;
}

Result<std::unique_ptr<Database>> Database::Open(const std::string& path,
                                                 const std::vector<Migration>& migrations,
                                                 bool durable) {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Error e = SqlError(raw, "cannot open database " + path);
    sqlite3_close(raw);
    return e;
  }
  std::unique_ptr<Database> db = std::make_unique<SqliteDatabase>(raw);
  sqlite3_busy_timeout(raw, 5000);
  // synchronous=FULL in WAL mode makes each commit durable on its own: the
  // agent's state must survive power loss right after a transition.
  OTA_TRY(db->Exec(std::string("PRAGMA journal_mode=WAL; PRAGMA synchronous=") +
                   (durable ? "FULL" : "OFF") + "; PRAGMA foreign_keys=ON;"));
  // Every pending migration in one transaction: a new database is created
  // with one commit, and a failed migration leaves the schema as it was.
  bool began = false;
  Status migrated =
      ApplyMigrations(db->SchemaVersion(), migrations, path, [&](const Migration& m) -> Status {
        if (!began) {
          OTA_TRY(db->Begin());
          began = true;
        }
        OTA_TRY(db->Exec(m.sql));
        return db->Exec("PRAGMA user_version=" + std::to_string(m.version) + ";");
      });
  if (!migrated.ok()) {
    if (began) (void)db->Rollback();
    return migrated.error();
  }
  if (began) OTA_TRY(db->Commit());
  return db;
}

}  // namespace ota
