// The llama.cpp adapter in a build without llama.cpp: every request fails
// with a clear, actionable error.
#include "ota/runtime_adapter/runtime.h"

namespace ota::runtime_adapter {

bool LlamaRuntimeAvailable() { return false; }

Result<std::unique_ptr<Runtime>> MakeLlamaRuntime(Clock* /*clock*/) {
  return MakeError(ErrorCode::kIncompatible, "built without llama.cpp: run scripts/setup");
}

}  // namespace ota::runtime_adapter
