#include "ota/agent/sessions.h"

#include <sys/stat.h>

#include "ota/common/filesystem.h"
#include "ota/common/hash.h"
#include "ota/common/sqlite.h"

namespace ota::agent {

std::vector<Migration> SessionMigrations();  // Generated from agent/session_migrations.

namespace {

std::int64_t ToMs(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

Status CheckId(const std::string& version_id) {
  if (!IsLowerHex(version_id, 64)) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        "version id must be 64 lower-case hex digits (got \"" + version_id.substr(0, 80) + "\")");
  }
  return Ok();
}

}  // namespace

SessionLog::SessionLog(std::unique_ptr<Database> db, std::unique_ptr<Clock> owned, Clock* clock)
    : db_(std::move(db)), owned_clock_(std::move(owned)), clock_(clock) {}

SessionLog::~SessionLog() = default;

Result<std::unique_ptr<SessionLog>> SessionLog::Open(const std::string& state_dir, Clock* clock) {
  OTA_ASSIGN_OR_RETURN(auto db,
                       Database::Open(JoinPath(state_dir, kSessionsDbFile), SessionMigrations()));
  std::unique_ptr<Clock> owned;
  if (clock == nullptr) {
    owned = MakeSystemClock();
    clock = owned.get();
  }
  return std::unique_ptr<SessionLog>(new SessionLog(std::move(db), std::move(owned), clock));
}

Status SessionLog::Report(const std::string& version_id, bool ok, const std::string& message) {
  OTA_TRY(CheckId(version_id));
  std::string text = message.substr(0, kMaxSessionMessageBytes);
  std::lock_guard<std::mutex> lock(mu_);
  OTA_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("INSERT INTO session_outcomes (version_id, ok, message, time_ms) "
                   "VALUES (?, ?, ?, ?)"));
  stmt.Bind(1, version_id).Bind(2, std::int64_t{ok ? 1 : 0}).Bind(3, text);
  stmt.Bind(4, ToMs(clock_->Now()));
  return stmt.Run();
}

Result<std::vector<SessionOutcome>> ReadSessionOutcomes(
    const std::string& state_dir, const std::string& version_id,
    std::chrono::system_clock::time_point since) {
  OTA_TRY(CheckId(version_id));
  std::vector<SessionOutcome> out;
  const std::string path = JoinPath(state_dir, kSessionsDbFile);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return out;
  OTA_ASSIGN_OR_RETURN(auto db, Database::Open(path, SessionMigrations()));
  OTA_ASSIGN_OR_RETURN(Statement stmt,
                       db->Prepare("SELECT ok, message, time_ms FROM session_outcomes "
                                   "WHERE version_id = ? AND time_ms >= ? ORDER BY time_ms, id"));
  stmt.Bind(1, version_id).Bind(2, ToMs(since));
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    SessionOutcome o;
    o.version_id = version_id;
    o.ok = stmt.ColumnInt(0) != 0;
    o.message = stmt.ColumnText(1);
    o.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(stmt.ColumnInt(2)));
    out.push_back(std::move(o));
  }
  return out;
}

Result<std::vector<SessionHourCount>> CountSessionsByHour(
    const std::string& state_dir, std::chrono::system_clock::time_point since,
    std::chrono::system_clock::time_point until) {
  std::vector<SessionHourCount> out;
  const std::string path = JoinPath(state_dir, kSessionsDbFile);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return out;
  OTA_ASSIGN_OR_RETURN(auto db, Database::Open(path, SessionMigrations()));
  constexpr std::int64_t kHourMs = 3600 * 1000;
  OTA_ASSIGN_OR_RETURN(Statement stmt,
                       db->Prepare("SELECT version_id, time_ms / ? AS hour, COUNT(*), SUM(ok = 0) "
                                   "FROM session_outcomes WHERE time_ms >= ? AND time_ms < ? "
                                   "GROUP BY hour, version_id ORDER BY hour, version_id"));
  stmt.Bind(1, kHourMs).Bind(2, ToMs(since)).Bind(3, ToMs(until));
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    SessionHourCount c;
    c.version_id = stmt.ColumnText(0);
    c.hour = std::chrono::system_clock::time_point(
        std::chrono::milliseconds(stmt.ColumnInt(1) * kHourMs));
    c.sessions = stmt.ColumnInt(2);
    c.failed = stmt.ColumnInt(3);
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace ota::agent
