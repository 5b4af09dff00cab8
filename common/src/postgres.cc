#include "ota/common/postgres.h"

#include <libpq-fe.h>

#include <algorithm>
#include <cstdlib>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "ota/common/crash_points.h"

namespace ota {
namespace {

// Advisory lock keys (any 64-bit values no other user of the database
// takes): every write transaction holds kWriteLock until it ends, so writers
// in all processes are serialized as SQLite's are; migrations run under
// kMigrationLock.
constexpr std::int64_t kWriteLock = 0x4f54415752495445;      // "OTAWRITE"
constexpr std::int64_t kMigrationLock = 0x4f54414d49475241;  // "OTAMIGRA"

std::string Trimmed(const char* message) {
  std::string s = message != nullptr ? message : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Maps a failed result to an error by its SQLSTATE class.
Error ResultError(const PGresult* res, PGconn* conn, const std::string& what) {
  const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  std::string detail = res != nullptr ? Trimmed(PQresultErrorMessage(res)) : "";
  if (detail.empty()) detail = Trimmed(PQerrorMessage(conn));
  const std::string msg = what + ": " + detail;
  const std::string_view code = state != nullptr ? state : "";
  if (code.empty() || code.substr(0, 2) == "08" || code.substr(0, 2) == "53" ||
      code.substr(0, 2) == "57" || code.substr(0, 2) == "58") {
    // No SQLSTATE: the connection failed. 08: connection; 53: resources
    // (disk full, out of memory); 57: operator intervention (shutdown);
    // 58: system error (I/O).
    return MakeError(ErrorCode::kIo, msg);
  }
  if (code == "40001" || code == "40P01" || code == "55P03") {
    return MakeError(ErrorCode::kRetryLater, msg);
  }
  if (code.substr(0, 2) == "22") return MakeError(ErrorCode::kInvalidArgument, msg);
  return MakeError(ErrorCode::kInternal, msg);
}

// `?` placeholders as $1, $2, ... outside quoted text and comments.
std::pair<std::string, int> NumberPlaceholders(std::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 16);
  int n = 0;
  for (std::size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (c == '\'' || c == '"') {
      const std::size_t end = sql.find(c, i + 1);
      const std::size_t stop = end == std::string_view::npos ? sql.size() : end + 1;
      out.append(sql.substr(i, stop - i));
      i = stop - 1;
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      const std::size_t end = sql.find('\n', i);
      const std::size_t stop = end == std::string_view::npos ? sql.size() : end;
      out.append(sql.substr(i, stop - i));
      i = stop - 1;
    } else if (c == '?') {
      out += '$' + std::to_string(++n);
    } else {
      out += c;
    }
  }
  return {out, n};
}

class PgDatabase;

class PgStatement final : public StatementImpl {
 public:
  PgStatement(PgDatabase* db, std::string sql, int params)
      : db_(db),
        sql_(std::move(sql)),
        values_(static_cast<std::size_t>(params)),
        null_(static_cast<std::size_t>(params), true) {}
  ~PgStatement() override { PQclear(res_); }
  PgStatement(const PgStatement&) = delete;
  PgStatement& operator=(const PgStatement&) = delete;

  void BindInt(int index, std::int64_t value) override { Set(index, std::to_string(value)); }
  void BindText(int index, std::string_view text) override {
    // Parameters travel as C strings; PostgreSQL text holds no NUL either.
    if (text.find('\0') != std::string_view::npos) {
      if (bind_error_.ok()) {
        bind_error_ =
            MakeError(ErrorCode::kInvalidArgument,
                      "bind failed: text parameter " + std::to_string(index) + " holds a NUL byte");
      }
      return;
    }
    Set(index, std::string(text));
  }
  void BindBlob(int index, std::string_view bytes) override { BindText(index, bytes); }
  void BindNull(int index) override {
    if (!InRange(index)) return;
    null_[static_cast<std::size_t>(index - 1)] = true;
  }

  Result<bool> Step() override;
  Status Defer(int expect_rows) override;

