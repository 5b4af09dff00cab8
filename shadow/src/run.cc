#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>

#include "ota/shadow/metrics.h"
#include "ota/shadow/shadow.h"
#include "run_internal.h"

namespace ota::shadow {
namespace {

using internal::Throughput;
using runtime_adapter::LoadedModel;
using runtime_adapter::LogProbs;
using runtime_adapter::Token;

// Distributions per call for long reference texts: keeps one call's output
// near 16 MiB whatever the vocabulary size.
constexpr std::size_t kDistributionFloatsPerCall = 4u << 20;

// What the current model produced for one prompt.
struct PromptRef {
  std::vector<Token> prompt;
  std::vector<Token> greedy;
  std::vector<Token> sequence;  // prompt + greedy
  std::vector<int> positions;   // Teacher-forced positions in `sequence`.
  std::vector<LogProbs> dists;  // At `positions`.
  std::vector<bool> passed;     // Per check of the prompt.
};

struct ReferenceRef {
  std::vector<Token> tokens;
  double nll = 0;
  std::size_t count = 0;
};

// What a compared model accumulates against the references.
struct Accumulator {
  std::vector<double> kl;
  std::size_t top1_same = 0;
  std::size_t greedy_exact = 0;
  std::size_t greedy_count = 0;
  double lcp_sum = 0;
  std::size_t checks_passed = 0;
  std::size_t regressions = 0;
  std::vector<Regression> regressed;
  double nll = 0;
  std::size_t nll_count = 0;
  std::size_t prompts = 0;
  std::size_t references = 0;
  Throughput throughput;
};

// Stops the run with an error whose message becomes the inconclusive reason.
class Guard {
 public:
  Guard(Clock& clock, std::chrono::milliseconds budget, const CancelToken& cancel)
      : clock_(clock), start_(clock.Monotonic()), budget_(budget), cancel_(cancel) {}

  Status Check() const {
    if (cancel_.Cancelled()) return MakeError(ErrorCode::kCancelled, cancel_.reason());
    if (clock_.Monotonic() - start_ > budget_) {
      char seconds[32];
      std::snprintf(seconds, sizeof seconds, "%g", static_cast<double>(budget_.count()) / 1000.0);
      return MakeError(ErrorCode::kRetryLater,
                       "time budget of " + std::string(seconds) + " s exhausted");
    }
    return Ok();
  }
  double Elapsed() const {
    return std::chrono::duration<double>(clock_.Monotonic() - start_).count();
  }

