#include "ota/manifest/target_custom.h"

#include "json_fields.h"
#include "ota/common/hex.h"

namespace ota::manifest {
namespace {

using internal::Fields;

Result<std::string> Digest(const Fields& f, const char* name) {
  OTA_ASSIGN_OR_RETURN(std::string value, f.String(name));
  if (!IsLowerHex(value, 64)) return f.Invalid(name, "must be 64 lower-case hex digits");
  return value;
}

Result<BundleTargetInfo> ParseBundle(const nlohmann::json& info) {
  OTA_ASSIGN_OR_RETURN(Fields f, Fields::Of(info, "custom.modelota"));
  BundleTargetInfo out;
  OTA_ASSIGN_OR_RETURN(out.name, f.String("name"));
  if (out.name.empty()) return f.Invalid("name", "must not be empty");
  OTA_ASSIGN_OR_RETURN(out.version_text, f.String("version"));
  auto version = ParseVersion(out.version_text);
  if (!version.ok()) return f.Invalid("version", version.error().message);
  out.version = std::move(version).value();
  OTA_ASSIGN_OR_RETURN(out.variant, ParseVariantInfo(info));
  auto head = ParseContainerHead(info);
  if (!head.ok()) return f.Invalid("head", head.error().message);
  out.head = std::move(head).value();
  if (info.contains("download_policy")) {
    OTA_ASSIGN_OR_RETURN(
        out.download_policy,
        ParseDownloadPolicy(info.at("download_policy"), "custom.modelota.download_policy"));
  }
  return out;
}

Result<DeltaTargetInfo> ParseDelta(const nlohmann::json& info, bool compact) {
  OTA_ASSIGN_OR_RETURN(Fields f, Fields::Of(info, compact ? "custom.modelota_compact_delta"
                                                          : "custom.modelota_delta"));
  DeltaTargetInfo out;
  out.compact = compact;
  OTA_ASSIGN_OR_RETURN(out.name, f.String("name"));
  OTA_ASSIGN_OR_RETURN(out.version, f.String("version"));
  OTA_ASSIGN_OR_RETURN(out.delta_from, Digest(f, "delta_from"));
  OTA_ASSIGN_OR_RETURN(out.delta_to, Digest(f, "delta_to"));
  OTA_ASSIGN_OR_RETURN(out.delta_of, f.String("delta_of"));
  if (out.delta_of.empty()) return f.Invalid("delta_of", "must not be empty");
  if (compact) {
    OTA_ASSIGN_OR_RETURN(out.manifest_sha256, Digest(f, "manifest_sha256"));
  } else {
    auto head = ParseContainerHead(info);
    if (!head.ok()) return f.Invalid("head", head.error().message);
    out.head = std::move(head).value();
  }
  return out;
}

}  // namespace

Result<TargetCustom> ParseTargetCustom(const nlohmann::json& custom) {
  TargetCustom out;
  if (custom.is_null()) return out;
  if (!custom.is_object()) {
    return MakeError(ErrorCode::kInvalidArgument, "custom must be an object");
  }
  if (auto it = custom.find("modelota"); it != custom.end()) {
    OTA_ASSIGN_OR_RETURN(out.bundle, ParseBundle(*it));
  }
  for (const bool compact : {false, true}) {
    auto it = custom.find(compact ? "modelota_compact_delta" : "modelota_delta");
    if (it == custom.end()) continue;
    if (out.bundle || out.delta) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "custom describes more than one of a bundle, a delta and a compact delta");
    }
    OTA_ASSIGN_OR_RETURN(out.delta, ParseDelta(*it, compact));
  }
  return out;
}

Result<std::optional<ContainerHead>> ParseContainerHead(const nlohmann::json& info) {
  if (!info.is_object() || !info.contains("head")) return std::optional<ContainerHead>();
  OTA_ASSIGN_OR_RETURN(Fields f, Fields::Of(info.at("head"), "head"));
  for (const auto& [key, value] : info.at("head").items()) {
    if (key != "length" && key != "sha256") return f.Invalid(key, "unknown field");
  }
  ContainerHead head;
  OTA_ASSIGN_OR_RETURN(head.length, f.Uint("length"));
  if (head.length <= 56 || head.length > kMaxContainerHeadLength) {
    return f.Invalid("length", "must be between 57 and " + std::to_string(kMaxContainerHeadLength));
  }
  OTA_ASSIGN_OR_RETURN(head.sha256, Digest(f, "sha256"));
  return std::optional<ContainerHead>(std::move(head));
}

}  // namespace ota::manifest
