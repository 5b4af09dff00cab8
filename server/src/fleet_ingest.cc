// FleetStore's report ingestion: group commit and the statements that store
// one report.
#include <utility>

#include "fleet_store.h"

namespace ota::server {

Result<std::optional<ReplayInfo>> FleetStore::IngestReport(const std::string& device_id,
                                                           std::int64_t seq,
                                                           const EventBatch& batch) {
  if (!DeviceKey(device_id)) {
    return MakeError(ErrorCode::kNotFound, "unknown device " + device_id);
  }
  // Group commit: reports arriving while a transaction is being committed
  // wait and are then committed together by one of them, so that many
  // concurrent reports share one fsync instead of queueing for one each.
  PendingReport mine{&device_id, seq, &batch, Ok(), std::nullopt, false};
  std::unique_lock q(queue_mu_);
  queue_.push_back(&mine);
  while (!mine.done) {
    if (committing_) {
      queue_cv_.wait(q);
      continue;
    }
    committing_ = true;
    std::vector<PendingReport*> group;
    group.swap(queue_);
    q.unlock();
    CommitGroup(group);
    q.lock();
    for (PendingReport* r : group) r->done = true;
    committing_ = false;
    queue_cv_.notify_all();
  }
  if (!mine.status.ok()) return std::move(mine.status).error();
  return mine.replay;
}

Result<FleetStore::IngestStatements*> FleetStore::Ingest() {
  if (ingest_) return ingest_.get();
  OTA_ASSIGN_OR_RETURN(
      Statement bump, db_->Prepare("UPDATE devices SET last_seq = ?, last_seen = ?, chain_seq = ?, "
                                   "chain_link = ? WHERE device_id = ? AND last_seq < ? AND "
                                   "last_seq = ? RETURNING 1"));
  OTA_ASSIGN_OR_RETURN(Statement last,
                       db_->Prepare("SELECT last_seq FROM devices WHERE device_id = ?"));
  OTA_ASSIGN_OR_RETURN(
      Statement insert,
      db_->Prepare("INSERT INTO events (device_id, seq, received_at, type, body) "
                   "VALUES (?, ?, ?, ?, ?) ON CONFLICT (device_id, seq) DO NOTHING"));
  OTA_ASSIGN_OR_RETURN(
      Statement phase_of,
      db_->Prepare("SELECT phase, stage FROM device_rollouts WHERE rollout_id = ? AND device_id "
                   "= ?"));
  OTA_ASSIGN_OR_RETURN(
      Statement upsert,
      db_->Prepare("INSERT INTO device_rollouts (rollout_id, device_id, stage, phase, "
                   "updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (rollout_id, device_id) "
                   "DO UPDATE SET phase = excluded.phase, updated_at = excluded.updated_at"));
  OTA_ASSIGN_OR_RETURN(
      Statement model_row,
      db_->Prepare("INSERT INTO device_models (device_id, model, version, phase, updated_at) "
                   "VALUES (?, ?, ?, ?, ?) ON CONFLICT (device_id, model) DO UPDATE SET "
                   "version = excluded.version, phase = excluded.phase, "
                   "updated_at = excluded.updated_at"));
  OTA_ASSIGN_OR_RETURN(Statement stored_event,
                       db_->Prepare("SELECT body FROM events WHERE device_id = ? AND seq = ?"));
  OTA_ASSIGN_OR_RETURN(
      Statement chain_row,
      db_->Prepare("INSERT INTO device_chains (device_id, anchor_seq, anchor_link, problem, "
                   "problem_seq) VALUES (?, ?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET "
                   "problem = excluded.problem, problem_seq = excluded.problem_seq"));
  OTA_ASSIGN_OR_RETURN(
      Statement chain_state,
      db_->Prepare("SELECT d.last_seq, c.anchor_seq, c.anchor_link, d.chain_seq, d.chain_link, "
                   "c.problem, c.problem_seq FROM devices d LEFT JOIN device_chains c ON "
                   "c.device_id = d.device_id WHERE d.device_id = ?"));
  OTA_ASSIGN_OR_RETURN(
      Statement count,
      db_->Prepare("INSERT INTO rollout_phase_counts (rollout_id, stage, phase, devices) VALUES "
                   "(?, ?, ?, ?) ON CONFLICT (rollout_id, stage, phase) DO UPDATE SET devices = "
                   "rollout_phase_counts.devices + excluded.devices"));
  ingest_.reset(new IngestStatements{std::move(bump), std::move(last), std::move(insert),
                                     std::move(phase_of), std::move(upsert), std::move(model_row),
                                     std::move(stored_event), std::move(chain_row),
                                     std::move(chain_state), std::move(count)});
  return ingest_.get();
}

Status FleetStore::CountPhase(IngestStatements& st, const std::string& rollout_id,
                              std::int64_t stage, const std::string& phase, std::int64_t delta) {
  st.count.Reset();
  st.count.Bind(1, rollout_id).Bind(2, stage).Bind(3, phase).Bind(4, delta);
  return st.count.Run();
}

Status FleetStore::StoreReport(IngestStatements& st, PendingReport& r, std::int64_t now,
                               PendingChains& pending) {
  const std::string& device_id = *r.device_id;
  // The report is accepted by the statement that raises last_seq from the
  // value the chain state goes with: if another node took a report of the
  // device since this node last saw it, nothing changes and the check runs
  // again on the stored state.
  ChainUpdate chain;
  bool bumped = false;
  for (int attempt = 0; attempt < 2 && !bumped; ++attempt) {
    OTA_ASSIGN_OR_RETURN(KnownChain known, ChainOf(device_id, pending, attempt > 0));
    if (r.seq <= known.report_seq) break;  // A replay: last_seq only grows.
    chain = CheckReportChain(device_id, *r.batch, std::move(known.state));
    st.bump.Reset();
    st.bump.Bind(1, r.seq).Bind(2, now).Bind(3, chain.state.last_seq);
    if (chain.state.known) {
      st.bump.Bind(4, chain.state.last_link);
    } else {
      st.bump.BindNull(4);
    }
    st.bump.Bind(5, device_id).Bind(6, r.seq).Bind(7, known.report_seq);
    OTA_ASSIGN_OR_RETURN(bumped, st.bump.Step());
    st.bump.Reset();
  }
  if (!bumped) {
    st.last.Reset();
    st.last.Bind(1, device_id);
    OTA_ASSIGN_OR_RETURN(bool row, st.last.Step());
    r.replay = ReplayInfo{row ? st.last.ColumnInt(0) : 0};
    st.last.Reset();
    return Ok();
  }
  for (const Event& event : r.batch->events) {
    st.insert.Reset();
    st.insert.Bind(1, device_id).Bind(2, event.seq).Bind(3, now).Bind(4, event.type);
    st.insert.Bind(5, event.json);
    OTA_TRY(st.insert.Run());
    if (!event.phase || event.model.empty() || event.version.empty()) continue;
    st.model_row.Reset();
    st.model_row.Bind(1, device_id).Bind(2, event.model).Bind(3, event.version);
    st.model_row.Bind(4, rollout::DevicePhaseName(*event.phase)).Bind(5, now);
    OTA_TRY(st.model_row.Run());
    auto active = by_model_.find(event.model);
    if (active == by_model_.end() || active->second.target_version != event.version) continue;
    // A report counts only for the stage whose cohort holds the device, by
    // the server's own reading of its signed facts, and only once that stage
    // was reached: a device the rollout never targeted cannot move its
    // counts.
    const manifest::RolloutManifest& rollout_manifest = active->second.manifest;
    auto device = devices_.find(device_id);
    if (device == devices_.end()) continue;
    const std::optional<std::size_t> stage =
        rollout::FirstStageOf(rollout_manifest, device->second.facts);
    if (!stage || *stage > rollout_manifest.current_stage) continue;
    st.phase_of.Reset();
    st.phase_of.Bind(1, rollout_manifest.rollout_id).Bind(2, device_id);
    OTA_ASSIGN_OR_RETURN(bool had, st.phase_of.Step());
    std::optional<rollout::DevicePhase> previous;
    std::string previous_text;
    std::int64_t counted_stage = static_cast<std::int64_t>(*stage);
    if (had) {
      previous_text = st.phase_of.ColumnText(0);
      previous = rollout::ParseDevicePhase(previous_text);
      counted_stage = st.phase_of.ColumnInt(1);  // The device stays where it was first counted.
    }
    st.phase_of.Reset();
    const rollout::DevicePhase next = rollout::PhaseAfter(previous, *event.phase);
    const std::string next_text(rollout::DevicePhaseName(next));
    st.upsert.Reset();
    st.upsert.Bind(1, rollout_manifest.rollout_id).Bind(2, device_id);
    st.upsert.Bind(3, static_cast<std::int64_t>(*stage));
    st.upsert.Bind(4, next_text).Bind(5, now);
    OTA_TRY(st.upsert.Run());
    // The stage's phase counts move with the device.
    if (had && previous_text == next_text) continue;
    if (had) {
      OTA_TRY(CountPhase(st, rollout_manifest.rollout_id, counted_stage, previous_text, -1));
    }
    OTA_TRY(CountPhase(st, rollout_manifest.rollout_id, counted_stage, next_text, 1));
  }
  return ApplyReportChain(device_id, *r.batch, now, chain, r.seq, pending);
}

void FleetStore::CommitGroup(const std::vector<PendingReport*>& group) {
  std::lock_guard lock(mu_);
  const std::int64_t now = Now();
  PendingChains chains;  // Applied if the group commits.
  Status s = InTransaction(*db_, [&]() -> Status {
    // Statements are prepared once and reused for every group.
    OTA_ASSIGN_OR_RETURN(IngestStatements * st, Ingest());
    // Rollouts and device facts as they are now (other nodes may have
    // changed them); writers are serialized, so they stay so until commit.
    OTA_TRY(RefreshRollouts());
    OTA_TRY(RefreshDevices());
    for (PendingReport* r : group) OTA_TRY(StoreReport(*st, *r, now, chains));
    return Ok();
  });
  if (ingest_) {
    // A failed step leaves its statement mid-run; none may stay so.
    for (Statement* q : {&ingest_->bump, &ingest_->last, &ingest_->insert, &ingest_->phase_of,
                         &ingest_->upsert, &ingest_->model_row, &ingest_->stored_event,
                         &ingest_->chain_row, &ingest_->chain_state, &ingest_->count}) {
      q->Reset();
    }
  }
  if (!s.ok()) {
    for (PendingReport* r : group) {
      r->status = s;
      r->replay.reset();
      chain_cache_.erase(*r->device_id);
    }
    return;
  }
  for (auto& [id, known] : chains) chain_cache_[id] = std::move(known);
}

}  // namespace ota::server
