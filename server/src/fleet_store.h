// The server's fleet database: enrolled devices and their report keys,
// signed report ingestion with replay protection, operator tokens, rollouts
// with their controller policy, per-rollout device phases, and the audit
// trail. One database connection guarded by one mutex: SQLite (WAL, one
// node) or PostgreSQL (shared by any number of nodes). What a node keeps in
// memory (device keys and facts, the latest rollout of each model) is
// refreshed from the rows that changed since it last looked (their change
// counters), so a write through any node is seen by every node.
#ifndef OTA_SERVER_FLEET_STORE_H_
#define OTA_SERVER_FLEET_STORE_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "audit_log.h"
#include "device_chain.h"
#include "events.h"
#include "operator_roles.h"
#include "ota/common/env.h"
#include "ota/common/result.h"
#include "ota/common/sqlite.h"
#include "ota/manifest/rollout_manifest.h"
#include "ota/manifest/tuf_metadata.h"
#include "ota/rollout/controller.h"
#include "ota/rollout/evaluate.h"
#include "ota/verifier/keys.h"
#include "webhooks.h"

namespace ota::server {

struct DeviceRecord {
  std::string device_id;
  std::string public_key_hex;  // 64 lower-case hex digits.
  nlohmann::json facts = nlohmann::json::object();
  std::int64_t enrolled_at = 0;
  std::int64_t last_seq = 0;
};

struct RolloutRecord {
  manifest::RolloutManifest manifest;
  rollout::ControllerPolicy policy;
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
};

// A rollout change or controller decision, as recorded in the server audit
// log: a "rollout-action" record (operators) or a "controller-decision"
// record (actor "controller") with `details` merged into its body.
struct AuditEntry {
  std::int64_t id = 0;  // The record's seq in the server audit log.
  std::int64_t at = 0;
  std::string actor;
  std::string rollout_id;
  std::string action;
  std::string reason;
  std::uint64_t version = 0;
  std::string model;
  nlohmann::json details = nlohmann::json::object();
};

// The PostgreSQL advisory lock key held by the node that runs the rollout
// controller ("OTACTRX"; pg_locks shows it as classid 0x4f5441, objid
// 0x43545258, objsubid 1).
inline constexpr std::int64_t kControllerLockKey = 0x4f544143545258LL;

// A device whose event chain the server found broken (the fleet view).
struct DeviceChainProblem {
  std::string device_id;
  std::int64_t seq = 0;
  std::string problem;
};

// kNeedsToken: the device is new and no valid enrollment token came with it.
// kTokenUsedUp: the token has enrolled its max_devices already (or was
// revoked or expired since it was checked).
enum class EnrollResult { kCreated, kUnchanged, kNeedsToken, kTokenUsedUp };

// A fleet enrollment token to create (docs/security.md, "Enrollment").
struct EnrollmentTokenSpec {
  std::string name;               // [A-Za-z0-9._-]{1,64}, unique.
  std::uint64_t max_devices = 0;  // 0: no limit.
  std::int64_t expires_at = 0;    // Unix seconds; 0: never.
};

struct EnrollmentTokenInfo {
  std::string name;
  std::int64_t created_at = 0;
  std::int64_t expires_at = 0;
  std::uint64_t max_devices = 0;
  std::uint64_t devices = 0;  // Devices enrolled with it so far.
  bool revoked = false;
};

// An operator token to create (docs/security.md, "Operator roles").
struct OperatorTokenSpec {
  std::string name;  // [A-Za-z0-9._-]{1,64}, never reused.
  OperatorRole role = OperatorRole::kViewer;
  std::int64_t expires_at = 0;              // Unix seconds.
  std::string created_by = "server-admin";  // The audit actor.
};

struct OperatorTokenInfo {
  std::string name;
  std::string role;
  std::int64_t created_at = 0;
  std::int64_t expires_at = 0;  // 0: never (made before roles).
  std::string created_by;
  bool revoked = false;
};

// The outcome of IngestReport when the sequence number is not new.
struct ReplayInfo {
  std::int64_t last_seq = 0;
};

// ---- Console views (fleet_views_store.cc): read-only queries ----

// Which devices GET /v1/devices lists. Empty strings match everything.
struct DeviceFilter {
  std::string model, version, state;     // device_models: model, version, phase.
  std::string region, tag, app_version;  // enrollment facts, compared exactly.
  bool problem = false;                  // Only failing, stuck or chain-broken devices.
  // Devices still in an in-progress phase (downloading, shadow_pass,
  // activated) last changed before this time (Unix seconds) count as stuck.
  std::int64_t stuck_before = 0;
  std::size_t limit = 50;
  std::size_t offset = 0;
};

// A device's row of device_models: what it last reported about a model.
struct DeviceModelState {
  std::string model, version, phase;
  std::int64_t updated_at = 0;
};

// A stored device event.
struct StoredEvent {
  std::int64_t seq = 0;
  std::int64_t received_at = 0;
  std::string type;
  nlohmann::json body;  // The event object as stored.
};

struct DeviceSummary {
  std::string device_id;
  nlohmann::json facts = nlohmann::json::object();
  std::int64_t enrolled_at = 0;
  std::int64_t last_seen = 0;  // 0: never reported.
  std::int64_t last_seq = 0;
  std::vector<DeviceModelState> models;
  std::string chain_problem;  // "" while the chain is intact.
  std::int64_t chain_problem_seq = 0;
  // The newest event that put the device in an error phase (failed, rolled
  // back, shadow test failed), when any of its recent events did.
  std::optional<StoredEvent> last_error;
};

struct DevicePage {
  std::uint64_t total = 0;  // Devices matching the filter.
  std::vector<DeviceSummary> devices;
};

// One device in full: its summary, chain state and newest events.
struct DeviceDetail {
  DeviceSummary summary;
  std::string enrolled_with;  // The enrollment token's name ("" before tokens).
  bool chain_known = false;   // false: no chained event received yet.
  std::int64_t chain_anchor_seq = 0;
  std::int64_t chain_checked_seq = 0;
  // model -> the newest version the device confirmed before its current one.
  std::map<std::string, std::string> previous_versions;
  std::vector<StoredEvent> timeline;  // Newest first.
  bool timeline_truncated = false;    // Older events exist.
};

// Thread-safe: every call holds one mutex.
class FleetStore {
 public:
  // Errors as ota::Database::Open.
  static Result<std::unique_ptr<FleetStore>> Open(const std::string& path, Clock& clock);
  // Gives up the controller and change locks at once (another node may take
  // them without waiting for this connection's end to be noticed).
  ~FleetStore();

