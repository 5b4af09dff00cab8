// Webhooks: rollout pauses, halts and rollback orders (and drill reports)
// announced to receivers configured per server, signed with an HMAC and
// retried with backoff (docs/operations.md, "Webhooks"). Messages are written
// to the database's outbox in the transaction of the change they announce, so
// a change is never announced without having happened nor lost by a crash;
// any node may deliver, each attempt claimed by one node.
#ifndef OTA_SERVER_WEBHOOKS_H_
#define OTA_SERVER_WEBHOOKS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ota/common/env.h"
#include "ota/common/http.h"
#include "ota/common/result.h"

namespace ota::server {

class FleetStore;
class ServerMetrics;

// The event a rollout action announces ("rollout.paused", "rollout.halted",
// "rollout.rollback-ordered"), or "" for actions that announce nothing.
std::string_view WebhookEventForAction(std::string_view action);

// "sha256=" and the lower-case hex HMAC-SHA256, keyed with `secret`, of
// "<timestamp>.<body>" (what X-ModelOTA-Signature carries).
std::string WebhookSignature(std::string_view secret, std::int64_t timestamp,
                             std::string_view body);

// Seconds to wait after the `attempts`-th failed attempt: 30 s doubling to
// at most an hour.
std::int64_t WebhookRetryDelaySeconds(std::int64_t attempts);
// Attempts before a message is given up (about 5.5 hours of retries).
inline constexpr std::int64_t kWebhookMaxAttempts = 12;
// How long a claimed attempt keeps other nodes off the message.
inline constexpr std::int64_t kWebhookClaimSeconds = 60;
// The shortest secret accepted (bytes).
inline constexpr std::size_t kWebhookMinSecretBytes = 16;

// A message claimed for one delivery attempt.
struct WebhookDelivery {
  std::int64_t id = 0;
  std::string target;
  std::string event;
  std::string body;
  std::int64_t attempts = 0;  // Attempts made before this one.
};

// Delivers due messages from the store's outbox. Not thread-safe: one
// delivering thread per process.
class WebhookDispatcher {
 public:
  WebhookDispatcher(FleetStore& store, Clock& clock, std::string secret, ServerMetrics* metrics,
                    std::unique_ptr<HttpClient> http);
  // Attempts every message due now once; returns how many were attempted.
  Result<int> DeliverDue();

 private:
  FleetStore& store_;
  Clock& clock_;
  std::string secret_;
  ServerMetrics* metrics_;
  std::unique_ptr<HttpClient> http_;
};

}  // namespace ota::server

#endif  // OTA_SERVER_WEBHOOKS_H_
