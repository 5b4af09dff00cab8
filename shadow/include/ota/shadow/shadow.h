// Shadow testing: the candidate model must prove itself against the current
// one before a device switches to it (docs/architecture.md, "Shadow tests").
//
// Run loads both models through the same Runtime, runs the eval set through
// both with the same prompts, measures (teacher-forced on the current
// model's greedy continuation) KL divergence and same-top-1 rate, greedy
// continuation agreement, reference perplexity, the app's checks and the
// cost, and decides pass / fail / inconclusive under the policy's gate.
//
// Calibration: with policy.calibrate, a second load of the current model is
// compared to the first (an A/A run); its divergence is the noise floor and
// the distribution thresholds apply above it.
//
// Memory: with policy.sequential_memory, the two models are never loaded at
// once: the current model's outputs and next-token distributions are cached
// (at most kMaxCachedDistributionBytes), the model is unloaded, then the A/A
// copy and the candidate are loaded in turn. Without it, the current model,
// the A/A copy and the candidate are loaded together and compared prompt by
// prompt, with nothing cached.
//
// Vocabulary: when the vocabulary fingerprints differ, token ids do not
// correspond, so distribution metrics are undefined; the report says so and
// the behaviour gate decides instead.
#ifndef OTA_SHADOW_SHADOW_H_
#define OTA_SHADOW_SHADOW_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "ota/common/env.h"
#include "ota/common/result.h"
#include "ota/runtime_adapter/runtime.h"
#include "ota/shadow/eval_set.h"
#include "ota/shadow/policy.h"
#include "ota/shadow/report.h"

namespace ota::shadow {

inline constexpr std::uint64_t kMaxCachedDistributionBytes = 1ull << 30;

// Cooperative cancellation: Cancel() from any thread; Run checks
// Cancelled() between model calls (prompts, reference chunks, loads) and
// returns an inconclusive report whose reason is reason().
//
// A token may also poll a condition (PollWith, set before Run starts): each
// Cancelled() call evaluates it on the calling thread, and once it returns
// true the token stays cancelled. The agent polls "an app leased the model"
// this way, so a run stops within one model call of the lease.
class CancelToken {
 public:
  CancelToken() = default;
  explicit CancelToken(std::string reason) : reason_(std::move(reason)) {}
  void Cancel() { cancelled_.store(true, std::memory_order_release); }
  bool Cancelled() const {
    if (cancelled_.load(std::memory_order_acquire)) return true;
    if (poll_ && poll_()) {
      cancelled_.store(true, std::memory_order_release);
      return true;
    }
    return false;
  }
  // Not thread-safe: call before the token is shared.
  void PollWith(std::function<bool()> poll) { poll_ = std::move(poll); }
  const std::string& reason() const { return reason_; }

 private:
  mutable std::atomic<bool> cancelled_{false};
  std::function<bool()> poll_;
  std::string reason_ = "cancelled";
};

// Runs a shadow test of `candidate_model_path` against `current_model_path`.
//
// `clock` measures the time budget (policy.time_budget, from the start of
// the call; checked between model calls, so one call may overrun it).
// `attempt` (from 1) is used to resolve an inconclusive verdict under
// InconclusiveAction::kRetry (see ActionFor).
//
// Returns a Report for every outcome of the test itself:
//   pass / fail under the gate, with every metric, threshold and reason;
//   inconclusive when the time budget runs out, `cancel` fires, a model does
//   not load or a runtime call fails, or nothing could be measured.
// Errors (no report): kInvalidArgument for an eval set with neither prompts
// nor references, or a policy out of range.
//
// Thread-safety: Run may be called concurrently with different models; the
// Runtime must allow concurrent Open (runtime.h says it does).
Result<Report> Run(runtime_adapter::Runtime& runtime, const std::string& current_model_path,
                   const std::string& candidate_model_path, const EvalSet& eval,
                   const Policy& policy, Clock& clock, const CancelToken& cancel, int attempt = 1);

}  // namespace ota::shadow

#endif  // OTA_SHADOW_SHADOW_H_