  // Registers a device key. The same key again is kUnchanged (facts, when
  // given, replace the stored ones; none keeps them); another key for a known
  // id is kSecurity ("device ... is enrolled with another key"). A new device
  // needs `token_name`, an enrollment token already authenticated with
  // AuthenticateEnrollmentToken: kNeedsToken without one, kTokenUsedUp when
  // the token has no device left (checked and counted in the transaction
  // that stores the device). The caller has checked that the device signed
  // `facts`.
  Result<EnrollResult> EnrollDevice(const std::string& device_id, const std::string& public_key_hex,
                                    const std::optional<nlohmann::json>& facts,
                                    const std::optional<std::string>& token_name);

  // Enrollment tokens. CreateEnrollmentToken returns the token text, shown
  // once (only its SHA-256 is stored); kInvalidArgument for a bad or taken
  // name. AuthenticateEnrollmentToken gives the token's name if it exists, is
  // not revoked and has not expired (quota is checked by EnrollDevice).
  Result<std::string> CreateEnrollmentToken(const EnrollmentTokenSpec& spec, Random& random);
  std::optional<std::string> AuthenticateEnrollmentToken(const std::string& token);
  Status RevokeEnrollmentToken(const std::string& name);
  Result<std::vector<EnrollmentTokenInfo>> ListEnrollmentTokens();

  // The enrolled key (hex) of a device, nullopt if unknown. Served from memory
  // (a key never changes once enrolled); an unknown id is looked up again.
  std::optional<std::string> DeviceKey(const std::string& device_id);

  // Stores an already verified report: in one transaction, raises the
  // device's last_seq to `seq` (when seq <= last_seq nothing is stored and
  // ReplayInfo is returned), stores its events (duplicates by (device, event
  // seq) ignored) and records rollout phases. Concurrent calls are group
  // committed: one transaction (one fsync) for all reports that arrived
  // while the previous one was committing; a failing transaction fails
  // every report of its group.
  // Errors: kNotFound (unknown device), kRetryLater (busy), kIo.
  Result<std::optional<ReplayInfo>> IngestReport(const std::string& device_id, std::int64_t seq,
                                                 const EventBatch& batch);

