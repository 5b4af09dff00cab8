// The server's own audit log (docs/formats.md, "Server audit log"): a hash
// chain of records in table audit_log, numbered from 1, each body canonical
// JSON (manifest::AuditBody) linked with manifest::AuditLink; signed
// checkpoints of its head in audit_checkpoints; and the check of a stored
// log against its checkpoints.
//
// The functions run on a Database the caller holds (inside its transaction
// for appends, so that a record and the change it records commit together).
// Thread-safety: none of their own; callers serialize access to `db`.
#ifndef OTA_SERVER_AUDIT_LOG_H_
#define OTA_SERVER_AUDIT_LOG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ota/common/result.h"
#include "ota/common/sqlite.h"
#include "ota/manifest/audit_log.h"
#include "ota/manifest/tuf_metadata.h"
#include "ota/verifier/keys.h"

namespace ota::server {

// A record to append. `actor` is the filterable actor column
// ("operator:<token name>", "controller", "server-admin", "device:<id>",
// "repository:<key ids>"); the body gets {"name", "role"} from it. The
// non-empty rollout_id, model and device_id go into the body and into their
// indexed columns. `fields` are the other body fields (an object).
struct ServerAuditRecord {
  std::string type;
  std::string actor;
  std::string rollout_id;
  std::string model;
  std::string device_id;
  nlohmann::json fields = nlohmann::json::object();
};

struct ServerAuditHead {
  std::int64_t seq = 0;
  std::string link = std::string(manifest::kAuditGenesis);
};

Result<ServerAuditHead> ReadServerAuditHead(Database& db);

// Appends one record at time `now` (Unix seconds); returns its seq. Errors:
// kInvalidArgument (a body without a canonical form), kIo.
Result<std::int64_t> AppendServerAudit(Database& db, const ServerAuditRecord& record,
                                       std::int64_t now);

// Appends like AppendServerAudit, for callers that need no seq.
Status AppendServerAuditStatus(Database& db, const ServerAuditRecord& record, std::int64_t now);

// Carries what the server knew before the log existed into it once, in one
// transaction: a "device-enrolled" record for every device enrolled before
// ("carried_from": "devices"), then the rows of the old per-rollout table
// `audit` ("rollout-action" or "controller-decision" records with
// "carried_from": "audit"); rows carried earlier are not carried again.
Status CarryLegacyAudit(Database& db);

// Appends a "device-enrolled" record (with "carried_from": `carried_from`)
// for every enrolled device that has none in the log, in enrollment order:
// dated when the device enrolled (nullopt), or at `now` with the enrollment
// time as "enrolled_at". Returns how many. Runs in the caller's transaction.
Result<std::int64_t> CarryDeviceEnrollments(Database& db, const std::string& carried_from,
                                            std::optional<std::int64_t> now);

// What pruning the server log did.
struct ServerAuditPruneResult {
  std::int64_t from = 0;  // First and last record removed.
  std::int64_t to = 0;
  std::int64_t records = 0;
  std::int64_t carried_devices = 0;  // device-enrolled records carried forward.
  std::int64_t head = 0;             // The log's last record after pruning.
};

// Removes the records up to the newest server checkpoint at or before
// `before_seq - 1` (and, with `before_time`, before the first record dated
// at or after it), in one transaction: appends an "audit-pruned" record
// ({"from","to","head","records","from_time","to_time","checkpoint_time"}),
// deletes the records and the checkpoints before the one at "to" (kept as
// the log's anchor), carries forward the enrollments of devices whose
// device-enrolled record left (exports need their keys), and signs a
// checkpoint of the new head with `key`. The log must verify first (with
// `key`): kSecurity otherwise, nothing removed. kNotFound when no
// checkpoint lies in range; kInvalidArgument for before_seq < 2.
Result<ServerAuditPruneResult> PruneServerAudit(Database& db, const verifier::PrivateKey& key,
                                                std::int64_t before_seq,
                                                std::optional<std::int64_t> before_time,
                                                std::int64_t now);

// A string member of a JSON object, "" when absent or not a string (never
// throws).
std::string AuditField(const nlohmann::json& body, const char* key);

// The actor column of a record as {"name", "role"}.
nlohmann::json ActorJson(const std::string& actor);

// Stored checkpoints.
// Sets server setting `name` (table server_settings) inside the caller's
// transaction.
Status WriteSetting(Database& db, const std::string& name, const std::string& value);

Status StoreAuditCheckpoint(Database& db, const manifest::AuditCheckpoint& c);
Result<std::optional<manifest::AuditCheckpoint>> LatestAuditCheckpoint(Database& db,
                                                                       const std::string& log);
// Signs the current head of the server log with `key` at `time` (RFC 3339)
// and stores it (a head already signed is not stored twice).
Result<manifest::AuditCheckpoint> CheckpointServerLog(Database& db, const verifier::PrivateKey& key,
                                                      const std::string& time);

// RFC 3339 UTC seconds of a Unix time.
std::string AuditTime(std::int64_t unix_seconds);

// The outcome of checking the stored server log.
struct ServerLogCheck {
  bool intact = false;
  std::string message;  // The first problem, or a summary when intact.
  std::int64_t records = 0;
  std::int64_t checkpoints = 0;
  std::int64_t last_checkpoint_seq = 0;
};

// Checks every record's link and body (type, time and indexed columns), the
// numbering, and every server checkpoint's signature (by one of `keys`) and
// head, and that no checkpoint names a record beyond the last. Records after
// the last checkpoint can be cut without a trace here: the message says how
// many records no checkpoint covers.
Result<ServerLogCheck> VerifyServerLog(Database& db, const std::vector<manifest::Key>& keys);

}  // namespace ota::server

#endif  // OTA_SERVER_AUDIT_LOG_H_
