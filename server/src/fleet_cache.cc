// FleetStore's in-memory view of devices and rollouts, refreshed from the
// rows whose change counter moved since the last read (by this node or any
// other sharing the database).
#include <algorithm>
#include <map>
#include <set>
#include <shared_mutex>
#include <utility>

#include "fleet_store.h"

namespace ota::server {
namespace {

using nlohmann::json;

// Rows read per query while refreshing, so that a first read of a large
// fleet does not hold it all in one result.
constexpr std::int64_t kRefreshPage = 10000;

}  // namespace

Result<Statement*> FleetStore::PrepareOnce(std::unique_ptr<Statement>& slot, std::string_view sql) {
  if (!slot) {
    OTA_ASSIGN_OR_RETURN(Statement prepared, db_->Prepare(sql));
    slot = std::make_unique<Statement>(std::move(prepared));
  }
  return slot.get();
}

Status FleetStore::RefreshDevices() {
  OTA_ASSIGN_OR_RETURN(
      Statement * refresh,
      PrepareOnce(refresh_devices_,
                  "SELECT device_id, public_key, facts, facts_rev FROM devices WHERE "
                  "(facts_rev, device_id) > (?, ?) ORDER BY facts_rev, device_id LIMIT ?"));
  Statement& q = *refresh;
  while (true) {
    q.Reset();
    q.Bind(1, devices_seen_.first).Bind(2, devices_seen_.second).Bind(3, kRefreshPage);
    std::int64_t rows = 0;
    while (true) {
      OTA_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      ++rows;
      std::string id = q.ColumnText(0);
      rollout::DeviceFacts facts = FactsFromJson(id, json::parse(q.ColumnText(2), nullptr, false));
      std::unique_lock write(devices_mu_);
      auto [it, added] = devices_.try_emplace(id);
      CachedDevice& d = it->second;
      if (!added) CountDevice(d.facts, -1);
      d.public_key_hex = q.ColumnText(1);
      d.facts = std::move(facts);
      write.unlock();
      CountDevice(d.facts, 1);
      devices_seen_ = {q.ColumnInt(3), std::move(id)};
    }
    if (rows < kRefreshPage) {
      q.Reset();
      return Ok();
    }
  }
}

Result<bool> FleetStore::RefreshChanged() {
  OTA_ASSIGN_OR_RETURN(Statement * counters,
                       PrepareOnce(change_counters_,
                                   "SELECT (SELECT COALESCE(MAX(rev), 0) FROM rollouts), "
                                   "(SELECT COALESCE(MAX(facts_rev), 0) FROM devices)"));
  Statement& q = *counters;
  q.Reset();
  OTA_ASSIGN_OR_RETURN(bool row, q.Step());
  const std::int64_t rollouts = row ? q.ColumnInt(0) : 0;
  const std::int64_t devices = row ? q.ColumnInt(1) : 0;
  q.Reset();
  // Writers are serialized and give every change the highest counter yet,
  // so a counter no higher than the one last read means nothing new.
  bool changed = false;
  if (rollouts > rollouts_seen_) {
    OTA_TRY(RefreshRollouts());
    // Every row up to the counter read is in now. Without this, a database
    // with no rollout (counter 0, nothing read) would keep the -1 of a node
    // that never read one, and every report group would find "changed".
    rollouts_seen_ = std::max(rollouts_seen_, rollouts);
    changed = true;
  }
  if (devices > devices_seen_.first || devices_seen_.second.empty()) {
    OTA_TRY(RefreshDevices());
    changed = true;
  }
  return changed;
}

Status FleetStore::RefreshRollouts() {
  OTA_ASSIGN_OR_RETURN(Statement * refresh,
                       PrepareOnce(refresh_rollouts_,
                                   "SELECT rollout_id, manifest, created_at, rev FROM rollouts "
                                   "WHERE rev > ? ORDER BY rev, rollout_id"));
  Statement& q = *refresh;
  q.Reset();
  q.Bind(1, rollouts_seen_);
  std::set<std::string> models;
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    auto m = manifest::ParseRolloutManifest(q.ColumnText(1));
    if (!m.ok()) {
      return MakeError(ErrorCode::kRestartDeployment,
                       "stored rollout manifest is invalid: " + m.error().message);
    }
    models.insert(m->model);
    rollouts_[q.ColumnText(0)] = {q.ColumnInt(2), std::move(*m)};
    rollouts_seen_ = std::max(rollouts_seen_, q.ColumnInt(3));
  }
  q.Reset();
  // The latest rollout of each model touched: by creation time, then id.
  for (const std::string& model : models) {
    const CachedRollout* latest = nullptr;
    for (const auto& [id, r] : rollouts_) {
      if (r.manifest.model != model) continue;
      if (latest == nullptr || r.created_at > latest->created_at ||
          (r.created_at == latest->created_at && id > latest->manifest.rollout_id)) {
        latest = &r;
      }
    }
    if (latest != nullptr) {
      by_model_[model] = {manifest::ToString(latest->manifest.target.bundle_version),
                          latest->manifest};
    }
  }
  return Ok();
}

