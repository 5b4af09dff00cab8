// The device agent: keeps the models a device tracks at the newest version
// its signed repository offers, safely.
//
// One Agent owns one state folder (SQLite state, trusted metadata, the model
// store). It is not thread-safe: drive it from one thread. Two processes must
// not open the same state folder at once (Open takes an exclusive lock).
#ifndef OTA_AGENT_AGENT_H_
#define OTA_AGENT_AGENT_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ota/agent/conditions.h"
#include "ota/agent/drain.h"
#include "ota/agent/leases.h"
#include "ota/common/env.h"
#include "ota/common/result.h"
#include "ota/runtime_adapter/runtime_registry.h"

namespace ota::agent {

// The device's bundle decryption key in the state folder: an X25519 key
// pair (docs/operator-guide.md "Recipient keys"). device.key is mode 0600;
// device.pub is what operators pass to `otactl bundle build --recipient`.
inline constexpr char kDeviceKeyFile[] = "device.key";
inline constexpr char kDevicePublicKeyFile[] = "device.pub";

// What `ota-agent init` records: where the repository is and what to track.
struct EnrollOptions {
  std::string state_dir;
  std::string server_url;         // e.g. http://127.0.0.1:8080
  std::string trusted_root_json;  // The bytes of the root.json to trust first.
  std::vector<std::string> models;
  // Empty: generate a new key pair for this device. Otherwise a recipient
  // private key file (mode 0600, `otactl keygen --recipient`) shared by a
  // fleet or cohort, copied into the state folder as device.key.
  std::string recipient_key_file;
  // The fleet enrollment token the server wants from a new device
  // (`ota-server enrollment-token create`); kept as enrollment.token (mode
  // 0600) and presented when the device first enrolls with the server.
  // Empty: none (a server that requires one then refuses the device).
  std::string enrollment_token;
  // TLS trust for an https server_url (docs/security.md, "TLS"). A PEM file
  // of the CAs to trust instead of the system store, copied into the state
  // folder as ca-bundle.pem; empty: the system store.
  std::string ca_bundle_file;
  // Base64 SHA-256 digests of server public keys (SubjectPublicKeyInfo),
  // kept in the state database; non-empty: the server's key must match one.
  // Give two (the current key and the next) to rotate keys without an outage.
  std::vector<std::string> pinned_sha256;
};

// What a process opens the state folder for (Agent::Open).
enum class AgentAccess {
  // The process that updates (`update`, `check`, `daemon`, the C API): its
  // start counts against a deployment in its confirmation window (a crash
  // loop) and it finishes deployments a previous run left open.
  kUpdate,
  // An operator command that changes state on purpose (`rollback`): finishes
  // open deployments first, but is not a restart of the updating process.
  kCommand,
  // Inspection (`status`, `audit`, `shadow-results`): changes nothing, so
  // running it any number of times during a confirmation window is harmless.
  // Calls that would change state are refused (kInvalidArgument).
  kReadOnly,
};

struct AgentOptions {
  std::string state_dir;
  AgentAccess access = AgentAccess::kUpdate;
  std::string server_url_override;  // Empty: the enrolled URL.
  // TLS trust for this run, replacing what enrollment recorded: a CA bundle
  // (empty: the enrolled ca-bundle.pem, else the system store) and pins
  // (empty: the enrolled pins, if any). Checked by Open (kInvalidArgument).
  std::string ca_bundle_file;
  std::vector<std::string> pinned_sha256;
  // Exchanges per target download in one run (the retry budget), the first
  // backoff between them (doubling, jittered), and how long a transfer may
  // receive nothing before it is dropped and resumed.
  int download_attempts = 6;
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::seconds download_stall_timeout{30};
  // Free space kept on the store's filesystem beyond what an update needs.
  std::uint64_t space_margin_bytes = 64u << 20;
  // Session drain at activation (docs/operator-guide.md "Session drain"):
  // the policy and deadline for models without their own entry, and per
  // model overrides.
  DrainOptions drain;
  std::map<std::string, DrainOptions> drain_per_model;
  // A `defer` activation deferred for this long (since the deployment reached
  // draining) switches new sessions first instead, so a session that never
  // ends cannot hold an update back forever.
  std::chrono::seconds defer_limit{24 * 3600};
  // Longest an app's Acquire waits while a model switches; written to
  // <state>/leases/settings.json for apps in other processes.
  std::chrono::milliseconds lease_acquire_bound = kDefaultAcquireBound;

