// Quantization in a build without llama.cpp: every request fails with a
// clear, actionable error.
#include "ota/runtime_adapter/quantize.h"

namespace ota::runtime_adapter {

Result<QuantizeResult> QuantizeModel(const std::string& /*in*/, const std::string& /*out*/,
                                     const QuantizeOptions& /*options*/) {
  return MakeError(ErrorCode::kIncompatible,
                   "quantization unavailable: built without llama.cpp: run scripts/setup");
}

}  // namespace ota::runtime_adapter
