#include "fleet_api.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "ota/common/hash.h"
#include "ota/manifest/canonical_json.h"
#include "ota/manifest/version_range.h"
#include "ota/rollout/bucket.h"
#include "ota/rollout/evaluate.h"
#include "ota/verifier/keys.h"

namespace ota::server {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxApiBodyBytes = 1024 * 1024;

Result<json> ParseBody(std::string_view body) {
  manifest::JsonLimits limits;
  limits.max_bytes = kMaxApiBodyBytes;
  limits.max_depth = 32;
  auto doc = manifest::ParseJsonStrict(body, limits);
  if (!doc.ok()) return doc;
  if (!doc->is_object())
    return MakeError(ErrorCode::kInvalidArgument, "body must be a JSON object");
  return doc;
}

std::string Reason(const json& body, const std::string& fallback) {
  auto it = body.find("reason");
  if (it != body.end() && it->is_string() && !it->get_ref<const std::string&>().empty()) {
    return it->get<std::string>().substr(0, 500);
  }
  return fallback;
}

double Rate(std::uint64_t part, std::uint64_t whole) {
  return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

json CountsJson(const rollout::StageCounts& c) {
  json phases = json::object();
  for (int i = 0; i < rollout::kDevicePhaseCount; ++i) {
    phases[std::string(rollout::DevicePhaseName(static_cast<rollout::DevicePhase>(i)))] =
        c.by_phase[i];
  }
  return phases;
}

json StagePolicyJson(const rollout::StagePolicy& p) {
  return {{"success_percent", p.success_percent},
          {"min_reporting", p.min_reporting},
          {"error_percent", p.error_percent},
          {"max_errors", p.max_errors},
          {"on_error", p.on_error == rollout::ErrorAction::kHalt ? "halt" : "pause"}};
}

// SHA-256 of a rollout manifest's canonical JSON (what the audit log names
// as the manifest before and after a change).
std::string ManifestDigest(const manifest::RolloutManifest& m) {
  const json j = manifest::ToJson(m);
  auto canonical = manifest::CanonicalJson(j);
  return Sha256Hex(canonical.ok() ? *canonical : j.dump());
}

std::int64_t Hundredths(double percent) { return std::llround(percent * 100.0); }

// The numbers a controller decision was taken on (integers only: audit
// bodies are canonical JSON; percentages in hundredths).
json DecisionEvidence(const manifest::RolloutManifest& m, const rollout::ControllerPolicy& policy,
                      const rollout::StageCounts& c, std::chrono::system_clock::time_point now,
                      const rollout::ControllerDecision& d) {
  const rollout::StagePolicy& p = policy.ForStage(m.current_stage);
  return {{"decision", rollout::ControllerActionName(d.action)},
          {"stage", m.current_stage},
          {"stage_percent_hundredths",
           m.stages.empty() ? 0 : m.stages[m.current_stage].percent_hundredths},
          {"targeted", c.targeted},
          {"reporting", c.Reporting()},
          {"successes", c.Successes()},
          {"errors", c.Errors()},
          {"phases", CountsJson(c)},
          {"success_percent_hundredths", Hundredths(p.success_percent)},
          {"error_percent_hundredths", Hundredths(p.error_percent)},
          {"min_reporting", p.min_reporting},
          {"max_errors", p.max_errors},
          {"on_error", p.on_error == rollout::ErrorAction::kHalt ? "halt" : "pause"},
          {"manual_approval", policy.manual_approval},
          {"stage_started_at", manifest::FormatExpires(m.stage_started_at)},
          {"soak_ends_at", manifest::FormatExpires(rollout::SoakEndsAt(m))},
          {"evaluated_at", manifest::FormatExpires(now)}};
}

// The stage indices of a rollback order's "stages": unique, each below
// `count`.
Result<std::vector<std::size_t>> RollbackStages(const json& v, std::size_t count) {
  const auto bad = [count] {
    return MakeError(
        ErrorCode::kInvalidArgument,
        "stages must be a non-empty array of unique stage indices below " + std::to_string(count));
  };
  if (!v.is_array() || v.empty() || v.size() > count) return bad();
  std::vector<std::size_t> out;
  for (const json& i : v) {
    if (!i.is_number_unsigned() || i.get<std::uint64_t>() >= count) return bad();
    const auto index = static_cast<std::size_t>(i.get<std::uint64_t>());
    if (std::find(out.begin(), out.end(), index) != out.end()) return bad();
    out.push_back(index);
  }
  return out;
}

std::string TrimmedBearer(const std::string& header) {
  constexpr std::string_view kPrefix = "Bearer ";
  if (header.size() <= kPrefix.size()) return "";
  for (std::size_t i = 0; i < kPrefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) !=
        std::tolower(static_cast<unsigned char>(kPrefix[i]))) {
      return "";
    }
  }
  return header.substr(kPrefix.size());
}

}  // namespace