 private:
  Clock& clock_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::milliseconds budget_;
  const CancelToken& cancel_;
};

Error Runtime(const std::string& what, const Error& e) {
  return MakeError(e.code == ErrorCode::kCancelled ? e.code : ErrorCode::kInternal,
                   what + ": " + e.ToString());
}

Result<std::unique_ptr<LoadedModel>> OpenModel(runtime_adapter::Runtime& runtime,
                                               const std::string& path, const Policy& policy,
                                               const std::string& role) {
  runtime_adapter::ModelOpenOptions options;
  options.path = path;
  options.threads = policy.threads;
  options.context_length = policy.context_length;
  options.memory_budget_bytes = policy.memory_budget_bytes;
  auto model = runtime.Open(options);
  if (!model.ok()) return Runtime(role + " model " + path + " did not load", model.error());
  return model;
}

// Log-likelihood of every token after the first, in chunks of positions.
Status ScoreReference(LoadedModel& model, ReferenceRef& ref, Throughput& tp, const Guard& guard) {
  ref.nll = 0;
  ref.count = 0;
  if (ref.tokens.size() < 2) return Ok();
  const std::size_t vocab = static_cast<std::size_t>(std::max(1, model.Info().vocab_size));
  const std::size_t chunk = std::max<std::size_t>(1, kDistributionFloatsPerCall / vocab);
  for (std::size_t start = 0; start + 1 < ref.tokens.size(); start += chunk) {
    OTA_TRY(guard.Check());
    std::vector<int> positions;
    for (std::size_t p = start; p + 1 < ref.tokens.size() && positions.size() < chunk; ++p) {
      positions.push_back(static_cast<int>(p));
    }
    auto dists = model.EvaluateLogProbs(ref.tokens, positions);
    if (!dists.ok()) return Runtime("scoring a reference text", dists.error());
    tp.Add(model, ref.tokens.size());
    for (std::size_t i = 0; i < positions.size(); ++i) {
      const Token next = ref.tokens[static_cast<std::size_t>(positions[i]) + 1];
      ref.nll -= static_cast<double>((*dists)[i][static_cast<std::size_t>(next)]);
      ++ref.count;
    }
  }
  return Ok();
}

Result<std::vector<Token>> TokenizeFitting(LoadedModel& model, const std::string& text,
                                           std::size_t room, const std::string& what) {
  auto tokens = model.Tokenize(text, /*add_bos=*/true);
  if (!tokens.ok()) return Runtime("tokenizing " + what, tokens.error());
  if (tokens->empty()) return MakeError(ErrorCode::kInternal, what + " tokenizes to nothing");
  if (tokens->size() > room) {
    return MakeError(ErrorCode::kInvalidArgument, what + " is " + std::to_string(tokens->size()) +
                                                      " tokens, more than the context allows (" +
                                                      std::to_string(room) +
                                                      "); raise the policy's context_length");
  }
  return tokens;
}

Result<PromptRef> EvaluateCurrent(LoadedModel& model, const EvalPrompt& prompt,
                                  const Policy& policy, Throughput& tp, const Guard& guard) {
  PromptRef ref;
  const std::size_t room =
      static_cast<std::size_t>(std::max(1, policy.context_length - prompt.max_new_tokens - 1));
  OTA_ASSIGN_OR_RETURN(ref.prompt,
                       TokenizeFitting(model, prompt.text, room, "prompt \"" + prompt.id + "\""));
  OTA_TRY(guard.Check());
  auto greedy = model.Generate(ref.prompt, prompt.max_new_tokens);
  if (!greedy.ok()) return Runtime("generating for prompt \"" + prompt.id + "\"", greedy.error());
  tp.Add(model, ref.prompt.size() + greedy->size());
  ref.greedy = std::move(*greedy);
  auto text = model.Detokenize(ref.greedy);
  if (!text.ok()) return Runtime("detokenizing", text.error());
  for (const Check* check : prompt.checks) ref.passed.push_back(check->Apply(*text));

  ref.sequence = ref.prompt;
  ref.sequence.insert(ref.sequence.end(), ref.greedy.begin(), ref.greedy.end());
  const int first = static_cast<int>(ref.prompt.size()) - 1;
  const int count = std::max<int>(1, static_cast<int>(ref.greedy.size()));
  for (int i = 0; i < count; ++i) ref.positions.push_back(first + i);
  OTA_TRY(guard.Check());
  auto dists = model.EvaluateLogProbs(ref.sequence, ref.positions);
  if (!dists.ok()) return Runtime("evaluating prompt \"" + prompt.id + "\"", dists.error());
  tp.Add(model, ref.sequence.size());
  ref.dists = std::move(*dists);
  return ref;
}

// Compares `model` with the current model's results on one prompt.
Status ComparePrompt(LoadedModel& model, const EvalPrompt& prompt, const PromptRef& ref,
                     bool same_vocab, const Policy& policy, Accumulator& acc, const Guard& guard) {
  std::vector<Token> greedy;
  if (same_vocab) {
    OTA_TRY(guard.Check());
    auto dists = model.EvaluateLogProbs(ref.sequence, ref.positions);
    if (!dists.ok()) return Runtime("evaluating prompt \"" + prompt.id + "\"", dists.error());
    acc.throughput.Add(model, ref.sequence.size());
    for (std::size_t i = 0; i < ref.dists.size() && i < dists->size(); ++i) {
      Result<double> kl = KlDivergence(ref.dists[i], (*dists)[i]);
      if (!kl.ok()) return Runtime("comparing distributions", kl.error());
      acc.kl.push_back(*kl);
      if (Top1(ref.dists[i]) == Top1((*dists)[i])) ++acc.top1_same;
    }
    OTA_TRY(guard.Check());
    auto generated = model.Generate(ref.prompt, prompt.max_new_tokens);
    if (!generated.ok()) {
      return Runtime("generating for prompt \"" + prompt.id + "\"", generated.error());
    }
    acc.throughput.Add(model, ref.prompt.size() + generated->size());
    greedy = std::move(*generated);
    ++acc.greedy_count;
    if (greedy == ref.greedy) ++acc.greedy_exact;
    acc.lcp_sum += static_cast<double>(internal::CommonPrefix(greedy, ref.greedy));
  } else {
    const std::size_t room =
        static_cast<std::size_t>(std::max(1, policy.context_length - prompt.max_new_tokens - 1));
    OTA_ASSIGN_OR_RETURN(std::vector<Token> tokens,
                         TokenizeFitting(model, prompt.text, room, "prompt \"" + prompt.id + "\""));
    OTA_TRY(guard.Check());
    auto generated = model.Generate(tokens, prompt.max_new_tokens);
    if (!generated.ok()) {
      return Runtime("generating for prompt \"" + prompt.id + "\"", generated.error());
    }
    acc.throughput.Add(model, tokens.size() + generated->size());
    greedy = std::move(*generated);
  }
  auto text = model.Detokenize(greedy);
  if (!text.ok()) return Runtime("detokenizing", text.error());
  for (std::size_t c = 0; c < prompt.checks.size(); ++c) {
    std::string why;
    const bool ok = prompt.checks[c]->Apply(*text, &why);
    if (ok) ++acc.checks_passed;
    if (!ok && ref.passed[c]) {
      ++acc.regressions;
      if (acc.regressed.size() < kMaxListedRegressions) {
        acc.regressed.push_back({prompt.id, prompt.checks[c]->Describe(), why});
      }
    }
  }
  ++acc.prompts;
  return Ok();
}

Status CompareReference(LoadedModel& model, const EvalReference& reference,
                        const ReferenceRef& current, bool same_vocab, const Policy& policy,
                        Accumulator& acc, const Guard& guard) {
  ReferenceRef mine;
  if (same_vocab) {
    mine.tokens = current.tokens;
  } else {
    OTA_ASSIGN_OR_RETURN(
        mine.tokens,
        TokenizeFitting(model, reference.text, static_cast<std::size_t>(policy.context_length),
                        "reference \"" + reference.id + "\""));
  }
  OTA_TRY(ScoreReference(model, mine, acc.throughput, guard));
  acc.nll += mine.nll;
  acc.nll_count += mine.count;
  ++acc.references;
  return Ok();
}

std::optional<double> Rate(std::size_t n, std::size_t d) {
  if (d == 0) return std::nullopt;
  return static_cast<double>(n) / static_cast<double>(d);
}

// The whole comparison; fills `report` as far as it gets.
class ShadowRun {
 public:
  ShadowRun(runtime_adapter::Runtime& runtime, const EvalSet& eval, const Policy& policy,
            const Guard& guard, Report& report)
      : runtime_(runtime), eval_(eval), policy_(policy), guard_(guard), report_(report) {}

