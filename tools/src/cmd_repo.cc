// otactl repo init: a new, signed TUF repository.
#include <cstdio>
#include <memory>

#include "commands.h"
#include "key_args.h"
#include "ota/tools/repo.h"

namespace ota::tools {
namespace {

struct RepoInitArgs {
  std::string repo;
  RoleKeyPaths keys;
  bool consistent_snapshot = false;
};

int RunRepoInit(const RepoInitArgs& args) {
  auto owned = MakePosixEnv();
  Env& env = owned->env();
  auto keys = LoadedKeys::Load(*env.fs, args.keys);
  if (!keys.ok()) return Fail(keys.error().message);
  auto s = InitRepository(env, args.repo, keys->keys(), args.consistent_snapshot, ExpiryPolicy{});
  if (!s.ok()) return Fail(s.error().message);
  std::printf("initialized repository %s (metadata in %s/metadata, targets in %s/targets)\n",
              args.repo.c_str(), args.repo.c_str(), args.repo.c_str());
  return 0;
}

}  // namespace

void RegisterRepoCommands(CLI::App& app, CommandRunner* selected) {
  auto* repo = app.add_subcommand("repo", "Manage a TUF repository");
  repo->require_subcommand(1);
  auto args = std::make_shared<RepoInitArgs>();
  auto* init = repo->add_subcommand("init", "Create a repository with one key per top-level role");
  init->add_option("--repo", args->repo, "Repository folder to create")->required();
  AddRoleKeyOptions(*init, args->keys, /*with_root=*/true);
  init->add_flag("--consistent-snapshot", args->consistent_snapshot,
                 "Write version- and hash-prefixed files (safe for CDNs and concurrent readers)");
  init->callback([args, selected] { *selected = [args] { return RunRepoInit(*args); }; });
}

}  // namespace ota::tools
