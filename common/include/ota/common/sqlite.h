// The one small wrapper around SQLite's C API (library ota_common_sqlite).
// Nothing else includes sqlite3.h.
//
// A Database is not thread-safe; open one per thread or guard it. Statements
// belong to the Database they were prepared on and must not outlive it.
#ifndef OTA_COMMON_SQLITE_H_
#define OTA_COMMON_SQLITE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ota/common/result.h"

struct sqlite3;
struct sqlite3_stmt;

namespace ota {

// One numbered migration: applied once, in order, never edited once released.
struct Migration {
  int version;
  std::string_view sql;
};

class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  ~Statement();

  // Binds a positional parameter (1-based).
  Statement& Bind(int index, std::int64_t value);
  Statement& Bind(int index, std::string_view text);
  Statement& BindBlob(int index, std::string_view bytes);
  Statement& BindNull(int index);

  // Steps once: true if a row is available, false when done.
  Result<bool> Step();
  // Runs to completion, discarding rows.
  Status Run();
  // Resets to run again with new bindings.
  void Reset();

  std::int64_t ColumnInt(int col) const;
  std::string ColumnText(int col) const;  // Also reads blobs.
  bool ColumnIsNull(int col) const;

 private:
  friend class Database;
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  Status bind_error_;
};

class Database {
 public:
  // Opens (creating if needed) the database at `path` in WAL mode with
  // synchronous=FULL, foreign keys on, and a busy timeout, then applies the
  // migrations whose version is above PRAGMA user_version, each in its own
  // transaction. Errors: kIo (cannot open), kRestartDeployment (corrupt or
  // newer schema than this build knows).
  static Result<std::unique_ptr<Database>> Open(const std::string& path,
                                                const std::vector<Migration>& migrations);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  Result<Statement> Prepare(std::string_view sql);
  // Executes one or more statements without results.
  Status Exec(std::string_view sql);
  // BEGIN IMMEDIATE / COMMIT / ROLLBACK.
  Status Begin();
  Status Commit();
  Status Rollback();
  std::int64_t LastInsertRowId() const;
  int SchemaVersion();

 private:
  explicit Database(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

// Runs `body` inside BEGIN IMMEDIATE ... COMMIT; rolls back if it fails.
template <typename F>
Status InTransaction(Database& db, F&& body) {
  OTA_TRY(db.Begin());
  Status s = std::forward<F>(body)();
  if (!s.ok()) {
    (void)db.Rollback();
    return s;
  }
  return db.Commit();
}

}  // namespace ota

#endif  // OTA_COMMON_SQLITE_H_
