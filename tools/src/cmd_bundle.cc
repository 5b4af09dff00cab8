// otactl bundle build | inspect.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "ota/bundle/bundle.h"
#include "ota/bundle/delta.h"
#include "ota/bundle/recipient_keys.h"
#include "ota/common/env.h"
#include "ota/manifest/bundle_manifest.h"
#include "ota/manifest/canonical_json.h"
#include "ota/manifest/version.h"
#include "ota/shadow/policy.h"

namespace ota::tools {
namespace {

struct BuildArgs {
  std::string manifest;  // Optional base bundle.json.
  std::string name;
  std::string version;
  std::string model;
  std::string prompts;
  std::string tools;
  std::string eval;
  bool shadow = false;        // Ask devices for a shadow test (built-in eval set if no --eval).
  std::string shadow_policy;  // JSON policy object for bundle.json's shadow section.
  std::string out;
  int level = 9;
  std::uint64_t chunk_size = bundle::kDefaultChunkSize;
  std::vector<std::string> recipients;  // X25519 public key files.
  bool no_byte_grouping = false;
  bool no_bf16_split = false;
};

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

Result<manifest::BundleManifest> BaseManifest(FileSystem& fs, const BuildArgs& args) {
  manifest::BundleManifest base;
  if (!args.manifest.empty()) {
    OTA_ASSIGN_OR_RETURN(std::string text, fs.ReadFile(args.manifest, 1 << 20));
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object()) {
      return MakeError(ErrorCode::kInvalidArgument, args.manifest + " is not a JSON object");
    }
    // The file list is computed from the inputs, never trusted from the base.
    j["files"] = nlohmann::json::array();
    if (j.contains("model") && j["model"].is_object() && !args.model.empty()) {
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
  if (!args.name.empty()) base.name = args.name;
  if (!args.version.empty()) {
    OTA_ASSIGN_OR_RETURN(base.version, manifest::ParseVersion(args.version));
  }
  if (base.name.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "a bundle needs a name (--name or bundle.json)");
  }
  return base;
}

int RunBuild(const BuildArgs& args) {
  auto owned = MakePosixEnv();
  Env& env = owned->env();
  if (args.manifest.empty() && (args.name.empty() || args.version.empty())) {
    return Fail("bundle build needs --name and --version, or --manifest bundle.json");
  }
  auto base = BaseManifest(*env.fs, args);
  if (!base.ok()) return Fail(base.error().message);
  // bundle.json's "shadow" section: devices test this bundle against the
  // version they run before activating it (docs/formats.md).
  if (args.shadow || !args.shadow_policy.empty() || !args.eval.empty()) {
    nlohmann::json section = nlohmann::json::object();
    if (!args.eval.empty()) section["eval"] = "eval/eval.json";
    if (!args.shadow_policy.empty()) {
      auto policy = manifest::ParseJsonStrict(args.shadow_policy);
      if (!policy.ok()) return Fail("--shadow-policy: " + policy.error().message);
      auto checked = shadow::ResolvePolicy(&*policy, nullptr);
      if (!checked.ok()) return Fail("--shadow-policy: " + checked.error().message);
      section["policy"] = *policy;
    }
    base->extra["shadow"] = std::move(section);
  }
  std::vector<bundle::InputFile> inputs;
  inputs.push_back(bundle::InputFile{base->model.file, args.model, "model"});
  for (const auto& [dir, prefix, role] : {std::tuple{args.prompts, "prompts", "prompt"},
                                          std::tuple{args.tools, "tools", "tool-schema"}}) {
    if (dir.empty()) continue;
    auto added = AddFolder(dir, prefix, role, inputs);
    if (!added.ok()) return Fail(added.error().message);
  }
  if (!args.eval.empty()) inputs.push_back(bundle::InputFile{"eval/eval.json", args.eval, "eval"});
  bundle::PackOptions options;
  options.zstd_level = args.level;
  options.chunk_size = args.chunk_size;
  options.byte_grouping = !args.no_byte_grouping;
  options.bf16_split = !args.no_bf16_split;
  for (const std::string& path : args.recipients) {
    auto key = bundle::LoadRecipientPublicKey(*env.fs, path);
    if (!key.ok()) return Fail(key.error().message);
    options.recipients.push_back(*std::move(key));
  }
  auto packed = bundle::PackBundle(*env.fs, *base, inputs, args.out, options);
  if (!packed.ok()) return Fail(packed.error().message);
  auto size = env.fs->FileSize(args.out);
  std::printf("built %s %s -> %s (%zu files, %llu bytes)\n", packed->name.c_str(),
              manifest::ToString(packed->version).c_str(), args.out.c_str(), packed->files.size(),
              static_cast<unsigned long long>(size.ok() ? *size : 0));
  if (options.recipients.empty()) {
    std::printf("UNENCRYPTED: no --recipient given; anyone with the file can read the model\n");
  } else {
    std::printf("encrypted to %zu recipient key(s):\n", options.recipients.size());
    for (const auto& r : options.recipients) std::printf("  %s\n", r.key_id.c_str());
  }
  return 0;
}

int RunInspect(const std::string& path, bool json) {
  auto owned = MakePosixEnv();
  auto compact = bundle::ReadCompactDeltaInfo(*owned->env().fs, path);
  if (!compact.ok()) return Fail(compact.error().message);
  if (compact->has_value()) {
    const bundle::CompactDeltaInfo& c = **compact;
    if (json) return Fail("a compact delta holds no bundle.json, only an edit of its base's");
    std::printf("compact delta (format 3), %llu bytes: bundle.json edit %llu, payload %llu\n",
                static_cast<unsigned long long>(c.file_size),
                static_cast<unsigned long long>(c.manifest_edit_bytes),
                static_cast<unsigned long long>(c.payload_bytes));
    std::printf("delta    from base %s... (ids and bundle.json digest: its signed target)\n",
                c.base_id_prefix.c_str());
    std::printf("unencrypted\n");
    return 0;
  }
  auto info = bundle::ReadBundleHeader(*owned->env().fs, path);
  if (!info.ok()) return Fail(info.error().message);
  if (json) {
    std::printf("%s\n", manifest::SerializeBundleManifest(info->manifest).c_str());
    return 0;
  }
  std::printf("bundle   %s %s\n", info->manifest.name.c_str(),
              manifest::ToString(info->manifest.version).c_str());
  std::printf("format   %u, %zu chunks, %llu bytes stored for %llu (%llu byte-grouped)\n",
              info->format_version, info->chunk_count,
              static_cast<unsigned long long>(info->total_stored),
              static_cast<unsigned long long>(info->total_plain),
              static_cast<unsigned long long>(info->grouped_bytes));
  if (info->delta) {
    std::printf("delta    from base %s\n         to target %s (%zu base files read)\n",
                info->delta->base_id.c_str(), info->delta->target_id.c_str(),
                info->delta->base_files.size());
  }
  if (info->encrypted) {
    std::printf("encrypted to %zu recipient key(s):\n", info->recipient_key_ids.size());
    for (const auto& id : info->recipient_key_ids) std::printf("  %s\n", id.c_str());
  } else {
    std::printf("unencrypted\n");
  }
  for (const auto& f : info->manifest.files) {
    std::printf("  %-12s %12llu  %s  %s\n", f.role.c_str(), static_cast<unsigned long long>(f.size),
                f.sha256.substr(0, 16).c_str(), f.path.c_str());
  }
  return 0;
}

}  // namespace

void RegisterBundleCommands(CLI::App& app, CommandRunner* selected) {
  auto* group = app.add_subcommand("bundle", "Build and inspect model bundles");
  group->require_subcommand(1);

  auto args = std::make_shared<BuildArgs>();
  auto* build = group->add_subcommand("build", "Pack a model, its prompts and bundle.json");
  build->add_option("--manifest", args->manifest, "Base bundle.json (name, version, runtime...)")
      ->check(CLI::ExistingFile);
  build->add_option("--name", args->name, "Bundle (model) name");
  build->add_option("--version", args->version, "Bundle version (SemVer)");
  build->add_option("--model", args->model, "Model file (GGUF)")
      ->required()
      ->check(CLI::ExistingFile);
  build->add_option("--prompts", args->prompts, "Folder of prompt templates")
      ->check(CLI::ExistingDirectory);
  build->add_option("--tools", args->tools, "Folder of tool schemas")
      ->check(CLI::ExistingDirectory);
  build->add_option("--eval", args->eval, "Eval set for shadow tests (implies --shadow)")
      ->check(CLI::ExistingFile);
  build->add_flag("--shadow", args->shadow,
                  "Devices shadow-test this bundle against their current version before "
                  "activating it (built-in eval set unless --eval)");
  build->add_option("--shadow-policy", args->shadow_policy,
                    "Shadow policy as JSON, e.g. '{\"gate\": \"requantization\"}' (implies "
                    "--shadow; docs/formats.md)");
  build->add_option("--out", args->out, "Bundle file to write")->required();
  build->add_option("--level", args->level, "zstd level")->check(CLI::Range(1, 22));
  build
      ->add_option("--chunk-size", args->chunk_size,
                   "Plaintext bytes per chunk, 65536 to 67108864: the most a device holds in "
                   "memory while unpacking, and the most a network fault makes it fetch again")
      ->check(CLI::Range(bundle::kMinChunkSize, bundle::kMaxChunkSize))
      ->capture_default_str();
  build
      ->add_option("--recipient", args->recipients,
                   "X25519 public key file (otactl keygen --recipient) to encrypt to; "
                   "repeatable; none: unencrypted")
      ->check(CLI::ExistingFile);
  build->add_flag("--no-byte-grouping", args->no_byte_grouping,
                  "Compress GGUF float tensors without byte grouping");
  build->add_flag("--no-bf16-split", args->no_bf16_split,
                  "Byte-group BF16 tensors like F16 instead of splitting exponents from "
                  "mantissas (larger, but readable by agents older than the bf16-split flag)");
  build->callback([args, selected] { *selected = [args] { return RunBuild(*args); }; });

  auto path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto* inspect = group->add_subcommand("inspect", "Show a bundle's manifest and files");
  inspect->add_option("bundle", *path, "Bundle file")->required()->check(CLI::ExistingFile);
  inspect->add_flag("--json", *json, "Print bundle.json");
  inspect->callback(
      [path, json, selected] { *selected = [path, json] { return RunInspect(*path, *json); }; });
  RegisterBundleDeltaCommand(*group, selected);
}

}  // namespace ota::tools
