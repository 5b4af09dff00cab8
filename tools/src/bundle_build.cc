#include "bundle_build.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <system_error>
#include <tuple>

#include "ota/bundle/recipient_keys.h"
#include "ota/manifest/canonical_json.h"
#include "ota/manifest/version.h"
#include "ota/shadow/policy.h"

namespace ota::tools {
namespace {

// Adds every regular file under `dir` as `prefix/<relative path>`, sorted so
// the same folder always gives the same bundle.
Status AddFolder(const std::string& dir, const std::string& prefix, const std::string& role,
                 std::vector<bundle::InputFile>& inputs) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return MakeError(ErrorCode::kInvalidArgument, dir + " is not a folder");
  }
  std::vector<std::string> rel_paths;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_symlink(ec)) {
      return MakeError(
          ErrorCode::kInvalidArgument,
          it->path().string() + " is a symbolic link; bundles hold regular files only");
    }
    if (it->is_regular_file(ec)) {
      rel_paths.push_back(std::filesystem::relative(it->path(), dir, ec).generic_string());
    }
  }
  if (ec) return MakeError(ErrorCode::kIo, "cannot list " + dir + ": " + ec.message());
  std::sort(rel_paths.begin(), rel_paths.end());
  for (const std::string& rel : rel_paths) {
    inputs.push_back(bundle::InputFile{prefix + "/" + rel, JoinPath(dir, rel), role});
  }
  return Ok();
}

Result<manifest::BundleManifest> BaseManifest(FileSystem& fs, const BundleSpec& spec) {
  manifest::BundleManifest base;
  if (!spec.manifest.empty()) {
    OTA_ASSIGN_OR_RETURN(std::string text, fs.ReadFile(spec.manifest, 1 << 20));
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object()) {
      return MakeError(ErrorCode::kInvalidArgument, spec.manifest + " is not a JSON object");
    }
    // The file list is computed from the inputs, never trusted from the base.
    j["files"] = nlohmann::json::array();
    if (j.contains("model") && j["model"].is_object() && !spec.model.empty()) {
      j["model"]["file"] = "model.gguf";
    }
    j["files"].push_back({{"path", j.value("/model/file"_json_pointer, std::string("model.gguf"))},
                          {"size", 0},
                          {"sha256", std::string(64, '0')},
                          {"role", "model"}});
    OTA_ASSIGN_OR_RETURN(base, manifest::ParseBundleManifest(j.dump()));
  } else {
    base.model.file = "model.gguf";
    base.model.format = "gguf";
  }
  if (!spec.name.empty()) base.name = spec.name;
  if (!spec.version.empty()) {
    OTA_ASSIGN_OR_RETURN(base.version, manifest::ParseVersion(spec.version));
  }
  if (base.name.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "a bundle needs a name (--name or bundle.json)");
  }
  return base;
}

// bundle.json's "shadow" section: devices test this bundle against the
// version they run before activating it (docs/formats.md).
Status AddShadowSection(const BundleSpec& spec, manifest::BundleManifest& base) {
  if (!spec.shadow_skip.empty()) {
    if (spec.shadow || !spec.shadow_policy.empty() || !spec.eval.empty()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "--shadow-skip excludes --shadow, --shadow-policy and --eval");
    }
    if (spec.shadow_skip.size() > shadow::kMaxSkipReasonBytes) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "--shadow-skip: the reason is longer than " +
                           std::to_string(shadow::kMaxSkipReasonBytes) + " bytes");
    }
    base.extra["shadow"] = {{"skip", spec.shadow_skip}};
    return Ok();
  }
  // Without a section devices still shadow-test the bundle (built-in eval
  // set, behaviour gate); --shadow writes the section to say so explicitly.
  if (!spec.shadow && spec.shadow_policy.empty() && spec.eval.empty()) return Ok();
  nlohmann::json section = nlohmann::json::object();
  if (!spec.eval.empty()) section["eval"] = "eval/eval.json";
  if (!spec.shadow_policy.empty()) {
    auto policy = manifest::ParseJsonStrict(spec.shadow_policy);
    if (!policy.ok()) {
      return MakeError(ErrorCode::kInvalidArgument, "--shadow-policy: " + policy.error().message);
    }
    auto checked = shadow::ResolvePolicy(&*policy, nullptr);
    if (!checked.ok()) {
      return MakeError(ErrorCode::kInvalidArgument, "--shadow-policy: " + checked.error().message);
    }
    section["policy"] = *policy;
  }
  base.extra["shadow"] = std::move(section);
  return Ok();
}

}  // namespace