  // Operator tokens. CreateToken returns the token text, shown once (only
  // its SHA-256 is stored) and audits it as `spec.created_by`;
  // kInvalidArgument for a bad or taken name or an expiry not in (now, now +
  // kMaxTokenLifetimeDays]. AuthenticateToken gives the identity of a stored,
  // unrevoked token (expired or not: the caller compares expires_at with its
  // clock, so that it can say why it refuses). RevokeToken: kNotFound when no
  // unrevoked token has that name.
  Result<std::string> CreateToken(const OperatorTokenSpec& spec, Random& random);
  std::optional<OperatorIdentity> AuthenticateToken(const std::string& token);
  Result<std::vector<OperatorTokenInfo>> ListTokens();
  Status RevokeToken(const std::string& name, const std::string& actor);

  // Webhooks (fleet_webhooks.cc). With targets set, every rollout audit
  // entry whose action announces an event (WebhookEventForAction) writes one
  // outbox message per target in its transaction; EnqueueWebhook writes one
  // on its own. ClaimDueWebhooks claims up to `limit` messages due at `now`
  // for `lease_seconds`; FinishWebhook records an attempt's outcome and
  // returns "delivered", "retry" or "failed" (attempts ran out).
  void SetWebhookTargets(std::vector<std::string> urls);
  Result<bool> EnqueueWebhookOnce(const std::string& key, const std::string& event,
                                  const nlohmann::json& body);
  Result<std::vector<WebhookDelivery>> ClaimDueWebhooks(std::int64_t now, std::size_t limit,
                                                        std::int64_t lease_seconds);
  Result<std::string> FinishWebhook(const WebhookDelivery& delivery,
                                    const std::optional<std::string>& error, std::int64_t now);

  // Rollouts. InsertRollout refuses an existing id (kInvalidArgument) and a
  // model that already has a rollout that is not halted.
  Status InsertRollout(const RolloutRecord& record, const AuditEntry& audit);
  // Replaces the manifest (and policy) of an existing rollout and appends the
  // audit entry, in one transaction. kRetryLater when the stored manifest's
  // version is not below the new one (another node changed the rollout
  // first: read it again and redo the change), so that versions only grow.
  Status UpdateRollout(const RolloutRecord& record, const AuditEntry& audit);
  Result<std::optional<RolloutRecord>> GetRollout(const std::string& rollout_id);
  Result<std::vector<RolloutRecord>> ListRollouts();
  Result<std::vector<AuditEntry>> Audit(const std::string& rollout_id);
  // Appends an audit entry that changes no manifest (a controller decision
  // not to act, with its reason).
  Status AppendAudit(const AuditEntry& audit);

  // The server audit log (audit_log.h). AppendServerRecord appends one
  // record in its own transaction, and sets server setting `setting` (name,
  // value) in it when the name is not empty.
  Result<std::int64_t> AppendServerRecord(const ServerAuditRecord& record,
                                          const std::pair<std::string, std::string>& setting = {
                                              "", ""});
  // A server setting (table server_settings), nullopt when unset.
  Result<std::optional<std::string>> Setting(const std::string& name);
  Status SetSetting(const std::string& name, const std::string& value);

  // Cross-node coordination (fleet_locks.cc). On PostgreSQL these are session
  // advisory locks on a connection of the store's own, so they end with the
  // process (or that connection); on SQLite, one node per file, the caller's
  // own mutex is all there is to it.
  //
  // Serializes rollout changes (read, publish, store) across every node:
  // held until the returned guard is destroyed. kIo when the lock's
  // connection fails.
  class ChangeLock {
   public:
    explicit ChangeLock(FleetStore* store) : store_(store) {}
    ~ChangeLock();
    ChangeLock(const ChangeLock&) = delete;
    ChangeLock& operator=(const ChangeLock&) = delete;

