#include "audit_export.h"

#include <chrono>
#include <set>
#include <utility>
#include <vector>

#include "audit_log.h"
#include "events.h"
#include "ota/manifest/canonical_json.h"
#include "ota/manifest/tuf_metadata.h"
#include "ota/verifier/keys.h"

namespace ota::server {
namespace {

using nlohmann::json;

Error BadFilter(std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, std::move(message));
}

// [a-z0-9][a-z0-9._-]{0,63}, as model names are.
bool IsExportModelName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-'))) return false;
  }
  return true;
}

bool IsExportActor(const std::string& actor) {
  if (actor.empty() || actor.size() > 200) return false;
  for (char c : actor) {
    if (!IsValidDeviceId(std::string_view(&c, 1)) && c != ':') return false;
  }
  return true;
}

Result<std::int64_t> ExportTime(const std::string& name, const std::string& text) {
  auto t = manifest::ParseExpires(text);
  if (!t.ok()) {
    return BadFilter("query parameter " + name +
                     " must be a UTC time YYYY-MM-DDTHH:MM:SSZ, not \"" + text.substr(0, 64) +
                     "\"");
  }
  return std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count();
}

// A server log row's filterable columns.
struct ExportRow {
  std::int64_t seq = 0, at = 0;
  std::string type, actor, rollout_id, model, device_id;
};

bool RowMatches(const AuditExportFilters& f, const ExportRow& r,
                const std::set<std::string>& devices) {
  if (r.type == "device-enrolled" && devices.count(r.device_id) > 0) return true;
  if (f.since && r.at < *f.since) return false;
  if (f.until && r.at > *f.until) return false;
  if (!f.device.empty() && r.device_id != f.device) return false;
  if (!f.model.empty() && r.model != f.model) return false;
  if (!f.rollout.empty() && r.rollout_id != f.rollout) return false;
  if (!f.actor.empty() && r.actor != f.actor) {
    const auto colon = r.actor.find(':');
    if (colon == std::string::npos || r.actor.substr(colon + 1) != f.actor) return false;
  }
  return true;
}

ExportRow ReadExportRow(const Statement& q) {
  auto text = [&](int col) { return q.ColumnIsNull(col) ? std::string() : q.ColumnText(col); };
  return ExportRow{q.ColumnInt(0), q.ColumnInt(1), text(2), text(3), text(4), text(5), text(6)};
}

Result<std::vector<std::string>> ColumnList(Database& db, const std::string& sql,
                                            const std::string& bind) {
  OTA_ASSIGN_OR_RETURN(Statement q, db.Prepare(sql));
  if (!bind.empty()) q.Bind(1, bind);
  std::vector<std::string> out;
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    out.push_back(q.ColumnText(0));
  }
  return out;
}

// The devices whose logs an export carries.
Result<std::set<std::string>> DevicesInScope(Database& db, const AuditExportFilters& f) {
  std::vector<std::string> ids;
  if (!f.device.empty()) {
    ids.push_back(f.device);
  } else if (!f.rollout.empty()) {
    OTA_ASSIGN_OR_RETURN(
        ids,
        ColumnList(db, "SELECT device_id FROM device_rollouts WHERE rollout_id = ?", f.rollout));
  } else if (!f.model.empty()) {
    OTA_ASSIGN_OR_RETURN(
        ids, ColumnList(db, "SELECT device_id FROM device_models WHERE model = ?", f.model));
  } else if (f.actor.starts_with("device:")) {
    ids.push_back(f.actor.substr(7));
  } else if (f.actor.empty()) {
    OTA_ASSIGN_OR_RETURN(ids, ColumnList(db, "SELECT device_id FROM devices", ""));
  }
  return std::set<std::string>(ids.begin(), ids.end());
}

// Stored checkpoints of one log with seq in (after, upto], by seq.
Result<std::multimap<std::int64_t, manifest::AuditCheckpoint>> StoredCheckpoints(
    Database& db, const std::string& log, std::int64_t after, std::int64_t upto) {
  OTA_ASSIGN_OR_RETURN(Statement q, db.Prepare("SELECT seq, head, time, keyid, signature FROM "
                                               "audit_checkpoints WHERE log = ? AND seq > ? AND "
                                               "seq <= ? ORDER BY seq"));
  q.Bind(1, log).Bind(2, after).Bind(3, upto);
  std::multimap<std::int64_t, manifest::AuditCheckpoint> out;
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    out.emplace(q.ColumnInt(0),
                manifest::AuditCheckpoint{log, q.ColumnInt(0), q.ColumnText(1), q.ColumnText(2),
                                          q.ColumnText(3), q.ColumnText(4)});
  }
  return out;
}

