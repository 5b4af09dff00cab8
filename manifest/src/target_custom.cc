#include "ota/manifest/target_custom.h"

#include "json_fields.h"
#include "ota/common/hash.h"

namespace ota::manifest {

Result<std::optional<ContainerHead>> ParseContainerHead(const nlohmann::json& info) {
  if (!info.is_object() || !info.contains("head")) return std::optional<ContainerHead>();
  OTA_ASSIGN_OR_RETURN(internal::Fields f, internal::Fields::Of(info.at("head"), "head"));
  for (const auto& [key, value] : info.at("head").items()) {
    if (key != "length" && key != "sha256") return f.Invalid(key, "unknown field");
  }
  ContainerHead head;
  OTA_ASSIGN_OR_RETURN(head.length, f.Uint("length"));
  if (head.length <= 56 || head.length > kMaxContainerHeadLength) {
    return f.Invalid("length", "must be between 57 and " + std::to_string(kMaxContainerHeadLength));
  }
  OTA_ASSIGN_OR_RETURN(head.sha256, f.String("sha256"));
  if (!IsLowerHex(head.sha256, 64)) return f.Invalid("sha256", "must be 64 lower-case hex digits");
  return std::optional<ContainerHead>(std::move(head));
}

}  // namespace ota::manifest
