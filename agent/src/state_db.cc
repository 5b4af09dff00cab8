#include "state_db.h"

#include <nlohmann/json.hpp>
#include <vector>

#include "ota/common/crash_points.h"
#include "ota/common/hash.h"
#include "ota/manifest/audit_log.h"

namespace ota::agent {

// Generated from agent/migrations/*.sql at build time.
std::vector<Migration> AgentMigrations();

namespace {

constexpr const char* kDeploymentColumns =
    "id, model, target_path, version, sha256, length, target_json, state, previous, saves, "
    "bytes_fetched, error_code, error, created_at, updated_at, activated_at_ms, confirm_restarts, "
    "rollback_attempts, plan_json";

DeploymentRow ReadDeployment(const Statement& s) {
  DeploymentRow r;
  r.id = s.ColumnInt(0);
  r.model = s.ColumnText(1);
  r.target_path = s.ColumnText(2);
  r.version = s.ColumnText(3);
  r.sha256 = s.ColumnText(4);
  r.length = static_cast<std::uint64_t>(s.ColumnInt(5));
  r.target_json = s.ColumnText(6);
  // An unknown state name (e.g. written by a newer build) resumes as a
  // rollback: anything the agent does not understand must not go forward.
  r.state = ParseState(s.ColumnText(7)).value_or(StateForUnknownName());
  r.previous = s.ColumnText(8);
  r.saves = static_cast<int>(s.ColumnInt(9));
  r.bytes_fetched = static_cast<std::uint64_t>(s.ColumnInt(10));
  r.error_code = s.ColumnText(11);
  r.error = s.ColumnText(12);
  r.created_at = s.ColumnInt(13);
  r.updated_at = s.ColumnInt(14);
  r.activated_at_ms = s.ColumnInt(15);
  r.confirm_restarts = static_cast<int>(s.ColumnInt(16));
  r.rollback_attempts = static_cast<int>(s.ColumnInt(17));
  r.plan_json = s.ColumnText(18);
  return r;
}

}  // namespace

Result<std::unique_ptr<StateDb>> StateDb::Open(const std::string& path, bool durable) {
  OTA_ASSIGN_OR_RETURN(auto db, Database::Open(path, AgentMigrations(), durable));
  return std::unique_ptr<StateDb>(new StateDb(std::move(db)));
}

Result<std::optional<std::string>> StateDb::GetSetting(const std::string& key) {
  OTA_ASSIGN_OR_RETURN(Statement s, db_->Prepare("SELECT value FROM settings WHERE key = ?"));
  s.Bind(1, key);
  OTA_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(s.ColumnText(0));
}

Status StateDb::SetSetting(const std::string& key, const std::string& value) {
  CrashPoint("db.write");
  OTA_ASSIGN_OR_RETURN(Statement s,
                       db_->Prepare("INSERT INTO settings(key, value) VALUES (?, ?) "
                                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value"));
  s.Bind(1, key).Bind(2, value);
  return s.Run();
}

Result<std::vector<DeploymentRow>> StateDb::QueryDeployments(const std::string& where_and_order,
                                                             const std::string& bind_text,
                                                             int limit) {
  OTA_ASSIGN_OR_RETURN(
      Statement s, db_->Prepare(std::string("SELECT ") + kDeploymentColumns + " FROM deployments " +
                                where_and_order + " LIMIT ?"));
  int index = 1;
  if (!bind_text.empty()) s.Bind(index++, bind_text);
  s.Bind(index, static_cast<std::int64_t>(limit));
  std::vector<DeploymentRow> rows;
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    rows.push_back(ReadDeployment(s));
  }
  return rows;
}

Result<std::optional<DeploymentRow>> StateDb::OpenDeployment(const std::string& model) {
  OTA_ASSIGN_OR_RETURN(
      auto rows, QueryDeployments("WHERE model = ? AND finished = 0 ORDER BY id DESC", model, 1));
  if (rows.empty()) return std::optional<DeploymentRow>();
  return std::optional<DeploymentRow>(std::move(rows.front()));
}

Result<std::vector<DeploymentRow>> StateDb::RecentDeployments(int limit) {
  return QueryDeployments("ORDER BY id DESC", "", limit);
}

std::string AuditChainHash(const std::string& previous_chain, std::int64_t seq,
                           const std::string& body) {
  return manifest::AuditLinkV1(previous_chain, seq, body);
}

// Inside the caller's transaction: the row and its chain link together. The
// body is stored in canonical form and linked with link version 2.
Status StateDb::InsertEvent(const std::string& event_json) {
  CrashPoint("db.write");
  const auto parsed = nlohmann::json::parse(event_json, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return MakeError(ErrorCode::kInvalidArgument, "an event must be JSON: " + event_json);
  }
  auto body = manifest::AuditBody(parsed);
  if (!body.ok()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     body.error().message + ": " + event_json.substr(0, 200));
  }
  std::string previous(manifest::kAuditGenesis);
  {
    OTA_ASSIGN_OR_RETURN(Statement last,
                         db_->Prepare("SELECT seq, chain FROM events ORDER BY seq DESC LIMIT 1"));
    OTA_ASSIGN_OR_RETURN(bool row, last.Step());
    if (row && !last.ColumnText(1).empty()) {
      previous = last.ColumnText(1);
    } else if (!row) {
      // Every event was pruned (never, in practice): the anchor checkpoint.
      OTA_ASSIGN_OR_RETURN(AuditHead head, GetAuditHead());
      previous = head.head;
    }
  }
  OTA_ASSIGN_OR_RETURN(Statement s,
                       db_->Prepare("INSERT INTO events(body, link_version) VALUES (?, 2)"));
  s.Bind(1, *body);
  OTA_TRY(s.Run());
  const std::int64_t seq = db_->LastInsertRowId();
  OTA_ASSIGN_OR_RETURN(Statement link, db_->Prepare("UPDATE events SET chain = ? WHERE seq = ?"));
  link.Bind(1, manifest::AuditLink(previous, seq, manifest::AuditBodyDigest(*body)));
  link.Bind(2, seq);
  return link.Run();
}

Result<std::int64_t> StateDb::CreateDeployment(const DeploymentRow& row, std::int64_t now,
                                               const std::vector<std::string>& events) {
  std::int64_t id = 0;
  OTA_TRY(InTransaction(*db_, [&]() -> Status {
    OTA_ASSIGN_OR_RETURN(
        Statement s,
        db_->Prepare("INSERT INTO deployments(model, target_path, version, sha256, length, "
                     "target_json, state, previous, saves, created_at, updated_at, plan_json) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)"));
    s.Bind(1, row.model)
        .Bind(2, row.target_path)
        .Bind(3, row.version)
        .Bind(4, row.sha256)
        .Bind(5, static_cast<std::int64_t>(row.length))
        .Bind(6, row.target_json)
        .Bind(7, StateName(row.state))
        .Bind(8, row.previous)
        .Bind(9, now)
        .Bind(10, now)
        .Bind(11, row.plan_json);
    OTA_TRY(s.Run());
    id = db_->LastInsertRowId();
    for (const std::string& e : events) OTA_TRY(InsertEvent(e));
    return Ok();
  }));
  return id;
}

Status StateDb::SaveState(std::int64_t id, State state, bool finished,
                          const std::string& error_code, const std::string& error, std::int64_t now,
                          const std::string& event_json) {
  return InTransaction(*db_, [&]() -> Status {
    OTA_ASSIGN_OR_RETURN(
        Statement s,
        db_->Prepare("UPDATE deployments SET state = ?, finished = ?, saves = saves + 1, "
                     "updated_at = ?, error_code = COALESCE(NULLIF(?, ''), error_code), "
                     "error = COALESCE(NULLIF(?, ''), error) WHERE id = ?"));
    s.Bind(1, StateName(state))
        .Bind(2, static_cast<std::int64_t>(finished ? 1 : 0))
        .Bind(3, now)
        .Bind(4, error_code)
        .Bind(5, error)
        .Bind(6, id);
    OTA_TRY(s.Run());
    return InsertEvent(event_json);
  });
}

Status StateDb::SetBytesFetched(std::int64_t id, std::uint64_t bytes) {
  CrashPoint("db.write");
  OTA_ASSIGN_OR_RETURN(Statement s,
                       db_->Prepare("UPDATE deployments SET bytes_fetched = ? WHERE id = ?"));
  s.Bind(1, static_cast<std::int64_t>(bytes)).Bind(2, id);
  return s.Run();
}

Result<std::int64_t> StateDb::StartConfirmation(std::int64_t id, std::int64_t now_ms,
                                                const std::string& event_json) {
  std::int64_t in_force = now_ms;
  OTA_TRY(InTransaction(*db_, [&]() -> Status {
    OTA_ASSIGN_OR_RETURN(Statement read,
                         db_->Prepare("SELECT activated_at_ms FROM deployments WHERE id = ?"));
    read.Bind(1, id);
    OTA_ASSIGN_OR_RETURN(bool row, read.Step());
    if (!row) return MakeError(ErrorCode::kNotFound, "no deployment " + std::to_string(id));
    if (read.ColumnInt(0) != 0) {
      in_force = read.ColumnInt(0);
      return Ok();
    }
    OTA_ASSIGN_OR_RETURN(Statement s,
                         db_->Prepare("UPDATE deployments SET activated_at_ms = ? WHERE id = ?"));
    s.Bind(1, now_ms).Bind(2, id);
    OTA_TRY(s.Run());
    return InsertEvent(event_json);
  }));
  return in_force;
}

Result<int> StateDb::CountConfirmRestart(std::int64_t id, const std::string& event_json) {
  return IncrementCounter(id, "confirm_restarts", event_json);
}

Result<int> StateDb::CountRollbackAttempt(std::int64_t id, const std::string& event_json) {
  return IncrementCounter(id, "rollback_attempts", event_json);
}

Result<int> StateDb::IncrementCounter(std::int64_t id, const char* column,
                                      const std::string& event_json) {
  int count = 0;
  OTA_TRY(InTransaction(*db_, [&]() -> Status {
    OTA_ASSIGN_OR_RETURN(Statement s, db_->Prepare(std::string("UPDATE deployments SET ") + column +
                                                   " = " + column + " + 1 WHERE id = ?"));
    s.Bind(1, id);
    OTA_TRY(s.Run());
    OTA_ASSIGN_OR_RETURN(Statement read, db_->Prepare(std::string("SELECT ") + column +
                                                      " FROM deployments WHERE id = ?"));
    read.Bind(1, id);
    OTA_ASSIGN_OR_RETURN(bool row, read.Step());
    if (!row) return MakeError(ErrorCode::kNotFound, "no deployment " + std::to_string(id));
    count = static_cast<int>(read.ColumnInt(0));
    return InsertEvent(event_json);
  }));
  return count;
}

Status StateDb::RecordVersion(const VersionRow& row) {
  CrashPoint("db.write");
  OTA_ASSIGN_OR_RETURN(Statement s,
                       db_->Prepare("INSERT OR REPLACE INTO versions(id, model, version, "
                                    "installed_at) VALUES (?, ?, ?, ?)"));
  s.Bind(1, row.id).Bind(2, row.model).Bind(3, row.version).Bind(4, row.installed_at);
  return s.Run();
}

Result<std::optional<VersionRow>> StateDb::GetVersion(const std::string& id) {
  OTA_ASSIGN_OR_RETURN(
      Statement s,
      db_->Prepare("SELECT id, model, version, installed_at FROM versions WHERE id = ?"));
  s.Bind(1, id);
  OTA_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<VersionRow>();
  return std::optional<VersionRow>(
      VersionRow{s.ColumnText(0), s.ColumnText(1), s.ColumnText(2), s.ColumnInt(3)});
}

Result<std::vector<VersionRow>> StateDb::ListVersions() {
  OTA_ASSIGN_OR_RETURN(
      Statement s,
      db_->Prepare(
          "SELECT id, model, version, installed_at FROM versions ORDER BY installed_at, rowid"));
  std::vector<VersionRow> rows;
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    rows.push_back(VersionRow{s.ColumnText(0), s.ColumnText(1), s.ColumnText(2), s.ColumnInt(3)});
  }
  return rows;
}

