// Building one bundle file: what `otactl bundle build` does, as a function
// that other commands (`otactl variants build`) call with their own model
// file and output path.
#ifndef OTA_TOOLS_BUNDLE_BUILD_H_
#define OTA_TOOLS_BUNDLE_BUILD_H_

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "ota/bundle/bundle.h"
#include "ota/common/env.h"
#include "ota/manifest/bundle_manifest.h"

namespace ota::tools {

struct BundleSpec {
  std::string manifest;  // Optional base bundle.json.
  std::string name;
  std::string version;
  std::string model;  // Model file (GGUF).
  std::string prompts;
  std::string tools;
  std::string eval;
  bool shadow = false;        // Ask devices for a shadow test (built-in eval set if no eval).
  std::string shadow_policy;  // JSON policy object for bundle.json's shadow section.
  std::string shadow_skip;    // Reason to skip the shadow test (bundle.json shadow.skip).
  std::string out;
  int level = 9;
  std::uint64_t chunk_size = bundle::kDefaultChunkSize;
  std::vector<std::string> recipients;  // X25519 public key files.
  bool no_byte_grouping = false;
  bool no_bf16_split = false;
};

struct BuiltBundle {
  manifest::BundleManifest manifest;
  std::uint64_t bytes = 0;
  std::vector<std::string> recipient_key_ids;  // Empty: unencrypted.
};

// Registers every option of BundleSpec except --model and --out (which each
// command names its own way) on `cmd`.
void AddBundleOptions(CLI::App& cmd, BundleSpec& spec);

// Checks what can be checked before any work (a name and a version, from the
// flags or --manifest; a valid version; a valid shadow policy) and returns
// the bundle.json the bundle will start from. kInvalidArgument.
Result<manifest::BundleManifest> CheckBundleSpec(Env& env, const BundleSpec& spec);

// Packs spec.model, the folders and eval set into spec.out (atomically, as
// bundle::PackBundle writes). Errors: kInvalidArgument for bad options, a
// folder with a symbolic link, an unreadable key; the packer's errors.
Result<BuiltBundle> BuildBundle(Env& env, const BundleSpec& spec);

// Prints "built NAME VERSION -> OUT (...)" and the encryption lines.
void PrintBuiltBundle(const BundleSpec& spec, const BuiltBundle& built);

}  // namespace ota::tools

#endif  // OTA_TOOLS_BUNDLE_BUILD_H_
