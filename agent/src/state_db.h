// The agent's persistent state in SQLite (WAL, synchronous=FULL): settings,
// deployments, installed versions and the outgoing event queue. The schema
// lives in agent/migrations/. Not thread-safe: owned by one Agent.
#ifndef OTA_AGENT_SRC_STATE_DB_H_
#define OTA_AGENT_SRC_STATE_DB_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ota/agent/agent.h"
#include "ota/agent/lifecycle.h"
#include "ota/common/result.h"
#include "ota/common/sqlite.h"
#include "ota/manifest/audit_log.h"
#include "ota/manifest/tuf_metadata.h"

namespace ota::agent {

struct DeploymentRow {
  std::int64_t id = 0;
  std::string model;
  std::string target_path;
  std::string version;
  std::string sha256;
  std::uint64_t length = 0;
  std::string target_json;
  State state = State::kIdle;
  std::string previous;  // Version id active when the deployment started ("" if none).
  int saves = 0;
  std::uint64_t bytes_fetched = 0;
  std::string error_code;
  std::string error;
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
  // Confirmation (migration 003): when the window began (Unix ms, 0 = not
  // yet), agent starts that found the deployment confirming, and attempts to
  // return to the previous version.
  std::int64_t activated_at_ms = 0;
  int confirm_restarts = 0;
  int rollback_attempts = 0;
  // The deployment plan (migration 005; deployment_plan.h), "" for
  // deployments started by older builds.
  std::string plan_json;
};

struct VersionRow {
  std::string id;
  std::string model;
  std::string version;
  std::int64_t installed_at = 0;
};

struct PendingEvent {
  std::int64_t seq = 0;
  std::string body;   // JSON object without "seq" (canonical JSON for link version 2).
  std::string chain;  // Audit chain link of this event ("" before the chain existed).
  int link_version = 2;
  bool delivered = false;
};

// The version 1 audit chain link of event `seq` (manifest::AuditLinkV1):
// lower-case hex SHA-256 of previous_chain + "\n" + seq + "\n" + body, where
// previous_chain is the chain of the event before (64 zeros for the first
// event, or when the event before predates the chain). Events written from
// schema 6 on use link version 2 (manifest::AuditLink over the body's digest).
std::string AuditChainHash(const std::string& previous_chain, std::int64_t seq,
                           const std::string& body);

// A signed checkpoint of the event log as stored (table audit_checkpoints);
// `checkpoint.log` is left empty (the caller knows the device).
struct CheckpointRow {
  manifest::AuditCheckpoint checkpoint;
  bool sent = false;
};

// The last event: its seq and link (seq 0 and the genesis link when the log
// is empty; the anchor checkpoint when every event up to it was pruned).
struct AuditHead {
  std::int64_t seq = 0;
  std::string head;
};

// What pruning removes: events from `from` to `to`, `records` of them; the
// checkpoint at `to` (head `head`) stays as the anchor.
struct AuditPruneRange {
  std::int64_t from = 0;
  std::int64_t to = 0;
  std::int64_t records = 0;
  std::string head;
};

// The highest report seq this device has signed and sent (decimal): every
// event up to it left the device, so the log must still reach it.
inline constexpr char kReportHighestSentSetting[] = "report_highest_sent_seq";

// First broken link of the whole event log, or nullopt if it is intact.
struct AuditBreak {
  std::int64_t seq = 0;
  std::string message;
};

class StateDb {
 public:
  // `durable`: FileSystem::Durable of the state folder's filesystem.
  static Result<std::unique_ptr<StateDb>> Open(const std::string& path, bool durable = true);

  Result<std::optional<std::string>> GetSetting(const std::string& key);
  Status SetSetting(const std::string& key, const std::string& value);

  // The unfinished deployment of `model`, if any.
  Result<std::optional<DeploymentRow>> OpenDeployment(const std::string& model);
  Result<std::vector<DeploymentRow>> RecentDeployments(int limit);
  // Inserts a deployment in `row.state` and queues `events`, atomically.
  Result<std::int64_t> CreateDeployment(const DeploymentRow& row, std::int64_t now,
                                        const std::vector<std::string>& events);
  // Saves the new state (counting saves) and queues the event, atomically.
  // `finished` closes the deployment; error fields are stored when non-empty.
  Status SaveState(std::int64_t id, State state, bool finished, const std::string& error_code,
                   const std::string& error, std::int64_t now, const std::string& event_json);
  Status SetBytesFetched(std::int64_t id, std::uint64_t bytes);
  // Records when the confirmation window of deployment `id` began and queues
  // `event_json`, atomically. Returns the time in force: an earlier recorded
  // time is kept (a restart never restarts the window).
  Result<std::int64_t> StartConfirmation(std::int64_t id, std::int64_t now_ms,
                                         const std::string& event_json);
  // Counts one agent start that found deployment `id` confirming and queues
  // `event_json`, atomically. Returns the new count.
  Result<int> CountConfirmRestart(std::int64_t id, const std::string& event_json);
  // Counts one attempt to roll deployment `id` back and queues `event_json`,
  // atomically, before the attempt runs. Returns the new count.
  Result<int> CountRollbackAttempt(std::int64_t id, const std::string& event_json);