  void Reset() override {
    PQclear(res_);
    res_ = nullptr;
    row_ = -1;
    for (std::size_t i = 0; i < null_.size(); ++i) null_[i] = true;
    bind_error_ = Ok();
  }

  std::int64_t ColumnInt(int col) const override {
    const char* v = Value(col);
    if (v == nullptr) return 0;
    if (v[0] == 't' && v[1] == '\0') return 1;
    return std::strtoll(v, nullptr, 10);
  }
  std::string ColumnText(int col) const override {
    const char* v = Value(col);
    if (v == nullptr) return std::string();
    return std::string(v, static_cast<std::size_t>(PQgetlength(res_, row_, col)));
  }
  bool ColumnIsNull(int col) const override {
    if (res_ == nullptr || row_ < 0 || row_ >= PQntuples(res_) || col < 0 ||
        col >= PQnfields(res_)) {
      return true;
    }
    return PQgetisnull(res_, row_, col) != 0;
  }

 private:
  bool InRange(int index) {
    if (index >= 1 && static_cast<std::size_t>(index) <= values_.size()) return true;
    if (bind_error_.ok()) {
      bind_error_ =
          MakeError(ErrorCode::kInternal,
                    "bind failed: no parameter " + std::to_string(index) + " in \"" + sql_ + "\"");
    }
    return false;
  }
  void Set(int index, std::string value) {
    if (!InRange(index)) return;
    values_[static_cast<std::size_t>(index - 1)] = std::move(value);
    null_[static_cast<std::size_t>(index - 1)] = false;
  }
  const char* Value(int col) const {
    if (ColumnIsNull(col)) return nullptr;
    return PQgetvalue(res_, row_, col);
  }

  PgDatabase* db_;
  std::string sql_;
  std::vector<std::string> values_;
  std::vector<bool> null_;
  Status bind_error_;
  PGresult* res_ = nullptr;
  int row_ = -1;
};

class PgDatabase final : public Database {
 public:
  explicit PgDatabase(PGconn* conn) : conn_(conn) { Quiet(); }
  ~PgDatabase() override { PQfinish(conn_); }

  Engine engine() const override { return Engine::kPostgres; }

  Result<Statement> Prepare(std::string_view sql) override {
    auto [numbered, params] = NumberPlaceholders(sql);
    OTA_ASSIGN_OR_RETURN(std::string name, Prepared(numbered));
    (void)name;
    return Statement(std::make_unique<PgStatement>(this, std::move(numbered), params));
  }

  Status Exec(std::string_view sql) override {
    OTA_TRY(Ready());
    if (Queued()) {
      OTA_ASSIGN_OR_RETURN(PGresult * none, RoundTrip(nullptr, /*commit=*/false));
      PQclear(none);
    }
    PGresult* res = PQexec(conn_, std::string(sql).c_str());
    const ExecStatusType st = PQresultStatus(res);
    Status s = Ok();
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) s = ResultError(res, conn_, "exec failed");
    PQclear(res);
    return s;
  }