  const DrainOptions& DrainFor(const std::string& model) const {
    auto it = drain_per_model.find(model);
    return it == drain_per_model.end() ? drain : it->second;
  }
  // Verified versions kept on disk per model, the active one included (at
  // least 1; 2 keeps the previous version for rollback without a download).
  int keep_versions = 2;
  // Confirmation loads the new version's model in its runtime and rolls back
  // one that does not load. Off: the switch alone confirms (for devices where
  // the agent must not load models, e.g. too little memory beside the app).
  bool check_model_loads = true;

  // Confirmation window after an activation (docs/architecture.md,
  // "Confirmation"; defaults explained in docs/decisions.md D15). The new
  // version is committed once `confirm_sessions` sessions on it were
  // reported ok (ota/agent/sessions.h), or once `confirm_window` passed since
  // activation with no session failure. Reports are taken in order; when
  // `confirm_max_failures` failures come before `confirm_sessions` successes,
  // or the window ends with any failure and too few successes, the version is
  // rolled back and never installed again. A zero window commits right after
  // the load check (no session is waited for); so does a first install, which
  // has nothing to return to.
  int confirm_sessions = 3;
  std::chrono::seconds confirm_window{600};
  int confirm_max_failures = 3;
  // Agent starts that find a deployment confirming (a crash loop of the
  // device or of the agent with the new version) tolerated; one more rolls
  // back.
  int confirm_max_restarts = 3;
  // Attempts to return to the previous version before the deployment ends
  // failed with whatever verified version is active.
  int max_rollback_attempts = 3;

  // The runtimes models are loaded and shadow-tested with; null: every
  // runtime this build includes (runtime_adapter::MakeDefaultRuntimeRegistry).
  // Fleet simulations (otactl drill) give simulated ones.
  std::shared_ptr<const runtime_adapter::RuntimeRegistry> runtimes;

  // When downloads may run (docs/app-integration.md "Download conditions"):
  // the agent's policy, under each bundle's and each rollout's overrides, and
  // what the host reports about the device (null: nothing, so every
  // condition counts as met). The conditions are asked before each download
  // and about once a second during one; an unmet rule pauses the deployment
  // (kDeferred, "waiting to download: ..."), keeping what was fetched.
  manifest::DownloadPolicy download_policy = manifest::DefaultDownloadPolicy();
  ConditionsSource conditions;
  // Set by another thread to stop the running Update: downloads stop at
  // once and no further step starts before the switch (a running shadow
  // test ends first); the deployment pauses with kCancelled and resumes,
  // keeping its bytes, at the next Update. Null: no cancellation.
  const std::atomic<bool>* cancel = nullptr;

