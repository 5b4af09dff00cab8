#include "ota/shadow/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ota::shadow {
namespace {

// log(sum(exp(x))) computed stably.
double LogSumExp(std::span<const float> x) {
  double max = -std::numeric_limits<double>::infinity();
  for (float v : x) max = std::max(max, static_cast<double>(v));
  if (std::isinf(max)) return max;
  double sum = 0.0;
  for (float v : x) sum += std::exp(static_cast<double>(v) - max);
  return max + std::log(sum);
}

}  // namespace

Result<double> KlDivergence(std::span<const float> log_p, std::span<const float> log_q) {
  if (log_p.empty() || log_p.size() != log_q.size()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "distributions must be non-empty and of equal size");
  }
  for (std::size_t i = 0; i < log_p.size(); ++i) {
    if (std::isnan(log_p[i]) || std::isnan(log_q[i])) {
      return MakeError(ErrorCode::kInvalidArgument, "distribution contains NaN");
    }
  }
  const double norm_p = LogSumExp(log_p);
  const double norm_q = LogSumExp(log_q);
  double kl = 0.0;
  for (std::size_t i = 0; i < log_p.size(); ++i) {
    const double lp = static_cast<double>(log_p[i]) - norm_p;
    if (std::isinf(lp)) continue;  // p = 0 contributes nothing.
    const double lq = static_cast<double>(log_q[i]) - norm_q;
    kl += std::exp(lp) * (lp - lq);
  }
  return std::max(0.0, kl);
}

std::size_t Top1(std::span<const float> log_probs) {
  return static_cast<std::size_t>(std::max_element(log_probs.begin(), log_probs.end()) -
                                  log_probs.begin());
}

KlSummary SummarizeKl(std::vector<double> values) {
  KlSummary s;
  s.count = values.size();
  if (values.empty()) return s;
  double sum = 0.0;
  for (double v : values) sum += v;
  s.mean = sum / static_cast<double>(values.size());
  std::sort(values.begin(), values.end());
  const std::size_t rank =
      static_cast<std::size_t>(std::ceil(0.99 * static_cast<double>(values.size())));
  s.p99 = values[std::max<std::size_t>(rank, 1) - 1];
  return s;
}

}  // namespace ota::shadow
