// The audit side of StateDb: signed checkpoints of the event log, pruning
// behind a checkpoint, and the verification of the whole log (links,
// checkpoints, and what the server was sent).
#include <charconv>
#include <map>

#include "ota/common/crash_points.h"
#include "ota/verifier/keys.h"
#include "state_db.h"

namespace ota::agent {
namespace {

std::string SeqText(std::int64_t seq) { return std::to_string(seq); }

std::optional<AuditBreak> Broken(std::int64_t seq, std::string message) {
  return std::optional<AuditBreak>(AuditBreak{seq, std::move(message)});
}

CheckpointRow ReadCheckpointRow(const Statement& s) {
  CheckpointRow r;
  r.checkpoint.seq = s.ColumnInt(0);
  r.checkpoint.head = s.ColumnText(1);
  r.checkpoint.time = s.ColumnText(2);
  r.checkpoint.keyid = s.ColumnText(3);
  r.checkpoint.signature = s.ColumnText(4);
  r.sent = s.ColumnInt(5) != 0;
  return r;
}

constexpr const char* kCheckpointColumns = "seq, head, time, keyid, signature, sent";

// The problem with the links of `events` (in seq order) from `start`, or
// nullopt. Events before the chain existed (empty chain) may only come first.
std::optional<AuditBreak> CheckLinks(const std::vector<PendingEvent>& events,
                                     const std::optional<AuditHead>& start) {
  std::string previous(manifest::kAuditGenesis);
  std::int64_t last_seq = 0;
  bool chained = false;
  bool v2_seen = false;
  if (start) {
    previous = start->head;
    last_seq = start->seq;
    chained = start->seq > 0;
  }
  for (const PendingEvent& e : events) {
    const std::string seq = SeqText(e.seq);
    if (e.chain.empty()) {
      if (chained) return Broken(e.seq, "event " + seq + " has lost its chain link");
      last_seq = e.seq;
      continue;  // Written before the chain existed.
    }
    if (chained && e.seq != last_seq + 1) {
      return Broken(
          e.seq, "events " + SeqText(last_seq + 1) + " to " + SeqText(e.seq - 1) + " are missing");
    }
    std::string computed;
    if (e.link_version == 1) {
      if (v2_seen) {
        return Broken(e.seq, "event " + seq + " uses link version 1 after version 2 events");
      }
      computed = manifest::AuditLinkV1(previous, e.seq, e.body);
    } else if (e.link_version == 2) {
      computed = manifest::AuditLink(previous, e.seq, manifest::AuditBodyDigest(e.body));
      v2_seen = true;
    } else {
      return Broken(
          e.seq, "event " + seq + " has an unknown link version " + std::to_string(e.link_version));
    }
    if (computed != e.chain) {
      return Broken(e.seq, "event " + seq + " does not match its chain link (altered)");
    }
    previous = e.chain;
    last_seq = e.seq;
    chained = true;
  }
  return std::nullopt;
}

}  // namespace

Result<AuditHead> StateDb::GetAuditHead() {
  OTA_ASSIGN_OR_RETURN(Statement last,
                       db_->Prepare("SELECT seq, chain FROM events ORDER BY seq DESC LIMIT 1"));
  OTA_ASSIGN_OR_RETURN(bool row, last.Step());
  if (row) {
    // An event from before the chain: the next link starts from the genesis.
    const std::string chain = last.ColumnText(1);
    return AuditHead{last.ColumnInt(0),
                     chain.empty() ? std::string(manifest::kAuditGenesis) : chain};
  }
  OTA_ASSIGN_OR_RETURN(
      Statement anchor,
      db_->Prepare("SELECT seq, head FROM audit_checkpoints ORDER BY seq DESC LIMIT 1"));
  OTA_ASSIGN_OR_RETURN(bool found, anchor.Step());
  if (found) return AuditHead{anchor.ColumnInt(0), anchor.ColumnText(1)};
  return AuditHead{0, std::string(manifest::kAuditGenesis)};
}

Status StateDb::StoreCheckpoint(const manifest::AuditCheckpoint& c) {
  CrashPoint("db.write");
  OTA_ASSIGN_OR_RETURN(Statement s,
                       db_->Prepare("INSERT OR IGNORE INTO audit_checkpoints(seq, head, time, "
                                    "keyid, signature) VALUES (?, ?, ?, ?, ?)"));
  s.Bind(1, c.seq).Bind(2, c.head).Bind(3, c.time).Bind(4, c.keyid).Bind(5, c.signature);
  return s.Run();
}

Result<std::vector<CheckpointRow>> StateDb::Checkpoints() { return UnsentCheckpoints(-1); }

// `up_to_seq` -1: every checkpoint, sent or not.
Result<std::vector<CheckpointRow>> StateDb::UnsentCheckpoints(std::int64_t up_to_seq) {
  OTA_ASSIGN_OR_RETURN(
      Statement s,
      db_->Prepare(std::string("SELECT ") + kCheckpointColumns +
                   " FROM audit_checkpoints WHERE ? < 0 OR (sent = 0 AND seq <= ?) ORDER BY seq"));
  s.Bind(1, up_to_seq).Bind(2, up_to_seq);
  std::vector<CheckpointRow> rows;
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    rows.push_back(ReadCheckpointRow(s));
  }
  return rows;
}

Status StateDb::MarkCheckpointsSent(std::int64_t up_to_seq) {
  CrashPoint("db.write");
  OTA_ASSIGN_OR_RETURN(Statement s,
                       db_->Prepare("UPDATE audit_checkpoints SET sent = 1 WHERE seq <= ?"));
  s.Bind(1, up_to_seq);
  return s.Run();
}

