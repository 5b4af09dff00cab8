// Pieces of a shadow run shared by Run, the verdict logic and the mirror.
// Private to the shadow module.
#ifndef OTA_SHADOW_SRC_RUN_INTERNAL_H_
#define OTA_SHADOW_SRC_RUN_INTERNAL_H_

#include <cstddef>
#include <span>
#include <vector>

#include "contract.h"
#include "ota/runtime_adapter/runtime.h"
#include "ota/shadow/report.h"

namespace ota::shadow::internal {

using runtime_adapter::Token;

// Tokens per second over several runtime calls: each call's token count
// divided by the rate the runtime reported for it.
class Throughput {
 public:
  void Add(const runtime_adapter::LoadedModel& model, std::size_t tokens);
  double TokensPerSecond() const { return seconds_ > 0 ? tokens_ / seconds_ : 0.0; }
  double Seconds() const { return seconds_; }  // Wall time the rates add up to.
  // The same by the runtime's CPU-time rates; 0 when it gave none for some call.
  double CpuTokensPerSecond() const {
    return cpu_complete_ && cpu_seconds_ > 0 ? tokens_ / cpu_seconds_ : 0.0;
  }
  double CpuSeconds() const { return cpu_complete_ ? cpu_seconds_ : 0.0; }

 private:
  double tokens_ = 0;
  double seconds_ = 0;
  double cpu_seconds_ = 0;
  bool cpu_complete_ = true;
};

// Length of the common prefix of two sequences.
std::size_t CommonPrefix(std::span<const Token> a, std::span<const Token> b);

// Fills report.rows, verdict, reasons and action from report.metrics,
// report.contract_changes and report.calibration under report.policy.
// `eval_has_checks` says whether the behaviour gate has anything to judge;
// `app` what the app's own eval set proved (contract.h).
void Decide(Report& report, bool eval_has_checks, const AppEvidence& app, int attempt);

}  // namespace ota::shadow::internal

#endif  // OTA_SHADOW_SRC_RUN_INTERNAL_H_
