#include "audit_log.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <map>
#include <utility>

#include "ota/common/hash.h"
#include "ota/verifier/keys.h"

namespace ota::server {
namespace {

using nlohmann::json;

constexpr char kLegacyCarriedSetting[] = "legacy_audit_carried_id";

std::string AuditSeqText(std::int64_t seq) { return "#" + std::to_string(seq); }

// The body fields the indexed columns repeat.
void AddColumnFields(json& body, const ServerAuditRecord& r) {
  if (!r.rollout_id.empty()) body["rollout_id"] = r.rollout_id;
  if (!r.model.empty()) body["model"] = r.model;
  if (!r.device_id.empty()) body["device_id"] = r.device_id;
}

std::string OptionalText(const Statement& q, int col) {
  return q.ColumnIsNull(col) ? std::string() : q.ColumnText(col);
}

}  // namespace

std::string AuditTime(std::int64_t unix_seconds) {
  return manifest::FormatExpires(
      std::chrono::system_clock::time_point(std::chrono::seconds(unix_seconds)));
}

std::string AuditField(const json& body, const char* key) {
  if (!body.is_object()) return "";
  auto it = body.find(key);
  return it != body.end() && it->is_string() ? it->get<std::string>() : "";
}

json ActorJson(const std::string& actor) {
  const auto colon = actor.find(':');
  if (colon == std::string::npos) return {{"name", actor}, {"role", actor}};
  return {{"name", actor.substr(colon + 1)}, {"role", actor.substr(0, colon)}};
}

Result<ServerAuditHead> ReadServerAuditHead(Database& db) {
  OTA_ASSIGN_OR_RETURN(Statement q,
                       db.Prepare("SELECT seq, link FROM audit_log ORDER BY seq DESC LIMIT 1"));
  OTA_ASSIGN_OR_RETURN(bool row, q.Step());
  ServerAuditHead head;
  if (row) {
    head.seq = q.ColumnInt(0);
    head.link = q.ColumnText(1);
  }
  return head;
}

Result<std::int64_t> AppendServerAudit(Database& db, const ServerAuditRecord& r, std::int64_t now) {
  json body = r.fields.is_object() ? r.fields : json::object();
  body["type"] = r.type;
  body["time"] = AuditTime(now);
  body["actor"] = ActorJson(r.actor);
  AddColumnFields(body, r);
  OTA_ASSIGN_OR_RETURN(std::string text, manifest::AuditBody(body));
  OTA_ASSIGN_OR_RETURN(ServerAuditHead head, ReadServerAuditHead(db));
  const std::int64_t seq = head.seq + 1;
  const std::string link = manifest::AuditLink(head.link, seq, manifest::AuditBodyDigest(text));
  OTA_ASSIGN_OR_RETURN(Statement ins,
                       db.Prepare("INSERT INTO audit_log (seq, at, type, actor, rollout_id, model, "
                                  "device_id, body, link) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  ins.Bind(1, seq).Bind(2, now).Bind(3, r.type).Bind(4, r.actor);
  for (int i = 0; const std::string* v : {&r.rollout_id, &r.model, &r.device_id}) {
    if (v->empty()) {
      ins.BindNull(5 + i);
    } else {
      ins.Bind(5 + i, *v);
    }
    ++i;
  }
  ins.Bind(8, text).Bind(9, link);
  OTA_TRY(ins.Run());
  return seq;
}

Status AppendServerAuditStatus(Database& db, const ServerAuditRecord& record, std::int64_t now) {
  auto seq = AppendServerAudit(db, record, now);
  if (!seq.ok()) return std::move(seq).error();
  return Ok();
}

namespace {

constexpr char kLegacyDevicesSetting[] = "legacy_devices_carried";

// Devices enrolled before the log existed get their "device-enrolled"
// record (exports need it for their report keys), once.
Status CarryLegacyDevices(Database& db) {
  {
    OTA_ASSIGN_OR_RETURN(Statement s, db.Prepare("SELECT 1 FROM server_settings WHERE name = ?"));
    s.Bind(1, kLegacyDevicesSetting);
    OTA_ASSIGN_OR_RETURN(bool done, s.Step());
    if (done) return Ok();
  }
  OTA_ASSIGN_OR_RETURN(std::int64_t carried, CarryDeviceEnrollments(db, "devices", std::nullopt));
  (void)carried;
  OTA_ASSIGN_OR_RETURN(Statement u,
                       db.Prepare("INSERT INTO server_settings (name, value) VALUES (?, '1')"));
  u.Bind(1, kLegacyDevicesSetting);
  return u.Run();
}

}  // namespace

Result<std::int64_t> CarryDeviceEnrollments(Database& db, const std::string& carried_from,
                                            std::optional<std::int64_t> now) {
  std::int64_t carried = 0;
  OTA_ASSIGN_OR_RETURN(
      Statement q,
      db.Prepare("SELECT device_id, public_key, facts, enrolled_at, enrolled_with FROM devices d "
                 "WHERE NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.device_id = d.device_id "
                 "AND a.type = 'device-enrolled') ORDER BY enrolled_at, device_id"));
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    const std::string id = q.ColumnText(0);
    ServerAuditRecord r{
        "device-enrolled",
        "device:" + id,
        "",
        "",
        id,
        json{{"public_key", q.ColumnText(1)},
             {"facts_sha256", Sha256Hex(q.ColumnText(2))},
             {"enrollment_token", q.ColumnIsNull(4) ? json() : json(q.ColumnText(4))},
             {"carried_from", carried_from}}};
    if (now) r.fields["enrolled_at"] = AuditTime(q.ColumnInt(3));
    OTA_TRY(AppendServerAuditStatus(db, r, now.value_or(q.ColumnInt(3))));
    ++carried;
  }
  return carried;
}

Status CarryLegacyAudit(Database& db) {
  return InTransaction(db, [&]() -> Status {
    OTA_TRY(CarryLegacyDevices(db));
    std::int64_t carried = 0;
    {
      OTA_ASSIGN_OR_RETURN(Statement s,
                           db.Prepare("SELECT value FROM server_settings WHERE name = ?"));
      s.Bind(1, kLegacyCarriedSetting);
      OTA_ASSIGN_OR_RETURN(bool row, s.Step());
      if (row) {
        const std::string text = s.ColumnText(0);
        std::from_chars(text.data(), text.data() + text.size(), carried);
      }
    }
    OTA_ASSIGN_OR_RETURN(Statement q,
                         db.Prepare("SELECT a.id, a.at, a.actor, a.rollout_id, a.action, a.reason, "
                                    "a.version, r.model FROM audit a LEFT JOIN rollouts r ON "
                                    "r.rollout_id = a.rollout_id WHERE a.id > ? ORDER BY a.id"));
    q.Bind(1, carried);
    std::int64_t last = carried;
    while (true) {
      OTA_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      last = q.ColumnInt(0);
      ServerAuditRecord r;
      r.type = q.ColumnText(2) == "controller" ? "controller-decision" : "rollout-action";
      r.actor = q.ColumnText(2);
      r.rollout_id = q.ColumnText(3);
      r.model = OptionalText(q, 7);
      r.fields = {{"action", q.ColumnText(4)},
                  {"reason", q.ColumnText(5)},
                  {"version", q.ColumnInt(6)},
                  {"carried_from", "audit"},
                  {"legacy_id", last}};
      OTA_TRY(AppendServerAuditStatus(db, r, q.ColumnInt(1)));
    }
    if (last == carried) return Ok();
    return WriteSetting(db, kLegacyCarriedSetting, std::to_string(last));
  });
}

Status WriteSetting(Database& db, const std::string& name, const std::string& value) {
  OTA_ASSIGN_OR_RETURN(Statement u,
                       db.Prepare("INSERT INTO server_settings (name, value) VALUES (?, ?) ON "
                                  "CONFLICT (name) DO UPDATE SET value = excluded.value"));
  u.Bind(1, name).Bind(2, value);
  return u.Run();
}

Status StoreAuditCheckpoint(Database& db, const manifest::AuditCheckpoint& c) {
  OTA_ASSIGN_OR_RETURN(
      Statement ins,
      db.Prepare("INSERT INTO audit_checkpoints (log, seq, head, time, keyid, signature) VALUES "
                 "(?, ?, ?, ?, ?, ?) ON CONFLICT (log, seq) DO NOTHING"));
  ins.Bind(1, c.log).Bind(2, c.seq).Bind(3, c.head).Bind(4, c.time).Bind(5, c.keyid);
  ins.Bind(6, c.signature);
  return ins.Run();
}

Result<std::optional<manifest::AuditCheckpoint>> LatestAuditCheckpoint(Database& db,
                                                                       const std::string& log) {
  OTA_ASSIGN_OR_RETURN(Statement q,
                       db.Prepare("SELECT seq, head, time, keyid, signature FROM "
                                  "audit_checkpoints WHERE log = ? ORDER BY seq DESC LIMIT 1"));
  q.Bind(1, log);
  OTA_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return std::optional<manifest::AuditCheckpoint>();
  return std::optional<manifest::AuditCheckpoint>(manifest::AuditCheckpoint{
      log, q.ColumnInt(0), q.ColumnText(1), q.ColumnText(2), q.ColumnText(3), q.ColumnText(4)});
}

Result<manifest::AuditCheckpoint> CheckpointServerLog(Database& db, const verifier::PrivateKey& key,
                                                      const std::string& time) {
  OTA_ASSIGN_OR_RETURN(ServerAuditHead head, ReadServerAuditHead(db));
  OTA_ASSIGN_OR_RETURN(auto latest, LatestAuditCheckpoint(db, manifest::kAuditServerLog));
  if (latest && latest->seq == head.seq && latest->keyid == key.keyid) return *latest;
  manifest::AuditCheckpoint c{manifest::kAuditServerLog, head.seq, head.link, time, key.keyid, ""};
  OTA_ASSIGN_OR_RETURN(c.signature,
                       verifier::SignBytes(key, manifest::AuditCheckpointSigningBytes(c)));
  OTA_TRY(StoreAuditCheckpoint(db, c));
  return c;
}

namespace {

// The problem with one stored record, or "".
std::string CheckStoredRecord(const Statement& q, std::int64_t expected_seq,
                              const std::string& prev) {
  const std::int64_t seq = q.ColumnInt(0);
  if (seq != expected_seq) {
    return seq > expected_seq
               ? "record " + AuditSeqText(seq) + " follows " + AuditSeqText(expected_seq - 1) +
                     ": " + std::to_string(seq - expected_seq) + " record(s) missing"
               : "record " + AuditSeqText(seq) + " is out of order";
  }
  const std::string body = q.ColumnText(4);
  if (manifest::AuditLink(prev, seq, manifest::AuditBodyDigest(body)) != q.ColumnText(5)) {
    return "record " + AuditSeqText(seq) +
           ": its link does not match its body and the record before it (edited, inserted or "
           "reordered)";
  }
  const json b = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!b.is_object() || AuditField(b, "type") != q.ColumnText(2) ||
      AuditField(b, "time") != AuditTime(q.ColumnInt(1)) ||
      AuditField(b, "rollout_id") != OptionalText(q, 6) ||
      AuditField(b, "model") != OptionalText(q, 7) ||
      AuditField(b, "device_id") != OptionalText(q, 8)) {
    return "record " + AuditSeqText(seq) + ": its columns differ from its body (edited)";
  }
  return "";
}

}  // namespace

namespace {

// Where a stored server log starts: record 1 after the genesis link, or,
// once pruned, the record after the anchor checkpoint kept at the end of
// the pruned range.
struct ServerLogStart {
  std::int64_t first = 1;
  std::string prev = std::string(manifest::kAuditGenesis);
  std::string problem;
};

Result<ServerLogStart> FindServerLogStart(
    Database& db, const std::map<std::int64_t, manifest::AuditCheckpoint>& checkpoints) {
  ServerLogStart start;
  if (auto genesis = checkpoints.find(0);
      genesis != checkpoints.end() && genesis->second.head != start.prev) {
    start.problem = "checkpoint #0 signs a head other than the genesis link";
    return start;
  }
  OTA_ASSIGN_OR_RETURN(Statement q, db.Prepare("SELECT MIN(seq) FROM audit_log"));
  OTA_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row || q.ColumnIsNull(0) || q.ColumnInt(0) <= 1) return start;
  start.first = q.ColumnInt(0);
  auto anchor = checkpoints.find(start.first - 1);
  if (anchor == checkpoints.end()) {
    start.problem = "records #1 to " + AuditSeqText(start.first - 1) +
                    " are missing (no signed checkpoint anchors record " +
                    AuditSeqText(start.first) + ")";
    return start;
  }
  start.prev = anchor->second.head;
  return start;
}

// The "to" of an audit-pruned record's body, 0 when it has none.
std::int64_t PrunedThrough(const std::string& body) {
  const json b = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!b.is_object() || !b.contains("to") || !b["to"].is_number_integer()) return 0;
  return b["to"].get<std::int64_t>();
}

}  // namespace

