#include "webhooks.h"

#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <utility>

#include "fleet_store.h"
#include "metrics.h"
#include "ota/common/hex.h"

namespace ota::server {
namespace {

constexpr std::int64_t kFirstRetrySeconds = 30;
constexpr std::int64_t kLongestRetrySeconds = 3600;
// Messages attempted per pass.
constexpr std::size_t kDeliveriesPerPass = 50;

std::int64_t UnixNow(const Clock& clock) {
  return std::chrono::duration_cast<std::chrono::seconds>(clock.Now().time_since_epoch()).count();
}

}  // namespace

std::string_view WebhookEventForAction(std::string_view action) {
  if (action == "pause") return "rollout.paused";
  if (action == "halt") return "rollout.halted";
  if (action == "rollback") return "rollout.rollback-ordered";
  return "";
}

std::string WebhookSignature(std::string_view secret, std::int64_t timestamp,
                             std::string_view body) {
  const std::string message = std::to_string(timestamp) + "." + std::string(body);
  std::uint8_t mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(secret.data()),
                              secret.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(message.data()),
                                message.size());
  crypto_auth_hmacsha256_final(&state, mac);
  return "sha256=" + HexEncode(std::span<const std::uint8_t>(mac));
}

std::int64_t WebhookRetryDelaySeconds(std::int64_t attempts) {
  std::int64_t delay = kFirstRetrySeconds;
  for (std::int64_t i = 1; i < attempts && delay < kLongestRetrySeconds; ++i) delay *= 2;
  return std::min(delay, kLongestRetrySeconds);
}

WebhookDispatcher::WebhookDispatcher(FleetStore& store, Clock& clock, std::string secret,
                                     ServerMetrics* metrics, std::unique_ptr<HttpClient> http)
    : store_(store),
      clock_(clock),
      secret_(std::move(secret)),
      metrics_(metrics),
      http_(std::move(http)) {}

Result<int> WebhookDispatcher::DeliverDue() {
  const std::int64_t now = UnixNow(clock_);
  OTA_ASSIGN_OR_RETURN(std::vector<WebhookDelivery> due,
                       store_.ClaimDueWebhooks(now, kDeliveriesPerPass, kWebhookClaimSeconds));
  for (const WebhookDelivery& d : due) {
    const std::int64_t sent_at = UnixNow(clock_);
    HttpRequest req;
    req.method = "POST";
    req.url = d.target;
    req.body = d.body;
    req.headers = {{"Content-Type", "application/json"},
                   {"User-Agent", "ota-server"},
                   {"X-ModelOTA-Event", d.event},
                   {"X-ModelOTA-Delivery", std::to_string(d.id)},
                   {"X-ModelOTA-Timestamp", std::to_string(sent_at)},
                   {"X-ModelOTA-Signature", WebhookSignature(secret_, sent_at, d.body)}};
    req.max_body_bytes = 64 * 1024;
    req.connect_timeout = std::chrono::seconds(5);
    req.total_timeout = std::chrono::seconds(10);
    auto res = http_->Fetch(req);
    std::optional<std::string> error;
    if (!res.ok()) {
      error = res.error().message;
    } else if (res->status < 200 || res->status >= 300) {
      error = "answered HTTP " + std::to_string(res->status);
    }
    OTA_ASSIGN_OR_RETURN(std::string outcome, store_.FinishWebhook(d, error, UnixNow(clock_)));
    if (metrics_ != nullptr) metrics_->CountWebhookDelivery(outcome);
    if (error) {
      std::fprintf(stderr, "ota-server: webhook %s #%lld to %s: %s (%s)\n", d.event.c_str(),
                   static_cast<long long>(d.id), d.target.c_str(), error->c_str(), outcome.c_str());
    }
  }
  return static_cast<int>(due.size());
}

}  // namespace ota::server