Status StateDb::ForgetVersion(const std::string& id, const std::string& event_json) {
  return InTransaction(*db_, [&]() -> Status {
    CrashPoint("db.write");
    OTA_ASSIGN_OR_RETURN(Statement s, db_->Prepare("DELETE FROM versions WHERE id = ?"));
    s.Bind(1, id);
    OTA_TRY(s.Run());
    return InsertEvent(event_json);
  });
}

Status StateDb::RecordShadowVerdict(const ShadowVerdict& row, const std::string& event_json) {
  return InTransaction(*db_, [&]() -> Status {
    CrashPoint("db.write");
    OTA_ASSIGN_OR_RETURN(
        Statement s,
        db_->Prepare("INSERT INTO shadow_verdicts(deployment_id, model, candidate_id, "
                     "candidate_version, current_id, current_version, verdict, action, gate, "
                     "reason, report, attempt, created_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    s.Bind(1, row.deployment_id)
        .Bind(2, row.model)
        .Bind(3, row.candidate_id)
        .Bind(4, row.candidate_version)
        .Bind(5, row.current_id)
        .Bind(6, row.current_version)
        .Bind(7, row.verdict)
        .Bind(8, row.action)
        .Bind(9, row.gate)
        .Bind(10, row.reason)
        .Bind(11, row.report_json)
        .Bind(12, static_cast<std::int64_t>(row.attempt))
        .Bind(13, row.created_at);
    OTA_TRY(s.Run());
    return InsertEvent(event_json);
  });
}

Result<std::vector<ShadowVerdict>> StateDb::ShadowVerdicts(const std::string& model, int limit) {
  OTA_ASSIGN_OR_RETURN(
      Statement s,
      db_->Prepare("SELECT id, deployment_id, model, candidate_id, candidate_version, current_id, "
                   "current_version, verdict, action, gate, reason, report, attempt, created_at "
                   "FROM shadow_verdicts WHERE (? = '' OR model = ?) ORDER BY id DESC LIMIT ?"));
  s.Bind(1, model).Bind(2, model).Bind(3, static_cast<std::int64_t>(limit));
  std::vector<ShadowVerdict> rows;
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool more, s.Step());
    if (!more) break;
    ShadowVerdict r;
    r.id = s.ColumnInt(0);
    r.deployment_id = s.ColumnInt(1);
    r.model = s.ColumnText(2);
    r.candidate_id = s.ColumnText(3);
    r.candidate_version = s.ColumnText(4);
    r.current_id = s.ColumnText(5);
    r.current_version = s.ColumnText(6);
    r.verdict = s.ColumnText(7);
    r.action = s.ColumnText(8);
    r.gate = s.ColumnText(9);
    r.reason = s.ColumnText(10);
    r.report_json = s.ColumnText(11);
    r.attempt = static_cast<int>(s.ColumnInt(12));
    r.created_at = s.ColumnInt(13);
    rows.push_back(std::move(r));
  }
  return rows;
}

