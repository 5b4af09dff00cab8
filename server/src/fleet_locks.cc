// FleetStore's cross-node locks: PostgreSQL session advisory locks on the
// store's lock connection (docs/decisions.md D42).
#include <string>

#include "fleet_store.h"

namespace ota::server {
namespace {

// Advisory lock keys of the fleet database (the write lock is the SQL
// seam's, ota/common/postgres.h).
constexpr std::int64_t kChangeLock = 0x4f5441524f4c4cLL;  // "OTAROLL"
constexpr std::int64_t kControllerLock = kControllerLockKey;

// One boolean or count from `sql` on `db`.
Result<std::int64_t> QueryOne(Database& db, const std::string& sql) {
  OTA_ASSIGN_OR_RETURN(Statement q, db.Prepare(sql));
  OTA_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return MakeError(ErrorCode::kInternal, "no row from \"" + sql + "\"");
  return q.ColumnInt(0);
}

}  // namespace

FleetStore::~FleetStore() {
  StopCommitter();
  if (lock_db_) (void)lock_db_->Exec("SELECT pg_advisory_unlock_all()");
}

FleetStore::ChangeLock::~ChangeLock() {
  if (store_ == nullptr || !store_->lock_db_) return;
  std::lock_guard lock(store_->lock_mu_);
  (void)QueryOne(*store_->lock_db_,
                 "SELECT pg_advisory_unlock(" + std::to_string(kChangeLock) + ")");
}

Result<std::unique_ptr<FleetStore::ChangeLock>> FleetStore::LockRolloutChanges() {
  if (!lock_db_) return std::make_unique<ChangeLock>(nullptr);
  std::lock_guard lock(lock_mu_);
  OTA_ASSIGN_OR_RETURN(
      std::int64_t ignored,
      QueryOne(*lock_db_, "SELECT pg_advisory_lock(" + std::to_string(kChangeLock) + ") IS NULL"));
  (void)ignored;
  return std::make_unique<ChangeLock>(this);
}

Result<bool> FleetStore::LeadController() {
  if (!lock_db_) return true;
  std::lock_guard lock(lock_mu_);
  if (leading_) {
    // Still held? A lost connection released it (and a reconnect would not
    // have taken it back).
    auto held = QueryOne(*lock_db_,
                         "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = "
                         "pg_backend_pid() AND granted AND classid = " +
                             std::to_string(kControllerLock >> 32) + " AND objid = " +
                             std::to_string(kControllerLock & 0xffffffffLL) + " AND objsubid = 1");
    leading_ = held.ok() && *held > 0;
    if (!held.ok()) return held.error();
    if (leading_) return true;
  }
  OTA_ASSIGN_OR_RETURN(
      std::int64_t got,
      QueryOne(*lock_db_, "SELECT pg_try_advisory_lock(" + std::to_string(kControllerLock) + ")"));
  leading_ = got != 0;
  return leading_;
}

}  // namespace ota::server
