// otactl publish: add a bundle to the repository as a signed target.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "key_args.h"
#include "ota/bundle/bundle.h"
#include "ota/manifest/version.h"
#include "ota/tools/repo.h"

namespace ota::tools {
namespace {

struct PublishArgs {
  std::string repo;
  std::string bundle;
  RoleKeyPaths keys;
};

int RunPublish(const PublishArgs& args) {
  auto owned = MakePosixEnv();
  Env& env = owned->env();
  // The header is verified as far as it can be before it goes out signed.
  auto info = bundle::ReadBundleHeader(*env.fs, args.bundle);
  if (!info.ok()) return Fail("not a valid bundle: " + info.error().message);
  auto keys = LoadedKeys::Load(*env.fs, args.keys);
  if (!keys.ok()) return Fail(keys.error().message);
  const std::string version = manifest::ToString(info->manifest.version);
  const std::string target = "bundles/" + info->manifest.name + "/" + version + ".otab";
  nlohmann::json custom = {{"modelota",
                            {{"kind", "bundle"},
                             {"name", info->manifest.name},
                             {"version", version},
                             {"bundle_format", info->format_version}}}};
  auto s = AddTarget(env, args.repo, target, args.bundle, custom, keys->keys(), ExpiryPolicy{});
  if (!s.ok()) return Fail(s.error().message);
  std::printf("published %s %s as target %s\n", info->manifest.name.c_str(), version.c_str(),
              target.c_str());
  return 0;
}

}  // namespace

void RegisterPublishCommand(CLI::App& app, CommandRunner* selected) {
  auto args = std::make_shared<PublishArgs>();
  auto* cmd = app.add_subcommand("publish", "Sign a bundle into the repository's targets");
  cmd->add_option("--repo", args->repo, "Repository folder")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--bundle", args->bundle, "Bundle file")->required()->check(CLI::ExistingFile);
  AddRoleKeyOptions(*cmd, args->keys, /*with_root=*/false);
  cmd->callback([args, selected] { *selected = [args] { return RunPublish(*args); }; });
}

}  // namespace ota::tools