  // BEGIN and the write lock are sent with the transaction's first
  // statement, in the same round trip.
  Status BeginWrite(bool shared) {
    OTA_TRY(Ready());
    deferred_.clear();
    begin_pending_ = true;
    begin_shared_ = shared;
    in_transaction_ = true;
    return Ok();
  }
  Status Begin() override { return BeginWrite(/*shared=*/false); }
  Status BeginShared() override { return BeginWrite(/*shared=*/true); }
  Status BeginRead() override {
    OTA_TRY(Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
    in_transaction_ = true;
    return Ok();
  }
  Status Commit() override {
    CrashPoint("db.commit");
    if (begin_pending_ && deferred_.empty()) {
      // Nothing was sent: there is nothing to commit.
      begin_pending_ = false;
      in_transaction_ = false;
      return Ok();
    }
    Result<PGresult*> done = RoundTrip(nullptr, /*commit=*/true);
    if (!done.ok()) {
      (void)Rollback();  // A failed statement left the transaction open.
      return done.error();
    }
    in_transaction_ = false;
    return Ok();
  }
  Status Rollback() override {
    deferred_.clear();
    in_transaction_ = false;
    if (std::exchange(begin_pending_, false)) return Ok();  // Nothing was sent.
    if (PQstatus(conn_) != CONNECTION_OK) return Ok();      // Nothing to roll back.
    PGresult* res = PQexec(conn_, "ROLLBACK");
    PQclear(res);
    return Ok();
  }

  std::int64_t LastInsertRowId() const override { return 0; }

  int SchemaVersion() override {
    auto q = Prepare("SELECT COALESCE(MAX(version), 0) FROM ota_schema_version");
    if (!q.ok()) return 0;
    auto row = q->Step();
    if (!row.ok() || !*row) return 0;
    return static_cast<int>(q->ColumnInt(0));
  }

  // The name of the prepared statement for `sql` ($n placeholders),
  // preparing it on this connection the first time.
  Result<std::string> Prepared(const std::string& sql) {
    OTA_TRY(Ready());
    auto it = prepared_.find(sql);
    if (it != prepared_.end()) return it->second;
    std::string name = "ota_" + std::to_string(prepared_.size() + 1);
    PGresult* res = PQprepare(conn_, name.c_str(), sql.c_str(), 0, nullptr);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
      Error e = ResultError(res, conn_, "cannot prepare \"" + sql + "\"");
      PQclear(res);
      return e;
    }
    PQclear(res);
    prepared_.emplace(sql, name);
    return name;
  }

  Result<PGresult*> Execute(const std::string& sql, const std::vector<std::string>& values,
                            const std::vector<bool>& null) {
    OTA_ASSIGN_OR_RETURN(std::string name, Prepared(sql));
    if (Queued()) {
      const Query q{std::move(name), false, values, null, -1};
      return RoundTrip(&q, /*commit=*/false);
    }
    std::vector<const char*> params = Params(values, null);
    PGresult* res = PQexecPrepared(conn_, name.c_str(), static_cast<int>(params.size()),
                                   params.data(), nullptr, nullptr, 0);
    const ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return res;
    Error e = ResultError(res, conn_, "statement failed");
    PQclear(res);
    return e;
  }

  // Statement::Defer. A row check runs in the server: the statement is
  // wrapped so that another number of rows divides by zero, which fails the
  // transaction before any COMMIT queued after it.
  Status Enqueue(const std::string& sql, const std::vector<std::string>& values,
                 const std::vector<bool>& null, int expect_rows) {
    std::string text = sql;
    if (expect_rows >= 0) {
      text = "WITH ota_checked AS (" + sql +
             ") SELECT 1 / (CASE WHEN count(*) = " + std::to_string(expect_rows) +
             " THEN 1 ELSE 0 END) FROM ota_checked";
    }
    OTA_ASSIGN_OR_RETURN(std::string name, Prepared(text));
    deferred_.push_back(Query{std::move(name), false, values, null, expect_rows});
    return Ok();
  }

 private:
  // One statement of a pipeline: a prepared statement's execution, or text
  // without parameters (BEGIN, the lock, COMMIT).
  struct Query {
    std::string name;  // The prepared statement's name, or the text.
    bool text = false;
    std::vector<std::string> values;
    std::vector<bool> null;
    int expect_rows = -1;
  };

  // Statements per pipeline sync: their answers (tens of bytes each) stay
  // far below what the socket buffers hold while the rest is still being
  // sent, so a blocking connection cannot stall on a full buffer.
  static constexpr std::size_t kPipelineChunk = 500;

  static std::vector<const char*> Params(const std::vector<std::string>& values,
                                         const std::vector<bool>& null) {
    std::vector<const char*> params(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
      params[i] = null[i] ? nullptr : values[i].c_str();
    }
    return params;
  }

  bool Queued() const { return begin_pending_ || !deferred_.empty(); }

