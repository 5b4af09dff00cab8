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
  bool skipped = false;             // A chat prompt the current model cannot render.
  std::string text;                 // As the current model sees it (chat prompts rendered).
  std::vector<std::string> pieces;  // Of `prompt`, token by token.
  bool stopped = false;             // Its continuation ended on an end of generation,
  Token stop_token = -1;            // this one (the current model's top-1 there).
  std::vector<Token> prompt;
  std::vector<Token> greedy;
  std::vector<Token> sequence;  // prompt + greedy
  std::vector<int> positions;   // Teacher-forced positions in `sequence`.
  std::vector<LogProbs> dists;  // At `positions`.
  std::vector<bool> passed;     // Per check of the prompt.
};

struct ReferenceRef {
  std::vector<Token> tokens;
  std::vector<std::string> pieces;
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
  // The generation contract (report.h, Metrics).
  std::size_t texts = 0;
  std::size_t texts_same = 0;
  std::size_t stop_prompts = 0;
  std::size_t stop_same = 0;
  std::size_t chat_renders = 0;
  std::size_t chat_same = 0;
  std::size_t unfit = 0;  // Prompts that fit the current model's context, not the candidate's.
};

// What a comparison needs besides the prompt and the current model's result.
struct CompareContext {
  bool same_vocab = true;
  const Policy& policy;
  int current_training_context = 0;
};

// The context a prompt and its continuation must fit: the policy's, capped by
// the model's training context when the file states one.
int UsableContext(const Policy& policy, int training_context) {
  return training_context > 0 ? std::min(policy.context_length, training_context)
                              : policy.context_length;
}

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

// The prompt as `model` sees it: its text, or its messages rendered with the
// model's own chat template.
Result<std::string> PromptText(LoadedModel& model, const EvalPrompt& prompt) {
  if (prompt.messages.empty()) return prompt.text;
  return model.ApplyChatTemplate(prompt.messages, /*add_assistant_prefix=*/true);
}

// Each token's piece, so that tokenizations can be compared across
// vocabularies.
Result<std::vector<std::string>> Pieces(LoadedModel& model, std::span<const Token> tokens) {
  std::vector<std::string> pieces;
  pieces.reserve(tokens.size());
  for (const Token t : tokens) {
    auto piece = model.Detokenize(std::span<const Token>(&t, 1));
    if (!piece.ok()) return Runtime("detokenizing", piece.error());
    pieces.push_back(std::move(*piece));
  }
  return pieces;
}

// The same tokenization: the same ids within one vocabulary, the same pieces
// across two.
Result<bool> SameTokens(LoadedModel& model, std::span<const Token> mine, bool same_vocab,
                        std::span<const Token> current_ids,
                        const std::vector<std::string>& current_pieces) {
  if (same_vocab)
    return std::equal(mine.begin(), mine.end(), current_ids.begin(), current_ids.end());
  OTA_ASSIGN_OR_RETURN(std::vector<std::string> pieces, Pieces(model, mine));
  return pieces == current_pieces;
}

bool Contains(const std::vector<Token>& sorted, Token t) {
  return std::binary_search(sorted.begin(), sorted.end(), t);
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
  auto rendered = PromptText(model, prompt);
  if (!rendered.ok()) {
    const ErrorCode code = rendered.error().code;
    if (!prompt.messages.empty() &&
        (code == ErrorCode::kNotFound || code == ErrorCode::kIncompatible)) {
      ref.skipped = true;  // The app cannot chat with the current model either.
      return ref;
    }
    return Runtime("rendering prompt \"" + prompt.id + "\"", rendered.error());
  }
  ref.text = std::move(*rendered);
  const std::size_t room =
      static_cast<std::size_t>(std::max(1, policy.context_length - prompt.max_new_tokens - 1));
  OTA_ASSIGN_OR_RETURN(ref.prompt,
                       TokenizeFitting(model, ref.text, room, "prompt \"" + prompt.id + "\""));
  OTA_ASSIGN_OR_RETURN(ref.pieces, Pieces(model, ref.prompt));
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
  // Generation stopped on an end-of-generation token when it ended before
  // its budget and the context: the position after the last generated token
  // is then compared too (it decides the stop), and its top-1 is that token.
  ref.stopped = static_cast<int>(ref.greedy.size()) < prompt.max_new_tokens &&
                static_cast<int>(ref.sequence.size()) < model.Info().context_length;
  const int first = static_cast<int>(ref.prompt.size()) - 1;
  const int count = ref.stopped ? static_cast<int>(ref.greedy.size()) + 1
                                : std::max<int>(1, static_cast<int>(ref.greedy.size()));
  for (int i = 0; i < count; ++i) ref.positions.push_back(first + i);
  OTA_TRY(guard.Check());
  auto dists = model.EvaluateLogProbs(ref.sequence, ref.positions);
  if (!dists.ok()) return Runtime("evaluating prompt \"" + prompt.id + "\"", dists.error());
  tp.Add(model, ref.sequence.size());
  ref.dists = std::move(*dists);
  if (ref.stopped && !ref.dists.empty())
    ref.stop_token = static_cast<Token>(Top1(ref.dists.back()));
  return ref;
}