  // The app's version (e.g. "3.2.0"), when the app starts the agent itself;
  // empty: app_version from <state>/device-facts.json, if any. It takes part
  // in rollout stage selectors and pins, and is sent to the server.
  std::string app_version;
};

struct VersionInfo {
  std::string id;  // sha256 of the bundle.
  std::string version;
  std::string path;  // Folder holding the unpacked bundle.
};

// What an update decides before any byte is fetched (the deployment plan):
// saved with the deployment and followed by it.
struct DeploymentPlan {
  std::string version;
  std::string variant;      // "" for a version's only (unnamed) variant.
  std::string target_path;  // The full bundle.
  std::string target_id;    // Its SHA-256.
  std::uint64_t bundle_bytes = 0;
  // A delta from the active version, tried first; the full bundle is the
  // fallback. Empty when there is none.
  std::string delta_path;
  std::string delta_id;
  std::uint64_t delta_bytes = 0;
  bool delta_compact = false;
  std::uint64_t download_bytes = 0;  // The delta if any, else the bundle.
  // Free disk space the worst case needs: the full bundle, its unpacked
  // copy and the margin.
  std::uint64_t space_needed = 0;
  std::string rollback_id;  // The version returned to on failure ("": none).
  std::string rollback_version;
  std::string shadow_policy;  // The rollout's override, JSON ("": the bundle's own).
  // The bundle's and the rollout's download policy overrides, JSON ("": none).
  std::string download_policy;
};

// The plan as the JSON object `ota-agent check --json` prints under "plan"
// (docs/formats.md, deployments.plan_json).
std::string DeploymentPlanJson(const DeploymentPlan& plan);

struct CheckResult {
  std::string model;
  std::optional<VersionInfo> active;
  std::optional<std::string> available_version;  // Newest signed version offered.
  std::string available_variant;  // The variant chosen for this device ("" if unnamed).
  // Set when no variant of available_version can run here (or fit on disk):
  // which requirement each variant failed.
  std::string incompatible_reason;
  bool update_available = false;
  std::uint64_t download_bytes = 0;
  // Set when an update is available: what it would do.
  std::optional<DeploymentPlan> plan;
};

struct UpdateOutcome {
  enum class Kind { kUpToDate, kUpdated, kFailed, kDeferred };
  Kind kind = Kind::kUpToDate;
  std::string model;
  std::string from_version;
  std::string to_version;
  std::uint64_t bytes_fetched = 0;  // Over the network in this run.
  std::uint64_t bytes_resumed = 0;  // Already on disk from an earlier run.
  std::chrono::milliseconds duration{0};
  std::optional<Error> error;  // Set for kFailed and kDeferred.
  // Delta updates: the version was rebuilt from a delta bundle, or a delta
  // was offered but failed (download, apply or verify) and the full bundle
  // was fetched instead; delta_error says why.
  bool used_delta = false;
  bool delta_fallback = false;
  std::optional<Error> delta_error;
  // kDeferred while the new version is active and its confirmation window
  // is open: the next cycle (or Resume) decides.
  bool confirming = false;
};

// "up-to-date", "updated", "failed", "deferred".
const char* OutcomeKindName(UpdateOutcome::Kind kind);
// A check result and an update outcome as JSON objects, as `ota-agent check
// --json` and `update --json` print them (docs/formats.md).
std::string CheckResultJson(const CheckResult& result);
std::string UpdateOutcomeJson(const UpdateOutcome& outcome);

struct DeploymentSummary {
  std::int64_t id = 0;
  std::string model;
  std::string version;
  std::string state;
  std::string error;
  std::int64_t updated_at = 0;
};

struct AgentStatus {
  std::string device_id;
  std::string server_url;
  std::string state_dir;
  std::vector<std::string> models;
  std::vector<CheckResult> active;  // One per tracked model (no network).
  std::vector<DeploymentSummary> recent_deployments;
  std::int64_t pending_reports = 0;
};

// The agent's tamper-evident event log (docs/formats.md, "Audit chain").
struct AuditEntry {
  std::int64_t seq = 0;
  std::string body;   // The event JSON.
  std::string chain;  // Hex SHA-256 link; empty for events older than the chain.
  bool delivered = false;
};
struct AuditReport {
  std::vector<AuditEntry> entries;  // In seq order.
  bool intact = true;
  std::string problem;               // The first broken link, when not intact.
  std::int64_t checkpoints = 0;      // Signed checkpoints stored.
  std::int64_t last_checkpoint = 0;  // Seq of the newest one (0: none).
};

// What an audit export writes (docs/formats.md, "Audit export"): events
// matching every filter given are record lines, the others omitted lines
// (their digest only). Times are RFC 3339 UTC ("2026-12-06T15:00:00Z"),
// compared with each event's "time"; "" means no bound.
struct AuditExportOptions {
  std::string since;  // Events at or after.
  std::string until;  // Events before.
  std::string model;  // Events whose "model" is this one.
};
struct AuditExportSummary {
  std::uint64_t records = 0;
  std::uint64_t omitted = 0;
  std::uint64_t checkpoints = 0;
  std::uint64_t lines = 0;  // Every line, the end line included.
  std::int64_t head_seq = 0;
};
// Receives each line of an export, newline included.
using AuditSink = std::function<Status(std::string_view)>;

// What pruning removed: events `from` to `to` (`records` rows), behind the
// signed checkpoint of `to`; `record_seq` is the audit-pruned record it added.
struct AuditPruneResult {
  std::int64_t from = 0;
  std::int64_t to = 0;
  std::int64_t records = 0;
  std::int64_t record_seq = 0;
};

// One shadow-test verdict as agent.db records it (docs/formats.md, "Agent
// state folder"): the candidate against the version the device ran.
struct ShadowVerdict {
  std::int64_t id = 0;
  std::int64_t deployment_id = 0;
  std::string model;
  std::string candidate_id;
  std::string candidate_version;
  std::string current_id;
  std::string current_version;
  std::string verdict;      // "pass", "fail", "inconclusive"
  std::string action;       // "accept", "reject", "retry", "pause" (an app needed the runtime)
  std::string gate;         // The gate applied.
  std::string reason;       // The reasons, joined by "; ".
  std::string report_json;  // The full report: metrics, thresholds, gate rows, mirror stats.
  int attempt = 0;
  std::int64_t created_at = 0;  // Unix seconds.
};

struct RollbackResult {
  std::string model;
  VersionInfo from;  // The version that was active.
  VersionInfo to;    // The kept version now active.
};

// Called with (model, bytes on disk, total) during downloads.
using DownloadProgress = std::function<void(const std::string&, std::uint64_t, std::uint64_t)>;

class Agent {
 public:
  // Creates the state folder, device identity and trusted root. Refuses a
  // folder that is already enrolled (kInvalidArgument), TLS options that
  // cannot be used (kInvalidArgument: an unreadable or empty CA bundle, a
  // malformed pin) and a root that is not signed by its own threshold
  // (kSecurity).
  // Also writes the device's recipient key pair (kDeviceKeyFile,
  // kDevicePublicKeyFile) into the state folder before the database.
  static Status Enroll(Env& env, const EnrollOptions& options);