ApiResponse ApiError(int status, std::string_view code, std::string_view message) {
  return {status, json{{"error", message}, {"code", code}}};
}

std::int64_t FleetApi::Now() const {
  return std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count();
}

// ---- Devices ----

ApiResponse FleetApi::Enroll(std::string_view body, const std::string& authorization) {
  auto doc = ParseBody(body);
  if (!doc.ok()) return ApiError(400, "bad-request", doc.error().message);
  for (auto it = doc->begin(); it != doc->end(); ++it) {
    if (it.key() != "device_id" && it.key() != "public_key" && it.key() != "facts" &&
        it.key() != "facts_signature") {
      return ApiError(400, "bad-request", "unknown field " + it.key());
    }
  }
  auto id = doc->find("device_id");
  if (id == doc->end() || !id->is_string() || !IsValidDeviceId(id->get_ref<const std::string&>())) {
    return ApiError(400, "bad-request",
                    "device_id must be a string of 1 to 128 characters from [A-Za-z0-9._-]");
  }
  auto key = doc->find("public_key");
  if (key == doc->end() || !key->is_string() ||
      !IsLowerHex(key->get_ref<const std::string&>(), 64)) {
    return ApiError(400, "bad-request",
                    "public_key must be an Ed25519 public key as 64 lower-case hex digits");
  }
  // Facts must come signed by the key being enrolled: whoever knows a
  // device's public key could otherwise rewrite what the fleet view and the
  // controller's stage counts believe about it.
  std::optional<json> facts;
  if (auto f = doc->find("facts"); f != doc->end()) {
    Status valid = ValidateFacts(*f);
    if (!valid.ok()) return ApiError(400, "bad-request", valid.error().message);
    auto sig = doc->find("facts_signature");
    if (sig == doc->end() || !sig->is_string()) {
      return ApiError(400, "bad-request",
                      "facts_signature (hex Ed25519 signature of the device facts) is required "
                      "with facts");
    }
    auto message = manifest::DeviceFactsSigningBytes(id->get<std::string>(), *f);
    if (!message.ok()) {
      return ApiError(400, "bad-request",
                      "facts have no canonical form: " + message.error().message);
    }
    auto raw_key = HexDecode(key->get_ref<const std::string&>());
    if (!raw_key.ok() || !verifier::VerifyEd25519(verifier::Ed25519PublicKey(*raw_key),
                                                  sig->get<std::string>(), *message)) {
      return ApiError(
          401, "bad-signature",
          "facts_signature does not verify with the key of device " + id->get<std::string>());
    }
    facts = *f;
  } else if (doc->contains("facts_signature")) {
    return ApiError(400, "bad-request", "facts_signature without facts");
  }
  // A new device needs a fleet enrollment token (an operator's credential);
  // one already enrolled proves itself with its key's signature on the facts.
  // A token that is no longer valid matters only to a new device: devices
  // keep theirs and present it again when they refresh their facts, also
  // after the operator revoked it.
  std::optional<std::string> token_name;
  if (!authorization.empty()) {
    const std::string token = TrimmedBearer(authorization);
    if (!token.empty()) token_name = store_.AuthenticateEnrollmentToken(token);
  }
  auto r = store_.EnrollDevice(id->get<std::string>(), key->get<std::string>(), facts, token_name);
  if (!r.ok()) {
    if (r.error().code == ErrorCode::kSecurity) {
      return ApiError(409, "key-mismatch", r.error().message);
    }
    return ApiError(500, "internal", "cannot store the device: " + r.error().message);
  }
  if (*r == EnrollResult::kNeedsToken && !authorization.empty()) {
    return ApiError(403, "forbidden",
                    "the enrollment token is not valid, was revoked or has expired");
  }
  if (*r == EnrollResult::kNeedsToken) {
    return ApiError(401, "unauthorized",
                    "a new device enrolls with a fleet enrollment token: Authorization: Bearer "
                    "<token> (ota-server enrollment-token create)");
  }
  if (*r == EnrollResult::kTokenUsedUp) {
    return ApiError(403, "token-used-up",
                    "enrollment token " + *token_name +
                        " has enrolled its maximum number of devices (or was revoked or expired)");
  }
  const bool created = *r == EnrollResult::kCreated;
  return {created ? 201 : 200,
          json{{"device_id", *id}, {"status", created ? "enrolled" : "already-enrolled"}}};
}

