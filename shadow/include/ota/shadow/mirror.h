// Live mirroring: the app hands real requests with the production model's
// output; the mirror replays a sample on the candidate model in the
// background and accumulates aggregate agreement metrics.
//
// Privacy: mirrored texts live only in the bounded in-memory queue until the
// replay of that request ends; they are never written anywhere, and Stats()
// exposes aggregates only.
//
// Cost: sampling is decided on the caller's thread in O(1); replays run on
// one background thread, at idle CPU priority (SCHED_IDLE, else nice 19),
// whose busy share of wall time is held under cpu_budget by pausing after
// each replay; when the queue is full, new
// samples are dropped (counted), never blocking the caller.
//
// Thread-safety: Offer, Stats, WaitIdle and Stop may be called from any
// thread. The candidate model and the checks must outlive the Mirror.
#ifndef OTA_SHADOW_MIRROR_H_
#define OTA_SHADOW_MIRROR_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "ota/common/env.h"
#include "ota/common/result.h"
#include "ota/runtime_adapter/runtime.h"
#include "ota/shadow/checks.h"

namespace ota::shadow {

struct MirrorOptions {
  double sample_rate = 0.01;       // Fraction of offers replayed, [0, 1].
  std::uint64_t seed = 0;          // Sampling stream: the same seed, the same choices.
  std::size_t queue_capacity = 8;  // [1, 1024]
  // Largest share of wall time the replay thread may be busy, (0, 1].
  double cpu_budget = 0.25;
  int max_new_tokens = 32;                    // Per replay, [1, 512].
  std::size_t max_request_bytes = 16u << 10;  // Larger offers are refused (counted).
  std::size_t max_output_bytes = 16u << 10;
  std::vector<const Check*> checks;  // App checks on both outputs; may be empty.
};

struct MirrorStats {
  std::uint64_t offered = 0;
  std::uint64_t sampled = 0;
  std::uint64_t dropped = 0;    // Sampled, but the queue was full.
  std::uint64_t too_large = 0;  // Sampled, but over the size limits.
  std::uint64_t replayed = 0;
  std::uint64_t failed = 0;  // The candidate returned an error.
  // Teacher-forced on the production output: candidate's top-1 equals the
  // production token, and the candidate's perplexity of that output.
  std::size_t positions = 0;
  std::optional<double> same_top1;
  std::optional<double> perplexity;
  // Candidate greedy output vs production output.
  std::optional<double> exact_match_rate;
  std::optional<double> mean_lcp_tokens;
  // App checks.
  std::optional<double> pass_rate_production;
  std::optional<double> pass_rate_candidate;
  std::uint64_t regressions = 0;
  double busy_seconds = 0;
  // Denominators of the rates, so that stats of several mirrors merge.
  std::uint64_t compared = 0;        // Replays with a greedy comparison.
  std::uint64_t checks_applied = 0;  // Check applications per model.
};

// The stats as JSON (aggregates only: counts and rates, never a text):
// {"offered", "sampled", "dropped", "too_large", "replayed", "failed",
// "positions", "same_top1", "perplexity", "exact_match_rate",
// "mean_lcp_tokens", "pass_rate_production", "pass_rate_candidate",
// "regressions", "busy_seconds", "compared", "checks_applied"}; undefined
// rates are null.
nlohmann::json MirrorStatsToJson(const MirrorStats& stats);
// The inverse, for stats written by another process: every field checked
// (kInvalidArgument naming the field). Unknown fields are refused.
Result<MirrorStats> MirrorStatsFromJson(const nlohmann::json& j);
// Sums of counts; rates weighted by their denominators.
MirrorStats MergeMirrorStats(const MirrorStats& a, const MirrorStats& b);

class Mirror {
 public:
  // Starts the replay thread. kInvalidArgument for options out of range.
  static Result<std::unique_ptr<Mirror>> Start(runtime_adapter::LoadedModel& candidate,
                                               MirrorOptions options, Clock& clock);
  ~Mirror();  // Stop().
  Mirror(const Mirror&) = delete;
  Mirror& operator=(const Mirror&) = delete;

  // Offers one request and the production output. Returns true when it was
  // sampled and queued for replay.
  bool Offer(std::string_view request, std::string_view production_output);

  MirrorStats Stats() const;

  // Blocks until the queue is empty and no replay runs.
  void WaitIdle();

  // Discards queued requests, finishes the running replay, joins the thread.
  void Stop();

 private:
  struct Item {
    std::string request;
    std::string output;
  };
  Mirror(runtime_adapter::LoadedModel& candidate, MirrorOptions options, Clock& clock);
  void Loop();
  void Replay(Item& item);
  bool Sample();

  runtime_adapter::LoadedModel& candidate_;
  const MirrorOptions options_;
  Clock& clock_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  bool busy_ = false;
  bool stop_ = false;
  std::uint64_t rng_state_;
  MirrorStats stats_;
  // Sums behind the rates.
  std::size_t top1_same_ = 0;
  double nll_ = 0;
  std::size_t exact_ = 0;
  std::size_t compared_ = 0;
  double lcp_sum_ = 0;
  std::size_t checks_applied_ = 0;
  std::size_t production_passed_ = 0;
  std::size_t candidate_passed_ = 0;
  std::thread worker_;
};

}  // namespace ota::shadow

#endif  // OTA_SHADOW_MIRROR_H_