  // Sends a pending BEGIN, the queued statements, then `last` (whose result
  // is returned) or COMMIT, as one pipeline (a sync every kPipelineChunk
  // statements), and reads every answer. The first failure is returned; the
  // server skips the rest of its pipeline.
  Result<PGresult*> RoundTrip(const Query* last, bool commit) {
    std::vector<Query> items;
    if (std::exchange(begin_pending_, false)) {
      items.push_back(Query{"BEGIN", true, {}, {}, -1});
      const char* lock = begin_shared_ ? "pg_advisory_xact_lock_shared(" : "pg_advisory_xact_lock(";
      items.push_back(Query{
          "SELECT " + std::string(lock) + std::to_string(kWriteLock) + ")", true, {}, {}, -1});
    }
    for (Query& q : deferred_) items.push_back(std::move(q));
    deferred_.clear();
    if (last != nullptr) items.push_back(*last);
    if (commit) items.push_back(Query{"COMMIT", true, {}, {}, -1});
    if (PQenterPipelineMode(conn_) != 1) {
      return MakeError(ErrorCode::kIo,
                       "cannot enter pipeline mode: " + Trimmed(PQerrorMessage(conn_)));
    }
    const std::size_t keep = last != nullptr ? items.size() - 1 : items.size();
    Status first = Ok();
    PGresult* kept = nullptr;
    for (std::size_t begin = 0; begin < items.size() && first.ok(); begin += kPipelineChunk) {
      const std::size_t end = std::min(items.size(), begin + kPipelineChunk);
      first = SendChunk(items, begin, end, keep, &kept);
    }
    LeavePipeline();
    if (!first.ok()) {
      PQclear(kept);
      return first.error();
    }
    return kept;
  }

  // Sends items [begin, end) and a sync, then reads their answers; the
  // answer of item `keep` goes to *kept.
  Status SendChunk(const std::vector<Query>& items, std::size_t begin, std::size_t end,
                   std::size_t keep, PGresult** kept) {
    std::size_t sent = 0;
    for (std::size_t i = begin; i < end; ++i) {
      const Query& q = items[i];
      std::vector<const char*> params = Params(q.values, q.null);
      const int ok =
          q.text
              ? PQsendQueryParams(conn_, q.name.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0)
              : PQsendQueryPrepared(conn_, q.name.c_str(), static_cast<int>(params.size()),
                                    params.data(), nullptr, nullptr, 0);
      if (ok != 1) break;
      ++sent;
    }
    if (PQpipelineSync(conn_) != 1 || sent != end - begin) {
      return MakeError(ErrorCode::kIo,
                       "cannot send to PostgreSQL: " + Trimmed(PQerrorMessage(conn_)));
    }
    Status first = Ok();
    for (std::size_t i = begin; i < end; ++i) {
      bool any = false;
      while (PGresult* res = PQgetResult(conn_)) {
        any = true;
        Status s = Answer(res, items[i]);
        if (s.ok() && i == keep && *kept == nullptr) {
          *kept = res;
        } else {
          PQclear(res);
        }
        if (!s.ok() && first.ok()) first = s;
      }
      if (!any) {
        return MakeError(ErrorCode::kIo,
                         "PostgreSQL connection lost: " + Trimmed(PQerrorMessage(conn_)));
      }
    }
    PGresult* sync = PQgetResult(conn_);  // The sync point's own answer.
    const bool synced = sync != nullptr && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
    PQclear(sync);
    if (!synced && first.ok()) {
      first = MakeError(ErrorCode::kIo, "PostgreSQL pipeline lost its sync point: " +
                                            Trimmed(PQerrorMessage(conn_)));
    }
    return first;
  }

  // Leaves pipeline mode, first reading whatever answers a failure left.
  void LeavePipeline() {
    while (PQpipelineStatus(conn_) != PQ_PIPELINE_OFF) {
      if (PQexitPipelineMode(conn_) == 1 || PQstatus(conn_) != CONNECTION_OK) return;
      PQclear(PQgetResult(conn_));
    }
  }