ApiResponse FleetApi::Report(std::string_view body) {
  auto doc = ParseBody(body);
  if (!doc.ok()) return ApiError(400, "bad-request", doc.error().message);
  if (doc->size() != 2 || !doc->contains("report") || !doc->contains("signature")) {
    return ApiError(400, "bad-request", "body must be {\"report\": {...}, \"signature\": \"...\"}");
  }
  const json& report = (*doc)["report"];
  const json& sig = (*doc)["signature"];
  if (!report.is_object()) return ApiError(400, "bad-request", "report must be an object");
  if (!sig.is_string() || !IsLowerHex(sig.get_ref<const std::string&>(), 128)) {
    return ApiError(400, "bad-request", "signature must be 128 lower-case hex digits");
  }
  // Other report fields are accepted: the signature covers them, and newer
  // agents may send more than this server reads.
  auto seq_it = report.find("seq");
  if (seq_it == report.end() || !seq_it->is_number_unsigned() || seq_it->get<std::uint64_t>() < 1 ||
      seq_it->get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
    return ApiError(400, "bad-request", "report.seq must be an integer from 1 to 2^63-1");
  }
  auto batch = ParseEventBatchJson(report);
  if (!batch.ok()) return ApiError(400, "bad-request", "report." + batch.error().message);
  auto key_hex = store_.DeviceKey(batch->device_id);
  if (!key_hex) {
    return ApiError(403, "unknown-device",
                    "device " + batch->device_id + " is not enrolled (POST /v1/devices first)");
  }
  auto canonical = manifest::CanonicalJson(report);
  if (!canonical.ok()) {
    return ApiError(400, "bad-request",
                    "report has no canonical form: " + canonical.error().message);
  }
  auto raw_key = HexDecode(*key_hex);
  if (!raw_key.ok() || !verifier::VerifyEd25519(verifier::Ed25519PublicKey(*raw_key),
                                                sig.get<std::string>(), *canonical)) {
    return ApiError(401, "bad-signature",
                    "report signature does not verify with the key of device " + batch->device_id);
  }
  // Device checkpoints: parsed and their signatures checked here, outside
  // the store's lock; their heads are checked against the chain as stored.
  Status checkpoints = ParseReportCheckpoints(report, batch->device_id,
                                              verifier::Ed25519PublicKey(*raw_key), &*batch);
  if (!checkpoints.ok()) {
    return ApiError(400, "bad-request", "report." + checkpoints.error().message);
  }
  const auto seq = static_cast<std::int64_t>(seq_it->get<std::uint64_t>());
  const auto ingest_start = std::chrono::steady_clock::now();
  auto stored = store_.IngestReport(batch->device_id, seq, *batch);
  if (metrics_ != nullptr) {
    metrics_->ObserveDatabase(
        "report-commit",
        std::chrono::duration<double>(std::chrono::steady_clock::now() - ingest_start).count());
  }
  if (!stored.ok()) {
    int status = stored.error().code == ErrorCode::kRetryLater ? 503 : 500;
    return ApiError(status, "internal", "cannot store the report: " + stored.error().message);
  }
  if (stored->has_value()) {
    ApiResponse r = ApiError(409, "replay",
                             "report seq " + std::to_string(seq) +
                                 " is not above the last "
                                 "accepted seq " +
                                 std::to_string((*stored)->last_seq));
    r.body["last_seq"] = (*stored)->last_seq;
    return r;
  }
  return {200, json{{"accepted", batch->events.size()}, {"last_seq", seq}}};
}

// ---- Operators ----

