// Test-model synthesis in a build without llama.cpp: ggml's GGUF writer is not
// available, so every request fails with a clear, actionable error.
#include "ota/runtime_adapter/model_synth.h"

namespace ota::runtime_adapter {

bool ModelSynthesisAvailable() { return false; }

Status SynthesizeModel(FileSystem& /*fs*/, const SynthOptions& options,
                       const std::string& /*out_path*/) {
  OTA_TRY(ValidateSynthOptions(options));
  return MakeError(ErrorCode::kIncompatible,
                   "model synthesis unavailable: built without llama.cpp: run scripts/setup");
}

}  // namespace ota::runtime_adapter
