// Versions of a small model for the fuzz targets and their seeds: a base and
// a target (synthesized llama-shaped GGUF plus a prompt), packed and
// unpacked as a device keeps them, and the device key seeds are sealed to.
#ifndef OTA_FUZZ_FUZZ_FIXTURES_H_
#define OTA_FUZZ_FUZZ_FIXTURES_H_

#include <string>

#include "ota/bundle/recipient_keys.h"
#include "ota/common/filesystem.h"
#include "ota/common/result.h"
#include "ota/manifest/bundle_manifest.h"
#include "ota/verifier/keys.h"

namespace ota::fuzz {

// Version ids (SHA-256 hex of a full bundle file, as devices name versions).
inline const std::string kBaseId(64, '1');
inline const std::string kTargetId(64, '2');

// The device key of the fuzz targets: 32 bytes of 7.
Result<bundle::RecipientPrivateKey> DeviceKey();

struct Versions {
  std::string base_dir;       // Unpacked base version (files and bundle.json).
  std::string target_dir;     // Unpacked target version.
  std::string base_bundle;    // The base's full bundle file (unencrypted).
  std::string target_bundle;  // The target's full bundle file, encrypted to DeviceKey().
  manifest::BundleManifest base;
  manifest::BundleManifest target;
};

// The key the audit export fuzz target trusts (a fixed seed), and an export
// of a server log and a device log signed with it.
Result<verifier::PrivateKey> AuditKey();
Result<std::string> AuditExportSample();

// Builds both versions under `root` (created if missing). Deterministic
// content; the bundles' random ids differ per call.
Result<Versions> MakeVersions(FileSystem& fs, const std::string& root);

}  // namespace ota::fuzz

#endif  // OTA_FUZZ_FUZZ_FIXTURES_H_
