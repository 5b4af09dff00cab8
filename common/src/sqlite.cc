#include "ota/common/sqlite.h"

#include <sqlite3.h>

#include <algorithm>

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

}  // namespace

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_), stmt_(other.stmt_), bind_error_(std::move(other.bind_error_)) {
  other.stmt_ = nullptr;
}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = other.db_;
    stmt_ = other.stmt_;
    bind_error_ = std::move(other.bind_error_);
    other.stmt_ = nullptr;
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::Bind(int index, std::int64_t value) {
  if (sqlite3_bind_int64(stmt_, index, value) != SQLITE_OK && bind_error_.ok()) {
    bind_error_ = SqlError(db_, "bind failed");
  }
  return *this;
}

Statement& Statement::Bind(int index, std::string_view text) {
  if (sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8) !=
          SQLITE_OK &&
      bind_error_.ok()) {
    bind_error_ = SqlError(db_, "bind failed");
  }
  return *this;
}

Statement& Statement::BindBlob(int index, std::string_view bytes) {
  if (sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_TRANSIENT) !=
          SQLITE_OK &&
      bind_error_.ok()) {
    bind_error_ = SqlError(db_, "bind failed");
  }
  return *this;
}

Statement& Statement::BindNull(int index) {
  if (sqlite3_bind_null(stmt_, index) != SQLITE_OK && bind_error_.ok()) {
    bind_error_ = SqlError(db_, "bind failed");
  }
  return *this;
}

Result<bool> Statement::Step() {
  if (!bind_error_.ok()) return bind_error_.error();
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqlError(db_, "statement failed");
}

Status Statement::Run() {
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return Ok();
  }
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_error_ = Ok();
}

std::int64_t Statement::ColumnInt(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string Statement::ColumnText(int col) const {
  const void* data = sqlite3_column_blob(stmt_, col);
  int size = sqlite3_column_bytes(stmt_, col);
  if (data == nullptr || size <= 0) return std::string();
  return std::string(static_cast<const char*>(data), static_cast<std::size_t>(size));
}

bool Statement::ColumnIsNull(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

Result<std::unique_ptr<Database>> Database::Open(const std::string& path,
                                                 const std::vector<Migration>& migrations) {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Error e = SqlError(raw, "cannot open database " + path);
    sqlite3_close(raw);
    return e;
  }
  std::unique_ptr<Database> db(new Database(raw));
  sqlite3_busy_timeout(raw, 5000);
  // synchronous=FULL in WAL mode makes each commit durable on its own: the
  // agent's state must survive power loss right after a transition.
  OTA_TRY(db->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"));

  std::vector<Migration> sorted = migrations;
  std::sort(sorted.begin(), sorted.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
  int current = db->SchemaVersion();
  int newest = sorted.empty() ? 0 : sorted.back().version;
  if (current > newest) {
    return MakeError(ErrorCode::kRestartDeployment,
                     "database " + path + " has schema version " + std::to_string(current) +
                         ", newer than this build knows (" + std::to_string(newest) + ")");
  }
  for (const Migration& m : sorted) {
    if (m.version <= current) continue;
    Status s = InTransaction(*db, [&]() -> Status {
      OTA_TRY(db->Exec(m.sql));
      return db->Exec("PRAGMA user_version=" + std::to_string(m.version) + ";");
    });
    if (!s.ok()) {
      return MakeError(s.error().code, "migration " + std::to_string(m.version) + " of " + path +
                                           " failed: " + s.error().message);
    }
  }
  return db;
}

Database::~Database() { sqlite3_close(db_); }

Result<Statement> Database::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return SqlError(db_, "cannot prepare \"" + std::string(sql) + "\"");
  return Statement(db_, stmt);
}

Status Database::Exec(std::string_view sql) {
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

Status Database::Begin() { return Exec("BEGIN IMMEDIATE"); }
Status Database::Commit() {
  CrashPoint("db.commit");
  return Exec("COMMIT");
}
Status Database::Rollback() { return Exec("ROLLBACK"); }

std::int64_t Database::LastInsertRowId() const { return sqlite3_last_insert_rowid(db_); }

int Database::SchemaVersion() {
  auto stmt = Prepare("PRAGMA user_version");
  if (!stmt.ok()) return 0;
  auto row = stmt->Step();
  if (!row.ok() || !*row) return 0;
  return static_cast<int>(stmt->ColumnInt(0));
}

}  // namespace ota
