// FleetStore's in-memory view of devices and rollouts, refreshed from the
// rows whose change counter moved since the last read (by this node or any
// other sharing the database).
#include <algorithm>
#include <set>
#include <utility>

#include "fleet_store.h"

namespace ota::server {
namespace {

using nlohmann::json;

// Rows read per query while refreshing, so that a first read of a large
// fleet does not hold it all in one result.
constexpr std::int64_t kRefreshPage = 10000;

}  // namespace

Status FleetStore::RefreshDevices() {
  if (!refresh_devices_) {
    OTA_ASSIGN_OR_RETURN(
        Statement prepared,
        db_->Prepare("SELECT device_id, public_key, facts, facts_rev FROM devices WHERE "
                     "(facts_rev, device_id) > (?, ?) ORDER BY facts_rev, device_id LIMIT ?"));
    refresh_devices_ = std::make_unique<Statement>(std::move(prepared));
  }
  Statement& q = *refresh_devices_;
  while (true) {
    q.Reset();
    q.Bind(1, devices_seen_.first).Bind(2, devices_seen_.second).Bind(3, kRefreshPage);
    std::int64_t rows = 0;
    while (true) {
      OTA_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      ++rows;
      std::string id = q.ColumnText(0);
      CachedDevice& d = devices_[id];
      d.public_key_hex = q.ColumnText(1);
      d.facts = FactsFromJson(id, json::parse(q.ColumnText(2), nullptr, false));
      devices_seen_ = {q.ColumnInt(3), std::move(id)};
    }
    if (rows < kRefreshPage) {
      q.Reset();
      return Ok();
    }
  }
}

Status FleetStore::RefreshRollouts() {
  if (!refresh_rollouts_) {
    OTA_ASSIGN_OR_RETURN(Statement prepared,
                         db_->Prepare("SELECT rollout_id, manifest, created_at, rev FROM rollouts "
                                      "WHERE rev > ? ORDER BY rev, rollout_id"));
    refresh_rollouts_ = std::make_unique<Statement>(std::move(prepared));
  }
  Statement& q = *refresh_rollouts_;
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

Status FleetStore::ForEachDevice(const std::function<void(const rollout::DeviceFacts&)>& fn) {
  std::lock_guard lock(mu_);
  OTA_TRY(RefreshDevices());
  for (const auto& [id, device] : devices_) fn(device.facts);
  return Ok();
}

Result<std::uint64_t> FleetStore::DeviceCount() {
  std::lock_guard lock(mu_);
  OTA_TRY(RefreshDevices());
  return static_cast<std::uint64_t>(devices_.size());
}

}  // namespace ota::server
