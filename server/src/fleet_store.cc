#include "fleet_store.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "ota/common/hash.h"

namespace ota::server {
namespace {

using nlohmann::json;

Error InvalidFleet(const std::string& message) {
  return MakeError(ErrorCode::kInvalidArgument, message);
}

Result<RolloutRecord> RecordFromRow(const Statement& q) {
  RolloutRecord r;
  auto m = manifest::ParseRolloutManifest(q.ColumnText(0));
  if (!m.ok()) {
    return MakeError(ErrorCode::kRestartDeployment,
                     "stored rollout manifest is invalid: " + m.error().message);
  }
  r.manifest = std::move(*m);
  json policy = json::parse(q.ColumnText(1), nullptr, false);
  auto p = rollout::ParseControllerPolicy(policy);
  if (!p.ok()) {
    return MakeError(ErrorCode::kRestartDeployment,
                     "stored controller policy is invalid: " + p.error().message);
  }
  r.policy = std::move(*p);
  r.created_at = q.ColumnInt(2);
  r.updated_at = q.ColumnInt(3);
  return r;
}

}  // namespace

rollout::DeviceFacts FactsFromJson(const std::string& device_id, const json& facts) {
  rollout::DeviceFacts f;
  f.device_id = device_id;
  if (!facts.is_object()) return f;
  if (auto it = facts.find("app_version"); it != facts.end() && it->is_string()) {
    auto v = manifest::ParseVersion(it->get<std::string>());
    if (v.ok()) f.app_version = *v;
  }
  if (auto it = facts.find("attributes"); it != facts.end() && it->is_object()) {
    for (auto a = it->begin(); a != it->end(); ++a) {
      if (a->is_string()) f.attributes[a.key()] = a->get<std::string>();
    }
  }
  if (auto it = facts.find("tags"); it != facts.end() && it->is_array()) {
    for (const json& t : *it) {
      if (t.is_string()) f.tags.insert(t.get<std::string>());
    }
  }
  if (auto it = facts.find("region"); it != facts.end() && it->is_string()) {
    f.region = it->get<std::string>();
  }
  return f;
}

namespace {

// The agent's own limits on device facts (agent/src/device_probe.cc), so that
// whatever a device may send is taken and nothing larger is.
constexpr std::size_t kMaxFactText = 256;
constexpr std::size_t kMaxFactEntries = 100;
constexpr std::size_t kMaxFactName = 64;

// 1 to 256 bytes without control characters.
bool IsFactText(const json& v) {
  if (!v.is_string()) return false;
  const std::string& s = v.get_ref<const std::string&>();
  if (s.empty() || s.size() > kMaxFactText) return false;
  return std::none_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

// [a-z0-9][a-z0-9._-]{0,63}.
bool IsFactName(const std::string& name) {
  if (name.empty() || name.size() > kMaxFactName) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-'))) return false;
  }
  return true;
}

}  // namespace

Status ValidateFacts(const json& facts) {
  if (!facts.is_object()) return InvalidFleet("facts must be an object");
  for (auto it = facts.begin(); it != facts.end(); ++it) {
    const std::string& k = it.key();
    const json& v = it.value();
    if (k == "app_version") {
      if (!v.is_string() || v.get_ref<const std::string&>().size() > kMaxFactText ||
          !manifest::ParseVersion(v.get<std::string>()).ok()) {
        return InvalidFleet("facts.app_version must be a semantic version string");
      }
    } else if (k == "cpu_arch" || k == "os") {
      if (!IsFactText(v) || v.get_ref<const std::string&>().size() > 64) {
        return InvalidFleet("facts." + k + " must be a string of 1 to 64 bytes");
      }
    } else if (k == "total_ram") {
      if (!v.is_number_unsigned()) {
        return InvalidFleet("facts.total_ram must be a non-negative integer (bytes)");
      }
    } else if (k == "region") {
      if (!IsFactText(v)) {
        return InvalidFleet("facts.region must be a string of 1 to 256 bytes");
      }
    } else if (k == "attributes") {
      if (!v.is_object() || v.size() > kMaxFactEntries) {
        return InvalidFleet("facts.attributes must be an object of at most 100 strings");
      }
      for (auto a = v.begin(); a != v.end(); ++a) {
        if (!IsFactName(a.key())) {
          return InvalidFleet(
              "facts.attributes names must be of the form "
              "[a-z0-9][a-z0-9._-]{0,63}");
        }
        if (!IsFactText(a.value())) {
          return InvalidFleet(
              "facts.attributes values must be strings of 1 to 256 bytes "
              "without control characters");
        }
      }
    } else if (k == "tags") {
      if (!v.is_array() || v.size() > kMaxFactEntries) {
        return InvalidFleet("facts.tags must be an array of at most 100 strings");
      }
      for (const json& t : v) {
        if (!IsFactText(t)) {
          return InvalidFleet(
              "facts.tags must hold strings of 1 to 256 bytes without control "
              "characters");
        }
      }
    } else {
      return InvalidFleet("facts: unknown field " + k);
    }
  }
  return Ok();
}

Result<std::unique_ptr<FleetStore>> FleetStore::Open(const std::string& path, Clock& clock) {
  OTA_ASSIGN_OR_RETURN(auto db, OpenFleetDatabase(path));
  if (db->engine() == Database::Engine::kSqlite) {
    // WAL with synchronous=NORMAL: a commit is durable against a crash of the
    // server process and the database stays consistent after a power loss,
    // which may forget the last acknowledged reports (docs/decisions.md D16).
    // PostgreSQL keeps its own (durable) commit setting.
    OTA_TRY(db->Exec("PRAGMA synchronous=NORMAL;"));
  }
  // Rows of the per-rollout audit table kept before the server audit log
  // existed become its first records (once).
  OTA_TRY(CarryLegacyAudit(*db));
  const bool shared = db->engine() == Database::Engine::kPostgres;
  std::unique_ptr<FleetStore> store(new FleetStore(std::move(db), clock));
  if (shared) {
    OTA_ASSIGN_OR_RETURN(store->lock_db_, OpenFleetDatabase(path));
  }
  {
    // Through the change counters, so that the node starts with the
    // counters it has seen and its first report group can use the cache.
    std::lock_guard lock(store->mu_);
    OTA_ASSIGN_OR_RETURN(bool changed, store->RefreshChanged());
    (void)changed;
  }
  return store;
}

std::int64_t FleetStore::Now() const {
  return std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count();
}

Result<EnrollResult> FleetStore::EnrollDevice(const std::string& device_id,
                                              const std::string& public_key_hex,
                                              const std::optional<json>& given,
                                              const std::optional<std::string>& token_name) {
  std::lock_guard lock(mu_);
  // A key never changes once enrolled, so a remembered key answers without
  // a transaction; anything else is decided inside one (writers are
  // serialized, so two nodes enrolling one id cannot both insert it).
  if (auto known = devices_.find(device_id); known != devices_.end()) {
    if (known->second.public_key_hex != public_key_hex) {
      return MakeError(ErrorCode::kSecurity,
                       "device " + device_id + " is enrolled with another key");
    }
    if (!given) return EnrollResult::kUnchanged;
  }
  const json facts = given ? *given : json::object();
  const std::string facts_text = facts.dump();
  EnrollResult result = EnrollResult::kUnchanged;
  OTA_TRY(InTransaction(*db_, [&]() -> Status {
    OTA_ASSIGN_OR_RETURN(Statement known,
                         db_->Prepare("SELECT public_key FROM devices WHERE device_id = ?"));
    known.Bind(1, device_id);
    OTA_ASSIGN_OR_RETURN(bool exists, known.Step());
    if (exists) {
      if (known.ColumnText(0) != public_key_hex) {
        return MakeError(ErrorCode::kSecurity,
                         "device " + device_id + " is enrolled with another key");
      }
      if (!given) return Ok();
      OTA_ASSIGN_OR_RETURN(Statement u,
                           db_->Prepare("UPDATE devices SET facts = ?, facts_rev = (SELECT "
                                        "COALESCE(MAX(facts_rev), 0) + 1 FROM devices) WHERE "
                                        "device_id = ? AND facts != ? RETURNING 1"));
      u.Bind(1, facts_text).Bind(2, device_id).Bind(3, facts_text);
      OTA_ASSIGN_OR_RETURN(bool changed, u.Step());
      u.Reset();
      if (!changed) return Ok();
      ServerAuditRecord r{"device-facts-updated",
                          "device:" + device_id,
                          "",
                          "",
                          device_id,
                          json{{"facts_sha256", Sha256Hex(facts_text)}}};
      return AppendServerAuditStatus(*db_, r, Now());
    }
    if (!token_name) {
      result = EnrollResult::kNeedsToken;
      return Ok();
    }
    // The token's quota is taken in the transaction that stores the device,
    // so concurrent enrollments cannot exceed it.
    OTA_ASSIGN_OR_RETURN(
        Statement take,
        db_->Prepare("UPDATE enrollment_tokens SET devices = devices + 1 WHERE name = ? AND "
                     "revoked = 0 AND (max_devices = 0 OR devices < max_devices) AND "
                     "(expires_at = 0 OR expires_at > ?) RETURNING 1"));
    take.Bind(1, *token_name).Bind(2, Now());
    OTA_ASSIGN_OR_RETURN(bool admitted, take.Step());
    take.Reset();
    if (!admitted) {
      result = EnrollResult::kTokenUsedUp;
      return Ok();
    }
    OTA_ASSIGN_OR_RETURN(
        Statement ins,
        db_->Prepare("INSERT INTO devices (device_id, public_key, facts, enrolled_at, "
                     "enrolled_with, facts_rev) VALUES (?, ?, ?, ?, ?, (SELECT "
                     "COALESCE(MAX(facts_rev), 0) + 1 FROM devices))"));
    ins.Bind(1, device_id).Bind(2, public_key_hex).Bind(3, facts_text).Bind(4, Now());
    ins.Bind(5, *token_name);
    OTA_TRY(ins.Run());
    result = EnrollResult::kCreated;
    // The key the device's reports and checkpoints are verified with, for
    // auditors (manifest/audit_log.h: exports carry this record).
    ServerAuditRecord r{"device-enrolled",
                        "device:" + device_id,
                        "",
                        "",
                        device_id,
                        json{{"public_key", public_key_hex},
                             {"enrollment_token", *token_name},
                             {"facts_sha256", Sha256Hex(facts_text)}}};
    return AppendServerAuditStatus(*db_, r, Now());
  }));
  OTA_TRY(RefreshDevices());
  return result;
}

Status FleetStore::InsertRollout(const RolloutRecord& record, const AuditEntry& audit) {
  std::lock_guard lock(mu_);
  const manifest::RolloutManifest& m = record.manifest;
  Status s = InTransaction(*db_, [&]() -> Status {
    OTA_ASSIGN_OR_RETURN(Statement exists,
                         db_->Prepare("SELECT 1 FROM rollouts WHERE rollout_id = ?"));
    exists.Bind(1, m.rollout_id);
    OTA_ASSIGN_OR_RETURN(bool taken, exists.Step());
    if (taken) return InvalidFleet("rollout " + m.rollout_id + " exists");
    OTA_ASSIGN_OR_RETURN(Statement others,
                         db_->Prepare("SELECT manifest FROM rollouts WHERE model = ?"));
    others.Bind(1, m.model);
    while (true) {
      OTA_ASSIGN_OR_RETURN(bool row, others.Step());
      if (!row) break;
      auto other = manifest::ParseRolloutManifest(others.ColumnText(0));
      if (other.ok() && other->state != manifest::RolloutState::kHalted &&
          !(other->current_stage + 1 == other->stages.size() &&
            other->stages.back().percent_hundredths == manifest::kFullPercentHundredths)) {
        return InvalidFleet("model " + m.model + " already has rollout " + other->rollout_id +
                            " in progress; halt it first");
      }
    }
    OTA_ASSIGN_OR_RETURN(
        Statement ins,
        db_->Prepare("INSERT INTO rollouts (rollout_id, model, manifest, policy, created_at, "
                     "updated_at, rev) VALUES (?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(rev), 0) + "
                     "1 FROM rollouts))"));
    ins.Bind(1, m.rollout_id).Bind(2, m.model).Bind(3, manifest::ToJson(m).dump());
    ins.Bind(4, rollout::ToJson(record.policy).dump()).Bind(5, record.created_at);
    ins.Bind(6, record.updated_at);
    OTA_TRY(ins.Run());
    return AppendAuditEntry(audit);
  });
  if (!s.ok()) return s;
  return RefreshRollouts();
}

Status FleetStore::UpdateRollout(const RolloutRecord& record, const AuditEntry& audit) {
  std::lock_guard lock(mu_);
  const manifest::RolloutManifest& m = record.manifest;
  Status s = InTransaction(*db_, [&]() -> Status {
    OTA_ASSIGN_OR_RETURN(Statement cur,
                         db_->Prepare("SELECT manifest FROM rollouts WHERE rollout_id = ?"));
    cur.Bind(1, m.rollout_id);
    OTA_ASSIGN_OR_RETURN(bool found, cur.Step());
    if (!found) return MakeError(ErrorCode::kNotFound, "no rollout " + m.rollout_id);
    auto stored = manifest::ParseRolloutManifest(cur.ColumnText(0));
    if (stored.ok() && stored->version >= m.version) {
      return MakeError(ErrorCode::kRetryLater,
                       "rollout " + m.rollout_id + " changed meanwhile (version " +
                           std::to_string(stored->version) + " is stored, " +
                           std::to_string(m.version) + " was to be written); try again");
    }
    OTA_ASSIGN_OR_RETURN(Statement u,
                         db_->Prepare("UPDATE rollouts SET manifest = ?, policy = ?, updated_at "
                                      "= ?, rev = (SELECT COALESCE(MAX(rev), 0) + 1 FROM "
                                      "rollouts) WHERE rollout_id = ?"));
    u.Bind(1, manifest::ToJson(m).dump()).Bind(2, rollout::ToJson(record.policy).dump());
    u.Bind(3, record.updated_at).Bind(4, m.rollout_id);
    OTA_TRY(u.Run());
    return AppendAuditEntry(audit);
  });
  if (!s.ok()) return s;
  return RefreshRollouts();
}

Result<std::optional<RolloutRecord>> FleetStore::GetRollout(const std::string& rollout_id) {
  std::lock_guard lock(mu_);
  OTA_ASSIGN_OR_RETURN(Statement q,
                       db_->Prepare("SELECT manifest, policy, created_at, updated_at FROM "
                                    "rollouts WHERE rollout_id = ?"));
  q.Bind(1, rollout_id);
  OTA_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return std::optional<RolloutRecord>();
  OTA_ASSIGN_OR_RETURN(RolloutRecord rec, RecordFromRow(q));
  return std::optional<RolloutRecord>(std::move(rec));
}

Result<std::vector<RolloutRecord>> FleetStore::ListRollouts() {
  std::lock_guard lock(mu_);
  OTA_ASSIGN_OR_RETURN(Statement q,
                       db_->Prepare("SELECT manifest, policy, created_at, updated_at FROM "
                                    "rollouts ORDER BY created_at, rollout_id"));
  std::vector<RolloutRecord> out;
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    OTA_ASSIGN_OR_RETURN(RolloutRecord rec, RecordFromRow(q));
    out.push_back(std::move(rec));
  }
  return out;
}