Result<ServerLogCheck> VerifyServerLog(Database& db, const std::vector<manifest::Key>& keys) {
  std::map<std::string, const manifest::Key*> by_id;
  for (const manifest::Key& k : keys) by_id[verifier::ComputeKeyId(k)] = &k;
  // Checkpoints by seq, checked when the chain reaches their record.
  std::map<std::int64_t, manifest::AuditCheckpoint> checkpoints;
  {
    OTA_ASSIGN_OR_RETURN(Statement c, db.Prepare("SELECT seq, head, time, keyid, signature FROM "
                                                 "audit_checkpoints WHERE log = ? ORDER BY seq"));
    c.Bind(1, manifest::kAuditServerLog);
    while (true) {
      OTA_ASSIGN_OR_RETURN(bool row, c.Step());
      if (!row) break;
      checkpoints[c.ColumnInt(0)] = {manifest::kAuditServerLog, c.ColumnInt(0),  c.ColumnText(1),
                                     c.ColumnText(2),           c.ColumnText(3), c.ColumnText(4)};
    }
  }
  ServerLogCheck out;
  auto fail = [&](std::string message) {
    out.intact = false;
    out.message = std::move(message);
    return out;
  };
  for (const auto& [seq, c] : checkpoints) {
    auto key = by_id.find(c.keyid);
    if (key == by_id.end()) {
      return fail("checkpoint " + AuditSeqText(seq) + " is signed by key " + c.keyid +
                  ", which is not the server's audit key");
    }
    if (!verifier::VerifySignature(*key->second, c.signature,
                                   manifest::AuditCheckpointSigningBytes(c))
             .ok()) {
      return fail("checkpoint " + AuditSeqText(seq) + " has a bad signature (replaced or edited)");
    }
  }
  OTA_ASSIGN_OR_RETURN(ServerLogStart start, FindServerLogStart(db, checkpoints));
  if (!start.problem.empty()) return fail(start.problem);
  OTA_ASSIGN_OR_RETURN(Statement q, db.Prepare("SELECT seq, at, type, actor, body, link, "
                                               "rollout_id, model, device_id FROM audit_log "
                                               "ORDER BY seq"));
  std::string prev = start.prev;
  std::int64_t expected = start.first;
  std::int64_t pruned_through = 0;  // "to" of the last audit-pruned record.
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    if (std::string problem = CheckStoredRecord(q, expected, prev); !problem.empty()) {
      return fail(problem);
    }
    if (q.ColumnText(2) == "audit-pruned") pruned_through = PrunedThrough(q.ColumnText(4));
    prev = q.ColumnText(5);
    if (auto c = checkpoints.find(expected); c != checkpoints.end()) {
      if (c->second.head != prev) {
        return fail("checkpoint " + AuditSeqText(expected) +
                    " signs a head that the records up to it do not give (records edited, "
                    "inserted, deleted or replaced)");
      }
      ++out.checkpoints;
      out.last_checkpoint_seq = expected;
    }
    ++expected;
    ++out.records;
  }
  const std::int64_t last = expected - 1;
  if (!checkpoints.empty() && checkpoints.rbegin()->first > last) {
    return fail("checkpoint " + AuditSeqText(checkpoints.rbegin()->first) + " signs record " +
                AuditSeqText(checkpoints.rbegin()->first) + " but the log ends at " +
                AuditSeqText(last) + " (records deleted from the end)");
  }
  // A log that starts after record 1 was pruned: its latest audit-pruned
  // record must name exactly the records that are gone.
  if (start.first > 1 && pruned_through != start.first - 1) {
    return fail("records #1 to " + AuditSeqText(start.first - 1) +
                " are gone without an audit-pruned record for them (deleted)");
  }
  out.intact = true;
  const std::int64_t uncovered = last - std::max(out.last_checkpoint_seq, start.first - 1);
  out.message = std::to_string(out.records) + " records and " + std::to_string(out.checkpoints) +
                " signed checkpoints verified" +
                (uncovered > 0 ? "; the last " + std::to_string(uncovered) +
                                     " record(s) are after the last checkpoint (not yet signed)"
                               : "");
  return out;
}

}  // namespace ota::server
