// Equivalence metrics between the next-token distributions of the current
// and the candidate model. Pure math on log-probabilities; thread-safe.
#ifndef OTA_SHADOW_METRICS_H_
#define OTA_SHADOW_METRICS_H_

#include <cstddef>
#include <span>
#include <vector>

#include "ota/common/result.h"

namespace ota::shadow {

// KL(P || Q) in nats for two distributions given as log-probabilities over
// the same vocabulary (each should sum to 1 after exp; they are
// renormalised to guard against rounding). kInvalidArgument if the sizes
// differ or are zero, or a value is NaN.
Result<double> KlDivergence(std::span<const float> log_p, std::span<const float> log_q);

// Index of the most likely token (first one on ties). Requires non-empty input.
std::size_t Top1(std::span<const float> log_probs);

// Summary of per-position KL values: mean and 99th percentile (nearest rank).
struct KlSummary {
  double mean = 0.0;
  double p99 = 0.0;
  std::size_t count = 0;
};
KlSummary SummarizeKl(std::vector<double> values);

}  // namespace ota::shadow

#endif  // OTA_SHADOW_METRICS_H_