std::optional<OperatorIdentity> FleetApi::Authorize(const std::string& authorization,
                                                    Permission needed, ApiResponse* refusal) {
  if (authorization.empty()) {
    *refusal = ApiError(401, "unauthorized",
                        "operator endpoints need the header Authorization: Bearer <token>");
    return std::nullopt;
  }
  const std::string token = TrimmedBearer(authorization);
  auto who = token.empty() ? std::nullopt : store_.AuthenticateToken(token);
  if (!who) {
    *refusal = ApiError(403, "forbidden", "the bearer token is not valid or was revoked");
    return std::nullopt;
  }
  if (who->expires_at != 0 && who->expires_at <= Now()) {
    *refusal = ApiError(403, "token-expired",
                        "the bearer token " + who->name + " expired at " +
                            std::to_string(who->expires_at) + " (Unix seconds)");
    return std::nullopt;
  }
  if (!Allows(who->role, needed)) {
    *refusal =
        ApiError(403, "insufficient-role",
                 "role " + std::string(RoleName(who->role)) + " may not " +
                     std::string(PermissionName(needed)) + "; that needs " + RolesAllowed(needed));
    return std::nullopt;
  }
  return who;
}

Result<std::map<std::size_t, rollout::StageCounts>> FleetApi::StageCountsOf(
    const manifest::RolloutManifest& m) {
  OTA_ASSIGN_OR_RETURN(auto counts, store_.PhaseCounts(m.rollout_id));
  // Targeted by the same rule that credits reports: the first stage whose
  // cohort holds the device.
  OTA_ASSIGN_OR_RETURN(auto targeted, store_.TargetedCounts(m));
  for (const auto& [stage, n] : targeted) counts[stage].targeted = n;
  return counts;
}

ApiResponse FleetApi::ListRollouts() {
  auto all = store_.ListRollouts();
  if (!all.ok()) return ApiError(500, "internal", all.error().message);
  json out = json::array();
  for (const RolloutRecord& r : *all) {
    const manifest::RolloutManifest& m = r.manifest;
    out.push_back({{"rollout_id", m.rollout_id},
                   {"model", m.model},
                   {"target_version", manifest::ToString(m.target.bundle_version)},
                   {"state", manifest::RolloutStateName(m.state)},
                   {"current_stage", m.current_stage},
                   {"stages", m.stages.size()},
                   {"version", m.version}});
  }
  return {200, json{{"rollouts", out}}};
}

ApiResponse FleetApi::CreateRollout(const std::string& actor, std::string_view body) {
  auto doc = ParseBody(body);
  if (!doc.ok()) return ApiError(400, "bad-request", doc.error().message);
  for (auto it = doc->begin(); it != doc->end(); ++it) {
    if (it.key() != "manifest" && it.key() != "policy" && it.key() != "reason") {
      return ApiError(400, "bad-request", "unknown field " + it.key());
    }
  }
  if (!doc->contains("manifest")) return ApiError(400, "bad-request", "manifest is required");
  auto m = manifest::RolloutManifestFromJson((*doc)["manifest"]);
  if (!m.ok()) return ApiError(400, "bad-request", "manifest: " + m.error().message);
  rollout::ControllerPolicy policy;
  if (doc->contains("policy")) {
    auto p = rollout::ParseControllerPolicy((*doc)["policy"]);
    if (!p.ok()) return ApiError(400, "bad-request", p.error().message);
    policy = std::move(*p);
  }
  if (publisher_ == nullptr) {
    return ApiError(503, "no-signing-key",
                    "this server has no rollouts signing key configured (--rollouts-key)");
  }
  std::lock_guard lock(change_mu_);
  auto held = store_.LockRolloutChanges();
  if (!held.ok()) return ApiError(503, "unavailable", held.error().message);
  auto existing = store_.ListRollouts();
  if (!existing.ok()) return ApiError(500, "internal", existing.error().message);
  std::uint64_t version = std::max<std::uint64_t>(m->version, 1);
  for (const RolloutRecord& r : *existing) {
    if (r.manifest.rollout_id == m->rollout_id) {
      return ApiError(409, "exists", "rollout " + m->rollout_id + " exists");
    }
    if (r.manifest.model == m->model) version = std::max(version, r.manifest.version + 1);
  }
  auto published_before = PublishedVersion(m->model);
  if (!published_before.ok()) return ApiError(500, "internal", published_before.error().message);
  version = std::max(version, *published_before + 1);
  m->version = version;
  m->current_stage = 0;
  m->stage_started_at = std::chrono::time_point_cast<std::chrono::seconds>(clock_.Now());
  m->state = manifest::RolloutState::kActive;
  m->rollback.reset();
  Status valid = manifest::ValidateRolloutManifest(*m);
  if (!valid.ok()) return ApiError(400, "bad-request", "manifest: " + valid.error().message);
  RolloutRecord record{*m, policy, Now(), Now()};
  const std::string reason = Reason(*doc, "created");
  // Refuse before signing anything if the store would.
  for (const RolloutRecord& r : *existing) {
    if (r.manifest.model == m->model && r.manifest.state != manifest::RolloutState::kHalted &&
        !(r.manifest.current_stage + 1 == r.manifest.stages.size() &&
          r.manifest.stages.back().percent_hundredths == manifest::kFullPercentHundredths)) {
      return ApiError(409, "in-progress",
                      "model " + m->model + " already has rollout " + r.manifest.rollout_id +
                          " in progress; halt it first");
    }
  }
  Status reserved = ReservePublishedVersion(m->model, m->version);
  if (!reserved.ok()) return ApiError(500, "internal", reserved.error().message);
  Status published = publisher_->Publish(*m);
  if (!published.ok()) {
    return ApiError(502, "publish-failed", "cannot publish: " + published.error().message);
  }
  AuditEntry entry{
      0,
      Now(),
      "operator:" + actor,
      m->rollout_id,
      "create",
      reason,
      version,
      m->model,
      json{{"request_sha256", Sha256Hex(body)}, {"manifest_after_sha256", ManifestDigest(*m)}}};
  Status stored = store_.InsertRollout(record, entry);
  if (!stored.ok()) return ApiError(409, "conflict", stored.error().message);
  return {201, json{{"rollout_id", m->rollout_id}, {"version", version}}};
}