  // Opens an enrolled state folder, finishing or undoing whatever a previous
  // run was doing when it stopped (see docs/architecture.md, "Resume").
  // Every request the agent makes through env.http carries its TLS settings.
  // A server failing TLS verification fails the cycle with kSecurity ("TLS:
  // ..."): nothing is installed, nothing is marked bad, and the next cycle
  // tries again.
  static Result<std::unique_ptr<Agent>> Open(Env& env, const AgentOptions& options);
  virtual ~Agent() = default;

  // Refreshes signed metadata and says what an update would do; downloads
  // nothing but metadata.
  virtual Result<std::vector<CheckResult>> Check() = 0;
  // One full cycle per tracked model. Per-model failures are outcomes, not
  // errors; an error means the cycle could not run at all (e.g. metadata).
  virtual Result<std::vector<UpdateOutcome>> Update(const DownloadProgress& progress) = 0;
  // Local view: no network.
  virtual Result<AgentStatus> GetStatus() = 0;
  // Continues deployments that need no network (activation after a drain
  // already done, confirmation, rollback) without refreshing metadata: what
  // the daemon polls while a confirmation window is open. Outcomes as for
  // Update.
  virtual Result<std::vector<UpdateOutcome>> Resume() = 0;
  // Sends queued reports; kRetryLater leaves them queued.
  virtual Result<int> FlushReports() = 0;
  // Returns `model` to the newest other version kept on disk, by hand
  // (`ota-agent rollback`): no download, no network. The version left is not
  // installed again until the repository signs a newer one.
  // During a confirmation window it ends that deployment instead (failed,
  // the version rejected as a failed confirmation would be).
  // Errors: kNotFound (nothing active, or no other version kept),
  // kRetryLater (a deployment of the model is in progress, before its
  // confirmation window), kIo (the switch back failed).
  virtual Result<RollbackResult> RollBack(const std::string& model) = 0;
  // Every event the agent recorded, with the chain checked end to end (links,
  // signed checkpoints, and the events already reported to the server).
  virtual Result<AuditReport> Audit() = 0;
  // Writes the audit log as an export (manifest/audit_log.h) to `sink`:
  // signs and stores a checkpoint of the current head first, and signs the
  // end line with the device's report key. Refuses a broken log (kSecurity)
  // and malformed filters (kInvalidArgument). Not for read-only access.
  virtual Result<AuditExportSummary> ExportAudit(const AuditExportOptions& options,
                                                 const AuditSink& sink) = 0;
  // The device's report key as a TUF public key object (JSON), the form
  // verifier::LoadPublicKey reads: what an auditor verifies exports with.
  virtual Result<std::string> AuditPublicKey() = 0;
  // Deletes delivered events before `before_seq` behind the newest signed
  // checkpoint at or before before_seq - 1, after appending an audit-pruned
  // record. kNotFound when no such checkpoint covers delivered events only;
  // kSecurity when the log is broken. Not for read-only access.
  virtual Result<AuditPruneResult> PruneAudit(std::int64_t before_seq) = 0;
  // Shadow-test verdicts, newest first; `model` empty: every model.
  virtual Result<std::vector<ShadowVerdict>> ShadowResults(const std::string& model, int limit) = 0;
};

}  // namespace ota::agent

#endif  // OTA_AGENT_AGENT_H_