  Status Execute(const std::string& current_path, const std::string& candidate_path) {
    return policy_.sequential_memory ? Sequential(current_path, candidate_path)
                                     : Together(current_path, candidate_path);
  }

  void Summarize() {
    Metrics& m = report_.metrics;
    m.prompts_evaluated = cand_.prompts;
    m.references_evaluated = cand_.references;
    m.current_tokens_per_second = current_tp_.TokensPerSecond();
    m.candidate_tokens_per_second = cand_.throughput.TokensPerSecond();
    if (m.vocab_match) {
      if (!cand_.kl.empty()) {
        const KlSummary s = SummarizeKl(cand_.kl);
        m.positions = s.count;
        m.mean_kl = s.mean;
        m.p99_kl = s.p99;
        m.same_top1 = Rate(cand_.top1_same, cand_.kl.size());
      }
      m.greedy_exact_rate = Rate(cand_.greedy_exact, cand_.greedy_count);
      if (cand_.greedy_count > 0) m.greedy_mean_lcp = cand_.lcp_sum / cand_.greedy_count;
      if (cand_.nll_count > 0 && current_nll_count_ > 0) {
        m.perplexity_current = std::exp(current_nll_ / current_nll_count_);
        m.perplexity_candidate = std::exp(cand_.nll / cand_.nll_count);
        m.perplexity_ratio = *m.perplexity_candidate / *m.perplexity_current;
      }
    }
    std::size_t applied = 0;
    std::size_t current_passed = 0;
    for (std::size_t p = 0; p < cand_.prompts && p < refs_passed_.size(); ++p) {
      applied += refs_passed_[p].size();
      current_passed += static_cast<std::size_t>(
          std::count(refs_passed_[p].begin(), refs_passed_[p].end(), true));
    }
    m.checks = applied;
    m.pass_rate_current = Rate(current_passed, applied);
    m.pass_rate_candidate = Rate(cand_.checks_passed, applied);
    m.regressions = cand_.regressions;
    report_.regressions = cand_.regressed;
    if (m.current_tokens_per_second > 0 && m.candidate_tokens_per_second > 0) {
      m.latency_ratio = m.current_tokens_per_second / m.candidate_tokens_per_second;
    }
    if (m.current_estimated_bytes > 0 && m.candidate_estimated_bytes > 0) {
      m.memory_ratio = static_cast<double>(m.candidate_estimated_bytes) /
                       static_cast<double>(m.current_estimated_bytes);
    }
    if (m.current_load_seconds > 0 && m.candidate_load_seconds > 0) {
      m.load_time_ratio = m.candidate_load_seconds / m.current_load_seconds;
    }
    Calibration& c = report_.calibration;
    if (policy_.calibrate && !aa_.kl.empty()) {
      const KlSummary s = SummarizeKl(aa_.kl);
      c.ran = true;
      c.mean_kl = s.mean;
      c.p99_kl = s.p99;
      c.same_top1 = *Rate(aa_.top1_same, aa_.kl.size());
      c.greedy_exact_rate = Rate(aa_.greedy_exact, aa_.greedy_count).value_or(1.0);
    }
  }