ApiResponse FleetApi::RolloutStatus(const std::string& rollout_id) {
  // Stored ids are [a-z0-9][a-z0-9._-]{0,63}; anything else (bytes that are
  // not text, say) names no rollout and never reaches the database.
  if (!IsValidDeviceId(rollout_id)) return ApiError(404, "not-found", "no such rollout");
  auto rec = store_.GetRollout(rollout_id);
  if (!rec.ok()) return ApiError(500, "internal", rec.error().message);
  if (!*rec) return ApiError(404, "not-found", "no rollout " + rollout_id);
  const manifest::RolloutManifest& m = (*rec)->manifest;
  const rollout::ControllerPolicy& policy = (*rec)->policy;
  auto counts = StageCountsOf(m);
  if (!counts.ok()) return ApiError(500, "internal", counts.error().message);
  json stages = json::array();
  for (std::size_t i = 0; i < m.stages.size(); ++i) {
    const rollout::StageCounts& c = (*counts)[i];
    stages.push_back({{"index", i},
                      {"percent", manifest::FormatPercent(m.stages[i].percent_hundredths)},
                      {"min_soak_seconds", m.stages[i].min_soak_seconds},
                      {"current", i == m.current_stage},
                      {"targeted", c.targeted},
                      {"phases", CountsJson(c)},
                      {"reporting", c.Reporting()},
                      {"errors", c.Errors()},
                      {"success_rate", Rate(c.Successes(), c.Reporting())},
                      {"error_rate", Rate(c.Errors(), c.Reporting())},
                      {"policy", StagePolicyJson(policy.ForStage(i))}});
  }
  const rollout::ControllerDecision d =
      rollout::EvaluateStage(m, policy, (*counts)[m.current_stage], clock_.Now());
  json audit = json::array();
  auto entries = store_.Audit(rollout_id);
  if (entries.ok()) {
    for (const AuditEntry& a : *entries) {
      audit.push_back({{"at", manifest::FormatExpires(std::chrono::system_clock::time_point(
                                  std::chrono::seconds(a.at)))},
                       {"actor", a.actor},
                       {"action", a.action},
                       {"reason", a.reason},
                       {"version", a.version}});
    }
  }
  return {200, json{{"rollout_id", m.rollout_id},
                    {"model", m.model},
                    {"target_version", manifest::ToString(m.target.bundle_version)},
                    {"state", manifest::RolloutStateName(m.state)},
                    {"version", m.version},
                    {"current_stage", m.current_stage},
                    {"stage_started_at", manifest::FormatExpires(m.stage_started_at)},
                    {"soak_ends_at", manifest::FormatExpires(rollout::SoakEndsAt(m))},
                    {"approval", policy.manual_approval ? "manual" : "auto"},
                    {"stages", stages},
                    {"next_action",
                     {{"action", rollout::ControllerActionName(d.action)}, {"reason", d.reason}}},
                    {"manifest", manifest::ToJson(m)},
                    {"audit", audit}}};
}

