#include "download_governor.h"

#include <algorithm>
#include <utility>

namespace ota::agent {
namespace {

constexpr std::chrono::seconds kRecheckEvery{1};
// Longest single sleep, so that a cancellation is seen promptly.
constexpr std::chrono::milliseconds kSleepSlice{100};

Status Cancelled() { return MakeError(ErrorCode::kCancelled, "download cancelled by the app"); }

}  // namespace

// Why the rules hold the download now (nullopt: they do not). A host that
// cannot say what the conditions are holds it too.
std::optional<std::string> HeldBecause(const DownloadRules& rules, Clock& clock) {
  Result<manifest::HostConditions> conditions =
      rules.conditions ? rules.conditions()
                       : Result<manifest::HostConditions>(manifest::HostConditions{});
  if (!conditions.ok()) return conditions.error().message;
  return DownloadBlocked(rules.policy, *conditions, rules.bytes, rules.space_needed, clock.Now());
}

Status DownloadMayStart(const DownloadRules& rules, Clock& clock) {
  if (rules.cancel != nullptr && rules.cancel->load()) return Cancelled();
  if (auto held = HeldBecause(rules, clock)) {
    return MakeError(ErrorCode::kRetryLater, "waiting to download: " + *held);
  }
  return Ok();
}

GovernedHttpClient::GovernedHttpClient(HttpClient& base, Clock& clock, DownloadRules rules)
    : base_(base), clock_(clock), rules_(std::move(rules)) {}

Status GovernedHttpClient::Check() {
  if (rules_.cancel != nullptr && rules_.cancel->load()) return Cancelled();
  const auto now = clock_.Monotonic();
  if (!rules_.conditions || now - last_check_ < kRecheckEvery) return Ok();
  last_check_ = now;
  if (auto held = HeldBecause(rules_, clock_)) {
    // The part file stays: the next cycle resumes where this one stopped.
    return MakeError(ErrorCode::kRetryLater, "download paused: " + *held);
  }
  return Ok();
}

Status GovernedHttpClient::Throttle(std::uint64_t n) {
  const std::uint64_t cap = rules_.max_bytes_per_second;
  if (cap == 0) return Ok();
  if (!started_) {
    started_ = true;
    window_start_ = clock_.Monotonic();
  }
  window_bytes_ += n;
  // When the bytes so far may be done at the cap, from the window's start.
  const auto due =
      window_start_ + std::chrono::microseconds(static_cast<std::int64_t>(
                          static_cast<double>(window_bytes_) * 1e6 / static_cast<double>(cap)));
  while (true) {
    const auto now = clock_.Monotonic();
    if (now >= due) break;
    if (rules_.cancel != nullptr && rules_.cancel->load()) return Cancelled();
    const auto wait =
        std::min(std::chrono::ceil<std::chrono::milliseconds>(due - now), kSleepSlice);
    clock_.SleepFor(wait);
    throttled_ += wait;
  }
  return Ok();
}

Result<HttpResponse> GovernedHttpClient::Fetch(const HttpRequest& request,
                                               const HttpBodySink& sink) {
  OTA_TRY(Check());
  if (!sink) return base_.Fetch(request, sink);
  // A new transfer restarts the cap's account (a retry after a backoff does
  // not get to burst).
  started_ = false;
  window_bytes_ = 0;
  return base_.Fetch(request, [&](std::span<const std::uint8_t> bytes) -> Status {
    OTA_TRY(sink(bytes));
    OTA_TRY(Throttle(bytes.size()));
    return Check();
  });
}

}  // namespace ota::agent
