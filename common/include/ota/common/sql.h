// The SQL seam: a database connection and its prepared statements, with two
// implementations: SQLite (ota/common/sqlite.h, library ota_common_sqlite;
// the agent's state and the embedded server store) and PostgreSQL
// (ota/common/postgres.h, library ota_common_postgres; the shared server
// store). The types here are implemented in library ota_common, except
// Database::Open, which opens SQLite.
//
// SQL text uses `?` placeholders and the dialect both engines accept
// (ON CONFLICT, RETURNING, COALESCE). A Database is not thread-safe; open one
// per thread or guard it. Statements belong to the Database they were
// prepared on and must not outlive it.
#ifndef OTA_COMMON_SQL_H_
#define OTA_COMMON_SQL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ota/common/result.h"

namespace ota {

// One numbered migration: applied once, in order, never edited once released.
struct Migration {
  int version;
  std::string_view sql;
};

// What a back end implements for one prepared statement.
class StatementImpl {
 public:
  virtual ~StatementImpl() = default;
  virtual void BindInt(int index, std::int64_t value) = 0;
  virtual void BindText(int index, std::string_view text) = 0;
  virtual void BindBlob(int index, std::string_view bytes) = 0;
  virtual void BindNull(int index) = 0;
  virtual Result<bool> Step() = 0;
  virtual void Reset() = 0;
  // Statement::Defer. This default runs the statement now.
  virtual Status Defer(int expect_rows);
  virtual std::int64_t ColumnInt(int col) const = 0;
  virtual std::string ColumnText(int col) const = 0;
  virtual bool ColumnIsNull(int col) const = 0;
};

class Statement {
 public:
  explicit Statement(std::unique_ptr<StatementImpl> impl) : impl_(std::move(impl)) {}
  Statement(Statement&&) noexcept = default;
  Statement& operator=(Statement&&) noexcept = default;
  ~Statement() = default;

  // Binds a positional parameter (1-based).
  Statement& Bind(int index, std::int64_t value) {
    impl_->BindInt(index, value);
    return *this;
  }
  Statement& Bind(int index, std::string_view text) {
    impl_->BindText(index, text);
    return *this;
  }
  Statement& BindBlob(int index, std::string_view bytes) {
    impl_->BindBlob(index, bytes);
    return *this;
  }
  Statement& BindNull(int index) {
    impl_->BindNull(index);
    return *this;
  }

  // Steps once: true if a row is available, false when done. The first step
  // runs the statement.
  Result<bool> Step() { return impl_->Step(); }
  // Runs to completion, discarding rows.
  Status Run();
  // Runs the statement with its current bindings, discarding rows, and
  // resets it: SQLite runs it now; PostgreSQL queues it and sends the queue
  // in one round trip (a pipeline) before the connection's next statement
  // that is stepped, Exec or Commit, so that many writes cost one wait. Its
  // error then surfaces from that call (Commit rolls back). With
  // `expect_rows` >= 0, returning another number of rows (count them with
  // RETURNING) is an error kRetryLater; on PostgreSQL a Commit whose queue
  // holds such a check sends COMMIT only once the checks passed.
  Status Defer(int expect_rows = -1) { return impl_->Defer(expect_rows); }
  // Resets to run again with new bindings.
  void Reset() { impl_->Reset(); }

  // A NULL column reads as 0 or as the empty string.
  std::int64_t ColumnInt(int col) const { return impl_->ColumnInt(col); }
  std::string ColumnText(int col) const { return impl_->ColumnText(col); }  // Also reads blobs.
  bool ColumnIsNull(int col) const { return impl_->ColumnIsNull(col); }

 private:
  std::unique_ptr<StatementImpl> impl_;
};

class Database {
 public:
  enum class Engine { kSqlite, kPostgres };

  // Opens (creating if needed) the SQLite database at `path` in WAL mode with
  // synchronous=FULL (OFF when not `durable`: the storage of a simulated
  // device, FileSystem::Durable), foreign keys on, and a busy timeout, then
  // applies the migrations whose version is above PRAGMA user_version, each
  // in its own transaction. Errors: kIo (cannot open), kRestartDeployment
  // (corrupt or newer schema than this build knows). Implemented in
  // ota_common_sqlite.
  static Result<std::unique_ptr<Database>> Open(const std::string& path,
                                                const std::vector<Migration>& migrations,
                                                bool durable = true);
  Database() = default;
  virtual ~Database() = default;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  virtual Engine engine() const = 0;
  virtual Result<Statement> Prepare(std::string_view sql) = 0;
  // Executes one or more statements without parameters or results.
  virtual Status Exec(std::string_view sql) = 0;
  // Begins a write transaction. Writers are serialized: SQLite's BEGIN
  // IMMEDIATE; on PostgreSQL a transaction-scoped advisory lock that every
  // writer of the same database takes, in any process.
  virtual Status Begin() = 0;
  // Begins a write transaction that other shared ones may run beside, but
  // never a Begin() one: on PostgreSQL the same advisory lock taken shared
  // (so its writes must not rely on being alone: rows they share are ordered
  // by the rows' own locks); on SQLite the same as Begin().
  virtual Status BeginShared() = 0;
  // Begins a read-only transaction that sees one snapshot throughout.
  virtual Status BeginRead() = 0;
  virtual Status Commit() = 0;
  virtual Status Rollback() = 0;
  // SQLite only (rowid of the last insert); PostgreSQL uses RETURNING.
  virtual std::int64_t LastInsertRowId() const = 0;
  virtual int SchemaVersion() = 0;
};

// Runs `body` inside Begin() (BeginShared() if `shared`) ... Commit(); rolls
// back if it fails.
template <typename F>
Status InTransaction(Database& db, F&& body, bool shared = false) {
  OTA_TRY(shared ? db.BeginShared() : db.Begin());
  Status s = std::forward<F>(body)();
  if (!s.ok()) {
    (void)db.Rollback();
    return s;
  }
  return db.Commit();
}

// Applies `migrations` above `current` in version order, each with
// `apply(migration)` (which runs it and records its version in one
// transaction). kRestartDeployment when `current` is newer than the newest
// migration; `where` names the database in messages.
Status ApplyMigrations(int current, const std::vector<Migration>& migrations,
                       const std::string& where,
                       const std::function<Status(const Migration&)>& apply);

}  // namespace ota

#endif  // OTA_COMMON_SQL_H_
