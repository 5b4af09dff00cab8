#include "tls_config.h"

#include <nlohmann/json.hpp>

#include "ota/common/filesystem.h"
#include "ota/common/tls.h"

namespace ota::agent {
namespace {

constexpr std::uint64_t kMaxCaBundleBytes = 4 << 20;

}  // namespace

Status CheckEnrollTls(Env& env, const TlsSettings& requested) {
  return ValidateTlsSettings(*env.fs, requested);
}

Status InstallCaBundle(Env& env, const std::string& state_dir, const TlsSettings& requested) {
  const std::string copy = JoinPath(state_dir, kCaBundleFile);
  if (requested.ca_bundle_file.empty()) {
    // An enrollment cut short earlier must not leave a bundle behind.
    OTA_ASSIGN_OR_RETURN(bool stale, env.fs->Exists(copy));
    return stale ? env.fs->Remove(copy) : Ok();
  }
  OTA_ASSIGN_OR_RETURN(std::string pem,
                       env.fs->ReadFile(requested.ca_bundle_file, kMaxCaBundleBytes));
  // Certificates are public: readable by anyone, like /etc/ssl/certs.
  return WriteFileAtomic(*env.fs, copy, pem, 0644);
}

Status SaveTls(StateDb& db, const TlsSettings& requested) {
  if (!requested.ca_bundle_file.empty()) OTA_TRY(db.SetSetting(kTlsCaBundleSetting, kCaBundleFile));
  if (requested.pinned_sha256.empty()) return Ok();
  return db.SetSetting(kTlsPinsSetting, nlohmann::json(requested.pinned_sha256).dump());
}

Result<TlsSettings> LoadTls(Env& env, StateDb& db, const std::string& state_dir,
                            const TlsSettings& run_overrides) {
  TlsSettings settings;
  if (!run_overrides.ca_bundle_file.empty()) {
    settings.ca_bundle_file = run_overrides.ca_bundle_file;
  } else {
    OTA_ASSIGN_OR_RETURN(std::optional<std::string> name, db.GetSetting(kTlsCaBundleSetting));
    if (name) {
      if (*name != kCaBundleFile) {
        return MakeError(ErrorCode::kInvalidArgument, std::string("state database setting ") +
                                                          kTlsCaBundleSetting + " must be " +
                                                          kCaBundleFile);
      }
      settings.ca_bundle_file = JoinPath(state_dir, kCaBundleFile);
    }
  }
  if (!run_overrides.pinned_sha256.empty()) {
    settings.pinned_sha256 = run_overrides.pinned_sha256;
  } else {
    OTA_ASSIGN_OR_RETURN(std::optional<std::string> stored, db.GetSetting(kTlsPinsSetting));
    if (stored) {
      auto pins = nlohmann::json::parse(*stored, nullptr, false);
      if (!pins.is_array()) {
        return MakeError(ErrorCode::kInvalidArgument, std::string("state database setting ") +
                                                          kTlsPinsSetting + " is not a JSON array");
      }
      for (const auto& pin : pins) {
        if (!pin.is_string()) {
          return MakeError(ErrorCode::kInvalidArgument, std::string("state database setting ") +
                                                            kTlsPinsSetting +
                                                            " holds a pin that is not a string");
        }
        settings.pinned_sha256.push_back(pin.get<std::string>());
      }
    }
  }
  OTA_TRY(ValidateTlsSettings(*env.fs, settings));
  return settings;
}

}  // namespace ota::agent