// Counts every check the current model's output passed as a regression.
void RegressAll(const EvalPrompt& prompt, const PromptRef& ref, const std::string& why,
                Accumulator& acc) {
  for (std::size_t c = 0; c < prompt.checks.size(); ++c) {
    if (!ref.passed[c]) continue;
    ++acc.regressions;
    if (acc.regressed.size() < kMaxListedRegressions) {
      acc.regressed.push_back({prompt.id, prompt.checks[c]->Describe(), why});
    }
  }
}

// Whether `model` ends generation where the current model did. Within one
// vocabulary this is read from the current model's own continuation: none of
// its tokens may end the candidate's generation, and the token it stopped on
// must. Across vocabularies, both stop before the budget or neither does.
void CompareStop(const LoadedModel& model, const EvalPrompt& prompt, const PromptRef& ref,
                 const CompareContext& ctx, const std::vector<Token>& generated, Accumulator& acc) {
  const std::vector<Token>& eog = model.Info().end_of_generation;
  bool exercised = ref.stopped;
  bool same = true;
  if (ctx.same_vocab) {
    for (const Token t : ref.greedy) {
      if (Contains(eog, t)) exercised = true, same = false;
    }
    if (ref.stopped && !Contains(eog, ref.stop_token)) same = false;
  } else {
    const bool stopped = static_cast<int>(generated.size()) < prompt.max_new_tokens;
    exercised = exercised || stopped;
    same = stopped == ref.stopped;
  }
  if (!exercised) return;
  ++acc.stop_prompts;
  if (same) ++acc.stop_same;
}

