// otactl bundle build | inspect.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "bundle_build.h"
#include "commands.h"
#include "ota/bundle/bundle.h"
#include "ota/bundle/delta.h"
#include "ota/manifest/bundle_manifest.h"
#include "ota/manifest/version.h"

namespace ota::tools {
namespace {

int RunBuild(const BundleSpec& spec) {
  auto owned = MakePosixEnv();
  auto built = BuildBundle(owned->env(), spec);
  if (!built.ok()) return Fail(built.error().message);
  PrintBuiltBundle(spec, *built);
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

  auto spec = std::make_shared<BundleSpec>();
  auto* build = group->add_subcommand("build", "Pack a model, its prompts and bundle.json");
  build->add_option("--model", spec->model, "Model file (GGUF)")
      ->required()
      ->check(CLI::ExistingFile);
  build->add_option("--out", spec->out, "Bundle file to write")->required();
  AddBundleOptions(*build, *spec);
  build->callback([spec, selected] { *selected = [spec] { return RunBuild(*spec); }; });

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