   private:
    FleetStore* store_;
  };
  Result<std::unique_ptr<ChangeLock>> LockRolloutChanges();
  // True when this node runs the rollout controller: on PostgreSQL the one
  // node holding the controller lock (taken here when free, kept while this
  // process and its lock connection live, so another node takes over at its
  // next try once they end); on SQLite always.
  Result<bool> LeadController();
  Result<ServerAuditHead> AuditHead();
  // Signs and stores a checkpoint of the log's head (at the clock's time)
  // unless that head is signed already; returns the latest checkpoint.
  Result<manifest::AuditCheckpoint> CheckpointAuditLog(const verifier::PrivateKey& key);
  Result<ServerLogCheck> VerifyAuditLog(const std::vector<manifest::Key>& keys);
  // Event retention (event_retention.h): removes device events received
  // before `before` (Unix seconds); returns how many.
  Result<std::int64_t> PruneEvents(std::int64_t before);
  // Devices whose event chain is broken, in device id order.
  Result<std::vector<DeviceChainProblem>> ChainProblems();

  // Phase counts per stage index of a rollout: each device counts for the
  // first stage whose cohort holds it (rollout::FirstStageOf on its stored
  // facts), and only once that stage was reached; reports of devices that no
  // reached stage covers are not counted.
  Result<std::map<std::size_t, rollout::StageCounts>> PhaseCounts(const std::string& rollout_id);
  // Devices per stage of `m` by the rule that credits reports
  // (rollout::FirstStageOf on their stored facts; stages holding none are
  // absent). Counted over the fleet once per targeting (rollout id and
  // stages), then kept up to date as devices enroll or change facts (at any
  // node), so a status call or controller pass does not visit every device.
  Result<std::map<std::size_t, std::uint64_t>> TargetedCounts(const manifest::RolloutManifest& m);
  // Enrolled devices by app version and region ("unknown" when not sent)
  // and by tag, kept up to date the same way.
  struct FactCounts {
    std::map<std::string, std::uint64_t> by_app, by_region, by_tag;
  };
  Result<FactCounts> DeviceFactCounts();
  Result<std::uint64_t> DeviceCount();
  // Report groups (group commit) by how they were committed: in one try on
  // the node's cached state (cached); on the stored state after that try
  // missed (after_miss: another node moved a device, a rollout or facts
  // changed) or from the start (stored: the group after a miss); or not
  // at all (failed).
  struct ReportGroupCounts {
    std::uint64_t cached = 0, after_miss = 0, stored = 0, failed = 0;
  };
  ReportGroupCounts GroupCounts() const;
  // model -> version -> phase -> devices, from device_models.
  Result<nlohmann::json> FleetSummary();

  // Console views (fleet_views_store.cc). ListDevices: devices matching
  // `filter` in device id order, `filter.offset` skipped, at most
  // `filter.limit`; facts filters are checked on the parsed facts, so the
  // cost grows with the devices the SQL part of the filter keeps.
  Result<DevicePage> ListDevices(const DeviceFilter& filter);
  // A device with its `limit` newest events with seq below `before_seq`
  // (0: from the newest); nullopt when it is not enrolled.
  Result<std::optional<DeviceDetail>> DeviceView(const std::string& device_id, std::size_t limit,
                                                 std::int64_t before_seq);
  // The newest `limit` shadow-result and shadow-skipped events naming
  // `model`, newest first.
  Result<std::vector<StoredEvent>> ShadowEvents(const std::string& model, std::size_t limit);

