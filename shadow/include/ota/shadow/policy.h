// Shadow policy: which gate a candidate model must pass, with which
// thresholds, within which time budget, and what an inconclusive run means
// (docs/formats.md, "Shadow policy").
//
// The policy comes from bundle.json's optional "shadow.policy" object and
// may be overridden by the rollout manifest's optional "shadow_policy"
// object: the gate's default thresholds, then the bundle's, then the
// rollout's, field by field.
//
// Thread-safety: all functions are pure.
#ifndef OTA_SHADOW_POLICY_H_
#define OTA_SHADOW_POLICY_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "ota/common/filesystem.h"
#include "ota/common/result.h"
#include "ota/manifest/bundle_manifest.h"
#include "ota/manifest/rollout_manifest.h"
#include "ota/runtime_adapter/quantize.h"
#include "ota/shadow/eval_set.h"

namespace ota::shadow {

enum class Gate {
  // Same model, different bytes (runtime upgrade, delta-rebuilt weights):
  // distributions must be nearly identical.
  kEquivalence,
  // The same model at another quantization: close distributions.
  kRequantization,
  // An intended upgrade: the app's checks must not regress.
  kBehaviour,
};

enum class InconclusiveAction { kTreatAsFail, kTreatAsPass, kRetry };

std::string_view GateName(Gate gate);  // "equivalence", "requantization", "behaviour"
Result<Gate> ParseGate(std::string_view name);
std::string_view InconclusiveActionName(InconclusiveAction action);  // "treat-as-fail", ...

// Every threshold a gate may apply. An unset optional is not gated (the
// metric is still reported).
struct Thresholds {
  // Distribution metrics (equivalence and requantization gates, same
  // vocabulary only). Applied above the A/A noise floor when calibrated.
  std::optional<double> min_same_top1;
  std::optional<double> max_mean_kl;
  std::optional<double> max_p99_kl;
  std::optional<double> min_greedy_exact_rate;
  std::optional<double> max_perplexity_ratio;
  // App checks (every gate, when the eval set has checks): candidate pass
  // rate >= current pass rate - margin; checks passed by the current model
  // and failed by the candidate <= max_regressions.
  double pass_rate_margin = 0.0;
  std::uint64_t max_regressions = 0;
  // Cost (every gate; skipped when the runtime does not measure it).
  std::optional<double> max_latency_ratio;    // time per token, candidate / current
  std::optional<double> max_memory_ratio;     // estimated memory, candidate / current
  std::optional<double> max_load_time_ratio;  // load time, candidate / current
};

// equivalence:    same-top-1 >= 0.975, mean KL <= 0.002;
// requantization: same-top-1 >= 0.91,  mean KL <= 0.035;
// behaviour:      pass-rate margin 0.02, regressions <= 0;
// all:            latency ratio <= 2.0, memory ratio <= 1.5.
// (docs/decisions.md explains where these numbers come from.)
Thresholds DefaultThresholds(Gate gate);

// The requantization gate for a variant quantized to `type` from an F32,
// F16 or BF16 master (`otactl variants build`): per type, from the mean KL
// divergence and same-top-1 rate llama.cpp publishes for its quantization
// types (LLaMA 3 8B, no importance matrix): mean KL at most twice the
// published figure, same-top-1 at least the published rate minus 3 points
// (interpolated in mean KL between published neighbours where llama.cpp gives
// no rate), memory ratio <= 1.5, and no latency or load-time bound (the
// build machine is not the device; devices gate those in their own shadow
// test). kF16 gets the equivalence bounds. docs/decisions.md has the table.
Thresholds RequantizationThresholds(runtime_adapter::QuantType type);

// Live mirroring while a device is in its shadowing state: apps replay a
// sample of their real requests on the candidate (ota::agent::MirrorClient)
// and the agent folds the aggregates into the verdict (docs/formats.md,
// "Shadow policy"). Texts never leave the app's process.
struct MirrorPolicy {
  double sample_rate = 0.05;       // Share of offered requests replayed, [0, 1].
  double cpu_budget = 0.1;         // Busy share of the replay thread, (0, 1].
  int max_new_tokens = 32;         // Per replay, [1, 512].
  std::uint64_t min_samples = 20;  // Replays needed before the verdict, [1, 1000000].
  // Longest the deployment waits for min_samples from its first shadowing
  // step; then the verdict is taken without the mirror gate.
  std::chrono::seconds max_wait = std::chrono::hours(24);
  // Gates on the mirrored aggregates; unset: reported, not gated.
  std::optional<double> min_same_top1;               // Candidate top-1 vs production tokens.
  std::optional<std::uint64_t> max_regressions = 0;  // App checks, when the eval set has any.
};

struct Policy {
  Gate gate = Gate::kEquivalence;
  Thresholds thresholds = DefaultThresholds(Gate::kEquivalence);
  std::chrono::milliseconds time_budget = std::chrono::minutes(10);
  InconclusiveAction on_inconclusive = InconclusiveAction::kTreatAsFail;
  int max_retries = 2;            // With kRetry: how many reruns before treat-as-fail.
  bool sequential_memory = true;  // Never hold both models at once.
  bool calibrate = true;          // Run the A/A noise-floor measurement.
  int threads = 1;
  int context_length = 1024;
  std::uint64_t memory_budget_bytes = 0;  // Per model; 0: no limit.
  // Latency is compared only when each model computed at least this long
  // (by the runtime's rates): shorter runs time the machine's noise.
  double min_timed_seconds = 1.0;
  std::optional<MirrorPolicy> mirror;  // Unset: no live mirroring.
  // Set: no shadow test runs, for this reason (bundle.json "shadow.skip" or
  // the rollout's shadow_policy "skip"); the agent records the skip as an
  // audited event. Every other update is shadow-tested (BundleShadowSectionOf).
  std::optional<std::string> skip;
};

inline constexpr std::size_t kMaxSkipReasonBytes = 256;

// Builds a policy from an optional bundle policy object and an optional
// rollout override object (either may be null). Fields of a policy object:
// gate, thresholds{...}, time_budget_seconds, inconclusive, max_retries,
// sequential_memory, calibrate, threads, context_length, memory_budget_bytes,
// mirror{sample_rate, cpu_budget, max_new_tokens, min_samples,
// max_wait_seconds, min_same_top1, max_regressions} (null: no mirroring; an
// object merges field by field), and in the rollout override only skip (a
// reason, 1 to 256 bytes). A threshold set to null is disabled. Errors: kInvalidArgument
// naming the document and field, e.g. "rollout shadow_policy.thresholds.max_mean_kl must be a
// number from 0 to 100, not -1".
Result<Policy> ResolvePolicy(const nlohmann::json* bundle_policy,
                             const nlohmann::json* rollout_override);

nlohmann::json PolicyToJson(const Policy& policy);

// bundle.json's optional "shadow" object: {"eval": PATH, "policy": {...}}.
struct BundleShadowSection {
  bool declared = false;                 // bundle.json has a "shadow" section.
  std::optional<std::string> eval_file;  // A file of the bundle with role "eval".
  std::optional<nlohmann::json> policy;
  std::optional<std::string> skip;  // "shadow": {"skip": "reason"}: no test, audited.
};
// The policy object of a bundle without a "shadow" section: shadow tests are
// the default, with the built-in eval set under the behaviour gate (a new
// version may change its weights; its tokenizer, special tokens, chat
// template and context still have to hold, shadow.h).
nlohmann::json DefaultBundlePolicy();
// The section of bundle.json; without one, policy is DefaultBundlePolicy().
// Errors: kInvalidArgument for a malformed section, an eval path that is not
// a file with role "eval", or a skip beside eval or policy.
Result<BundleShadowSection> BundleShadowSectionOf(const manifest::BundleManifest& manifest);

// The effective policy of a bundle under an optional rollout manifest.
Result<Policy> PolicyFor(const manifest::BundleManifest& manifest,
                         const manifest::RolloutManifest* rollout);

// The bundle's eval set from the unpacked bundle folder `dir`, with its role
// "prompt" files as templates; the built-in set when bundle.json names none.
// Errors: the FileSystem's, kInvalidArgument from ParseEvalSet.
Result<EvalSet> LoadBundleEvalSet(FileSystem& fs, const std::string& dir,
                                  const manifest::BundleManifest& manifest);

}  // namespace ota::shadow

#endif  // OTA_SHADOW_POLICY_H_
