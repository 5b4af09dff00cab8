// Pruning of the server audit log behind a signed checkpoint
// (docs/audit.md, "Pruning").
#include <algorithm>
#include <climits>

#include "audit_log.h"
#include "ota/common/env.h"
#include "ota/verifier/keys.h"

namespace ota::server {
namespace {

using nlohmann::json;

// One integer (or NULL: `fallback`) from a query with one bound integer.
Result<std::int64_t> QueryInt(Database& db, const char* sql, std::int64_t bind,
                              std::int64_t fallback) {
  OTA_ASSIGN_OR_RETURN(Statement q, db.Prepare(sql));
  q.Bind(1, bind);
  OTA_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row || q.ColumnIsNull(0)) return fallback;
  return q.ColumnInt(0);
}

// The body "time" of record `seq`.
Result<std::string> RecordTime(Database& db, std::int64_t seq) {
  OTA_ASSIGN_OR_RETURN(Statement q, db.Prepare("SELECT at FROM audit_log WHERE seq = ?"));
  q.Bind(1, seq);
  OTA_ASSIGN_OR_RETURN(bool row, q.Step());
  return row ? AuditTime(q.ColumnInt(0)) : std::string();
}

Status RunStatement(Database& db, const char* sql, std::int64_t bind) {
  OTA_ASSIGN_OR_RETURN(Statement q, db.Prepare(sql));
  q.Bind(1, bind);
  return q.Run();
}

}  // namespace

Result<ServerAuditPruneResult> PruneServerAudit(Database& db, const verifier::PrivateKey& key,
                                                std::int64_t before_seq,
                                                std::optional<std::int64_t> before_time,
                                                std::int64_t now) {
  if (before_seq < 2) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "prune before record " + std::to_string(before_seq) +
                         ": the first record that stays must be 2 or later");
  }
  ServerAuditPruneResult result;
  OTA_TRY(InTransaction(db, [&]() -> Status {
    OTA_ASSIGN_OR_RETURN(ServerLogCheck check, VerifyServerLog(db, {key.public_key}));
    if (!check.intact) {
      return MakeError(ErrorCode::kSecurity, "the server audit log does not verify (" +
                                                 check.message + "); nothing pruned");
    }
    std::int64_t limit = before_seq - 1;
    if (before_time) {
      OTA_ASSIGN_OR_RETURN(
          std::int64_t first_kept,
          QueryInt(db, "SELECT MIN(seq) FROM audit_log WHERE at >= ?", *before_time, INT64_MAX));
      limit = std::min(limit, first_kept - 1);
    }
    OTA_ASSIGN_OR_RETURN(result.from,
                         QueryInt(db, "SELECT MIN(seq) FROM audit_log WHERE seq > ?", 0, 0));
    OTA_ASSIGN_OR_RETURN(result.to,
                         QueryInt(db,
                                  "SELECT MAX(seq) FROM audit_checkpoints WHERE log = 'server' AND "
                                  "seq <= ?",
                                  limit, 0));
    if (result.from == 0 || result.to < result.from) {
      return MakeError(ErrorCode::kNotFound,
                       "nothing to prune: no signed checkpoint covers records before #" +
                           std::to_string(limit + 1) +
                           " (the server signs one every --audit-checkpoint-interval, at "
                           "shutdown and at each export)");
    }
    OTA_ASSIGN_OR_RETURN(std::string from_time, RecordTime(db, result.from));
    OTA_ASSIGN_OR_RETURN(std::string to_time, RecordTime(db, result.to));
    OTA_ASSIGN_OR_RETURN(Statement c, db.Prepare("SELECT head, time FROM audit_checkpoints WHERE "
                                                 "log = 'server' AND seq = ?"));
    c.Bind(1, result.to);
    OTA_ASSIGN_OR_RETURN(bool found, c.Step());
    if (!found) return MakeError(ErrorCode::kInternal, "the anchor checkpoint vanished");
    result.records = result.to - result.from + 1;
    ServerAuditRecord pruned{"audit-pruned",
                             "server-admin",
                             "",
                             "",
                             "",
                             json{{"from", result.from},
                                  {"to", result.to},
                                  {"head", c.ColumnText(0)},
                                  {"records", result.records},
                                  {"from_time", from_time},
                                  {"to_time", to_time},
                                  {"checkpoint_time", c.ColumnText(1)}}};
    OTA_TRY(AppendServerAuditStatus(db, pruned, now));
    OTA_TRY(RunStatement(db, "DELETE FROM audit_log WHERE seq <= ?", result.to));
    OTA_TRY(RunStatement(db, "DELETE FROM audit_checkpoints WHERE log = 'server' AND seq < ?",
                         result.to));
    OTA_ASSIGN_OR_RETURN(result.carried_devices, CarryDeviceEnrollments(db, "audit-pruned", now));
    OTA_ASSIGN_OR_RETURN(manifest::AuditCheckpoint head,
                         CheckpointServerLog(db, key, AuditTime(now)));
    result.head = head.seq;
    return Ok();
  }));
  return result;
}

}  // namespace ota::server
