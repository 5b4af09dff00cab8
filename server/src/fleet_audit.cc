// FleetStore's audit side: rollout entries in the server audit log, its
// checkpoints, and the check of device event chains during report ingestion.
#include <chrono>
#include <utility>

#include "event_retention.h"
#include "fleet_store.h"
#include "ota/verifier/keys.h"

namespace ota::server {
namespace {

using nlohmann::json;

constexpr char kServerActor[] = "server";
// Events removed per retention transaction.
constexpr std::int64_t kEventPruneBatch = 10000;

}  // namespace

Status FleetStore::AppendAuditEntry(const AuditEntry& a) {
  ServerAuditRecord r;
  r.type = a.actor == "controller" ? "controller-decision" : "rollout-action";
  r.actor = a.actor;
  r.rollout_id = a.rollout_id;
  r.model = a.model;
  r.fields = a.details.is_object() ? a.details : json::object();
  r.fields["action"] = a.action;
  r.fields["reason"] = a.reason;
  r.fields["version"] = static_cast<std::int64_t>(a.version);
  OTA_ASSIGN_OR_RETURN(std::int64_t seq, AppendServerAudit(*db_, r, a.at));
  const std::string_view event = WebhookEventForAction(a.action);
  if (event.empty()) return Ok();
  json body = {{"event", event},
               {"at", manifest::FormatExpires(
                          std::chrono::system_clock::time_point(std::chrono::seconds(a.at)))},
               {"rollout_id", a.rollout_id},
               {"model", a.model},
               {"manifest_version", static_cast<std::int64_t>(a.version)},
               {"action", a.action},
               {"actor", a.actor},
               {"reason", a.reason},
               {"audit_seq", seq}};
  if (a.details.is_object() && a.details.contains("evidence")) {
    body["evidence"] = a.details["evidence"];
  }
  return EnqueueWebhookLocked(std::string(event), body, a.at);
}

Status FleetStore::AppendAudit(const AuditEntry& audit) {
  std::lock_guard lock(mu_);
  return InTransaction(*db_, [&] { return AppendAuditEntry(audit); });
}

Result<std::vector<AuditEntry>> FleetStore::Audit(const std::string& rollout_id) {
  std::lock_guard lock(mu_);
  OTA_ASSIGN_OR_RETURN(Statement q,
                       db_->Prepare("SELECT seq, at, actor, body, model FROM audit_log WHERE "
                                    "rollout_id = ? AND type IN ('rollout-action', "
                                    "'controller-decision') ORDER BY seq"));
  q.Bind(1, rollout_id);
  std::vector<AuditEntry> out;
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    json body = json::parse(q.ColumnText(3), nullptr, /*allow_exceptions=*/false);
    if (!body.is_object()) body = json::object();
    AuditEntry e;
    e.id = q.ColumnInt(0);
    e.at = q.ColumnInt(1);
    e.actor = q.ColumnText(2);
    e.rollout_id = rollout_id;
    e.action = AuditField(body, "action");
    e.reason = AuditField(body, "reason");
    auto v = body.find("version");
    e.version = v != body.end() && v->is_number_unsigned() ? v->get<std::uint64_t>() : 0;
    e.model = q.ColumnIsNull(4) ? "" : q.ColumnText(4);
    e.details = std::move(body);
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::int64_t> FleetStore::AppendServerRecord(
    const ServerAuditRecord& record, const std::pair<std::string, std::string>& setting) {
  std::lock_guard lock(mu_);
  std::int64_t seq = 0;
  OTA_TRY(InTransaction(*db_, [&]() -> Status {
    OTA_ASSIGN_OR_RETURN(seq, AppendServerAudit(*db_, record, Now()));
    if (setting.first.empty()) return Ok();
    return WriteSetting(*db_, setting.first, setting.second);
  }));
  return seq;
}

Result<std::optional<std::string>> FleetStore::Setting(const std::string& name) {
  std::lock_guard lock(mu_);
  OTA_ASSIGN_OR_RETURN(Statement q,
                       db_->Prepare("SELECT value FROM server_settings WHERE name = ?"));
  q.Bind(1, name);
  OTA_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(q.ColumnText(0));
}

Status FleetStore::SetSetting(const std::string& name, const std::string& value) {
  std::lock_guard lock(mu_);
  return InTransaction(*db_, [&] { return WriteSetting(*db_, name, value); });
}

Result<ServerAuditHead> FleetStore::AuditHead() {
  std::lock_guard lock(mu_);
  return ReadServerAuditHead(*db_);
}

Result<manifest::AuditCheckpoint> FleetStore::CheckpointAuditLog(const verifier::PrivateKey& key) {
  std::lock_guard lock(mu_);
  manifest::AuditCheckpoint out;
  OTA_TRY(InTransaction(*db_, [&]() -> Status {
    OTA_ASSIGN_OR_RETURN(out, CheckpointServerLog(*db_, key, AuditTime(Now())));
    return Ok();
  }));
  return out;
}

Result<ServerLogCheck> FleetStore::VerifyAuditLog(const std::vector<manifest::Key>& keys) {
  std::lock_guard lock(mu_);
  return VerifyServerLog(*db_, keys);
}

Result<std::int64_t> FleetStore::PruneEvents(std::int64_t before) {
  std::lock_guard lock(mu_);
  auto pruned = PruneDeviceEvents(*db_, before, Now(), kEventPruneBatch);
  // Anchors moved (or may have, if a later batch failed): chain states are
  // read again as stored.
  if (!pruned.ok() || pruned->events > 0) chain_cache_.clear();
  if (!pruned.ok()) return pruned.error();
  return pruned->events;
}

Result<std::vector<DeviceChainProblem>> FleetStore::ChainProblems() {
  std::lock_guard lock(mu_);
  std::vector<DeviceChainProblem> out;
  OTA_ASSIGN_OR_RETURN(
      Statement q,
      db_->Prepare("SELECT device_id, problem_seq, problem FROM device_chains WHERE problem IS "
                   "NOT NULL ORDER BY device_id"));
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    out.push_back({q.ColumnText(0), q.ColumnInt(1), q.ColumnText(2)});
  }
  return out;
}

namespace {

Status AppendChainNote(Database& db, const std::string& device_id, const DeviceChainNote& n,
                       const DeviceChainState& st, std::int64_t now) {
  ServerAuditRecord r;
  r.actor = kServerActor;
  r.device_id = device_id;
  if (n.alert) {
    r.type = "device-chain-alert";
    r.fields = {{"seq", n.seq}, {"kind", n.kind}, {"problem", n.problem}};
    if (!n.event.empty()) r.fields["event"] = n.event;
  } else {
    r.type = "device-chain-anchored";
    r.fields = {{"seq", n.seq}, {"chain", st.anchor_link}, {"problem", n.problem}};
  }
  return AppendServerAuditStatus(db, r, now);
}

}  // namespace

Result<FleetStore::KnownChain> FleetStore::ChainOf(const std::string& device_id,
                                                   const PendingChains& pending, bool reload) {
  if (auto it = pending.find(device_id); it != pending.end()) return it->second;
  if (!reload) {
    if (auto it = chain_cache_.find(device_id); it != chain_cache_.end()) return it->second;
  }
  Statement& q = ingest_->chain_state;
  q.Reset();
  q.Bind(1, device_id);
  KnownChain k;
  OTA_ASSIGN_OR_RETURN(bool row, q.Step());
  if (row) {
    k.report_seq = q.ColumnInt(0);
    if (!q.ColumnIsNull(1)) {
      k.state.known = true;
      k.state.anchor_seq = q.ColumnInt(1);
      k.state.anchor_link = q.ColumnText(2);
      k.state.last_seq = q.ColumnInt(3);
      k.state.last_link = q.ColumnIsNull(4) ? k.state.anchor_link : q.ColumnText(4);
      if (!q.ColumnIsNull(5)) {
        k.state.problem = q.ColumnText(5);
        k.state.problem_seq = q.ColumnInt(6);
      }
    }
  }
  q.Reset();
  return k;
}

FleetStore::ChainUpdate FleetStore::CheckReportChain(const std::string& device_id,
                                                     const EventBatch& batch,
                                                     DeviceChainState state) {
  ChainUpdate u;
  u.state = std::move(state);
  const bool was_known = u.state.known;
  const std::string was_problem = u.state.problem;
  u.notes = CheckDeviceChain(u.state, batch.events,
                             [&](std::int64_t seq) { return StoredChain(device_id, seq); });
  u.row_changed = u.state.known && (!was_known || u.state.problem != was_problem);
  return u;
}

std::optional<std::string> FleetStore::StoredChain(const std::string& device_id, std::int64_t seq) {
  Statement& q = ingest_->stored_event;
  q.Reset();
  q.Bind(1, device_id).Bind(2, seq);
  auto row = q.Step();
  std::optional<std::string> chain;
  if (row.ok() && *row) chain = StoredEventChain(q.ColumnText(0));
  q.Reset();
  return chain;
}

Status FleetStore::ApplyReportChain(const std::string& device_id, const EventBatch& batch,
                                    std::int64_t now, ChainUpdate& u, KnownChain& known,
                                    std::int64_t report_seq, PendingChains& pending) {
  DeviceChainState& st = u.state;
  // A note goes to the server audit log, whose next record needs every
  // writer stopped: a group that runs beside others (shared) is tried again
  // alone.
  auto alone = [] {
    return MakeError(ErrorCode::kRetryLater, "a chain note needs the exclusive write lock");
  };
  if (group_.optimistic && !u.notes.empty()) return alone();
  for (const DeviceChainNote& n : u.notes) {
    OTA_TRY(AppendChainNote(*db_, device_id, n, st, now));
  }
  // A checkpoint may name an event of an earlier report of this group:
  // the group's events are written before they are read.
  if (!batch.checkpoints.empty()) OTA_TRY(WriteGroupRows(*ingest_, /*all=*/false));
  for (const DeviceCheckpoint& c : batch.checkpoints) {
    std::string problem = CheckDeviceCheckpointHead(
        c, batch.events, [&](std::int64_t seq) { return StoredChain(device_id, seq); });
    if (problem.empty()) {
      OTA_TRY(StoreAuditCheckpoint(*db_, c.checkpoint));
      continue;
    }
    if (group_.optimistic) return alone();
    DeviceChainNote n{true, c.checkpoint.seq, "checkpoint", std::move(problem), ""};
    if (st.problem.empty()) {
      st.problem = n.kind + ": " + n.problem;
      st.problem_seq = n.seq;
      u.row_changed = st.known;
    }
    OTA_TRY(AppendChainNote(*db_, device_id, n, st, now));
  }
  if (u.row_changed) {
    Statement& q = ingest_->chain_row;
    q.Reset();
    q.Bind(1, device_id).Bind(2, st.anchor_seq).Bind(3, st.anchor_link);
    if (st.problem.empty()) {
      q.BindNull(4).BindNull(5);
    } else {
      q.Bind(4, st.problem).Bind(5, st.problem_seq);
    }
    OTA_TRY(q.Defer());
  }
  pending[device_id] = KnownChain{std::move(st), report_seq, std::move(known.phases)};
  return Ok();
}

}  // namespace ota::server