// The server log part of an export.
Status WriteServerLog(Database& db, const AuditExportFilters& f,
                      const std::set<std::string>& devices, const manifest::AuditCheckpoint& fresh,
                      manifest::AuditExportWriter& w) {
  std::int64_t first_match = 0;
  {
    OTA_ASSIGN_OR_RETURN(Statement q,
                         db.Prepare("SELECT seq, at, type, actor, rollout_id, model, device_id "
                                    "FROM audit_log WHERE seq <= ? ORDER BY seq"));
    q.Bind(1, fresh.seq);
    while (first_match == 0) {
      OTA_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      const ExportRow r = ReadExportRow(q);
      if (RowMatches(f, r, devices)) first_match = r.seq;
    }
  }
  // Start at the latest checkpoint before the first match (or at record 1).
  std::int64_t anchor_seq = first_match == 0 ? fresh.seq : 0;
  std::string prev(manifest::kAuditGenesis);
  OTA_ASSIGN_OR_RETURN(auto cps, StoredCheckpoints(db, manifest::kAuditServerLog, 0, fresh.seq));
  for (const auto& [seq, c] : cps) {
    if (first_match != 0 && seq < first_match && seq >= anchor_seq) {
      anchor_seq = seq;
      prev = c.head;
    }
  }
  if (first_match == 0) return Ok();  // Nothing matches: the final checkpoint says it all.
  if (anchor_seq > 0) OTA_TRY(w.Checkpoint(cps.find(anchor_seq)->second));
  OTA_ASSIGN_OR_RETURN(Statement q, db.Prepare("SELECT seq, at, type, actor, rollout_id, model, "
                                               "device_id, body, link FROM audit_log WHERE seq > "
                                               "? AND seq <= ? ORDER BY seq"));
  q.Bind(1, anchor_seq).Bind(2, fresh.seq);
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    const ExportRow r = ReadExportRow(q);
    const std::string body = q.ColumnText(7);
    const std::string link = q.ColumnText(8);
    if (RowMatches(f, r, devices)) {
      OTA_TRY(w.Record(manifest::kAuditServerLog, r.seq, prev, link, body));
    } else {
      OTA_TRY(
          w.Omitted(manifest::kAuditServerLog, r.seq, prev, link, manifest::AuditBodyDigest(body)));
    }
    auto [from, to] = cps.equal_range(r.seq);
    for (auto it = from; it != to; ++it) {
      if (it->second.signature != fresh.signature) OTA_TRY(w.Checkpoint(it->second));
    }
    prev = link;
  }
  return Ok();
}

// One stored event as its device hashed it: false when its chain link does
// not follow from `prev` (the log is then cut there).
bool DeviceRecordOf(const std::string& stored, std::int64_t seq, const std::string& prev,
                    std::string* body, std::string* link, int* version) {
  json e = json::parse(stored, nullptr, /*allow_exceptions=*/false);
  if (!e.is_object()) return false;
  auto c = e.find("chain");
  if (c == e.end() || !c->is_string()) return false;
  *link = c->get<std::string>();
  e.erase("seq");
  e.erase("chain");
  if (auto canonical = manifest::CanonicalJson(e); canonical.ok()) {
    if (manifest::AuditLink(prev, seq, manifest::AuditBodyDigest(*canonical)) == *link) {
      *body = std::move(*canonical);
      *version = 2;
      return true;
    }
  }
  *body = e.dump();
  *version = 1;
  return manifest::AuditLinkV1(prev, seq, *body) == *link;
}

// When a device event happened for the time filters: the "time" the device
// wrote in it (its clock; devices report late when offline), or when the
// server received it if it carries none.
std::int64_t DeviceEventTime(const std::string& body, std::int64_t received_at) {
  const json b = json::parse(body, nullptr, /*allow_exceptions=*/false);
  const std::string text = AuditField(b, "time");
  if (text.empty()) return received_at;
  auto t = manifest::ParseExpires(text);
  if (!t.ok()) return received_at;
  return std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count();
}

Status WriteDeviceLog(Database& db, const std::string& device_id, const AuditExportFilters& f,
                      const verifier::PrivateKey& key, const std::string& time,
                      manifest::AuditExportWriter& w) {
  OTA_ASSIGN_OR_RETURN(Statement chain, db.Prepare("SELECT anchor_seq, anchor_link FROM "
                                                   "device_chains WHERE device_id = ?"));
  chain.Bind(1, device_id);
  OTA_ASSIGN_OR_RETURN(bool known, chain.Step());
  if (!known) return Ok();  // No chained event received.
  const std::string log = manifest::DeviceAuditLog(device_id);
  std::int64_t expected = chain.ColumnInt(0);
  std::string prev = chain.ColumnText(1);
  if (expected > 1) {
    // The chain was taken up after record 1: the server vouches for where
    // it started (its key signs checkpoints of any log).
    manifest::AuditCheckpoint anchor{log, expected - 1, prev, time, key.keyid, ""};
    OTA_ASSIGN_OR_RETURN(anchor.signature,
                         verifier::SignBytes(key, manifest::AuditCheckpointSigningBytes(anchor)));
    OTA_TRY(w.Checkpoint(anchor));
  }
  OTA_ASSIGN_OR_RETURN(auto cps, StoredCheckpoints(db, log, expected - 1, INT64_MAX));
  OTA_ASSIGN_OR_RETURN(Statement q, db.Prepare("SELECT seq, received_at, body FROM events WHERE "
                                               "device_id = ? AND seq >= ? ORDER BY seq"));
  q.Bind(1, device_id).Bind(2, expected);
  std::string body, link;
  int version = 2;
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    const std::int64_t seq = q.ColumnInt(0);
    // A gap or an event that does not chain ends what can be exported; the
    // server log holds the alert about it.
    if (seq != expected || !DeviceRecordOf(q.ColumnText(2), seq, prev, &body, &link, &version)) {
      break;
    }
    const std::int64_t at = DeviceEventTime(body, q.ColumnInt(1));
    const bool in_time = (!f.since || at >= *f.since) && (!f.until || at <= *f.until);
    if (in_time || version == 1) {
      OTA_TRY(w.Record(log, seq, prev, link, body, version));
    } else {
      OTA_TRY(w.Omitted(log, seq, prev, link, manifest::AuditBodyDigest(body)));
    }
    auto [from, to] = cps.equal_range(seq);
    for (auto it = from; it != to; ++it) {
      if (it->second.head == link) OTA_TRY(w.Checkpoint(it->second));
    }
    prev = link;
    ++expected;
  }
  return Ok();
}

}  // namespace

