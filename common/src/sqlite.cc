#include "ota/common/sqlite.h"

#include <sqlite3.h>

#include <memory>
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

// One prepared SQLite statement.
class SqliteStatement final : public StatementImpl {
 public:
  SqliteStatement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~SqliteStatement() override { sqlite3_finalize(stmt_); }
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
  sqlite3_stmt* stmt_;
  Status bind_error_;
};

class SqliteDatabase final : public Database {
 public:
  explicit SqliteDatabase(sqlite3* db) : db_(db) {}
  ~SqliteDatabase() override { sqlite3_close(db_); }

  Engine engine() const override { return Engine::kSqlite; }

  Result<Statement> Prepare(std::string_view sql) override {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
    if (rc != SQLITE_OK) return SqlError(db_, "cannot prepare \"" + std::string(sql) + "\"");
    return Statement(std::make_unique<SqliteStatement>(db_, stmt));
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

  int SchemaVersion() override {
    auto stmt = Prepare("PRAGMA user_version");
    if (!stmt.ok()) return 0;
    auto row = stmt->Step();
    if (!row.ok() || !*row) return 0;
    return static_cast<int>(stmt->ColumnInt(0));
  }

 private:
  sqlite3* db_;
};

}  // namespace

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
  OTA_TRY(ApplyMigrations(db->SchemaVersion(), migrations, path, [&](const Migration& m) {
    return InTransaction(*db, [&]() -> Status {
      OTA_TRY(db->Exec(m.sql));
      return db->Exec("PRAGMA user_version=" + std::to_string(m.version) + ";");
    });
  }));
  return db;
}

}  // namespace ota
