#include "reporter.h"

#include <charconv>
#include <nlohmann/json.hpp>

#include "identity.h"
#include "json_fields.h"
#include "ota/manifest/canonical_json.h"

namespace ota::agent {
namespace {
constexpr int kBatchSize = 100;
constexpr const char* kHighestSentSetting = kReportHighestSentSetting;

Result<std::int64_t> HighestSentSeq(StateDb& db) {
  OTA_ASSIGN_OR_RETURN(std::optional<std::string> text, db.GetSetting(kHighestSentSetting));
  std::int64_t seq = 0;
  if (!text) return seq;
  auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), seq);
  if (ec != std::errc() || ptr != text->data() + text->size() || seq < 0) return 0;
  return seq;
}

// A 409 replay answer says the server already accepted up to `last_seq`. It
// is believed only when that covers the report just sent and does not exceed
// what this device ever sent: a server (or anyone in between) claiming a
// higher seq would otherwise make the agent drop events it never delivered.
bool IsReplayOf(const nlohmann::json& answer, std::int64_t last, std::int64_t highest_sent) {
  if (StringField(answer, "code") != "replay") return false;
  const std::optional<std::int64_t> server_last = IntField(answer, "last_seq");
  return server_last && *server_last >= last && *server_last <= highest_sent;
}

std::string Excerpt(const std::string& body) { return body.substr(0, 200); }

// The report body; events that cannot be encoded canonically (they never
// should) are replaced by a marker so that the queue cannot get stuck. Each
// event is its stored body with "seq" and "chain" added, so the server can
// recompute the link (version 2: over the canonical JSON of the event without
// those two). `checkpoints` (signed heads of the device's log) go with it
// when not empty.
Result<std::string> SignedReport(const std::string& device_id,
                                 const std::vector<PendingEvent>& pending,
                                 const std::vector<CheckpointRow>& checkpoints,
                                 const verifier::PrivateKey& identity) {
  nlohmann::json report = {
      {"device_id", device_id}, {"seq", pending.back().seq}, {"events", nlohmann::json::array()}};
  for (const PendingEvent& e : pending) {
    nlohmann::json body = nlohmann::json::parse(e.body, nullptr, /*allow_exceptions=*/false);
    if (!body.is_object() || !manifest::CanonicalJson(body).ok()) {
      body = nlohmann::json::object({{"type", "corrupt-event"}});
    }
    body["seq"] = e.seq;
    if (!e.chain.empty()) body["chain"] = e.chain;  // Audit chain link.
    report["events"].push_back(std::move(body));
  }
  if (!checkpoints.empty()) {
    nlohmann::json list = nlohmann::json::array();
    for (const CheckpointRow& row : checkpoints) {
      const manifest::AuditCheckpoint& c = row.checkpoint;
      list.push_back({{"seq", c.seq},
                      {"head", c.head},
                      {"time", c.time},
                      {"keyid", c.keyid},
                      {"signature", c.signature}});
    }
    report["checkpoints"] = std::move(list);
  }
  OTA_ASSIGN_OR_RETURN(std::string canonical, manifest::CanonicalJson(report));
  OTA_ASSIGN_OR_RETURN(std::string signature, verifier::SignBytes(identity, canonical));
  return nlohmann::json{{"report", std::move(report)}, {"signature", signature}}.dump();
}

// A server that predates checkpoints refuses the field by name; the report
// then goes again without them (they stay unsent).
bool RefusesCheckpoints(const HttpResponse& response) {
  return response.status == 400 &&
         response.body.find("unknown field checkpoints") != std::string::npos;
}

}  // namespace

Result<int> DeliverEvents(Env& env, StateDb& db, const std::string& server_url,
                          const std::string& device_id, const verifier::PrivateKey& identity,
                          const EnrollmentClaims& claims) {
  int delivered = 0;
  bool send_checkpoints = true;
  while (true) {
    OTA_ASSIGN_OR_RETURN(auto pending, db.PendingEvents(kBatchSize));
    if (pending.empty()) return delivered;
    OTA_TRY(EnsureServerEnrollment(env, db, server_url, device_id, identity, claims));
    std::vector<CheckpointRow> checkpoints;
    if (send_checkpoints) {
      OTA_ASSIGN_OR_RETURN(checkpoints, db.UnsentCheckpoints(pending.back().seq));
    }
    HttpRequest request;
    request.method = "POST";
    request.url = server_url + "/v1/reports";
    request.headers = {{"Content-Type", "application/json"}};
    OTA_ASSIGN_OR_RETURN(request.body, SignedReport(device_id, pending, checkpoints, identity));
    request.max_body_bytes = 64 * 1024;
    const std::int64_t last = pending.back().seq;
    const auto count = static_cast<std::int64_t>(pending.size());
    // Recorded before the report leaves: a replay answer is believed only up
    // to what this device has actually sent, in this run or an earlier one.
    OTA_ASSIGN_OR_RETURN(std::int64_t highest_sent, HighestSentSeq(db));
    if (last > highest_sent) {
      OTA_TRY(db.SetSetting(kHighestSentSetting, std::to_string(last)));
      highest_sent = last;
    }
    OTA_ASSIGN_OR_RETURN(HttpResponse response, env.http->Fetch(request));
    const auto answer = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
    if (response.status == 409 && IsReplayOf(answer, last, highest_sent)) {
      // The server already holds this seq (its answer to an earlier send was
      // lost).
      OTA_TRY(db.MarkDelivered(last));
      if (!checkpoints.empty()) OTA_TRY(db.MarkCheckpointsSent(last));
      delivered += static_cast<int>(count);
      continue;
    }
    if (!checkpoints.empty() && RefusesCheckpoints(response)) {
      send_checkpoints = false;
      continue;
    }
    if (response.status == 403) (void)ForgetServerEnrollment(db);
    if (response.status != 200) {
      return MakeError(ErrorCode::kRetryLater, "event report rejected with HTTP " +
                                                   std::to_string(response.status) + ": " +
                                                   Excerpt(response.body));
    }
    if (IntField(answer, "last_seq") != last || IntField(answer, "accepted") != count) {
      // Not an acknowledgement of this report (a proxy's page, another
      // server): keep the events; a resend is refused as a replay if the
      // server did store them.
      return MakeError(
          ErrorCode::kRetryLater,
          "event report of seq " + std::to_string(last) + " (" + std::to_string(count) +
              " events) answered 200 without acknowledging it: " + Excerpt(response.body));
    }
    OTA_TRY(db.MarkDelivered(last));
    if (!checkpoints.empty()) OTA_TRY(db.MarkCheckpointsSent(last));
    delivered += static_cast<int>(count);
  }
}

}  // namespace ota::agent
