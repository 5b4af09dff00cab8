#include "ota/shadow/mirror.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "ota/common/thread_priority.h"
#include "ota/shadow/metrics.h"
#include "run_internal.h"

namespace ota::shadow {
namespace {

using runtime_adapter::Token;

std::uint64_t SplitMix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// The longest pause between replays is split so that Stop stays prompt.
constexpr auto kPauseSlice = std::chrono::milliseconds(50);

}  // namespace

Result<std::unique_ptr<Mirror>> Mirror::Start(runtime_adapter::LoadedModel& candidate,
                                              MirrorOptions options, Clock& clock) {
  if (!(options.sample_rate >= 0 && options.sample_rate <= 1)) {
    return MakeError(ErrorCode::kInvalidArgument, "sample_rate must be from 0 to 1");
  }
  if (options.queue_capacity < 1 || options.queue_capacity > 1024) {
    return MakeError(ErrorCode::kInvalidArgument, "queue_capacity must be from 1 to 1024");
  }
  if (!(options.cpu_budget > 0 && options.cpu_budget <= 1)) {
    return MakeError(ErrorCode::kInvalidArgument, "cpu_budget must be more than 0 and at most 1");
  }
  if (options.max_new_tokens < 1 || options.max_new_tokens > 512) {
    return MakeError(ErrorCode::kInvalidArgument, "max_new_tokens must be from 1 to 512");
  }
  std::unique_ptr<Mirror> mirror(new Mirror(candidate, std::move(options), clock));
  mirror->worker_ = std::thread([m = mirror.get()] { m->Loop(); });
  return mirror;
}

Mirror::Mirror(runtime_adapter::LoadedModel& candidate, MirrorOptions options, Clock& clock)
    : candidate_(candidate),
      options_(std::move(options)),
      clock_(clock),
      rng_state_(options_.seed) {}

Mirror::~Mirror() { Stop(); }

bool Mirror::Sample() {
  const double u = static_cast<double>(SplitMix64(rng_state_) >> 11) * 0x1.0p-53;
  return u < options_.sample_rate;
}

bool Mirror::Offer(std::string_view request, std::string_view production_output) {
  std::lock_guard lock(mu_);
  ++stats_.offered;
  if (stop_ || !Sample()) return false;
  ++stats_.sampled;
  if (request.empty() || request.size() > options_.max_request_bytes ||
      production_output.size() > options_.max_output_bytes) {
    ++stats_.too_large;
    return false;
  }
  if (queue_.size() >= options_.queue_capacity) {
    ++stats_.dropped;
    return false;
  }
  queue_.push_back(Item{std::string(request), std::string(production_output)});
  cv_.notify_all();
  return true;
}

MirrorStats Mirror::Stats() const {
  std::lock_guard lock(mu_);
  MirrorStats s = stats_;
  auto rate = [](double n, double d) -> std::optional<double> {
    if (d <= 0) return std::nullopt;
    return n / d;
  };
  s.same_top1 = rate(static_cast<double>(top1_same_), static_cast<double>(s.positions));
  if (s.positions > 0) s.perplexity = std::exp(nll_ / static_cast<double>(s.positions));
  s.exact_match_rate = rate(static_cast<double>(exact_), static_cast<double>(compared_));
  s.mean_lcp_tokens = rate(lcp_sum_, static_cast<double>(compared_));
  s.pass_rate_production =
      rate(static_cast<double>(production_passed_), static_cast<double>(checks_applied_));
  s.pass_rate_candidate =
      rate(static_cast<double>(candidate_passed_), static_cast<double>(checks_applied_));
  s.compared = compared_;
  s.checks_applied = checks_applied_;
  return s;
}

void Mirror::WaitIdle() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return (queue_.empty() && !busy_) || stop_; });
}

void Mirror::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    queue_.clear();
    cv_.notify_all();
  }
  if (worker_.joinable()) worker_.join();
}

void Mirror::Loop() {
  // Replays never compete with the app's own inference for the CPU.
  (void)LowerThisThreadPriority();
  for (;;) {
    Item item;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      item = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    const auto start = clock_.Monotonic();
    Replay(item);
    item = Item{};  // The texts go as soon as the replay ends.
    const auto busy = clock_.Monotonic() - start;
    {
      std::lock_guard lock(mu_);
      stats_.busy_seconds += std::chrono::duration<double>(busy).count();
    }
    // Hold the busy share under cpu_budget: pause busy * (1/budget - 1).
    auto pause = std::chrono::duration_cast<std::chrono::milliseconds>(
        busy * (1.0 / options_.cpu_budget - 1.0));
    while (pause.count() > 0) {
      {
        std::lock_guard lock(mu_);
        if (stop_) break;
      }
      const auto slice = std::min(pause, std::chrono::milliseconds(kPauseSlice));
      clock_.SleepFor(slice);
      pause -= slice;
    }
    {
      std::lock_guard lock(mu_);
      busy_ = false;
      cv_.notify_all();
    }
  }
}

void Mirror::Replay(Item& item) {
  auto fail = [&] {
    std::lock_guard lock(mu_);
    ++stats_.failed;
  };
  auto prompt = candidate_.Tokenize(item.request, /*add_bos=*/true);
  auto produced = candidate_.Tokenize(item.output, /*add_bos=*/false);
  if (!prompt.ok() || !produced.ok() || prompt->empty()) return fail();
  const std::size_t context =
      static_cast<std::size_t>(std::max(8, candidate_.Info().context_length));
  if (prompt->size() + static_cast<std::size_t>(options_.max_new_tokens) + 1 > context) {
    return fail();
  }
  // Teacher-forced on the production output (as far as the context allows).
  std::vector<Token> sequence = *prompt;
  const std::size_t room = context - prompt->size();
  const std::size_t scored = std::min(produced->size(), room);
  sequence.insert(sequence.end(), produced->begin(), produced->begin() + scored);
  std::vector<int> positions;
  for (std::size_t i = 0; i < scored; ++i)
    positions.push_back(static_cast<int>(prompt->size() + i) - 1);
  std::size_t top1 = 0;
  double nll = 0;
  if (!positions.empty()) {
    auto dists = candidate_.EvaluateLogProbs(sequence, positions);
    if (!dists.ok()) return fail();
    for (std::size_t i = 0; i < positions.size(); ++i) {
      const Token next = (*produced)[i];
      if (static_cast<Token>(Top1((*dists)[i])) == next) ++top1;
      nll -= static_cast<double>((*dists)[i][static_cast<std::size_t>(next)]);
    }
  }
  auto greedy = candidate_.Generate(*prompt, options_.max_new_tokens);
  if (!greedy.ok()) return fail();
  auto text = candidate_.Detokenize(*greedy);
  if (!text.ok()) return fail();
  const std::size_t lcp = internal::CommonPrefix(*greedy, *produced);
  std::size_t production_passed = 0;
  std::size_t candidate_passed = 0;
  std::uint64_t regressions = 0;
  for (const Check* check : options_.checks) {
    const bool p = check->Apply(item.output);
    const bool c = check->Apply(*text);
    production_passed += p;
    candidate_passed += c;
    if (p && !c) ++regressions;
  }
  std::lock_guard lock(mu_);
  ++stats_.replayed;
  stats_.positions += positions.size();
  top1_same_ += top1;
  nll_ += nll;
  ++compared_;
  if (*text == item.output) ++exact_;
  lcp_sum_ += static_cast<double>(lcp);
  checks_applied_ += options_.checks.size();
  production_passed_ += production_passed;
  candidate_passed_ += candidate_passed;
  stats_.regressions += regressions;
}

}  // namespace ota::shadow
