// The fleet endpoints of ota-server: device enrollment and signed reports
// (devices), rollouts and fleet status (operators, bearer tokens), and the
// rollout controller. docs/server-api.md describes the wire format.
#ifndef OTA_SERVER_FLEET_API_H_
#define OTA_SERVER_FLEET_API_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "fleet_store.h"
#include "metrics.h"
#include "ota/common/env.h"
#include "ota/server/rollout_publisher.h"

namespace ota::server {

// An answer: HTTP status and JSON body.
struct ApiResponse {
  int status = 200;
  nlohmann::json body;
};

// {"error": message, "code": code}.
ApiResponse ApiError(int status, std::string_view code, std::string_view message);

// Thread-safe. Manifest changes (operator actions and the controller) are
// serialized by one mutex; report ingestion runs concurrently with them.
class FleetApi {
 public:
  FleetApi(FleetStore& store, Clock& clock, RolloutPublisher* publisher)
      : store_(store), clock_(clock), publisher_(publisher) {}

  // POST /v1/devices. `authorization` is the request's Authorization header
  // (a fleet enrollment token, needed for a device not yet enrolled).
  ApiResponse Enroll(std::string_view body, const std::string& authorization);
  // POST /v1/reports.
  ApiResponse Report(std::string_view body);

  // The operator behind an Authorization header value when its token is
  // valid now and its role holds `needed`; otherwise the 401/403 answer to
  // send (codes unauthorized, forbidden, token-expired, insufficient-role).
  std::optional<OperatorIdentity> Authorize(const std::string& authorization, Permission needed,
                                            ApiResponse* refusal);

  // Operator tokens (token_api.cc). `actor` is the calling administrator.
  // GET /v1/whoami.
  ApiResponse WhoAmI(const OperatorIdentity& who) const;
  // GET /v1/tokens.
  ApiResponse ListTokens();
  // POST /v1/tokens {"name", "role", "expires_in_days" | "expires_at"}.
  ApiResponse CreateToken(const std::string& actor, std::string_view body, Random& random);
  // DELETE /v1/tokens/<name>.
  ApiResponse RevokeToken(const std::string& actor, const std::string& name);

  // Operator endpoints; `actor` is the token name.
  ApiResponse ListRollouts();
  ApiResponse CreateRollout(const std::string& actor, std::string_view body);
  ApiResponse RolloutStatus(const std::string& rollout_id);
  ApiResponse RolloutAction(const std::string& actor, const std::string& rollout_id,
                            const std::string& action, std::string_view body);
  ApiResponse FleetStatus();

  // ---- Console views (fleet_views.cc): read-only operator endpoints ----
  // Query parameters as the HTTP layer parsed them (a name may repeat).
  using QueryParams = std::multimap<std::string, std::string>;
  // GET /v1/devices, GET /v1/devices/<id>, GET /v1/shadow.
  ApiResponse ListDevices(const QueryParams& params);
  ApiResponse GetDevice(const std::string& device_id, const QueryParams& params);
  ApiResponse ShadowSummary(const QueryParams& params);
  // GET /v1/drills and /v1/drills/<name>: drill reports written by `otactl
  // drill run --out <drills_dir>/<name>` ("" drills_dir: none configured,
  // 404). DrillTimeline answers 200 with the SVG text in *svg.
  ApiResponse ListDrills(const std::string& drills_dir);
  ApiResponse DrillReport(const std::string& drills_dir, const std::string& name);
  ApiResponse DrillTimeline(const std::string& drills_dir, const std::string& name,
                            std::string* svg);
  // POST /v1/live-drills: a live drill's outcome as a "live-drill" audit
  // record (live_drill_api.cc).
  ApiResponse RecordLiveDrill(const std::string& actor, std::string_view body);
  // Writes a "drill.finished" webhook message for each drill report in
  // `drills_dir` not announced before (with webhooks configured); returns
  // how many.
  Result<int> AnnounceNewDrills(const std::string& drills_dir);
  // Times database work and counts controller decisions into `metrics`
  // (not owned; may be null).
  void AttachMetrics(ServerMetrics* metrics) { metrics_ = metrics; }
  // GET /metrics: `process`'s counters and the fleet's gauges, in the
  // Prometheus text format (fleet_metrics.cc).
  Result<std::string> RenderMetrics(const ServerMetrics& process);

  // One controller pass over every rollout: applies kAdvance, kPause and
  // kHalt decisions (audited as actor "controller"). Returns how many
  // rollouts changed.
  Result<int> RunController();

 private:
  Result<std::map<std::size_t, rollout::StageCounts>> StageCountsOf(
      const manifest::RolloutManifest& m);
  // Publishes `next` (version bumped here) and stores it with an audit row.
  // `details` go into the audit record (with the manifest digests).
  ApiResponse Commit(RolloutRecord record, manifest::RolloutManifest next, const std::string& actor,
                     const std::string& action, const std::string& reason, nlohmann::json details);
  // An operator's advance (with "force": past the stage gate).
  ApiResponse Advance(RolloutRecord record, const nlohmann::json& doc, const std::string& who,
                      nlohmann::json details);
  // Records that the controller refused to advance `m`, once per reason.
  Status AuditRefusal(const manifest::RolloutManifest& m, const std::string& reason,
                      nlohmann::json evidence);
  std::int64_t Now() const;
  // The highest manifest version published for `model` (by any node), kept
  // in the database and raised before each publish, so that a version is
  // never reused even if storing a change failed after publishing it.
  Result<std::uint64_t> PublishedVersion(const std::string& model);
  Status ReservePublishedVersion(const std::string& model, std::uint64_t version);

  FleetStore& store_;
  Clock& clock_;
  RolloutPublisher* publisher_;
  ServerMetrics* metrics_ = nullptr;
  // Drill reports announced (or found announced) by this process.
  std::mutex drills_mu_;
  std::set<std::string> drills_settled_;
  // Taken before the store's cross-node change lock.
  std::mutex change_mu_;
};

}  // namespace ota::server

#endif  // OTA_SERVER_FLEET_API_H_