 private:
  Status NoteCurrent(LoadedModel& model) {
    report_.metrics.current_vocab = model.Info().vocab_fingerprint;
    report_.metrics.current_load_seconds = model.Resources().load_seconds;
    report_.metrics.current_estimated_bytes = model.Info().estimated_bytes;
    return Ok();
  }
  void NoteCandidate(LoadedModel& model) {
    Metrics& m = report_.metrics;
    m.candidate_vocab = model.Info().vocab_fingerprint;
    m.candidate_load_seconds = model.Resources().load_seconds;
    m.candidate_estimated_bytes = model.Info().estimated_bytes;
    m.vocab_match = m.candidate_vocab == m.current_vocab;
  }

  void NotePeak(const LoadedModel& model) {
    report_.metrics.peak_resident_bytes =
        std::max(report_.metrics.peak_resident_bytes, model.Resources().peak_resident_bytes);
  }

  Status CurrentPrompt(LoadedModel& model, std::size_t i, PromptRef& out) {
    OTA_ASSIGN_OR_RETURN(out,
                         EvaluateCurrent(model, eval_.prompts[i], policy_, current_tp_, guard_));
    refs_passed_.push_back(out.passed);
    return Ok();
  }

  Status CurrentReference(LoadedModel& model, std::size_t i, ReferenceRef& out) {
    OTA_ASSIGN_OR_RETURN(out.tokens,
                         TokenizeFitting(model, eval_.references[i].text,
                                         static_cast<std::size_t>(policy_.context_length),
                                         "reference \"" + eval_.references[i].id + "\""));
    OTA_TRY(ScoreReference(model, out, current_tp_, guard_));
    current_nll_ += out.nll;
    current_nll_count_ += out.count;
    return Ok();
  }

  Status CompareAll(LoadedModel& model, const std::vector<PromptRef>& prompts,
                    const std::vector<ReferenceRef>& references, bool same_vocab,
                    Accumulator& acc) {
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      OTA_TRY(ComparePrompt(model, eval_.prompts[i], prompts[i], same_vocab, policy_, acc, guard_));
    }
    for (std::size_t i = 0; i < references.size(); ++i) {
      OTA_TRY(CompareReference(model, eval_.references[i], references[i], same_vocab, policy_, acc,
                               guard_));
    }
    NotePeak(model);
    return Ok();
  }

  Status Sequential(const std::string& current_path, const std::string& candidate_path) {
    std::vector<PromptRef> prompts(eval_.prompts.size());
    std::vector<ReferenceRef> references(eval_.references.size());
    {
      OTA_TRY(guard_.Check());
      OTA_ASSIGN_OR_RETURN(auto current, OpenModel(runtime_, current_path, policy_, "current"));
      OTA_TRY(NoteCurrent(*current));
      std::uint64_t cached = 0;
      for (std::size_t i = 0; i < prompts.size(); ++i) {
        OTA_TRY(CurrentPrompt(*current, i, prompts[i]));
        for (const LogProbs& d : prompts[i].dists) cached += d.size() * sizeof(float);
        if (cached > kMaxCachedDistributionBytes) {
          return MakeError(ErrorCode::kIncompatible,
                           "the cached distributions exceed " +
                               std::to_string(kMaxCachedDistributionBytes >> 20) +
                               " MiB in sequential-memory mode; use fewer prompts or "
                               "max_new_tokens");
        }
      }
      for (std::size_t i = 0; i < references.size(); ++i) {
        OTA_TRY(CurrentReference(*current, i, references[i]));
      }
    }  // The current model is unloaded here.
    if (policy_.calibrate) {
      OTA_TRY(guard_.Check());
      OTA_ASSIGN_OR_RETURN(auto aa,
                           OpenModel(runtime_, current_path, policy_, "A/A copy of current"));
      OTA_TRY(CompareAll(*aa, prompts, references, /*same_vocab=*/true, aa_));
    }
    OTA_TRY(guard_.Check());
    OTA_ASSIGN_OR_RETURN(auto candidate, OpenModel(runtime_, candidate_path, policy_, "candidate"));
    NoteCandidate(*candidate);
    return CompareAll(*candidate, prompts, references, report_.metrics.vocab_match, cand_);
  }