  Status RecordVersion(const VersionRow& row);
  Result<std::optional<VersionRow>> GetVersion(const std::string& id);
  // Oldest first: by install time, then by the order of recording.
  Result<std::vector<VersionRow>> ListVersions();
  // Forgets a removed version and queues its event, atomically.
  Status ForgetVersion(const std::string& id, const std::string& event_json);

  // Records a shadow verdict (table shadow_verdicts, schema 4) and queues its
  // event, atomically.
  Status RecordShadowVerdict(const ShadowVerdict& row, const std::string& event_json);
  // Newest first; `model` empty: every model.
  Result<std::vector<ShadowVerdict>> ShadowVerdicts(const std::string& model, int limit);

  // Queues an event outside any deployment transition.
  Status QueueEvent(const std::string& event_json);
  Result<std::vector<PendingEvent>> PendingEvents(int limit);
  Status MarkDelivered(std::int64_t up_to_seq);
  Result<std::int64_t> CountPendingEvents();
  // Every event in seq order, delivered or not (the audit log).
  Result<std::vector<PendingEvent>> AllEvents();
  // Queues `events` and sets `setting_key` to `setting_value`, atomically.
  Status QueueEvents(const std::vector<std::string>& events, const std::string& setting_key,
                     const std::string& setting_value);
  // Queues `events` and sets every (key, value) of `settings`, atomically.
  Status QueueEvents(const std::vector<std::string>& events,
                     const std::vector<std::pair<std::string, std::string>>& settings);

  // Audit checkpoints and pruning (state_db_audit.cc).
  Result<AuditHead> GetAuditHead();
  // Stores a signed checkpoint; one already stored at its seq is kept.
  Status StoreCheckpoint(const manifest::AuditCheckpoint& c);
  // In seq order.
  Result<std::vector<CheckpointRow>> Checkpoints();
  // Unsent checkpoints of seq <= `up_to_seq`, in seq order.
  Result<std::vector<CheckpointRow>> UnsentCheckpoints(std::int64_t up_to_seq);
  Status MarkCheckpointsSent(std::int64_t up_to_seq);
  // The seq up to which every event was delivered (0: none).
  Result<std::int64_t> DeliveredThrough();
  // Queues `event_json` (the audit-pruned record), then deletes the events of
  // `range` and the checkpoints before range.to, atomically.
  Status PruneEvents(const AuditPruneRange& range, const std::string& event_json);

  // Recomputes the chain over every event and checks the stored checkpoints
  // (their heads, and their signatures when `device_key` is given, for the
  // log of the device_id setting) and that the log still reaches the highest
  // seq reported to the server. The first problem, or nullopt.
  Result<std::optional<AuditBreak>> VerifyAuditChain(
      const std::optional<manifest::Key>& device_key = std::nullopt);

 private:
  explicit StateDb(std::unique_ptr<Database> db) : db_(std::move(db)) {}
  Status InsertEvent(const std::string& event_json);
  // Where a log whose first stored event is `first_seq` starts: the genesis
  // link, or the anchor checkpoint at first_seq - 1 (nullopt: none).
  Result<std::optional<AuditHead>> AuditStart(std::int64_t first_seq);
  Result<std::optional<AuditBreak>> VerifyCheckpoints(const std::vector<PendingEvent>& events,
                                                      const std::optional<manifest::Key>& key);
  // Adds one to an integer column of deployment `id` (a fixed name, never
  // input) and queues the event, atomically.
  Result<int> IncrementCounter(std::int64_t id, const char* column, const std::string& event_json);
  Result<std::vector<DeploymentRow>> QueryDeployments(const std::string& where_and_order,
                                                      const std::string& bind_text, int limit);
  std::unique_ptr<Database> db_;
};

}  // namespace ota::agent

#endif  // OTA_AGENT_SRC_STATE_DB_H_
