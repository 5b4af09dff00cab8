#include "rate_limit.h"

#include <algorithm>
#include <cmath>

namespace ota::server {
namespace {

double Refilled(double tokens, std::chrono::steady_clock::duration elapsed, const RateLimits& l) {
  const double seconds = std::chrono::duration<double>(elapsed).count();
  return std::min(l.burst, tokens + std::max(0.0, seconds) * l.per_second);
}

}  // namespace

void RateLimiter::ForgetIdleClients(std::chrono::steady_clock::time_point now) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    if (Refilled(it->second.tokens, now - it->second.last, limits_) >= limits_.burst) {
      it = buckets_.erase(it);
    } else {
      ++it;
    }
  }
}

bool RateLimiter::Allow(const std::string& client, std::int64_t* retry_after_seconds) {
  const auto now = clock_.Monotonic();
  std::lock_guard lock(mu_);
  auto it = buckets_.find(client);
  if (it == buckets_.end()) {
    if (buckets_.size() >= limits_.max_clients) ForgetIdleClients(now);
    if (buckets_.size() >= limits_.max_clients) {
      *retry_after_seconds = 1;
      return false;
    }
    it = buckets_.emplace(client, Bucket{limits_.burst, now}).first;
  }
  Bucket& b = it->second;
  b.tokens = Refilled(b.tokens, now - b.last, limits_);
  b.last = now;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return true;
  }
  const double wait = limits_.per_second > 0 ? (1 - b.tokens) / limits_.per_second : 3600;
  *retry_after_seconds = std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(wait)));
  return false;
}

}  // namespace ota::server