// Compares `model` with the current model's results on one prompt.
Status ComparePrompt(LoadedModel& model, const EvalPrompt& prompt, const PromptRef& ref,
                     const CompareContext& ctx, Accumulator& acc, const Guard& guard) {
  if (ref.skipped) return Ok();
  auto own_text = PromptText(model, prompt);
  if (!prompt.messages.empty()) {
    ++acc.chat_renders;
    if (own_text.ok() && *own_text == ref.text) ++acc.chat_same;
  }
  if (!own_text.ok()) {
    RegressAll(prompt, ref, "the candidate cannot render the prompt: " + own_text.error().message,
               acc);
    ++acc.prompts;
    return Ok();
  }
  auto own = model.Tokenize(*own_text, /*add_bos=*/true);
  if (!own.ok()) return Runtime("tokenizing prompt \"" + prompt.id + "\"", own.error());
  OTA_ASSIGN_OR_RETURN(const bool same_tokens,
                       SameTokens(model, *own, ctx.same_vocab, ref.prompt, ref.pieces));
  ++acc.texts;
  if (same_tokens) ++acc.texts_same;
  // A prompt no longer fits when the candidate cannot run it in the policy's
  // context, or when it fitted the current model's training context and
  // does not fit the candidate's (one beyond both changed nothing).
  const int need = static_cast<int>(own->size()) + prompt.max_new_tokens + 1;
  const int current_need = static_cast<int>(ref.prompt.size()) + prompt.max_new_tokens + 1;
  const bool fitted = current_need <= UsableContext(ctx.policy, ctx.current_training_context);
  if (need > ctx.policy.context_length ||
      (fitted && need > UsableContext(ctx.policy, model.Info().training_context_length))) {
    ++acc.unfit;
    RegressAll(prompt, ref, "the prompt no longer fits the candidate's context", acc);
    ++acc.prompts;
    return Ok();
  }
  if (ctx.same_vocab) {
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
  }
  OTA_TRY(guard.Check());
  auto generated = model.Generate(*own, prompt.max_new_tokens);
  if (!generated.ok()) {
    return Runtime("generating for prompt \"" + prompt.id + "\"", generated.error());
  }
  acc.throughput.Add(model, own->size() + generated->size());
  const std::vector<Token> greedy = std::move(*generated);
  if (ctx.same_vocab) {
    ++acc.greedy_count;
    if (greedy == ref.greedy) ++acc.greedy_exact;
    acc.lcp_sum += static_cast<double>(internal::CommonPrefix(greedy, ref.greedy));
  }
  CompareStop(model, prompt, ref, ctx, greedy, acc);
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
                        const ReferenceRef& current, const CompareContext& ctx, Accumulator& acc,
                        const Guard& guard) {
  ReferenceRef mine;
  auto own = model.Tokenize(reference.text, /*add_bos=*/true);
  if (!own.ok()) return Runtime("tokenizing reference \"" + reference.id + "\"", own.error());
  OTA_ASSIGN_OR_RETURN(const bool same_tokens,
                       SameTokens(model, *own, ctx.same_vocab, current.tokens, current.pieces));
  ++acc.texts;
  if (same_tokens) ++acc.texts_same;
  if (!ctx.same_vocab && own->size() > static_cast<std::size_t>(ctx.policy.context_length)) {
    ++acc.unfit;  // Not scored: the candidate's tokens no longer fit.
    return Ok();
  }
  // Within one vocabulary the candidate scores the current model's tokens, so
  // the perplexity ratio compares like with like.
  mine.tokens = ctx.same_vocab ? current.tokens : std::move(*own);
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

// A fixed conversation both models render with their chat templates, so a
// changed template is measured even when the eval set has no chat prompt.
const std::vector<runtime_adapter::ChatMessage>& ProbeConversation() {
  static const std::vector<runtime_adapter::ChatMessage> probe = {
      {"system", "You are a helpful assistant."},
      {"user", "Hello, who are you?"},
      {"assistant", "I am an assistant."},
      {"user", "What can you do?"}};
  return probe;
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
    m.texts_tokenized = cand_.texts;
    m.tokenization_agreement = Rate(cand_.texts_same, cand_.texts);
    m.stop_prompts = cand_.stop_prompts;
    m.stop_agreement = Rate(cand_.stop_same, cand_.stop_prompts);
    m.chat_renders = cand_.chat_renders;
    m.template_agreement = Rate(cand_.chat_same, cand_.chat_renders);
    const int needed = UsableContext(policy_, m.current_training_context);
    m.context_fits = cand_.unfit == 0 &&
                     (m.candidate_training_context <= 0 || m.candidate_training_context >= needed);
    m.current_cpu_tokens_per_second = current_tp_.CpuTokensPerSecond();
    m.candidate_cpu_tokens_per_second = cand_.throughput.CpuTokensPerSecond();
    // CPU time when the runtime measures it: the candidate runs minutes after
    // the current model, at idle priority, so wall time also times whatever
    // else the device did meanwhile.
    const bool by_cpu =
        m.current_cpu_tokens_per_second > 0 && m.candidate_cpu_tokens_per_second > 0;
    const double current_rate =
        by_cpu ? m.current_cpu_tokens_per_second : m.current_tokens_per_second;
    const double candidate_rate =
        by_cpu ? m.candidate_cpu_tokens_per_second : m.candidate_tokens_per_second;
    if (current_rate > 0 && candidate_rate > 0) {
      // A few milliseconds of compute time nothing but the machine's noise.
      const double timed = by_cpu
                               ? std::min(current_tp_.CpuSeconds(), cand_.throughput.CpuSeconds())
                               : std::min(current_tp_.Seconds(), cand_.throughput.Seconds());
      if (timed >= policy_.min_timed_seconds) {
        m.latency_ratio = current_rate / candidate_rate;
        m.latency_basis = by_cpu ? "cpu" : "wall";
      } else {
        char line[160];
        std::snprintf(line, sizeof line,
                      "latency not compared: a model computed for %.3g s, under the %.3g s "
                      "(min_timed_seconds) a ratio of rates needs",
                      timed, policy_.min_timed_seconds);
        report_.notes.push_back(line);
      }
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
  Result<std::unique_ptr<LoadedModel>> OpenCurrent(const std::string& path) {
    auto model = OpenModel(runtime_, path, policy_, "current");
    if (!model.ok() && model.error().code != ErrorCode::kCancelled) {
      report_.current_unavailable = true;
    }
    return model;
  }

  Status NoteCurrent(LoadedModel& model) {
    report_.metrics.current_vocab = model.Info().vocab_fingerprint;
    report_.metrics.current_training_context = model.Info().training_context_length;
    current_facts_ = internal::FactsOf(model.Info());
    if (auto probe = model.ApplyChatTemplate(ProbeConversation(), true); probe.ok()) {
      current_probe_ = std::move(*probe);
    }
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
    m.candidate_training_context = model.Info().training_context_length;
    report_.contract_changes =
        internal::CompareFacts(current_facts_, internal::FactsOf(model.Info()));
    if (current_probe_) {
      ++cand_.chat_renders;
      auto probe = model.ApplyChatTemplate(ProbeConversation(), true);
      if (probe.ok() && *probe == *current_probe_) ++cand_.chat_same;
    }
  }

  void NotePeak(const LoadedModel& model) {
    report_.metrics.peak_resident_bytes =
        std::max(report_.metrics.peak_resident_bytes, model.Resources().peak_resident_bytes);
  }

  Status CurrentPrompt(LoadedModel& model, std::size_t i, PromptRef& out) {
    OTA_ASSIGN_OR_RETURN(out,
                         EvaluateCurrent(model, eval_.prompts[i], policy_, current_tp_, guard_));
    // Skipped prompts are skipped for every model, so the entries stay in
    // step with the prompts each model compared.
    if (out.skipped) {
      ++report_.metrics.chat_prompts_skipped;
    } else {
      refs_passed_.push_back(out.passed);
    }
    return Ok();
  }

  Status CurrentReference(LoadedModel& model, std::size_t i, ReferenceRef& out) {
    OTA_ASSIGN_OR_RETURN(out.tokens,
                         TokenizeFitting(model, eval_.references[i].text,
                                         static_cast<std::size_t>(policy_.context_length),
                                         "reference \"" + eval_.references[i].id + "\""));
    OTA_ASSIGN_OR_RETURN(out.pieces, Pieces(model, out.tokens));
    OTA_TRY(ScoreReference(model, out, current_tp_, guard_));
    current_nll_ += out.nll;
    current_nll_count_ += out.count;
    return Ok();
  }

  Status CompareAll(LoadedModel& model, const std::vector<PromptRef>& prompts,
                    const std::vector<ReferenceRef>& references, bool same_vocab,
                    Accumulator& acc) {
    const CompareContext ctx{same_vocab, policy_, report_.metrics.current_training_context};
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      OTA_TRY(ComparePrompt(model, eval_.prompts[i], prompts[i], ctx, acc, guard_));
    }
    for (std::size_t i = 0; i < references.size(); ++i) {
      OTA_TRY(CompareReference(model, eval_.references[i], references[i], ctx, acc, guard_));
    }
    NotePeak(model);
    return Ok();
  }

  Status Sequential(const std::string& current_path, const std::string& candidate_path) {
    std::vector<PromptRef> prompts(eval_.prompts.size());
    std::vector<ReferenceRef> references(eval_.references.size());
    {
      OTA_TRY(guard_.Check());
      OTA_ASSIGN_OR_RETURN(auto current, OpenCurrent(current_path));
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
    OTA_ASSIGN_OR_RETURN(auto current, OpenCurrent(current_path));
    OTA_TRY(NoteCurrent(*current));
    std::unique_ptr<LoadedModel> aa;
    if (policy_.calibrate) {
      OTA_ASSIGN_OR_RETURN(aa, OpenModel(runtime_, current_path, policy_, "A/A copy of current"));
    }
    OTA_TRY(guard_.Check());
    OTA_ASSIGN_OR_RETURN(auto candidate, OpenModel(runtime_, candidate_path, policy_, "candidate"));
    NoteCandidate(*candidate);
    const CompareContext aa_ctx{true, policy_, report_.metrics.current_training_context};
    const CompareContext ctx{report_.metrics.vocab_match, policy_,
                             report_.metrics.current_training_context};
    for (std::size_t i = 0; i < eval_.prompts.size(); ++i) {
      PromptRef ref;
      OTA_TRY(CurrentPrompt(*current, i, ref));
      if (aa) OTA_TRY(ComparePrompt(*aa, eval_.prompts[i], ref, aa_ctx, aa_, guard_));
      OTA_TRY(ComparePrompt(*candidate, eval_.prompts[i], ref, ctx, cand_, guard_));
    }
    for (std::size_t i = 0; i < eval_.references.size(); ++i) {
      ReferenceRef ref;
      OTA_TRY(CurrentReference(*current, i, ref));
      if (aa) OTA_TRY(CompareReference(*aa, eval_.references[i], ref, aa_ctx, aa_, guard_));
      OTA_TRY(CompareReference(*candidate, eval_.references[i], ref, ctx, cand_, guard_));
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
  std::vector<runtime_adapter::GenerationFact> current_facts_;
  std::optional<std::string> current_probe_;  // The probe as the current model renders it.
  Accumulator aa_;
  Accumulator cand_;
};

}  // namespace

namespace internal {

void Throughput::Add(const LoadedModel& model, std::size_t tokens) {
  const runtime_adapter::ResourceFigures figures = model.Resources();
  const double rate = figures.tokens_per_second;
  if (rate <= 0 || tokens == 0) return;
  tokens_ += static_cast<double>(tokens);
  seconds_ += static_cast<double>(tokens) / rate;
  if (figures.cpu_tokens_per_second > 0) {
    cpu_seconds_ += static_cast<double>(tokens) / figures.cpu_tokens_per_second;
  } else {
    cpu_complete_ = false;
  }
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
  internal::AppEvidence app;
  if (!eval.builtin) {
    for (const EvalPrompt& p : eval.prompts) {
      if (p.checks.empty()) continue;
      app.checks = report.metrics.prompts_evaluated > 0;
      if (!p.messages.empty()) app.chat_checks = app.checks;
    }
  }
  internal::Decide(report, eval.CheckCount() > 0, app, attempt);
  return report;
}

}  // namespace ota::shadow
