// The webhook outbox of the fleet database (webhooks.h): messages written in
// the transaction of the change they announce, claimed one attempt at a time.
#include <algorithm>
#include <chrono>
#include <utility>

#include "fleet_store.h"
#include "webhooks.h"

namespace ota::server {

void FleetStore::SetWebhookTargets(std::vector<std::string> urls) {
  std::lock_guard lock(mu_);
  webhook_targets_ = std::move(urls);
}

Status FleetStore::EnqueueWebhookLocked(const std::string& event, const nlohmann::json& body,
                                        std::int64_t now) {
  if (webhook_targets_.empty()) return Ok();
  const std::string text = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  OTA_ASSIGN_OR_RETURN(Statement ins,
                       db_->Prepare("INSERT INTO webhook_outbox (target, event, body, created_at, "
                                    "next_attempt_at) VALUES (?, ?, ?, ?, ?)"));
  for (const std::string& target : webhook_targets_) {
    ins.Bind(1, target).Bind(2, event).Bind(3, text).Bind(4, now).Bind(5, now);
    OTA_TRY(ins.Run());
    ins.Reset();
  }
  return Ok();
}

Result<bool> FleetStore::EnqueueWebhookOnce(const std::string& key, const std::string& event,
                                            const nlohmann::json& body) {
  std::lock_guard lock(mu_);
  if (webhook_targets_.empty()) return false;
  bool written = false;
  OTA_TRY(InTransaction(*db_, [&]() -> Status {
    const std::string setting = "webhook-once/" + key;
    OTA_ASSIGN_OR_RETURN(Statement q, db_->Prepare("SELECT 1 FROM server_settings WHERE name = ?"));
    q.Bind(1, setting);
    OTA_ASSIGN_OR_RETURN(bool seen, q.Step());
    if (seen) return Ok();
    OTA_TRY(WriteSetting(*db_, setting, event));
    written = true;
    return EnqueueWebhookLocked(event, body, Now());
  }));
  return written;
}

Result<std::vector<WebhookDelivery>> FleetStore::ClaimDueWebhooks(std::int64_t now,
                                                                  std::size_t limit,
                                                                  std::int64_t lease_seconds) {
  std::lock_guard lock(mu_);
  std::vector<WebhookDelivery> out;
  OTA_TRY(InTransaction(*db_, [&]() -> Status {
    // Moving next_attempt_at past the lease claims the attempt: another node
    // (or a pass of this one) finds the message due again only if this
    // attempt never finished.
    OTA_ASSIGN_OR_RETURN(
        Statement q,
        db_->Prepare("UPDATE webhook_outbox SET next_attempt_at = ? WHERE id IN (SELECT id FROM "
                     "webhook_outbox WHERE delivered_at IS NULL AND failed_at IS NULL AND "
                     "next_attempt_at <= ? ORDER BY id LIMIT ?) RETURNING id, target, event, "
                     "body, attempts"));
    q.Bind(1, now + lease_seconds).Bind(2, now).Bind(3, static_cast<std::int64_t>(limit));
    while (true) {
      OTA_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      out.push_back(
          {q.ColumnInt(0), q.ColumnText(1), q.ColumnText(2), q.ColumnText(3), q.ColumnInt(4)});
    }
    return Ok();
  }));
  std::sort(out.begin(), out.end(),
            [](const WebhookDelivery& a, const WebhookDelivery& b) { return a.id < b.id; });
  return out;
}

Result<std::string> FleetStore::FinishWebhook(const WebhookDelivery& d,
                                              const std::optional<std::string>& error,
                                              std::int64_t now) {
  std::lock_guard lock(mu_);
  const std::int64_t attempts = d.attempts + 1;
  std::string outcome;
  OTA_TRY(InTransaction(*db_, [&]() -> Status {
    if (!error) {
      outcome = "delivered";
      OTA_ASSIGN_OR_RETURN(Statement u, db_->Prepare("UPDATE webhook_outbox SET attempts = ?, "
                                                     "delivered_at = ?, last_error = NULL "
                                                     "WHERE id = ?"));
      u.Bind(1, attempts).Bind(2, now).Bind(3, d.id);
      return u.Run();
    }
    const bool give_up = attempts >= kWebhookMaxAttempts;
    outcome = give_up ? "failed" : "retry";
    OTA_ASSIGN_OR_RETURN(
        Statement u,
        db_->Prepare("UPDATE webhook_outbox SET attempts = ?, last_error = ?, next_attempt_at = "
                     "?, failed_at = ? WHERE id = ?"));
    u.Bind(1, attempts).Bind(2, error->substr(0, 500));
    u.Bind(3, now + WebhookRetryDelaySeconds(attempts));
    if (give_up) {
      u.Bind(4, now);
    } else {
      u.BindNull(4);
    }
    u.Bind(5, d.id);
    return u.Run();
  }));
  return outcome;
}

}  // namespace ota::server
