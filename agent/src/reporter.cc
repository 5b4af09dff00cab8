#include "reporter.h"

#include <nlohmann/json.hpp>

#include "identity.h"
#include "ota/manifest/canonical_json.h"

namespace ota::agent {
namespace {
constexpr int kBatchSize = 100;

// The report body; events that cannot be encoded canonically (they never
// should) are replaced by a marker so that the queue cannot get stuck.
Result<std::string> SignedReport(const std::string& device_id,
                                 const std::vector<PendingEvent>& pending,
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
  OTA_ASSIGN_OR_RETURN(std::string canonical, manifest::CanonicalJson(report));
  OTA_ASSIGN_OR_RETURN(std::string signature, verifier::SignBytes(identity, canonical));
  return nlohmann::json{{"report", std::move(report)}, {"signature", signature}}.dump();
}

}  // namespace

Result<int> DeliverEvents(Env& env, StateDb& db, const std::string& server_url,
                          const std::string& device_id, const verifier::PrivateKey& identity,
                          const EnrollmentClaims& claims) {
  int delivered = 0;
  while (true) {
    OTA_ASSIGN_OR_RETURN(auto pending, db.PendingEvents(kBatchSize));
    if (pending.empty()) return delivered;
    OTA_TRY(EnsureServerEnrollment(env, db, server_url, device_id, identity, claims));
    HttpRequest request;
    request.method = "POST";
    request.url = server_url + "/v1/reports";
    request.headers = {{"Content-Type", "application/json"}};
    OTA_ASSIGN_OR_RETURN(request.body, SignedReport(device_id, pending, identity));
    request.max_body_bytes = 64 * 1024;
    OTA_ASSIGN_OR_RETURN(HttpResponse response, env.http->Fetch(request));
    const std::int64_t last = pending.back().seq;
    if (response.status == 409) {
      // A replay: the server already accepted this seq (its answer was lost)
      // when its last_seq is at or above ours.
      auto answer = nlohmann::json::parse(response.body, nullptr, false);
      if (answer.is_object() && answer.value("code", "") == "replay" &&
          answer.contains("last_seq") && answer["last_seq"].is_number_integer() &&
          answer["last_seq"].get<std::int64_t>() >= last) {
        OTA_TRY(db.MarkDelivered(last));
        delivered += static_cast<int>(pending.size());
        continue;
      }
    }
    if (response.status == 403) (void)ForgetServerEnrollment(db);
    if (response.status != 200) {
      return MakeError(ErrorCode::kRetryLater, "event report rejected with HTTP " +
                                                   std::to_string(response.status) + ": " +
                                                   response.body.substr(0, 200));
    }
    OTA_TRY(db.MarkDelivered(last));
    delivered += static_cast<int>(pending.size());
  }
}

}  // namespace ota::agent