  Status Together(const std::string& current_path, const std::string& candidate_path) {
    OTA_TRY(guard_.Check());
    OTA_ASSIGN_OR_RETURN(auto current, OpenModel(runtime_, current_path, policy_, "current"));
    OTA_TRY(NoteCurrent(*current));
    std::unique_ptr<LoadedModel> aa;
    if (policy_.calibrate) {
      OTA_ASSIGN_OR_RETURN(aa, OpenModel(runtime_, current_path, policy_, "A/A copy of current"));
    }
    OTA_TRY(guard_.Check());
    OTA_ASSIGN_OR_RETURN(auto candidate, OpenModel(runtime_, candidate_path, policy_, "candidate"));
    NoteCandidate(*candidate);
    const bool same = report_.metrics.vocab_match;
    for (std::size_t i = 0; i < eval_.prompts.size(); ++i) {
      PromptRef ref;
      OTA_TRY(CurrentPrompt(*current, i, ref));
      if (aa) OTA_TRY(ComparePrompt(*aa, eval_.prompts[i], ref, true, policy_, aa_, guard_));
      OTA_TRY(ComparePrompt(*candidate, eval_.prompts[i], ref, same, policy_, cand_, guard_));
    }
    for (std::size_t i = 0; i < eval_.references.size(); ++i) {
      ReferenceRef ref;
      OTA_TRY(CurrentReference(*current, i, ref));
      if (aa) OTA_TRY(CompareReference(*aa, eval_.references[i], ref, true, policy_, aa_, guard_));
      OTA_TRY(CompareReference(*candidate, eval_.references[i], ref, same, policy_, cand_, guard_));
    }
    NotePeak(*candidate);
    return Ok();
  }

  runtime_adapter::Runtime& runtime_;
  const EvalSet& eval_;
  const Policy& policy_;
  const Guard& guard_;
  Report& report_;
  Throughput current_tp_;
  double current_nll_ = 0;
  std::size_t current_nll_count_ = 0;
  std::vector<std::vector<bool>> refs_passed_;
  Accumulator aa_;
  Accumulator cand_;
};

}  // namespace

namespace internal {

void Throughput::Add(const LoadedModel& model, std::size_t tokens) {
  const double rate = model.Resources().tokens_per_second;
  if (rate <= 0 || tokens == 0) return;
  tokens_ += static_cast<double>(tokens);
  seconds_ += static_cast<double>(tokens) / rate;
}

std::size_t CommonPrefix(std::span<const Token> a, std::span<const Token> b) {
  std::size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

}  // namespace internal

Result<Report> Run(runtime_adapter::Runtime& runtime, const std::string& current_model_path,
                   const std::string& candidate_model_path, const EvalSet& eval,
                   const Policy& policy, Clock& clock, const CancelToken& cancel, int attempt) {
  if (eval.prompts.empty() && eval.references.empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "the eval set has neither prompts nor references");
  }
  if (policy.threads < 1 || policy.threads > 256 || policy.context_length < 64 ||
      policy.max_retries < 0 || policy.time_budget.count() <= 0) {
    return MakeError(ErrorCode::kInvalidArgument, "policy out of range");
  }
  Report report;
  report.policy = policy;
  report.gate = policy.gate;
  report.applied_gate = policy.gate;
  report.sequential_memory = policy.sequential_memory;
  report.metrics.prompts = eval.prompts.size();
  report.metrics.references = eval.references.size();
  Guard guard(clock, policy.time_budget, cancel);
  ShadowRun run(runtime, eval, policy, guard, report);
  const Status status = run.Execute(current_model_path, candidate_model_path);
  run.Summarize();
  report.elapsed_seconds = guard.Elapsed();
  if (!status.ok()) {
    report.verdict = Verdict::kInconclusive;
    report.reasons.push_back(status.error().message);
    report.action = ActionFor(report.verdict, policy, attempt);
    return report;
  }
  internal::Decide(report, eval.CheckCount() > 0, attempt);
  return report;
}

}  // namespace ota::shadow