std::optional<std::string> FleetStore::DeviceKey(const std::string& device_id) {
  {
    // Without mu_: reports verify their signatures while a group commits.
    std::shared_lock read(devices_mu_);
    auto it = devices_.find(device_id);
    if (it != devices_.end()) return it->second.public_key_hex;
  }
  std::lock_guard lock(mu_);
  auto it = devices_.find(device_id);
  if (it == devices_.end()) {
    // Perhaps enrolled since, here or at another node.
    if (!RefreshDevices().ok()) return std::nullopt;
    it = devices_.find(device_id);
    if (it == devices_.end()) return std::nullopt;
  }
  return it->second.public_key_hex;
}

namespace {

void Add(std::map<std::string, std::uint64_t>& counts, const std::string& key, int sign) {
  std::uint64_t& n = counts[key];
  if (sign > 0) {
    ++n;
  } else if (n <= 1) {
    counts.erase(key);
  } else {
    --n;
  }
}

}  // namespace

void FleetStore::CountDevice(const rollout::DeviceFacts& f, int sign) {
  const manifest::Version unknown{};
  Add(fact_counts_.by_app,
      f.app_version == unknown ? std::string("unknown") : manifest::ToString(f.app_version), sign);
  Add(fact_counts_.by_region, f.region.empty() ? std::string("unknown") : f.region, sign);
  for (const std::string& t : f.tags) Add(fact_counts_.by_tag, t, sign);
  for (auto& [id, t] : targeting_) {
    const std::optional<std::size_t> stage = rollout::FirstStageOf(t.manifest, f);
    if (!stage) continue;
    std::uint64_t& n = t.counts[*stage];
    if (sign > 0) {
      ++n;
    } else if (n > 0) {
      --n;
    }
  }
}

Result<std::map<std::size_t, std::uint64_t>> FleetStore::TargetedCounts(
    const manifest::RolloutManifest& m) {
  std::lock_guard lock(mu_);
  OTA_TRY(RefreshDevices());
  std::string key = m.rollout_id + "\n" + manifest::ToJson(m)["stages"].dump();
  Targeting& t = targeting_[m.rollout_id];
  if (t.key != key) {
    // New targeting: count the whole fleet once.
    t.key = std::move(key);
    t.manifest = m;
    t.counts.clear();
    for (const auto& [id, device] : devices_) {
      if (auto stage = rollout::FirstStageOf(m, device.facts)) ++t.counts[*stage];
    }
  }
  std::map<std::size_t, std::uint64_t> counts = t.counts;
  // Counts are kept for the latest rollout of each model (and the one just
  // asked for), so that a device's change updates a few, not one per rollout
  // ever looked at; an older rollout's status counts the fleet again.
  std::erase_if(targeting_, [&](const auto& entry) {
    if (entry.first == m.rollout_id) return false;
    auto r = rollouts_.find(entry.first);
    if (r == rollouts_.end()) return true;
    auto latest = by_model_.find(r->second.manifest.model);
    return latest == by_model_.end() || latest->second.manifest.rollout_id != entry.first;
  });
  return counts;
}

Result<FleetStore::FactCounts> FleetStore::DeviceFactCounts() {
  std::lock_guard lock(mu_);
  OTA_TRY(RefreshDevices());
  return fact_counts_;
}

Result<std::uint64_t> FleetStore::DeviceCount() {
  std::lock_guard lock(mu_);
  OTA_TRY(RefreshDevices());
  return static_cast<std::uint64_t>(devices_.size());
}

}  // namespace ota::server
