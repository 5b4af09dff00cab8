// Event retention: device events received before a cut-off are deleted in
// batches, each device's as a prefix of its log, with its chain anchor moved
// past what was deleted so that exports of what is kept still verify
// (docs/operations.md, "Retention").
#include <map>
#include <string>

#include "audit_log.h"
#include "device_chain.h"
#include "event_retention.h"
#include "ota/manifest/audit_log.h"

namespace ota::server {
namespace {

using nlohmann::json;

// Removes one batch: at most `batch` of the oldest events found, as whole
// prefixes of their devices' logs. Adds to `out`; false when nothing was
// left to remove.
Result<bool> PruneBatch(Database& db, std::int64_t before, std::int64_t batch,
                        EventPruneResult& out) {
  // The last event to go, per device: the highest seq among its old events.
  OTA_ASSIGN_OR_RETURN(Statement old,
                       db.Prepare("SELECT device_id, MAX(seq) FROM (SELECT device_id, seq FROM "
                                  "events WHERE received_at < ? ORDER BY received_at LIMIT ?) o "
                                  "GROUP BY device_id"));
  old.Bind(1, before).Bind(2, batch);
  std::map<std::string, std::int64_t> last;
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool row, old.Step());
    if (!row) break;
    last[old.ColumnText(0)] = old.ColumnInt(1);
  }
  if (last.empty()) return false;
  OTA_ASSIGN_OR_RETURN(Statement body,
                       db.Prepare("SELECT body FROM events WHERE device_id = ? AND seq = ?"));
  OTA_ASSIGN_OR_RETURN(
      Statement del, db.Prepare("DELETE FROM events WHERE device_id = ? AND seq <= ? RETURNING 1"));
  OTA_ASSIGN_OR_RETURN(Statement anchor,
                       db.Prepare("UPDATE device_chains SET anchor_seq = ?, anchor_link = ? "
                                  "WHERE device_id = ? AND anchor_seq <= ?"));
  OTA_ASSIGN_OR_RETURN(Statement cps,
                       db.Prepare("DELETE FROM audit_checkpoints WHERE log = ? AND seq <= ?"));
  for (const auto& [device_id, seq] : last) {
    body.Reset();
    body.Bind(1, device_id).Bind(2, seq);
    OTA_ASSIGN_OR_RETURN(bool found, body.Step());
    const std::string link = found ? StoredEventChain(body.ColumnText(0)) : "";
    body.Reset();
    del.Reset();
    del.Bind(1, device_id).Bind(2, seq);
    while (true) {
      OTA_ASSIGN_OR_RETURN(bool row, del.Step());
      if (!row) break;
      ++out.events;
    }
    del.Reset();
    ++out.devices;
    if (link.empty()) continue;  // Unchained events: no chain to move.
    // What is kept is checked (and exported) from the link of the last
    // event removed, as a chain taken up part-way is.
    anchor.Reset();
    anchor.Bind(1, seq + 1).Bind(2, link).Bind(3, device_id).Bind(4, seq);
    OTA_TRY(anchor.Run());
    cps.Reset();
    cps.Bind(1, manifest::DeviceAuditLog(device_id)).Bind(2, seq);
    OTA_TRY(cps.Run());
  }
  return true;
}

}  // namespace

Result<EventPruneResult> PruneDeviceEvents(Database& db, std::int64_t before, std::int64_t now,
                                           std::int64_t batch) {
  EventPruneResult out;
  // Maintenance asks every second: a read, outside any write transaction
  // (so report ingestion is not held up), when nothing is old enough.
  OTA_ASSIGN_OR_RETURN(Statement any,
                       db.Prepare("SELECT 1 FROM events WHERE received_at < ? LIMIT 1"));
  any.Bind(1, before);
  OTA_ASSIGN_OR_RETURN(bool old, any.Step());
  if (!old) return out;
  while (true) {
    bool more = false;
    OTA_TRY(InTransaction(db, [&]() -> Status {
      const EventPruneResult before_batch = out;
      OTA_ASSIGN_OR_RETURN(more, PruneBatch(db, before, batch, out));
      if (!more) return Ok();
      // One record per batch: how much went, and up to when.
      ServerAuditRecord r{"device-events-pruned",
                          "server",
                          "",
                          "",
                          "",
                          json{{"received_before", before},
                               {"events", out.events - before_batch.events},
                               {"devices", out.devices - before_batch.devices}}};
      return AppendServerAuditStatus(db, r, now);
    }));
    if (!more) return out;
  }
}

}  // namespace ota::server
