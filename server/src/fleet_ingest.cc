// FleetStore's report ingestion: group commit and the statements that store
// one report.
#include <algorithm>
#include <utility>

#include "fleet_store.h"

namespace ota::server {

Result<std::optional<ReplayInfo>> FleetStore::IngestReport(const std::string& device_id,
                                                           std::int64_t seq,
                                                           const EventBatch& batch) {
  if (!DeviceKey(device_id)) {
    return MakeError(ErrorCode::kNotFound, "unknown device " + device_id);
  }
  // Group commit: one thread commits the reports queued while it
  // committed the previous group together, so that many concurrent reports
  // share one transaction (one WAL flush; on PostgreSQL one round trip while
  // the node's caches hold), and a group follows the last without waiting
  // for a thread to wake.
  PendingReport mine{&device_id, seq, &batch, Ok(), std::nullopt, false, {}};
  std::unique_lock q(queue_mu_);
  if (stopping_) return MakeError(ErrorCode::kCancelled, "the fleet store is closing");
  if (!committer_.joinable()) committer_ = std::thread([this] { CommitLoop(); });
  queue_.push_back(&mine);
  if (queue_.size() == 1) queue_cv_.notify_one();
  mine.done_cv.wait(q, [&] { return mine.done; });
  q.unlock();
  if (!mine.status.ok()) return std::move(mine.status).error();
  return mine.replay;
}

void FleetStore::CommitLoop() {
  std::unique_lock q(queue_mu_);
  while (true) {
    queue_cv_.wait(q, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // Stopping, with nothing left to commit.
    std::vector<PendingReport*> group;
    group.swap(queue_);
    q.unlock();
    CommitGroup(group);
    q.lock();
    for (PendingReport* r : group) {
      r->done = true;
      r->done_cv.notify_one();
    }
  }
}

void FleetStore::StopCommitter() {
  {
    std::lock_guard q(queue_mu_);
    stopping_ = true;
    queue_cv_.notify_one();
  }
  if (committer_.joinable()) committer_.join();
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
      Statement phase_of,
      db_->Prepare("SELECT phase, stage FROM device_rollouts WHERE rollout_id = ? AND device_id "
                   "= ?"));
  OTA_ASSIGN_OR_RETURN(
      Statement upsert,
      db_->Prepare("INSERT INTO device_rollouts (rollout_id, device_id, stage, phase, "
                   "updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (rollout_id, device_id) "
                   "DO UPDATE SET phase = excluded.phase, updated_at = excluded.updated_at"));
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
  OTA_ASSIGN_OR_RETURN(
      Statement unchanged,
      db_->Prepare("SELECT 1 WHERE (SELECT COALESCE(MAX(rev), 0) FROM rollouts) <= ? AND (SELECT "
                   "COALESCE(MAX(facts_rev), 0) FROM devices) <= ?"));
  ingest_.reset(new IngestStatements{std::move(bump),
                                     std::move(last),
                                     std::move(phase_of),
                                     std::move(upsert),
                                     std::move(stored_event),
                                     std::move(chain_row),
                                     std::move(chain_state),
                                     std::move(count),
                                     std::move(unchanged),
                                     {}});
  return ingest_.get();
}

void FleetStore::CountPhase(const std::string& rollout_id, std::int64_t stage,
                            const std::string& phase, std::int64_t delta) {
  group_.counts[{rollout_id, stage, phase}] += delta;
}

namespace {

// Rows per multi-row statement: the largest power of two up to 64 that
// `left` holds, so that a few prepared statements serve every group.
std::size_t ChunkRows(std::size_t left) {
  std::size_t n = 64;
  while (n > left) n /= 2;
  return n;
}

}  // namespace

Result<Statement*> FleetStore::MultiRow(IngestStatements& st, int kind, std::size_t rows) {
  auto it = st.multi.find({kind, rows});
  if (it != st.multi.end()) return &it->second;
  std::string sql = kind == 0
                        ? "INSERT INTO events (device_id, seq, received_at, type, body) VALUES "
                        : "INSERT INTO device_models (device_id, model, version, phase, "
                          "updated_at) VALUES ";
  for (std::size_t i = 0; i < rows; ++i) sql += i == 0 ? "(?, ?, ?, ?, ?)" : ", (?, ?, ?, ?, ?)";
  sql += kind == 0 ? " ON CONFLICT (device_id, seq) DO NOTHING"
                   : " ON CONFLICT (device_id, model) DO UPDATE SET version = excluded.version, "
                     "phase = excluded.phase, updated_at = excluded.updated_at";
  OTA_ASSIGN_OR_RETURN(Statement q, db_->Prepare(sql));
  return &st.multi.emplace(std::make_pair(kind, rows), std::move(q)).first->second;
}

Status FleetStore::WriteGroupRows(IngestStatements& st, bool all) {
  const std::int64_t now = group_.now;
  for (std::size_t done = 0; done < group_.events.size();) {
    const std::size_t n = ChunkRows(group_.events.size() - done);
    OTA_ASSIGN_OR_RETURN(Statement * q, MultiRow(st, 0, n));
    q->Reset();
    for (std::size_t i = 0; i < n; ++i) {
      const GroupWrites::EventRow& row = group_.events[done + i];
      const int p = static_cast<int>(i) * 5;
      q->Bind(p + 1, *row.device_id).Bind(p + 2, row.event->seq).Bind(p + 3, now);
      q->Bind(p + 4, row.event->type).Bind(p + 5, row.event->json);
    }
    OTA_TRY(q->Defer());
    done += n;
  }
  group_.events.clear();
  if (!all) return Ok();
  // Keys are unique within a statement (an upsert may not touch a row
  // twice) and in order, so that groups committing side by side (shared)
  // take these rows' locks, and the count rows', in one order.
  auto model = group_.models.begin();
  while (model != group_.models.end()) {
    const std::size_t n =
        ChunkRows(static_cast<std::size_t>(std::distance(model, group_.models.end())));
    OTA_ASSIGN_OR_RETURN(Statement * q, MultiRow(st, 1, n));
    q->Reset();
    for (std::size_t i = 0; i < n; ++i, ++model) {
      const int p = static_cast<int>(i) * 5;
      q->Bind(p + 1, model->first.first).Bind(p + 2, model->first.second);
      q->Bind(p + 3, model->second.version).Bind(p + 4, model->second.phase).Bind(p + 5, now);
    }
    OTA_TRY(q->Defer());
  }
  group_.models.clear();
  for (const auto& [key, delta] : group_.counts) {
    if (delta == 0) continue;
    const auto& [rollout_id, stage, phase] = key;
    st.count.Reset();
    st.count.Bind(1, rollout_id).Bind(2, stage).Bind(3, phase).Bind(4, delta);
    OTA_TRY(st.count.Defer());
  }
  group_.counts.clear();
  return Ok();
}

Result<std::optional<FleetStore::RolloutPhase>> FleetStore::PhaseOf(IngestStatements& st,
                                                                    KnownChain& known,
                                                                    const std::string& rollout_id,
                                                                    const std::string& device_id) {
  auto cached = known.phases.find(rollout_id);
  if (cached != known.phases.end()) return cached->second;
  st.phase_of.Reset();
  st.phase_of.Bind(1, rollout_id).Bind(2, device_id);
  OTA_ASSIGN_OR_RETURN(bool had, st.phase_of.Step());
  std::optional<RolloutPhase> row;
  if (had) row = RolloutPhase{st.phase_of.ColumnText(0), st.phase_of.ColumnInt(1)};
  st.phase_of.Reset();
  known.phases[rollout_id] = row;
  return row;
}

Status FleetStore::StoreReport(IngestStatements& st, PendingReport& r, std::int64_t now,
                               PendingChains& pending) {
  const std::string& device_id = *r.device_id;
  // The report is accepted by the statement that raises last_seq from the
  // value the chain state goes with: if another node took a report of the
  // device since this node last saw it, nothing changes and the check runs
  // again on the stored state. Optimistically, that statement is queued
  // with the group's other writes and expected to change one row; if it
  // does not, the whole group is tried again without the cache.
  ChainUpdate chain;
  KnownChain known;
  bool bumped = false;
  // The chain check may read the device's stored events, some of which an
  // earlier report of this group may have brought: they are written first.
  if (pending.count(device_id) != 0) OTA_TRY(WriteGroupRows(st, /*all=*/false));
  for (int attempt = 0; attempt < 2 && !bumped; ++attempt) {
    OTA_ASSIGN_OR_RETURN(known, ChainOf(device_id, pending, attempt > 0));
    if (r.seq <= known.report_seq) break;  // A replay: last_seq only grows.
    chain = CheckReportChain(device_id, *r.batch, known.state);
    st.bump.Reset();
    st.bump.Bind(1, r.seq).Bind(2, now).Bind(3, chain.state.last_seq);
    if (chain.state.known) {
      st.bump.Bind(4, chain.state.last_link);
    } else {
      st.bump.BindNull(4);
    }
    st.bump.Bind(5, device_id).Bind(6, r.seq).Bind(7, known.report_seq);
    if (group_.optimistic) {
      OTA_TRY(st.bump.Defer(1));
      bumped = true;
    } else {
      OTA_ASSIGN_OR_RETURN(bumped, st.bump.Step());
      st.bump.Reset();
    }
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
    group_.events.push_back({&device_id, &event});
    if (!event.phase || event.model.empty() || event.version.empty()) continue;
    group_.models[{device_id, event.model}] =
        GroupWrites::ModelRow{event.version, std::string(rollout::DevicePhaseName(*event.phase))};
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
    OTA_ASSIGN_OR_RETURN(std::optional<RolloutPhase> row,
                         PhaseOf(st, known, rollout_manifest.rollout_id, device_id));
    std::optional<rollout::DevicePhase> previous;
    // The device stays in the stage where it was first counted.
    const std::int64_t counted_stage = row ? row->stage : static_cast<std::int64_t>(*stage);
    if (row) previous = rollout::ParseDevicePhase(row->phase);
    const rollout::DevicePhase next = rollout::PhaseAfter(previous, *event.phase);
    const std::string next_text(rollout::DevicePhaseName(next));
    st.upsert.Reset();
    st.upsert.Bind(1, rollout_manifest.rollout_id).Bind(2, device_id);
    st.upsert.Bind(3, static_cast<std::int64_t>(*stage));
    st.upsert.Bind(4, next_text).Bind(5, now);
    OTA_TRY(st.upsert.Defer());
    known.phases[rollout_manifest.rollout_id] = RolloutPhase{next_text, counted_stage};
    // The stage's phase counts move with the device.
    if (row && row->phase == next_text) continue;
    if (row) CountPhase(rollout_manifest.rollout_id, counted_stage, row->phase, -1);
    CountPhase(rollout_manifest.rollout_id, counted_stage, next_text, 1);
  }
  return ApplyReportChain(device_id, *r.batch, now, chain, known, r.seq, pending);
}

Status FleetStore::TryGroup(const std::vector<PendingReport*>& group, std::int64_t now,
                            PendingChains& chains, bool optimistic) {
  group_ = GroupWrites{};
  group_.optimistic = optimistic;
  group_.now = now;
  Status s = InTransaction(
      *db_,
      [&]() -> Status {
        // Statements are prepared once and reused for every group.
        OTA_ASSIGN_OR_RETURN(IngestStatements * st, Ingest());
        // Rollouts and device facts as they are now (other nodes may have
        // changed them); their writers run alone, so they stay so until commit.
        if (optimistic) {
          // As cached, checked when the group's writes are sent.
          st->unchanged.Reset();
          st->unchanged.Bind(1, rollouts_seen_).Bind(2, devices_seen_.first);
          OTA_TRY(st->unchanged.Defer(1));
        } else {
          OTA_ASSIGN_OR_RETURN(bool changed, RefreshChanged());
          optimistic_ = !changed;
        }
        for (PendingReport* r : group) OTA_TRY(StoreReport(*st, *r, now, chains));
        return WriteGroupRows(*st, /*all=*/true);
      },
      /*shared=*/optimistic);
  if (ingest_) {
    // A failed step leaves its statement mid-run; none may stay so.
    for (Statement* q : {&ingest_->bump, &ingest_->last, &ingest_->phase_of, &ingest_->upsert,
                         &ingest_->stored_event, &ingest_->chain_row, &ingest_->chain_state,
                         &ingest_->count, &ingest_->unchanged}) {
      q->Reset();
    }
    for (auto& [key, q] : ingest_->multi) q.Reset();
  }
  return s;
}

void FleetStore::CommitGroup(const std::vector<PendingReport*>& group) {
  std::lock_guard lock(mu_);
  const std::int64_t now = Now();
  PendingChains chains;  // Applied if the group commits.
  const bool optimistic = optimistic_ && !devices_seen_.second.empty();
  // By device (each device's reports as they came), so that groups
  // committing side by side take the devices' row locks in one order.
  std::vector<PendingReport*> ordered = group;
  std::stable_sort(
      ordered.begin(), ordered.end(),
      [](const PendingReport* a, const PendingReport* b) { return *a->device_id < *b->device_id; });
  Status s = TryGroup(ordered, now, chains, optimistic);
  std::atomic<std::uint64_t>* counted = optimistic ? &groups_cached_ : &groups_stored_;
  if (optimistic && !s.ok() && s.error().code == ErrorCode::kRetryLater) {
    counted = &groups_after_miss_;
    // Another node took a report of one of these devices (or the database
    // asked for a retry): again, each device's state as stored.
    chains.clear();
    for (PendingReport* r : group) {
      r->replay.reset();
      chain_cache_.erase(*r->device_id);
    }
    s = TryGroup(ordered, now, chains, /*optimistic=*/false);
  }
  if (!s.ok()) {
    ++groups_failed_;
    for (PendingReport* r : group) {
      r->status = s;
      r->replay.reset();
      chain_cache_.erase(*r->device_id);
    }
    return;
  }
  ++*counted;
  for (auto& [id, known] : chains) chain_cache_[id] = std::move(known);
}

FleetStore::ReportGroupCounts FleetStore::GroupCounts() const {
  return {groups_cached_.load(), groups_after_miss_.load(), groups_stored_.load(),
          groups_failed_.load()};
}

}  // namespace ota::server