Result<std::map<std::size_t, rollout::StageCounts>> FleetStore::PhaseCounts(
    const std::string& rollout_id) {
  std::lock_guard lock(mu_);
  OTA_ASSIGN_OR_RETURN(Statement q,
                       db_->Prepare("SELECT stage, phase, devices FROM rollout_phase_counts WHERE "
                                    "rollout_id = ? AND devices > 0"));
  q.Bind(1, rollout_id);
  std::map<std::size_t, rollout::StageCounts> out;
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    auto phase = rollout::ParseDevicePhase(q.ColumnText(1));
    if (!phase || q.ColumnInt(0) < 0) continue;
    out[static_cast<std::size_t>(q.ColumnInt(0))].At(*phase) +=
        static_cast<std::uint64_t>(q.ColumnInt(2));
  }
  return out;
}

Result<json> FleetStore::FleetSummary() {
  std::lock_guard lock(mu_);
  OTA_ASSIGN_OR_RETURN(Statement q,
                       db_->Prepare("SELECT model, version, phase, COUNT(*) FROM device_models "
                                    "GROUP BY model, version, phase ORDER BY model, version"));
  json models = json::object();
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    models[q.ColumnText(0)][q.ColumnText(1)][q.ColumnText(2)] = q.ColumnInt(3);
  }
  return models;
}

}  // namespace ota::server