  // One answer of a pipelined statement.
  Status Answer(PGresult* res, const Query& q) {
    const std::string what = q.text ? q.name + " failed" : "statement failed";
    const ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_PIPELINE_ABORTED) {
      return MakeError(ErrorCode::kInternal, what + ": skipped after an earlier failure");
    }
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
      if (q.expect_rows >= 0 && state != nullptr && std::string_view(state) == "22012") {
        return MakeError(ErrorCode::kRetryLater,
                         "statement did not return the " + std::to_string(q.expect_rows) +
                             " rows expected: \"" + SqlNamed(q.name) + "\"");
      }
      return ResultError(res, conn_, what);
    }
    if (q.text && q.name == "COMMIT" && std::string_view(PQcmdStatus(res)) == "ROLLBACK") {
      return MakeError(ErrorCode::kInternal, "commit failed: the transaction was aborted");
    }
    return Ok();
  }

  std::string SqlNamed(const std::string& name) const {
    for (const auto& [sql, n] : prepared_) {
      if (n == name) return sql;
    }
    return name;
  }

  void Quiet() {
    // Notices ("relation already exists, skipping") are not errors.
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
  }

  // Re-establishes a lost connection between transactions (its prepared
  // statements are gone with it); inside one, the transaction is lost.
  Status Ready() {
    if (PQstatus(conn_) == CONNECTION_OK) return Ok();
    if (in_transaction_) {
      return MakeError(ErrorCode::kIo, "PostgreSQL connection lost inside a transaction");
    }
    prepared_.clear();
    PQreset(conn_);
    if (PQstatus(conn_) != CONNECTION_OK) {
      return MakeError(ErrorCode::kIo,
                       "PostgreSQL connection lost: " + Trimmed(PQerrorMessage(conn_)));
    }
    Quiet();
    return Ok();
  }

  PGconn* conn_;
  bool in_transaction_ = false;
  bool begin_pending_ = false;  // Begin() was called; BEGIN not sent yet.
  bool begin_shared_ = false;   // ... by BeginShared().
  std::vector<Query> deferred_;
  std::unordered_map<std::string, std::string> prepared_;
};

Result<bool> PgStatement::Step() {
  if (!bind_error_.ok()) return bind_error_.error();
  if (res_ == nullptr) {
    OTA_ASSIGN_OR_RETURN(res_, db_->Execute(sql_, values_, null_));
    row_ = -1;
  }
  ++row_;
  return row_ < PQntuples(res_);
}

Status PgStatement::Defer(int expect_rows) {
  Status s = bind_error_;
  if (s.ok()) s = db_->Enqueue(sql_, values_, null_, expect_rows);
  Reset();
  return s;
}

}  // namespace

bool IsPostgresUri(std::string_view spec) {
  return spec.rfind("postgresql://", 0) == 0 || spec.rfind("postgres://", 0) == 0;
}

Result<std::unique_ptr<Database>> OpenPostgres(const std::string& uri,
                                               const std::vector<Migration>& migrations) {
  if (!IsPostgresUri(uri)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "a PostgreSQL database is named by a postgresql:// URI");
  }
  PGconn* conn = PQconnectdb(uri.c_str());
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
    Error e = MakeError(ErrorCode::kIo,
                        "cannot connect to PostgreSQL: " +
                            Trimmed(conn != nullptr ? PQerrorMessage(conn) : "out of memory"));
    PQfinish(conn);
    return e;
  }
  auto db = std::make_unique<PgDatabase>(conn);
  const std::string lock = std::to_string(kMigrationLock);
  OTA_TRY(db->Exec("SELECT pg_advisory_lock(" + lock + ")"));
  Status s = [&]() -> Status {
    OTA_TRY(db->Exec("CREATE TABLE IF NOT EXISTS ota_schema_version (version BIGINT NOT NULL)"));
    return ApplyMigrations(db->SchemaVersion(), migrations, "(PostgreSQL)",
                           [&](const Migration& m) {
                             return InTransaction(*db, [&]() -> Status {
                               OTA_TRY(db->Exec(m.sql));
                               return db->Exec("INSERT INTO ota_schema_version VALUES (" +
                                               std::to_string(m.version) + ")");
                             });
                           });
  }();
  (void)db->Exec("SELECT pg_advisory_unlock(" + lock + ")");
  if (!s.ok()) return s.error();
  return std::unique_ptr<Database>(std::move(db));
}

}  // namespace ota
