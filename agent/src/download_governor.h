// The rules a running download obeys beyond its own checks: the app's
// cancellation, the policy's bandwidth cap, and the download conditions,
// re-read while bytes arrive (a phone that leaves Wi-Fi stops downloading).
// A decorator of the HTTP seam, so it governs libcurl and a host-supplied
// transport alike, and sleeps only through the injected clock.
#ifndef OTA_AGENT_SRC_DOWNLOAD_GOVERNOR_H_
#define OTA_AGENT_SRC_DOWNLOAD_GOVERNOR_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "ota/agent/conditions.h"
#include "ota/common/env.h"
#include "ota/common/http.h"

namespace ota::agent {

struct DownloadRules {
  const std::atomic<bool>* cancel = nullptr;  // Set: stop with kCancelled.
  std::uint64_t max_bytes_per_second = 0;     // 0: no cap.
  // Re-checked about once a second of transfer; null: not re-checked.
  ConditionsSource conditions;
  manifest::DownloadPolicy policy;
  std::uint64_t bytes = 0;         // The download's size, for the policy's rules.
  std::uint64_t space_needed = 0;  // For the host's free storage.
};

class GovernedHttpClient : public HttpClient {
 public:
  GovernedHttpClient(HttpClient& base, Clock& clock, DownloadRules rules);
  using HttpClient::Fetch;
  Result<HttpResponse> Fetch(const HttpRequest& request, const HttpBodySink& sink) override;

  // Time spent holding the transfer back for the cap.
  std::chrono::milliseconds throttled() const { return throttled_; }

 private:
  Status Check();
  Status Throttle(std::uint64_t n);

  HttpClient& base_;
  Clock& clock_;
  DownloadRules rules_;
  std::chrono::steady_clock::time_point last_check_{};
  // The cap's account: bytes since `window_start_`.
  std::chrono::steady_clock::time_point window_start_{};
  std::uint64_t window_bytes_ = 0;
  bool started_ = false;
  std::chrono::milliseconds throttled_{0};
};

// Why a download may not start now (kRetryLater "waiting to download: ..."),
// or kCancelled; Ok when it may.
Status DownloadMayStart(const DownloadRules& rules, Clock& clock);

}  // namespace ota::agent

#endif  // OTA_AGENT_SRC_DOWNLOAD_GOVERNOR_H_