json AuditExportFilters::ToJson() const {
  json out = json::object();
  if (since) out["since"] = AuditTime(*since);
  if (until) out["until"] = AuditTime(*until);
  if (!device.empty()) out["device"] = device;
  if (!model.empty()) out["model"] = model;
  if (!rollout.empty()) out["rollout"] = rollout;
  if (!actor.empty()) out["actor"] = actor;
  return out;
}

Result<AuditExportFilters> ParseAuditExportFilters(
    const std::multimap<std::string, std::string>& params) {
  AuditExportFilters f;
  for (const auto& [name, value] : params) {
    if (params.count(name) > 1) return BadFilter("query parameter " + name + " is given twice");
    if (name == "since" || name == "until") {
      OTA_ASSIGN_OR_RETURN(std::int64_t t, ExportTime(name, value));
      (name == "since" ? f.since : f.until) = t;
    } else if (name == "device") {
      if (!IsValidDeviceId(value)) {
        return BadFilter("query parameter device must be 1 to 128 characters from [A-Za-z0-9._-]");
      }
      f.device = value;
    } else if (name == "model") {
      if (!IsExportModelName(value)) {
        return BadFilter("query parameter model must be a model name ([a-z0-9][a-z0-9._-]{0,63})");
      }
      f.model = value;
    } else if (name == "rollout") {
      if (!IsValidDeviceId(value)) {
        return BadFilter("query parameter rollout must be 1 to 128 characters from [A-Za-z0-9._-]");
      }
      f.rollout = value;
    } else if (name == "actor") {
      if (!IsExportActor(value)) {
        return BadFilter(
            "query parameter actor must be 1 to 200 characters from [A-Za-z0-9._:-] "
            "(\"operator:alice\" or \"alice\")");
      }
      f.actor = value;
    } else {
      return BadFilter("unknown query parameter " + name.substr(0, 64) +
                       " (since, until, device, model, rollout, actor)");
    }
  }
  if (f.since && f.until && *f.since > *f.until) {
    return BadFilter("query parameter since is after until");
  }
  return f;
}

Result<std::unique_ptr<AuditExporter>> AuditExporter::Open(const std::string& db_path) {
  OTA_ASSIGN_OR_RETURN(auto db, OpenFleetDatabase(db_path));
  return std::unique_ptr<AuditExporter>(new AuditExporter(std::move(db)));
}

Status AuditExporter::Write(const AuditExportFilters& filters,
                            const manifest::AuditCheckpoint& fresh, const verifier::PrivateKey& key,
                            const std::string& time, manifest::AuditExportWriter& writer) {
  std::lock_guard lock(mu_);
  // One read transaction: a consistent snapshot (WAL) that writers do not
  // wait for.
  OTA_TRY(db_->BeginRead());
  Status s = WriteLocked(filters, fresh, key, time, writer);
  (void)db_->Rollback();  // Read only: nothing to keep.
  return s;
}

Status AuditExporter::WriteLocked(const AuditExportFilters& f,
                                  const manifest::AuditCheckpoint& fresh,
                                  const verifier::PrivateKey& key, const std::string& time,
                                  manifest::AuditExportWriter& w) {
  OTA_ASSIGN_OR_RETURN(std::set<std::string> devices, DevicesInScope(*db_, f));
  OTA_TRY(WriteServerLog(*db_, f, devices, fresh, w));
  for (const std::string& id : devices) OTA_TRY(WriteDeviceLog(*db_, id, f, key, time, w));
  OTA_TRY(w.Checkpoint(fresh));
  return w.Finish(time,
                  [&key](std::string_view bytes) -> Result<manifest::AuditExportWriter::Signature> {
                    OTA_ASSIGN_OR_RETURN(std::string sig, verifier::SignBytes(key, bytes));
                    return manifest::AuditExportWriter::Signature{key.keyid, std::move(sig)};
                  });
}

}  // namespace ota::server
