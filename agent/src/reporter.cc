#include "reporter.h"

#include <nlohmann/json.hpp>

namespace ota::agent {
namespace {
constexpr int kBatchSize = 100;
}  // namespace

Result<int> DeliverEvents(Env& env, StateDb& db, const std::string& events_url,
                          const std::string& device_id) {
  int delivered = 0;
  while (true) {
    OTA_ASSIGN_OR_RETURN(auto pending, db.PendingEvents(kBatchSize));
    if (pending.empty()) return delivered;
    nlohmann::json batch = {{"device_id", device_id}, {"events", nlohmann::json::array()}};
    for (const PendingEvent& e : pending) {
      nlohmann::json body = nlohmann::json::parse(e.body, nullptr, /*allow_exceptions=*/false);
      if (!body.is_object()) body = nlohmann::json::object({{"type", "corrupt-event"}});
      body["seq"] = e.seq;
      if (!e.chain.empty()) body["chain"] = e.chain;
      batch["events"].push_back(std::move(body));
    }
    HttpRequest request;
    request.method = "POST";
    request.url = events_url;
    request.headers = {{"Content-Type", "application/json"}};
    request.body = batch.dump();
    request.max_body_bytes = 64 * 1024;
    OTA_ASSIGN_OR_RETURN(HttpResponse response, env.http->Fetch(request));
    if (response.status != 200) {
      return MakeError(ErrorCode::kRetryLater, "event report rejected with HTTP " +
                                                   std::to_string(response.status) + ": " +
                                                   response.body.substr(0, 200));
    }
    OTA_TRY(db.MarkDelivered(pending.back().seq));
    delivered += static_cast<int>(pending.size());
  }
}

}  // namespace ota::agent