void AddBundleOptions(CLI::App& cmd, BundleSpec& spec) {
  cmd.add_option("--manifest", spec.manifest, "Base bundle.json (name, version, runtime...)")
      ->check(CLI::ExistingFile);
  cmd.add_option("--name", spec.name, "Bundle (model) name");
  cmd.add_option("--version", spec.version, "Bundle version (SemVer)");
  cmd.add_option("--prompts", spec.prompts, "Folder of prompt templates")
      ->check(CLI::ExistingDirectory);
  cmd.add_option("--tools", spec.tools, "Folder of tool schemas")->check(CLI::ExistingDirectory);
  cmd.add_option("--eval", spec.eval, "Eval set for shadow tests (implies --shadow)")
      ->check(CLI::ExistingFile);
  cmd.add_flag("--shadow", spec.shadow,
               "Write a shadow section: devices shadow-test this bundle against their current "
               "version before activating it (built-in eval set unless --eval; a bundle "
               "without the section is tested the same way under the behaviour gate)");
  cmd.add_option("--shadow-policy", spec.shadow_policy,
                 "Shadow policy as JSON, e.g. '{\"gate\": \"requantization\"}' (implies "
                 "--shadow; docs/formats.md)");
  cmd.add_option("--shadow-skip", spec.shadow_skip,
                 "Devices install this bundle without a shadow test, for this reason (1 to 256 "
                 "bytes; recorded in each device's audit log as a shadow-skipped event)");
  cmd.add_option("--level", spec.level, "zstd level")->check(CLI::Range(1, 22));
  cmd.add_option("--chunk-size", spec.chunk_size,
                 "Plaintext bytes per chunk, 65536 to 67108864: the most a device holds in "
                 "memory while unpacking, and the most a network fault makes it fetch again")
      ->check(CLI::Range(bundle::kMinChunkSize, bundle::kMaxChunkSize))
      ->capture_default_str();
  cmd.add_option("--recipient", spec.recipients,
                 "X25519 public key file (otactl keygen --recipient) to encrypt to; "
                 "repeatable; none: unencrypted")
      ->check(CLI::ExistingFile);
  cmd.add_flag("--no-byte-grouping", spec.no_byte_grouping,
               "Compress GGUF float tensors without byte grouping");
  cmd.add_flag("--no-bf16-split", spec.no_bf16_split,
               "Byte-group BF16 tensors like F16 instead of splitting exponents from "
               "mantissas (larger, but readable by agents older than the bf16-split flag)");
}

Result<manifest::BundleManifest> CheckBundleSpec(Env& env, const BundleSpec& spec) {
  if (spec.manifest.empty() && (spec.name.empty() || spec.version.empty())) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "a bundle needs --name and --version, or --manifest bundle.json");
  }
  OTA_ASSIGN_OR_RETURN(manifest::BundleManifest base, BaseManifest(*env.fs, spec));
  OTA_TRY(AddShadowSection(spec, base));
  return base;
}

Result<BuiltBundle> BuildBundle(Env& env, const BundleSpec& spec) {
  OTA_ASSIGN_OR_RETURN(manifest::BundleManifest base, CheckBundleSpec(env, spec));
  std::vector<bundle::InputFile> inputs;
  inputs.push_back(bundle::InputFile{base.model.file, spec.model, "model"});
  for (const auto& [dir, prefix, role] : {std::tuple{spec.prompts, "prompts", "prompt"},
                                          std::tuple{spec.tools, "tools", "tool-schema"}}) {
    if (!dir.empty()) OTA_TRY(AddFolder(dir, prefix, role, inputs));
  }
  if (!spec.eval.empty()) inputs.push_back(bundle::InputFile{"eval/eval.json", spec.eval, "eval"});
  bundle::PackOptions options;
  options.zstd_level = spec.level;
  options.chunk_size = spec.chunk_size;
  options.byte_grouping = !spec.no_byte_grouping;
  options.bf16_split = !spec.no_bf16_split;
  BuiltBundle built;
  for (const std::string& path : spec.recipients) {
    OTA_ASSIGN_OR_RETURN(auto key, bundle::LoadRecipientPublicKey(*env.fs, path));
    built.recipient_key_ids.push_back(key.key_id);
    options.recipients.push_back(std::move(key));
  }
  OTA_ASSIGN_OR_RETURN(built.manifest,
                       bundle::PackBundle(*env.fs, base, inputs, spec.out, options));
  auto size = env.fs->FileSize(spec.out);
  built.bytes = size.ok() ? *size : 0;
  return built;
}

void PrintBuiltBundle(const BundleSpec& spec, const BuiltBundle& built) {
  std::printf("built %s %s -> %s (%zu files, %llu bytes)\n", built.manifest.name.c_str(),
              manifest::ToString(built.manifest.version).c_str(), spec.out.c_str(),
              built.manifest.files.size(), static_cast<unsigned long long>(built.bytes));
  if (built.recipient_key_ids.empty()) {
    std::printf("UNENCRYPTED: no --recipient given; anyone with the file can read the model\n");
  } else {
    std::printf("encrypted to %zu recipient key(s):\n", built.recipient_key_ids.size());
    for (const auto& id : built.recipient_key_ids) std::printf("  %s\n", id.c_str());
  }
}

}  // namespace ota::tools