Status StateDb::QueueEvent(const std::string& event_json) {
  return InTransaction(*db_, [&] { return InsertEvent(event_json); });
}

Status StateDb::QueueEvents(const std::vector<std::string>& events, const std::string& setting_key,
                            const std::string& setting_value) {
  return QueueEvents(events, {{setting_key, setting_value}});
}

Status StateDb::QueueEvents(const std::vector<std::string>& events,
                            const std::vector<std::pair<std::string, std::string>>& settings) {
  return InTransaction(*db_, [&]() -> Status {
    for (const std::string& e : events) OTA_TRY(InsertEvent(e));
    for (const auto& [key, value] : settings) {
      OTA_ASSIGN_OR_RETURN(Statement s,
                           db_->Prepare("INSERT INTO settings(key, value) VALUES (?, ?) "
                                        "ON CONFLICT(key) DO UPDATE SET value = excluded.value"));
      s.Bind(1, key).Bind(2, value);
      OTA_TRY(s.Run());
    }
    return Ok();
  });
}

Result<std::vector<PendingEvent>> StateDb::AllEvents() {
  OTA_ASSIGN_OR_RETURN(
      Statement s,
      db_->Prepare("SELECT seq, body, chain, link_version, delivered FROM events ORDER BY seq"));
  std::vector<PendingEvent> out;
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(PendingEvent{s.ColumnInt(0), s.ColumnText(1), s.ColumnText(2),
                               static_cast<int>(s.ColumnInt(3)), s.ColumnInt(4) != 0});
  }
  return out;
}

