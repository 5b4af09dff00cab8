// Per-type requantization thresholds (docs/decisions.md, "Variants are gated
// per quantization type").
#include "ota/shadow/policy.h"

namespace ota::shadow {
namespace {

// llama.cpp's tools/perplexity README, "LLaMA 3 8b Scoreboard" and "LLaMA 2
// vs. LLaMA 3 Quantization comparison" (wikitext-2, no importance matrix):
// mean KL divergence against F16, and the same-top-1 ("same top p") rate. A
// rate marked interpolated is not published for that type; it is taken
// linearly in mean KL between the published neighbours.
struct Reference {
  double mean_kl;
  double same_top1;
};

Reference ReferenceFor(runtime_adapter::QuantType type) {
  using runtime_adapter::QuantType;
  switch (type) {
    case QuantType::kQ8_0:
      return {0.001355, 0.97674};
    case QuantType::kQ6_K:
      return {0.005452, 0.96031};
    case QuantType::kQ5_K_M:
      return {0.010762, 0.9518};  // Rate interpolated (q6_k, q4_k_m).
    case QuantType::kQ5_K_S:
      return {0.016595, 0.9425};  // Rate interpolated (q6_k, q4_k_m).
    case QuantType::kQ4_K_M:
      return {0.031273, 0.91901};
    case QuantType::kQ4_K_S:
      return {0.043136, 0.9131};  // Rate interpolated (q4_k_m, q2_k).
    case QuantType::kQ4_0:
      return {0.071940, 0.8986};  // Rate interpolated (q4_k_m, q2_k).
    case QuantType::kQ3_K_M:
      return {0.101913, 0.8836};  // Rate interpolated (q4_k_m, q2_k).
    case QuantType::kQ2_K:
      return {0.445132, 0.71138};
    case QuantType::kF16:
      break;
  }
  return {0.0, 1.0};
}

constexpr double kKlFactor = 2.0;
constexpr double kTop1Margin = 0.03;

}  // namespace

Thresholds RequantizationThresholds(runtime_adapter::QuantType type) {
  Thresholds t;
  t.max_memory_ratio = 1.5;
  if (type == runtime_adapter::QuantType::kF16) {
    const Thresholds equivalence = DefaultThresholds(Gate::kEquivalence);
    t.min_same_top1 = equivalence.min_same_top1;
    t.max_mean_kl = equivalence.max_mean_kl;
    return t;
  }
  const Reference ref = ReferenceFor(type);
  t.max_mean_kl = ref.mean_kl * kKlFactor;
  t.min_same_top1 = ref.same_top1 - kTop1Margin;
  return t;
}

}  // namespace ota::shadow
