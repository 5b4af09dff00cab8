#include "ota/runtime_adapter/runtime_registry.h"

#include <algorithm>
#include <utility>

#include "ota/common/log.h"
#include "ota/manifest/version_range.h"

namespace ota::runtime_adapter {
Result<bool> VersionInRange(const manifest::Version& version, std::string_view range) {
  // bundle.json leaves the range empty for "any version".
  if (range.find_first_not_of(' ') == std::string_view::npos) return true;
  OTA_ASSIGN_OR_RETURN(const manifest::VersionRange parsed, manifest::ParseVersionRange(range));
  return manifest::Satisfies(version, parsed);
}

Status RuntimeRegistry::Register(std::shared_ptr<Runtime> runtime) {
  if (runtime == nullptr) return MakeError(ErrorCode::kInvalidArgument, "null runtime");
  for (const auto& existing : runtimes_) {
    if (existing->Name() == runtime->Name()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "runtime '" + std::string(runtime->Name()) + "' is already registered");
    }
  }
  runtimes_.push_back(std::move(runtime));
  return Ok();
}

std::string RuntimeRegistry::Describe() const {
  if (runtimes_.empty()) return "no runtimes registered";
  std::string text = "registered:";
  for (std::size_t i = 0; i < runtimes_.size(); ++i) {
    const Runtime& r = *runtimes_[i];
    text += (i == 0 ? " " : "; ") + std::string(r.Name()) + " " +
            manifest::ToString(r.RuntimeVersion()) + " for";
    const std::vector<std::string> formats = r.Formats();
    for (std::size_t f = 0; f < formats.size(); ++f) text += (f == 0 ? " " : ", ") + formats[f];
  }
  return text;
}

Result<std::shared_ptr<Runtime>> RuntimeRegistry::Select(
    std::string_view format, const std::optional<manifest::BundleRuntime>& requirement) const {
  auto opens = [format](const Runtime& runtime) {
    const std::vector<std::string> formats = runtime.Formats();
    return std::find(formats.begin(), formats.end(), format) != formats.end();
  };
  if (!requirement.has_value()) {
    for (const auto& runtime : runtimes_) {
      if (opens(*runtime)) return runtime;
    }
    return MakeError(ErrorCode::kIncompatible, "no runtime for model format '" +
                                                   std::string(format) + "' (" + Describe() + ")");
  }
  for (const auto& runtime : runtimes_) {
    if (runtime->Name() != requirement->name) continue;
    const std::string have =
        std::string(runtime->Name()) + " " + manifest::ToString(runtime->RuntimeVersion());
    if (!opens(*runtime)) {
      return MakeError(ErrorCode::kIncompatible,
                       have + " does not open model format '" + std::string(format) + "'");
    }
    OTA_ASSIGN_OR_RETURN(const bool in_range,
                         VersionInRange(runtime->RuntimeVersion(), requirement->version));
    if (!in_range) {
      return MakeError(ErrorCode::kIncompatible,
                       have + " does not satisfy '" + requirement->version + "'");
    }
    return runtime;
  }
  return MakeError(ErrorCode::kIncompatible,
                   "runtime '" + requirement->name + "' is not available (" + Describe() + ")");
}

Result<std::shared_ptr<Runtime>> RuntimeRegistry::SelectFor(
    const manifest::BundleManifest& manifest) const {
  return Select(manifest.model.format, manifest.runtime);
}

RuntimeRegistry MakeDefaultRuntimeRegistry(Clock* clock) {
  RuntimeRegistry registry;
  Result<std::unique_ptr<Runtime>> llama = MakeLlamaRuntime(clock);
  if (llama.ok()) {
    Status added = registry.Register(std::shared_ptr<Runtime>(std::move(llama).value()));
    if (!added.ok()) Log(LogLevel::kError, "runtime_adapter", added.error().ToString());
  }
  return registry;
}

}  // namespace ota::runtime_adapter
