// Per-client token buckets for what an unauthenticated client can reach
// (device enrollment), so that one source cannot flood the server.
#ifndef OTA_SERVER_RATE_LIMIT_H_
#define OTA_SERVER_RATE_LIMIT_H_

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "ota/common/env.h"

namespace ota::server {

struct RateLimits {
  // Requests a client may make at once, and how many it regains per second.
  double burst = 60;
  double per_second = 1;
  // Clients remembered at most; memory stays bounded whatever the number of
  // source addresses. A new client past it is refused until buckets refill.
  std::size_t max_clients = 4096;
};

// Thread-safe.
class RateLimiter {
 public:
  RateLimiter(Clock& clock, RateLimits limits) : clock_(clock), limits_(limits) {}

  // True if `client` may make one more request now (and counts it). False
  // otherwise, with the whole seconds until it may in *retry_after_seconds.
  bool Allow(const std::string& client, std::int64_t* retry_after_seconds);

 private:
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point last;
  };
  // Drops the buckets that have refilled completely (mu_ held).
  void ForgetIdleClients(std::chrono::steady_clock::time_point now);

  Clock& clock_;
  const RateLimits limits_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace ota::server

#endif  // OTA_SERVER_RATE_LIMIT_H_