Result<std::vector<PendingEvent>> StateDb::PendingEvents(int limit) {
  OTA_ASSIGN_OR_RETURN(
      Statement s,
      db_->Prepare("SELECT seq, body, chain, link_version FROM events WHERE delivered = 0 "
                   "ORDER BY seq LIMIT ?"));
  s.Bind(1, static_cast<std::int64_t>(limit));
  std::vector<PendingEvent> out;
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(PendingEvent{s.ColumnInt(0), s.ColumnText(1), s.ColumnText(2),
                               static_cast<int>(s.ColumnInt(3)), false});
  }
  return out;
}

Status StateDb::MarkDelivered(std::int64_t up_to_seq) {
  CrashPoint("db.write");
  OTA_ASSIGN_OR_RETURN(Statement s, db_->Prepare("UPDATE events SET delivered = 1 WHERE seq <= ?"));
  s.Bind(1, up_to_seq);
  return s.Run();
}

Result<std::int64_t> StateDb::CountPendingEvents() {
  OTA_ASSIGN_OR_RETURN(Statement s,
                       db_->Prepare("SELECT COUNT(*) FROM events WHERE delivered = 0"));
  OTA_ASSIGN_OR_RETURN(bool row, s.Step());
  return row ? s.ColumnInt(0) : 0;
}

}  // namespace ota::agent