 private:
  FleetStore(std::unique_ptr<Database> db, Clock& clock) : db_(std::move(db)), clock_(clock) {}
  // Read the rows changed since the last refresh into devices_ and
  // rollouts_ (mu_ held).
  Status RefreshDevices();
  Status RefreshRollouts();
  // The statement in `slot`, prepared from `sql` on first use (mu_ held).
  Result<Statement*> PrepareOnce(std::unique_ptr<Statement>& slot, std::string_view sql);
  // Both, each only if its change counter moved (one query when neither
  // did); true if either moved.
  Result<bool> RefreshChanged();
  // Inside the ingestion transaction, report ingestion checks a device's
  // chain (device_chain.h) before the report is accepted, so that the
  // statement accepting it also stores the chain's head; once accepted, its
  // alerts are recorded, device checkpoints stored, and the state goes to
  // `pending` (applied when the transaction commits).
  struct ChainUpdate {
    DeviceChainState state;
    std::vector<DeviceChainNote> notes;
    bool row_changed = false;  // anchor or problem: device_chains to write.
  };
  // A device's row of device_rollouts for one rollout (none: nullopt).
  struct RolloutPhase {
    std::string phase;
    std::int64_t stage = 0;
  };
  // A device's chain state and its last_seq with it (the report sequence
  // number the state follows), and the device_rollouts rows read or written
  // since: only the device's reports write them, so they stay true while
  // last_seq does.
  struct KnownChain {
    DeviceChainState state;
    std::int64_t report_seq = 0;
    std::map<std::string, std::optional<RolloutPhase>> phases;
  };
  using PendingChains = std::map<std::string, KnownChain>;
  // The chain state of `device_id`: from `pending` (this transaction), else
  // from chain_cache_ (unless `reload`), else as stored.
  Result<KnownChain> ChainOf(const std::string& device_id, const PendingChains& pending,
                             bool reload);
  ChainUpdate CheckReportChain(const std::string& device_id, const EventBatch& batch,
                               DeviceChainState state);
  // The chain link stored with event `seq` of a device (ingestion only).
  std::optional<std::string> StoredChain(const std::string& device_id, std::int64_t seq);
  Status ApplyReportChain(const std::string& device_id, const EventBatch& batch, std::int64_t now,
                          ChainUpdate& update, KnownChain& known, std::int64_t report_seq,
                          PendingChains& pending);
  Status AppendAuditEntry(const AuditEntry& audit);
  // Writes one outbox message per webhook target (mu_ held, in a
  // transaction).
  Status EnqueueWebhookLocked(const std::string& event, const nlohmann::json& body,
                              std::int64_t now);
  std::int64_t Now() const;

  // The latest rollout of a model, as the report path needs it.
  struct ActiveRollout {
    std::string target_version;
    manifest::RolloutManifest manifest;
  };
  struct CachedRollout {
    std::int64_t created_at = 0;
    manifest::RolloutManifest manifest;
  };
  struct CachedDevice {
    std::string public_key_hex;
    rollout::DeviceFacts facts;
  };

  // A report waiting for its group commit.
  struct PendingReport {
    const std::string* device_id;
    std::int64_t seq;
    const EventBatch* batch;
    Status status;
    std::optional<ReplayInfo> replay;
    bool done = false;                // Guarded by queue_mu_.
    std::condition_variable done_cv;  // Signalled when done is set.
  };
  // The committer thread's loop: commits each group queued, until stopping_.
  void CommitLoop();
  // Commits what is queued, then ends the committer thread.
  void StopCommitter();
  // Stores every report of `group` in one transaction; sets their results.
  void CommitGroup(const std::vector<PendingReport*>& group);
  // One try of CommitGroup. `optimistic`: cached rollouts and device facts
  // are used as they are, and each report is accepted on the strength of
  // the cached last_seq; both are checked only when the transaction's queued
  // writes are sent (on PostgreSQL one round trip for the whole group), and
  // a stale cache fails the try with kRetryLater.
  Status TryGroup(const std::vector<PendingReport*>& group, std::int64_t now, PendingChains& chains,
                  bool optimistic);
  struct IngestStatements;
  // Adds `delta` devices to a rollout stage's phase count (in group_,
  // written by WriteGroupRows).
  void CountPhase(const std::string& rollout_id, std::int64_t stage, const std::string& phase,
                  std::int64_t delta);
  // Queues the group's buffered events (and, with `all`, its model rows and
  // count changes) as multi-row statements, and clears them.
  Status WriteGroupRows(IngestStatements& st, bool all);
  // The statement inserting `rows` rows of `kind` (0: events, 1: device
  // models), prepared on first use.
  Result<Statement*> MultiRow(IngestStatements& st, int kind, std::size_t rows);
  // Stores one report inside the group's transaction (a replay: r.replay);
  // optimistically when group_ says so.
  Status StoreReport(IngestStatements& st, PendingReport& r, std::int64_t now,
                     PendingChains& pending);
  // The device's device_rollouts row for `rollout_id`, from `known` or read.
  Result<std::optional<RolloutPhase>> PhaseOf(IngestStatements& st, KnownChain& known,
                                              const std::string& rollout_id,
                                              const std::string& device_id);

