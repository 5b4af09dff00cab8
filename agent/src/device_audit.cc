#include "device_audit.h"

#include <charconv>
#include <chrono>

#include "ota/agent/sessions.h"
#include "ota/manifest/tuf_metadata.h"

namespace ota::agent {
namespace {

std::string AuditNow(Env& env) { return manifest::FormatExpires(env.clock->Now()); }

std::int64_t AuditUnixMs(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::int64_t ParseStoredMs(const std::optional<std::string>& text) {
  std::int64_t value = 0;
  if (!text) return 0;
  auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || ptr != text->data() + text->size() || value < 0) return 0;
  return value;
}

Error BrokenLog(const AuditBreak& broken, const char* what) {
  return MakeError(ErrorCode::kSecurity, "the audit log is broken at event " +
                                             std::to_string(broken.seq) + " (" + broken.message +
                                             "): " + what);
}

}  // namespace

nlohmann::json WithoutFloats(const nlohmann::json& value) {
  if (value.is_number_float()) return value.dump();
  if (value.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (auto it = value.begin(); it != value.end(); ++it) out[it.key()] = WithoutFloats(*it);
    return out;
  }
  if (value.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& item : value) out.push_back(WithoutFloats(item));
    return out;
  }
  return value;
}

Result<std::optional<manifest::AuditCheckpoint>> CheckpointAuditHead(Env& env, StateDb& db,
                                                                     const AuditSigner& signer,
                                                                     bool always) {
  using Found = std::optional<manifest::AuditCheckpoint>;
  OTA_ASSIGN_OR_RETURN(AuditHead head, db.GetAuditHead());
  if (head.seq == 0) return Found();
  OTA_ASSIGN_OR_RETURN(std::vector<CheckpointRow> stored, db.Checkpoints());
  const std::string log = manifest::DeviceAuditLog(signer.device_id);
  if (!stored.empty() && stored.back().checkpoint.seq == head.seq) {
    if (!always) return Found();
    manifest::AuditCheckpoint c = stored.back().checkpoint;
    c.log = log;
    return Found(std::move(c));
  }
  manifest::AuditCheckpoint c{log, head.seq, head.head, AuditNow(env), signer.key.keyid, ""};
  OTA_ASSIGN_OR_RETURN(c.signature,
                       verifier::SignBytes(signer.key, manifest::AuditCheckpointSigningBytes(c)));
  OTA_TRY(db.StoreCheckpoint(c));
  return Found(std::move(c));
}

Status RecordSessionHours(Env& env, StateDb& db, const std::string& state_dir) {
  using std::chrono::system_clock;
  OTA_ASSIGN_OR_RETURN(std::optional<std::string> stored, db.GetSetting(kSessionsHourSetting));
  const system_clock::time_point since{std::chrono::milliseconds(ParseStoredMs(stored))};
  // Only completed hours: up to the start of the current one.
  const system_clock::time_point until = std::chrono::floor<std::chrono::hours>(env.clock->Now());
  if (until <= since) return Ok();
  OTA_ASSIGN_OR_RETURN(std::vector<SessionHourCount> counts,
                       CountSessionsByHour(state_dir, since, until));
  // Nothing to record: no write (a run that crosses an hour writes nothing
  // more than one that does not, and the next run looks at the same range).
  if (counts.empty()) return Ok();
  std::vector<std::string> events;
  const std::string now = AuditNow(env);
  for (const SessionHourCount& c : counts) {
    OTA_ASSIGN_OR_RETURN(std::optional<VersionRow> version, db.GetVersion(c.version_id));
    nlohmann::json e = {{"type", "sessions-hourly"}, {"time", now},
                        {"id", c.version_id},        {"hour", manifest::FormatExpires(c.hour)},
                        {"sessions", c.sessions},    {"failed", c.failed}};
    // A version collected since is known by its id only.
    e["model"] = version ? version->model : "";
    e["version"] = version ? version->version : "";
    events.push_back(e.dump());
  }
  return db.QueueEvents(events, kSessionsHourSetting, std::to_string(AuditUnixMs(until)));
}

