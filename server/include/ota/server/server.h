// The ModelOTA reference server (`ota-server`): serves a repository folder
// over HTTP with byte ranges and entity tags, and stores device event reports
// in SQLite. docs/server-api.md describes the endpoints.
#ifndef OTA_SERVER_SERVER_H_
#define OTA_SERVER_SERVER_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ota/common/env.h"
#include "ota/common/result.h"
#include "ota/server/rollout_publisher.h"

namespace ota::server {

struct ServerOptions {
  // Folder served under /repo/. Must exist.
  std::string repo_dir;
  // IPv4 or IPv6 literal to listen on.
  std::string listen_address = "127.0.0.1";
  // 0 picks an ephemeral port; port() reports it after Start().
  int port = 8080;
  // SQLite database for events, created if missing.
  std::string db_path = "ota-server.db";
  // Worker threads handling connections.
  int threads = 8;
  // Fault injection for drills and tests: the first `fault_drop_count` GET
  // responses with a body for files under /repo/targets/ are cut off by
  // closing the connection after `fault_drop_after_bytes` body bytes. A count
  // of 0 turns it off.
  std::uint64_t fault_drop_after_bytes = 0;
  std::uint64_t fault_drop_count = 0;
  // Fault injection for tests: the first `fault_extra_count` GET responses
  // with a body for files under /repo/targets/ carry `fault_extra_bytes`
  // bytes after the file's (a bad mirror or captive portal sending more than
  // the signed length). 0 turns it off.
  std::uint64_t fault_extra_bytes = 0;
  std::uint64_t fault_extra_count = 0;
  // When false, one line per request goes to stderr:
  // "METHOD PATH STATUS BYTES DURATIONms".
  bool quiet = false;
  // Source of event receive times. Not owned; null means the system clock.
  Clock* clock = nullptr;
  // Signs and publishes rollout manifests. Not owned; null means rollouts
  // cannot be created or changed (operator actions answer 503).
  RolloutPublisher* publisher = nullptr;
  // How often the rollout controller runs on its own thread; 0 turns the
  // thread off (tests call RunControllerOnce instead).
  std::chrono::milliseconds controller_interval{0};
  // A connection must send its whole request head within this time (it
  // waits without a worker until then); then 408 and closed.
  std::chrono::milliseconds request_head_timeout{10'000};
  // Connections one client address may have waiting for their request head
  // at once; more are answered 503 and closed.
  std::size_t max_waiting_per_client = 64;
  // Enrollment requests (POST /v1/devices) per client address: a burst, then
  // this many per second; more are answered 429 with Retry-After.
  double enroll_burst = 60;
  double enroll_per_second = 1;
  // The server's audit key (Ed25519): signs checkpoints of the server audit
  // log and audit exports. Created (mode 0600) at the first start when
  // missing. "" means db_path + ".audit-key".
  std::string audit_key_path;
  // A checkpoint of the server audit log is signed when its head moved and
  // this long passed (by `clock`) since the last one; also at Stop() and
  // with every export.
  std::chrono::seconds audit_checkpoint_interval{300};
  // How often the maintenance thread runs RunAuditMaintenance(); 0 turns the
  // thread off (tests call RunAuditMaintenance instead).
  std::chrono::milliseconds audit_maintenance_interval{0};
  // Device events received longer ago than this (by `clock`) are removed at
  // maintenance (docs/operations.md, "Retention"); 0 keeps them all.
  std::chrono::seconds event_retention{0};
  // Folder of drill reports served by GET /v1/drills: each sub-folder holding
  // a report.json (and timeline.svg) as `otactl drill run --out` writes
  // them. "" serves none (404).
  std::string drills_dir;
  // Webhook receivers (http:// or https:// URLs) told about rollout pauses,
  // halts and rollback orders (docs/operations.md, "Webhooks"). Every message
  // is signed with `webhook_secret` (at least 16 bytes; required with URLs).
  std::vector<std::string> webhook_urls;
  std::string webhook_secret;
  // How often the webhook thread delivers due messages; 0 turns the thread
  // off (tests call DeliverWebhooksOnce instead).
  std::chrono::milliseconds webhook_interval{0};
};

// The audit key file used for `options` (audit_key_path or its default).
std::string AuditKeyPath(const ServerOptions& options);

// The public half of the audit key at `key_path` as TUF key JSON (what
// GET /v1/audit/key serves). Errors as verifier::LoadPrivateKey.
Result<std::string> AuditPublicKeyJson(const std::string& key_path);

// Checks the server audit log stored in `db_path` (every link, body and
// checkpoint, signed by the key at `key_path`). Returns a summary when it is
// intact; kSecurity with the first problem when it is not.
Result<std::string> VerifyServerAuditLog(const std::string& db_path, const std::string& key_path);

// Prunes the server audit log stored in `db_path` behind its newest signed
// checkpoint before record `before_seq` (and before `before_time`, Unix
// seconds, when given), leaving an audit-pruned record and a new checkpoint
// signed with the key at `key_path` (docs/audit.md, "Pruning"). Returns a
// summary; kSecurity when the log does not verify (nothing removed),
// kNotFound when no checkpoint lies in range.
Result<std::string> PruneServerAuditLog(const std::string& db_path, const std::string& key_path,
                                        std::int64_t before_seq,
                                        std::optional<std::int64_t> before_time);

// A fleet enrollment token: what a new device presents to enroll
// (docs/security.md, "Enrollment").
struct EnrollmentTokenOptions {
  std::string name;               // [A-Za-z0-9._-]{1,64}, unique.
  std::uint64_t max_devices = 0;  // Devices it may enroll; 0: no limit.
  std::int64_t expires_at = 0;    // Unix seconds; 0: never.
};

// An operator token: its role decides what it may do (docs/security.md,
// "Operator roles").
struct OperatorTokenOptions {
  std::string name;             // [A-Za-z0-9._-]{1,64}, never reused.
  std::string role = "viewer";  // viewer, release-manager, auditor, administrator.
  std::int64_t expires_at = 0;  // Unix seconds; 0: 90 days from now.
};

// Operator tokens in the server database `db_path` (created and migrated if
// missing). CreateOperatorToken returns the token text, shown once; only its
// SHA-256 is stored. Errors: kInvalidArgument (bad or taken name, unknown
// role, expiry not within 3650 days from now), kIo. The name-only form makes
// an administrator token that expires in 90 days.
Result<std::string> CreateOperatorToken(const std::string& db_path,
                                        const OperatorTokenOptions& options);
Result<std::string> CreateOperatorToken(const std::string& db_path, const std::string& name);
// kNotFound if no unrevoked token has that name.
Status RevokeOperatorToken(const std::string& db_path, const std::string& name);
// One line per token: name, role, creator, expiry, revoked (never secrets).
Result<std::vector<std::string>> DescribeOperatorTokens(const std::string& db_path);

// Enrollment tokens in the server database, likewise: the token text is
// returned once and only its SHA-256 is stored. Errors: kInvalidArgument (bad
// or taken name, negative limits), kNotFound (revoke: no such name), kIo.
Result<std::string> CreateEnrollmentToken(const std::string& db_path,
                                          const EnrollmentTokenOptions& options);
Status RevokeEnrollmentToken(const std::string& db_path, const std::string& name);
// One line per token: name, devices enrolled / limit, expiry, revoked.
Result<std::vector<std::string>> DescribeEnrollmentTokens(const std::string& db_path);

// Thread-safety: Start() and Stop() are called from one controlling thread;
// requests are served concurrently on internal threads.
class Server {
 public:
  explicit Server(ServerOptions options);
  // Stops the server if it is still running.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Opens the database (applying migrations), binds the socket and starts
  // serving on a background thread; returns once connections are accepted.
  // Errors: kInvalidArgument (bad options, repo folder missing), kIo (cannot
  // bind, cannot open the database), kRestartDeployment (database corrupt or
  // newer than this build). Call at most once.
  Status Start();

  // The bound port; 0 before a successful Start().
  int port() const;

  // Stops accepting, lets in-flight requests finish (a download still running
  // is cut short), joins the serving thread and closes the database.
  // Idempotent.
  void Stop();

  // One pass of the rollout controller (what the controller thread runs):
  // returns how many rollouts it changed. Requires a successful Start().
  // Several nodes on one PostgreSQL database elect one controller: on any
  // other node this is kRetryLater ("another server node runs the rollout
  // controller") until the leader's process or lock connection ends.
  Result<int> RunControllerOnce();

  // What the maintenance thread does about once a second: signs a
  // checkpoint of the server audit log when one is due (by the injected
  // clock) and records repository metadata changes. Requires Start().
  Status RunAuditMaintenance();
  // One webhook delivery pass (what the webhook thread runs): attempts every
  // due message once; returns how many were attempted.
  Result<int> DeliverWebhooksOnce();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ota::server

#endif  // OTA_SERVER_SERVER_H_