  // Report ingestion's statements, prepared on first use (mu_ held).
  struct IngestStatements {
    Statement bump, last, phase_of, upsert, stored_event, chain_row, chain_state, count;
    Statement unchanged;  // One row while no rollout or device changed since last read.
    std::map<std::pair<int, std::size_t>, Statement> multi;  // MultiRow's, by kind and rows.
  };
  Result<IngestStatements*> Ingest();

  std::mutex queue_mu_;               // Guards queue_, stopping_, committer_ (taken before mu_).
  std::condition_variable queue_cv_;  // Wakes the committer.
  std::vector<PendingReport*> queue_;
  bool stopping_ = false;
  std::thread committer_;
  // The committer's next group is tried optimistically: false once a group
  // found rollouts or devices changed, true again once one found none.
  bool optimistic_ = true;
  std::atomic<std::uint64_t> groups_cached_{0}, groups_after_miss_{0}, groups_stored_{0},
      groups_failed_{0};
  // What the group being tried (committer, mu_ held) writes at its end in
  // multi-row statements, in key order (WriteGroupRows), and whether the try
  // is optimistic (TryGroup: cached state, a shared transaction).
  struct GroupWrites {
    bool optimistic = false;
    std::int64_t now = 0;
    struct EventRow {
      const std::string* device_id;
      const Event* event;
    };
    std::vector<EventRow> events;  // In the order received.
    struct ModelRow {
      std::string version;
      std::string phase;
    };
    std::map<std::pair<std::string, std::string>, ModelRow> models;  // (device, model): the last.
    std::map<std::tuple<std::string, std::int64_t, std::string>, std::int64_t> counts;
  };
  GroupWrites group_;  // Started by the first report.

  std::mutex lock_mu_;                 // Guards lock_db_ and leading_.
  std::unique_ptr<Database> lock_db_;  // PostgreSQL only.
  bool leading_ = false;

  std::mutex mu_;
  std::vector<std::string> webhook_targets_;
  std::unique_ptr<Database> db_;
  // After db_: finalized before the database closes. Guarded by mu_.
  std::unique_ptr<IngestStatements> ingest_;
  // The refresh queries, prepared on first use (mu_ held).
  std::unique_ptr<Statement> refresh_devices_, refresh_rollouts_, change_counters_;
  Clock& clock_;
  // Written under mu_ and devices_mu_ both, so that a report's key look-up
  // (DeviceKey) reads it under devices_mu_ alone, while a group commit
  // holds mu_.
  std::shared_mutex devices_mu_;
  std::map<std::string, CachedDevice> devices_;
  // Counts over devices_, kept by RefreshDevices (CountDevice).
  struct Targeting {
    std::string key;  // rollout id and stages, as JSON
    manifest::RolloutManifest manifest;
    std::map<std::size_t, std::uint64_t> counts;
  };
  std::map<std::string, Targeting> targeting_;  // rollout id -> counts
  FactCounts fact_counts_;
  // Adds (sign 1) or removes (-1) a device's facts from the counts.
  void CountDevice(const rollout::DeviceFacts& facts, int sign);
  // The (facts_rev, device_id) of the last device row read.
  std::pair<std::int64_t, std::string> devices_seen_{-1, ""};
  std::map<std::string, CachedRollout> rollouts_;  // id -> rollout
  std::int64_t rollouts_seen_ = -1;                // rollouts.rev last read
  std::map<std::string, ActiveRollout> by_model_;  // latest rollout per model
  // Committed chain states, checked against last_seq when used (another
  // node may have taken a report of the device since).
  std::map<std::string, KnownChain> chain_cache_;
};

// Device facts (enrollment JSON) as rollout::DeviceFacts; malformed fields
// are ignored (then selectors on them do not match).
rollout::DeviceFacts FactsFromJson(const std::string& device_id, const nlohmann::json& facts);

// Validates the enrollment facts object: optional app_version (semver),
// attributes (object of strings), tags (array of strings), region (string),
// and the informational cpu_arch, os (strings) and total_ram (bytes).
Status ValidateFacts(const nlohmann::json& facts);

}  // namespace ota::server

#endif  // OTA_SERVER_FLEET_STORE_H_