Status RecordVerifiedMetadata(Env& env, StateDb& db, const verifier::Updater& updater) {
  const auto versions = updater.TrustedVersions();
  if (versions.empty()) return Ok();
  nlohmann::json state = nlohmann::json::object();
  for (const auto& [role, version] : versions) state[role] = version;
  OTA_ASSIGN_OR_RETURN(std::optional<std::string> stored, db.GetSetting(kVerifiedMetadataSetting));
  nlohmann::json before = nlohmann::json::object();
  if (stored) {
    before = nlohmann::json::parse(*stored, nullptr, /*allow_exceptions=*/false);
    if (!before.is_object()) before = nlohmann::json::object();
  }
  if (before == state) return Ok();
  const std::vector<verifier::VerifiedRole> roles = updater.VerifiedRoles();
  nlohmann::json by_role = nlohmann::json::object();
  nlohmann::json changed = nlohmann::json::array();
  for (const verifier::VerifiedRole& r : roles) {
    by_role[r.role] = {{"version", r.version}, {"sha256", r.sha256}, {"keyids", r.keyids}};
    if (!before.contains(r.role) || before[r.role] != r.version) changed.push_back(r.role);
  }
  const nlohmann::json event = {{"type", "metadata-verified"},
                                {"time", AuditNow(env)},
                                {"roles", by_role},
                                {"changed", changed}};
  return db.QueueEvents({event.dump()}, kVerifiedMetadataSetting, state.dump());
}

Result<AuditReport> BuildAuditReport(StateDb& db, const std::optional<manifest::Key>& device_key) {
  AuditReport report;
  OTA_ASSIGN_OR_RETURN(std::vector<PendingEvent> events, db.AllEvents());
  for (PendingEvent& e : events) {
    report.entries.push_back(AuditEntry{e.seq, std::move(e.body), std::move(e.chain), e.delivered});
  }
  OTA_ASSIGN_OR_RETURN(std::vector<CheckpointRow> checkpoints, db.Checkpoints());
  report.checkpoints = static_cast<std::int64_t>(checkpoints.size());
  if (!checkpoints.empty()) report.last_checkpoint = checkpoints.back().checkpoint.seq;
  OTA_ASSIGN_OR_RETURN(std::optional<AuditBreak> broken, db.VerifyAuditChain(device_key));
  if (broken) {
    report.intact = false;
    report.problem = broken->message;
  }
  return report;
}

Result<AuditPruneResult> PruneAuditLog(Env& env, StateDb& db, const AuditSigner& signer,
                                       std::int64_t before_seq) {
  if (before_seq < 2) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "prune before event " + std::to_string(before_seq) +
                         ": the first event that stays must be 2 or later");
  }
  OTA_ASSIGN_OR_RETURN(std::optional<AuditBreak> broken,
                       db.VerifyAuditChain(signer.key.public_key));
  if (broken) return BrokenLog(*broken, "nothing pruned");
  OTA_ASSIGN_OR_RETURN(std::vector<PendingEvent> events, db.AllEvents());
  if (events.empty()) return MakeError(ErrorCode::kNotFound, "the audit log has no events");
  OTA_ASSIGN_OR_RETURN(std::int64_t delivered, db.DeliveredThrough());
  const std::int64_t limit = std::min(before_seq - 1, delivered);
  OTA_ASSIGN_OR_RETURN(std::vector<CheckpointRow> checkpoints, db.Checkpoints());
  const CheckpointRow* chosen = nullptr;
  for (const CheckpointRow& row : checkpoints) {
    if (row.checkpoint.seq <= limit) chosen = &row;
  }
  const std::int64_t first = events.front().seq;
  if (chosen == nullptr || chosen->checkpoint.seq < first) {
    return MakeError(ErrorCode::kNotFound,
                     "nothing to prune before event " + std::to_string(before_seq) +
                         ": no signed checkpoint at or before event " + std::to_string(limit) +
                         " (events are delivered up to " + std::to_string(delivered) +
                         "; a checkpoint is signed at the end of each update cycle)");
  }
  AuditPruneRange range;
  range.from = first;
  range.to = chosen->checkpoint.seq;
  range.head = chosen->checkpoint.head;
  // The time span: the "time" of the first and the last event pruned.
  std::string from_time, to_time;
  for (const PendingEvent& e : events) {
    if (e.seq > range.to) break;
    ++range.records;
    const auto body = nlohmann::json::parse(e.body, nullptr, /*allow_exceptions=*/false);
    const auto time = body.is_object() ? body.find("time") : body.end();
    const std::string text =
        time != body.end() && time->is_string() ? time->get<std::string>() : "";
    if (from_time.empty()) from_time = text;
    if (!text.empty()) to_time = text;
  }
  const nlohmann::json record = {{"type", "audit-pruned"},
                                 {"time", AuditNow(env)},
                                 {"from", range.from},
                                 {"to", range.to},
                                 {"head", range.head},
                                 {"records", range.records},
                                 {"from_time", from_time},
                                 {"to_time", to_time},
                                 {"checkpoint_time", chosen->checkpoint.time}};
  OTA_TRY(db.PruneEvents(range, record.dump()));
  OTA_ASSIGN_OR_RETURN(AuditHead head, db.GetAuditHead());
  return AuditPruneResult{range.from, range.to, range.records, head.seq};
}

}  // namespace ota::agent