Result<std::int64_t> StateDb::DeliveredThrough() {
  OTA_ASSIGN_OR_RETURN(Statement s,
                       db_->Prepare("SELECT (SELECT MIN(seq) FROM events WHERE delivered = 0), "
                                    "(SELECT MAX(seq) FROM events)"));
  OTA_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row || s.ColumnIsNull(1)) return std::int64_t{0};
  return s.ColumnIsNull(0) ? s.ColumnInt(1) : s.ColumnInt(0) - 1;
}

Status StateDb::PruneEvents(const AuditPruneRange& range, const std::string& event_json) {
  return InTransaction(*db_, [&]() -> Status {
    OTA_TRY(InsertEvent(event_json));
    CrashPoint("db.write");
    OTA_ASSIGN_OR_RETURN(Statement events, db_->Prepare("DELETE FROM events WHERE seq <= ?"));
    events.Bind(1, range.to);
    OTA_TRY(events.Run());
    OTA_ASSIGN_OR_RETURN(Statement checkpoints,
                         db_->Prepare("DELETE FROM audit_checkpoints WHERE seq < ?"));
    checkpoints.Bind(1, range.to);
    return checkpoints.Run();
  });
}

Result<std::optional<AuditHead>> StateDb::AuditStart(std::int64_t first_seq) {
  if (first_seq <= 1) return std::optional<AuditHead>(AuditHead{0, ""});
  OTA_ASSIGN_OR_RETURN(Statement s,
                       db_->Prepare("SELECT head FROM audit_checkpoints WHERE seq = ?"));
  s.Bind(1, first_seq - 1);
  OTA_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<AuditHead>();
  return std::optional<AuditHead>(AuditHead{first_seq - 1, s.ColumnText(0)});
}

Result<std::optional<AuditBreak>> StateDb::VerifyAuditChain(
    const std::optional<manifest::Key>& device_key) {
  OTA_ASSIGN_OR_RETURN(std::vector<PendingEvent> events, AllEvents());
  std::optional<AuditHead> start;
  if (!events.empty()) {
    const std::int64_t first = events.front().seq;
    OTA_ASSIGN_OR_RETURN(start, AuditStart(first));
    if (!start) {
      return Broken(first, "events 1 to " + SeqText(first - 1) +
                               " are missing (no signed checkpoint anchors event " +
                               SeqText(first) + ")");
    }
    if (start->seq == 0) start.reset();
  }
  if (auto broken = CheckLinks(events, start)) return broken;
  return VerifyCheckpoints(events, device_key);
}

Result<std::optional<AuditBreak>> StateDb::VerifyCheckpoints(
    const std::vector<PendingEvent>& events, const std::optional<manifest::Key>& key) {
  OTA_ASSIGN_OR_RETURN(std::vector<CheckpointRow> checkpoints, Checkpoints());
  OTA_ASSIGN_OR_RETURN(std::optional<std::string> device_id, GetSetting("device_id"));
  const std::string log = manifest::DeviceAuditLog(device_id.value_or(""));
  std::map<std::int64_t, const PendingEvent*> by_seq;
  for (const PendingEvent& e : events) by_seq[e.seq] = &e;
  const std::int64_t first = events.empty() ? 0 : events.front().seq;
  std::int64_t last = events.empty() ? 0 : events.back().seq;
  if (events.empty() && !checkpoints.empty()) last = checkpoints.front().checkpoint.seq;
  for (const CheckpointRow& row : checkpoints) {
    const manifest::AuditCheckpoint& c = row.checkpoint;
    const std::string what = "the checkpoint of event " + SeqText(c.seq);
    if (key) {
      manifest::AuditCheckpoint signed_part{log, c.seq, c.head, c.time, "", ""};
      if (c.keyid != verifier::ComputeKeyId(*key) ||
          !verifier::VerifySignature(*key, c.signature,
                                     manifest::AuditCheckpointSigningBytes(signed_part))
               .ok()) {
        return Broken(c.seq, what + " has a bad signature (not by this device's key)");
      }
    }
    if (c.seq > last) {
      return Broken(c.seq, "the log ends at event " + SeqText(last) + " but " + what +
                               " covers events up to " + SeqText(c.seq) + ": events " +
                               SeqText(last + 1) + " to " + SeqText(c.seq) + " were deleted");
    }
    if (c.seq == first - 1) continue;  // The anchor: the first event links to it.
    auto it = by_seq.find(c.seq);
    if (it == by_seq.end()) continue;  // Before the stored events (kept by an older prune).
    const std::string& head =
        it->second->chain.empty() ? std::string(manifest::kAuditGenesis) : it->second->chain;
    if (head != c.head) {
      return Broken(c.seq, what + " signs another head than the log's link of event " +
                               SeqText(c.seq) + " (events edited, inserted or replaced)");
    }
  }
  OTA_ASSIGN_OR_RETURN(std::optional<std::string> sent_text, GetSetting(kReportHighestSentSetting));
  std::int64_t sent = 0;
  if (sent_text) {
    auto [ptr, ec] =
        std::from_chars(sent_text->data(), sent_text->data() + sent_text->size(), sent);
    if (ec != std::errc() || ptr != sent_text->data() + sent_text->size()) sent = 0;
  }
  if (sent > last) {
    return Broken(last + 1, "the log ends at event " + SeqText(last) + " but events up to " +
                                SeqText(sent) + " were sent to the server: events " +
                                SeqText(last + 1) + " to " + SeqText(sent) + " were deleted");
  }
  return std::optional<AuditBreak>();
}

}  // namespace ota::agent