ApiResponse FleetApi::Commit(RolloutRecord record, manifest::RolloutManifest next,
                             const std::string& actor, const std::string& action,
                             const std::string& reason, json details) {
  if (publisher_ == nullptr) {
    return ApiError(503, "no-signing-key",
                    "this server has no rollouts signing key configured (--rollouts-key)");
  }
  auto published_before = PublishedVersion(next.model);
  if (!published_before.ok()) return ApiError(500, "internal", published_before.error().message);
  next.version = std::max(record.manifest.version, *published_before) + 1;
  Status valid = manifest::ValidateRolloutManifest(next);
  if (!valid.ok()) return ApiError(400, "bad-request", valid.error().message);
  Status reserved = ReservePublishedVersion(next.model, next.version);
  if (!reserved.ok()) return ApiError(500, "internal", reserved.error().message);
  Status published = publisher_->Publish(next);
  if (!published.ok()) {
    return ApiError(502, "publish-failed", "cannot publish: " + published.error().message);
  }
  details["manifest_before_sha256"] = ManifestDigest(record.manifest);
  details["manifest_after_sha256"] = ManifestDigest(next);
  record.manifest = next;
  record.updated_at = Now();
  Status stored =
      store_.UpdateRollout(record, AuditEntry{0, Now(), actor, next.rollout_id, action, reason,
                                              next.version, next.model, std::move(details)});
  if (!stored.ok()) return ApiError(500, "internal", stored.error().message);
  return {200, json{{"rollout_id", next.rollout_id},
                    {"action", action},
                    {"version", next.version},
                    {"state", manifest::RolloutStateName(next.state)},
                    {"current_stage", next.current_stage}}};
}

ApiResponse FleetApi::Advance(RolloutRecord record, const json& doc, const std::string& who,
                              json details) {
  using manifest::RolloutState;
  manifest::RolloutManifest next = record.manifest;
  if (next.state != RolloutState::kActive || next.rollback) {
    return ApiError(409, "not-active", "only an active rollout without a rollback order advances");
  }
  if (next.current_stage + 1 >= next.stages.size()) {
    return ApiError(409, "final-stage", "the rollout is at its final stage");
  }
  auto force_it = doc.find("force");
  if (force_it != doc.end() && !force_it->is_boolean()) {
    return ApiError(400, "bad-request", "force must be true or false");
  }
  const bool force = force_it != doc.end() && force_it->get<bool>();
  if (!force) {
    auto counts = StageCountsOf(next);
    if (!counts.ok()) return ApiError(500, "internal", counts.error().message);
    auto d =
        rollout::EvaluateStage(next, record.policy, (*counts)[next.current_stage], clock_.Now());
    if (d.action != rollout::ControllerAction::kAdvance &&
        d.action != rollout::ControllerAction::kAwaitApproval) {
      return ApiError(409, "gate-not-met",
                      "stage gate not met (" + d.reason + "); use force to override");
    }
    details["evidence"] =
        DecisionEvidence(next, record.policy, (*counts)[next.current_stage], clock_.Now(), d);
  }
  next.current_stage += 1;
  next.stage_started_at = std::chrono::time_point_cast<std::chrono::seconds>(clock_.Now());
  return Commit(std::move(record), std::move(next), who, force ? "advance-forced" : "advance",
                Reason(doc, "operator approval"), std::move(details));
}

