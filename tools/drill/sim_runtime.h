// A simulated inference runtime for fleet drills: opens any file as a model
// over a byte vocabulary and answers deterministically and instantly, so
// that thousands of devices' shadow tests and load checks fit on a laptop.
// A model whose file digest is marked faulty for the device behaves as the
// fault says: other next-token distributions and generations (its shadow
// test fails), or no load at all.
#ifndef OTA_TOOLS_DRILL_SIM_RUNTIME_H_
#define OTA_TOOLS_DRILL_SIM_RUNTIME_H_

#include <memory>
#include <set>
#include <string>

#include "ota/common/env.h"
#include "ota/runtime_adapter/runtime.h"

namespace ota::drill {

struct SimBehaviour {
  FileSystem* fs = nullptr;
  // SHA-256 (hex) of model files that diverge from every other model.
  std::set<std::string> diverging;
  // SHA-256 (hex) of model files that fail to load.
  std::set<std::string> unloadable;
};

// Registered under the llama.cpp adapter's name and format ("gguf"), so
// bundles built for the real runtime select it.
std::shared_ptr<runtime_adapter::Runtime> MakeSimRuntime(SimBehaviour behaviour);

}  // namespace ota::drill

#endif  // OTA_TOOLS_DRILL_SIM_RUNTIME_H_
