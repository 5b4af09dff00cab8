// The outcome of a shadow test: a verdict with every metric, threshold and
// reason behind it (docs/formats.md, "Shadow report").
//
// Thread-safety: plain values; the functions are pure.
#ifndef OTA_SHADOW_REPORT_H_
#define OTA_SHADOW_REPORT_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ota/shadow/mirror.h"
#include "ota/shadow/policy.h"

namespace ota::shadow {

enum class Verdict { kPass, kFail, kInconclusive };
// What the caller should do with the candidate: the verdict, with an
// inconclusive one resolved by the policy's inconclusive handling.
enum class Action { kAccept, kReject, kRetry };

std::string_view VerdictName(Verdict verdict);  // "pass", "fail", "inconclusive"
std::string_view ActionName(Action action);     // "accept", "reject", "retry"

// `attempt` counts runs of this candidate so far, starting at 1: kRetry turns
// into kReject once attempt > policy.max_retries.
Action ActionFor(Verdict verdict, const Policy& policy, int attempt = 1);

// Everything measured. Optional values are unset when the metric is
// undefined (vocabularies differ, nothing to measure, not reached before the
// run stopped, or not measured by the runtime).
struct Metrics {
  std::size_t prompts = 0;            // In the eval set.
  std::size_t prompts_evaluated = 0;  // On both models.
  std::size_t references = 0;
  std::size_t references_evaluated = 0;
  bool vocab_match = true;
  std::string current_vocab;  // Fingerprints.
  std::string candidate_vocab;

  // Teacher-forced on the current model's greedy continuation.
  std::size_t positions = 0;
  std::optional<double> mean_kl;
  std::optional<double> p99_kl;
  std::optional<double> same_top1;
  // Greedy continuation agreement, in tokens.
  std::optional<double> greedy_exact_rate;
  std::optional<double> greedy_mean_lcp;
  // exp(mean negative log-likelihood per token) of the reference texts.
  std::optional<double> perplexity_current;
  std::optional<double> perplexity_candidate;
  std::optional<double> perplexity_ratio;  // candidate / current
  // App checks on the greedy outputs.
  std::size_t checks = 0;  // Check applications per model.
  std::optional<double> pass_rate_current;
  std::optional<double> pass_rate_candidate;
  std::size_t regressions = 0;  // Passed on current, failed on candidate.
  // Cost.
  double current_load_seconds = 0;
  double candidate_load_seconds = 0;
  double current_tokens_per_second = 0;
  double candidate_tokens_per_second = 0;
  std::uint64_t current_estimated_bytes = 0;
  std::uint64_t candidate_estimated_bytes = 0;
  std::uint64_t peak_resident_bytes = 0;  // Of the whole process, at the end.
  std::optional<double> latency_ratio;    // time per token, candidate / current
  // "cpu" when latency_ratio compares the runtime's CPU-time rates (below),
  // "wall" when the runtime gave only wall-clock rates.
  std::string latency_basis;
  double current_cpu_tokens_per_second = 0;  // 0: the runtime does not measure CPU time.
  double candidate_cpu_tokens_per_second = 0;
  std::optional<double> memory_ratio;     // estimated bytes, candidate / current
  std::optional<double> load_time_ratio;  // candidate / current

  // What the generation facts (runtime_adapter::GenerationFact) change,
  // measured on the eval set. Unset when nothing was measured.
  // Prompts and references each model tokenized (the candidate with its own
  // tokenizer and, for chat prompts, its own template), and the share whose
  // tokens are the same (ids; token pieces when the vocabularies differ).
  std::size_t texts_tokenized = 0;
  std::optional<double> tokenization_agreement;
  // Prompts where an end of generation was exercised (the current model's
  // continuation stopped on one, or held a token the candidate stops on),
  // and the share where the candidate ends generation where the current does.
  std::size_t stop_prompts = 0;
  std::optional<double> stop_agreement;
  // Conversations both models rendered with their chat templates (the chat
  // prompts and a fixed probe), and the share rendered to the same text.
  std::size_t chat_renders = 0;
  std::optional<double> template_agreement;
  std::size_t chat_prompts_skipped = 0;  // The current model has no usable template.
  int current_training_context = 0;
  int candidate_training_context = 0;
  // Every prompt that fits the current model's context fits the candidate's,
  // and the candidate's training context covers the context the policy runs.
  bool context_fits = true;
};

// A generation fact (runtime_adapter::GenerationFact) that differs between
// the two models. Distribution gates (equivalence, requantization) fail on
// any; the behaviour gate fails on one that no measurement vouches for.
struct ContractChange {
  std::string name;     // e.g. "special.eos", "chat_template"
  std::string current;  // "absent" when the model does not state it.
  std::string candidate;
  // "tokenizer", "stop", "chat_template", "rope" or "context": what must be
  // measured to vouch for it under the behaviour gate.
  std::string category;
  bool vouched = false;
  std::string evidence;  // What vouched for it, or what is missing.
};

// The A/A run: the current model against a second load of itself. Its
// divergence is the noise floor that equivalence thresholds apply above.
struct Calibration {
  bool ran = false;
  double mean_kl = 0;
  double p99_kl = 0;
  double same_top1 = 1;
  double greedy_exact_rate = 1;
};

// One line of the verdict table. A row without threshold is informational.
struct GateRow {
  std::string metric;
  std::optional<double> value;
  std::string comparison;           // "<=" or ">="; empty without threshold.
  std::optional<double> threshold;  // Effective (after calibration).
  bool ok = true;
  std::string note;
};

// A check the current model's output passed and the candidate's failed.
struct Regression {
  std::string prompt_id;
  std::string check;  // Check::Describe()
  std::string why;    // Why the candidate's output failed.
};

struct Report {
  Verdict verdict = Verdict::kInconclusive;
  Action action = Action::kReject;
  Gate gate = Gate::kEquivalence;          // Asked for by the policy.
  Gate applied_gate = Gate::kEquivalence;  // Behaviour when vocabularies differ.
  std::vector<std::string> reasons;        // Why this verdict; never empty.
  std::vector<std::string> notes;          // What else the reader must know.
  Metrics metrics;
  Calibration calibration;
  std::vector<GateRow> rows;
  std::vector<Regression> regressions;           // At most kMaxListedRegressions.
  std::vector<ContractChange> contract_changes;  // In name order.
  bool current_unavailable = false;              // The current model did not load.
  Policy policy;
  bool sequential_memory = true;
  double elapsed_seconds = 0;
  // Live mirroring (policy.mirror): the apps' merged aggregates, and whether
  // they reached min_samples (only then do the mirror gates apply).
  std::optional<MirrorStats> mirror;
  bool mirror_gated = false;
};

// Adds the mirrored aggregates to a decided report: rows mirror_replayed,
// mirror_same_top1 and mirror_regressions; with enough samples a failed
// mirror threshold turns pass into fail (with the reason), otherwise a note
// says the mirror gate did not apply. Recomputes the action.
void FoldMirror(Report& report, const MirrorStats& stats, int attempt);

inline constexpr std::size_t kMaxListedRegressions = 20;

// {"verdict": "pass"|"fail"|"inconclusive", "action", "gate",
// "applied_gate", "reasons", "notes", "metrics", "calibration", "gates",
// "regressions", "contract_changes", "policy", "sequential_memory",
// "elapsed_seconds", and "mirror" (null, or {"gated", "stats"}) }.
nlohmann::json ReportToJson(const Report& report);

// A readable table (metric, value, threshold, ok) and the verdict line.
std::string FormatReportTable(const Report& report);

}  // namespace ota::shadow

#endif  // OTA_SHADOW_REPORT_H_