ApiResponse FleetApi::RolloutAction(const std::string& actor, const std::string& rollout_id,
                                    const std::string& action, std::string_view body) {
  if (!IsValidDeviceId(rollout_id)) return ApiError(404, "not-found", "no such rollout");
  json doc = json::object();
  if (!body.empty()) {
    auto parsed = ParseBody(body);
    if (!parsed.ok()) return ApiError(400, "bad-request", parsed.error().message);
    doc = std::move(*parsed);
  }
  std::lock_guard lock(change_mu_);
  auto held = store_.LockRolloutChanges();
  if (!held.ok()) return ApiError(503, "unavailable", held.error().message);
  auto rec = store_.GetRollout(rollout_id);
  if (!rec.ok()) return ApiError(500, "internal", rec.error().message);
  if (!*rec) return ApiError(404, "not-found", "no rollout " + rollout_id);
  RolloutRecord record = std::move(**rec);
  manifest::RolloutManifest next = record.manifest;
  const std::string who = "operator:" + actor;
  json details = {{"request_sha256", Sha256Hex(body)}};
  using manifest::RolloutState;
  if (action == "advance") {
    return Advance(std::move(record), doc, who, std::move(details));
  }
  if (action == "pause") {
    if (next.state != RolloutState::kActive) {
      return ApiError(409, "not-active", "only an active rollout can be paused");
    }
    next.state = RolloutState::kPaused;
  } else if (action == "resume") {
    if (next.state == RolloutState::kActive) {
      return ApiError(409, "already-active", "the rollout is already active");
    }
    next.state = RolloutState::kActive;
    next.rollback.reset();
  } else if (action == "halt") {
    if (next.state == RolloutState::kHalted) {
      return ApiError(409, "already-halted", "the rollout is already halted");
    }
    next.state = RolloutState::kHalted;
  } else if (action == "rollback") {
    auto to = doc.find("to_version");
    if (to == doc.end() || !to->is_string()) {
      return ApiError(400, "bad-request", "to_version (the version to go back to) is required");
    }
    auto v = manifest::ParseVersion(to->get<std::string>());
    if (!v.ok()) return ApiError(400, "bad-request", "to_version: " + v.error().message);
    manifest::RollbackOrder order;
    order.to_version = *v;
    auto pct = doc.find("percent");
    auto stages = doc.find("stages");
    if (pct != doc.end() && stages != doc.end()) {
      return ApiError(400, "bad-request", "give percent or stages, not both");
    }
    if (pct != doc.end()) {
      if (!pct->is_number_unsigned() || *pct == 0 || *pct > 10000) {
        return ApiError(400, "bad-request", "percent must be hundredths from 1 to 10000");
      }
      order.cohorts.kind = manifest::RollbackCohorts::Kind::kPercent;
      order.cohorts.percent_hundredths = pct->get<std::uint32_t>();
    }
    if (stages != doc.end()) {
      auto picked = RollbackStages(*stages, next.stages.size());
      if (!picked.ok()) return ApiError(400, "bad-request", picked.error().message);
      order.cohorts.kind = manifest::RollbackCohorts::Kind::kStages;
      order.cohorts.stages = std::move(*picked);
    }
    next.rollback = order;
  } else if (action == "pin" || action == "unpin") {
    auto range_it = doc.find("app_versions");
    if (range_it == doc.end() || !range_it->is_string()) {
      return ApiError(400, "bad-request", "app_versions (a version range) is required");
    }
    auto range = manifest::ParseVersionRange(range_it->get<std::string>());
    if (!range.ok()) return ApiError(400, "bad-request", "app_versions: " + range.error().message);
    const std::string range_text = manifest::ToString(*range);
    auto& pins = next.pins;
    auto same = std::find_if(pins.begin(), pins.end(), [&](const manifest::RolloutPin& p) {
      return manifest::ToString(p.app_versions) == range_text;
    });
    if (action == "unpin") {
      if (same == pins.end()) {
        return ApiError(404, "not-found", "no pin for app versions " + range_text);
      }
      pins.erase(same);
    } else {
      auto bv = doc.find("bundle_version");
      if (bv == doc.end() || !bv->is_string()) {
        return ApiError(400, "bad-request", "bundle_version is required");
      }
      auto v = manifest::ParseVersion(bv->get<std::string>());
      if (!v.ok()) return ApiError(400, "bad-request", "bundle_version: " + v.error().message);
      if (same != pins.end()) {
        same->bundle_version = *v;
      } else {
        pins.push_back(manifest::RolloutPin{*range, *v});
      }
    }
  } else {
    return ApiError(404, "not-found", "no rollout action " + action);
  }
  return Commit(std::move(record), std::move(next), who, action, Reason(doc, action),
                std::move(details));
}

