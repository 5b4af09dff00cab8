// Choosing a runtime for a bundle.
//
// bundle.json declares the model's format (model.format, e.g. "gguf") and,
// optionally, the runtime it needs (runtime.name, e.g. "llama.cpp", and a
// version range, e.g. ">=0.5.0 <0.6.0"). The registry maps that declaration
// to a registered Runtime, or says precisely why none fits.
//
// Version ranges use the grammar of ota/manifest/version_range.h, e.g.
// ">=0.5.0 <1.0.0 || 2.0.0-rc.1"; an empty range (bundle.json's "any") or
// "*" allows every version.
//
// Thread-safety: Register must not run concurrently with anything else;
// Select and SelectFor are const and may run concurrently.
#ifndef OTA_RUNTIME_ADAPTER_RUNTIME_REGISTRY_H_
#define OTA_RUNTIME_ADAPTER_RUNTIME_REGISTRY_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ota/common/result.h"
#include "ota/manifest/bundle_manifest.h"
#include "ota/manifest/version.h"
#include "ota/runtime_adapter/runtime.h"

namespace ota::runtime_adapter {

// Whether `version` lies in `range`. kInvalidArgument naming the bad part
// when the range does not parse.
Result<bool> VersionInRange(const manifest::Version& version, std::string_view range);

class RuntimeRegistry {
 public:
  // Adds a runtime. kInvalidArgument for a null runtime or a name already
  // registered.
  Status Register(std::shared_ptr<Runtime> runtime);

  // The runtime that opens `format` and, when `requirement` is given, has its
  // name and a version in its range. With no requirement, the first
  // registered runtime that opens the format.
  // Errors: kIncompatible with the reason, e.g. "no runtime for model format
  // 'onnx' (registered: llama.cpp 0.5.0 for gguf)", "runtime 'x' is not
  // available", "llama.cpp 0.5.0 does not satisfy '>=1.0.0'", "llama.cpp does
  // not open model format 'onnx'"; kInvalidArgument when the range does not
  // parse.
  Result<std::shared_ptr<Runtime>> Select(
      std::string_view format, const std::optional<manifest::BundleRuntime>& requirement) const;

  // Select(manifest.model.format, manifest.runtime).
  Result<std::shared_ptr<Runtime>> SelectFor(const manifest::BundleManifest& manifest) const;

  const std::vector<std::shared_ptr<Runtime>>& runtimes() const { return runtimes_; }

 private:
  std::string Describe() const;

  std::vector<std::shared_ptr<Runtime>> runtimes_;
};

// A registry with every runtime this build includes (llama.cpp when built
// with it; otherwise empty). `clock` as for MakeLlamaRuntime.
RuntimeRegistry MakeDefaultRuntimeRegistry(Clock* clock = nullptr);

}  // namespace ota::runtime_adapter

#endif  // OTA_RUNTIME_ADAPTER_RUNTIME_REGISTRY_H_
