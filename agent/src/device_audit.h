// The device's audit log beyond the event queue: signed checkpoints of its
// head, hourly session counts, pruning behind a checkpoint, the report that
// `ota-agent audit` prints and the export an auditor verifies offline
// (manifest/audit_log.h, verifier/audit_verify.h). The log is
// "device/<device id>"; the device's report key (identity.h) signs.
#ifndef OTA_AGENT_SRC_DEVICE_AUDIT_H_
#define OTA_AGENT_SRC_DEVICE_AUDIT_H_

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ota/agent/agent.h"
#include "ota/common/env.h"
#include "ota/common/result.h"
#include "ota/manifest/audit_log.h"
#include "ota/verifier/keys.h"
#include "ota/verifier/updater.h"
#include "state_db.h"

namespace ota::agent {

// The device and key the log belongs to.
struct AuditSigner {
  std::string device_id;
  const verifier::PrivateKey& key;
};

// Setting: Unix ms up to which sessions-hourly events were recorded.
inline constexpr char kSessionsHourSetting[] = "audit_sessions_recorded_until_ms";

// `value` with every floating-point number replaced by its decimal text, so
// that an event body has a canonical form (canonical JSON has no floats).
nlohmann::json WithoutFloats(const nlohmann::json& value);

// Signs and stores a checkpoint of the log's head when the head moved since
// the newest checkpoint (or, with `always`, returns that one when it did
// not). nullopt: the log is empty, or nothing moved.
Result<std::optional<manifest::AuditCheckpoint>> CheckpointAuditHead(Env& env, StateDb& db,
                                                                     const AuditSigner& signer,
                                                                     bool always);

// Queues one sessions-hourly event per version and completed hour not yet
// recorded ({"type":"sessions-hourly","time","model","version","id","hour",
// "sessions","failed"}), from <state_dir>/sessions.db.
Status RecordSessionHours(Env& env, StateDb& db, const std::string& state_dir);

// Setting: {"<role>": <version>} of the top-level metadata last recorded.
inline constexpr char kVerifiedMetadataSetting[] = "audit_metadata_state";

// Queues a "metadata-verified" event ({"type","time","roles":{role:
// {"version","sha256","keyids"}},"changed":[role, ...]}) when a version of
// the metadata `updater` trusts differs from what was last recorded; no
// write, and no hashing, when none does (a check that found nothing new
// adds nothing to the log).
Status RecordVerifiedMetadata(Env& env, StateDb& db, const verifier::Updater& updater);

// The log with its chain checked (`device_key`: also the checkpoints'
// signatures).
Result<AuditReport> BuildAuditReport(StateDb& db, const std::optional<manifest::Key>& device_key);

// See Agent::ExportAudit.
Result<AuditExportSummary> ExportAuditLog(Env& env, StateDb& db, const AuditSigner& signer,
                                          const AuditExportOptions& options, const AuditSink& sink);

// See Agent::PruneAudit.
Result<AuditPruneResult> PruneAuditLog(Env& env, StateDb& db, const AuditSigner& signer,
                                       std::int64_t before_seq);

}  // namespace ota::agent

#endif  // OTA_AGENT_SRC_DEVICE_AUDIT_H_