ApiResponse FleetApi::FleetStatus() {
  auto count = store_.DeviceCount();
  auto models = store_.FleetSummary();
  if (!count.ok() || !models.ok()) return ApiError(500, "internal", "cannot read fleet status");
  // Devices by the facts they enrolled with (what stage selectors and pins
  // see): app version ("unknown" when not sent), region, tag.
  auto facts = store_.DeviceFactCounts();
  if (!facts.ok()) return ApiError(500, "internal", "cannot read fleet status");
  const json app_versions = facts->by_app, regions = facts->by_region, tags = facts->by_tag;
  // Devices whose event chain the server found broken (docs/server-api.md,
  // "Device audit chains").
  json chain_alerts = json::array();
  // A database error is not "no alerts".
  auto problems = store_.ChainProblems();
  if (!problems.ok()) return ApiError(500, "internal", "cannot read device chain alerts");
  for (const DeviceChainProblem& p : *problems) {
    chain_alerts.push_back({{"device_id", p.device_id}, {"seq", p.seq}, {"problem", p.problem}});
  }
  return {200, json{{"devices", *count},
                    {"chain_alerts", chain_alerts},
                    {"models", *models},
                    {"app_versions", app_versions},
                    {"regions", regions},
                    {"tags", tags}}};
}

Status FleetApi::AuditRefusal(const manifest::RolloutManifest& m, const std::string& reason,
                              json evidence) {
  // Once per distinct reason, not on every controller pass.
  OTA_ASSIGN_OR_RETURN(auto entries, store_.Audit(m.rollout_id));
  if (!entries.empty() && entries.back().action == "refuse-advance" &&
      entries.back().reason == reason) {
    return Ok();
  }
  return store_.AppendAudit(
      AuditEntry{0, Now(), "controller", m.rollout_id, "refuse-advance", reason, m.version, m.model,
                 json{{"evidence", std::move(evidence)}, {"manifest_sha256", ManifestDigest(m)}}});
}

namespace {

// The server setting holding the highest manifest version published (or
// about to be) for a model.
std::string PublishedSetting(const std::string& model) {
  return "rollout-published-version/" + model;
}

}  // namespace

Result<std::uint64_t> FleetApi::PublishedVersion(const std::string& model) {
  OTA_ASSIGN_OR_RETURN(std::optional<std::string> v, store_.Setting(PublishedSetting(model)));
  if (!v) return std::uint64_t{0};
  return static_cast<std::uint64_t>(std::strtoull(v->c_str(), nullptr, 10));
}

Status FleetApi::ReservePublishedVersion(const std::string& model, std::uint64_t version) {
  return store_.SetSetting(PublishedSetting(model), std::to_string(version));
}

Result<int> FleetApi::RunController() {
  const auto start = std::chrono::steady_clock::now();
  std::lock_guard lock(change_mu_);
  OTA_ASSIGN_OR_RETURN(auto held, store_.LockRolloutChanges());
  OTA_ASSIGN_OR_RETURN(auto all, store_.ListRollouts());
  int changed = 0;
  for (RolloutRecord& record : all) {
    const manifest::RolloutManifest& m = record.manifest;
    if (m.state != manifest::RolloutState::kActive) continue;
    OTA_ASSIGN_OR_RETURN(auto counts, StageCountsOf(m));
    auto d = rollout::EvaluateStage(m, record.policy, counts[m.current_stage], clock_.Now());
    json evidence = DecisionEvidence(m, record.policy, counts[m.current_stage], clock_.Now(), d);
    manifest::RolloutManifest next = m;
    std::string action;
    switch (d.action) {
      case rollout::ControllerAction::kAdvance:
        next.current_stage += 1;
        next.stage_started_at = std::chrono::time_point_cast<std::chrono::seconds>(clock_.Now());
        action = "advance";
        break;
      case rollout::ControllerAction::kPause:
        next.state = manifest::RolloutState::kPaused;
        action = "pause";
        break;
      case rollout::ControllerAction::kHalt:
        next.state = manifest::RolloutState::kHalted;
        action = "halt";
        break;
      case rollout::ControllerAction::kRefuseAdvance:
        if (metrics_ != nullptr) metrics_->CountControllerDecision("refuse-advance");
        OTA_TRY(AuditRefusal(m, d.reason, std::move(evidence)));
        continue;
      default:
        continue;
    }
    if (metrics_ != nullptr) metrics_->CountControllerDecision(action);
    ApiResponse r = Commit(std::move(record), std::move(next), "controller", action, d.reason,
                           json{{"evidence", std::move(evidence)}});
    if (r.status != 200) {
      return MakeError(ErrorCode::kRetryLater,
                       "controller could not " + action + ": " + r.body.value("error", ""));
    }
    ++changed;
  }
  if (metrics_ != nullptr) {
    metrics_->ObserveDatabase(
        "controller-pass",
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return changed;
}

}  // namespace ota::server
