// otactl repo init / refresh / delegate: creating a repository, keeping its
// online metadata fresh, and delegating paths to an online role.
#include <cstdio>
#include <memory>

#include "commands.h"
#include "key_args.h"
#include "ota/repo/repo.h"

namespace ota::tools {
namespace {

struct RepoInitArgs {
  std::string repo;
  std::vector<std::string> root, targets, snapshot, timestamp;
  std::uint64_t root_threshold = 1, targets_threshold = 1, snapshot_threshold = 1,
                timestamp_threshold = 1;
  bool consistent_snapshot = false;
  std::vector<std::string> expires_in;
};

int RunRepoInit(const RepoInitArgs& args) {
  auto owned = MakePosixEnv();
  Env& env = owned->env();
  auto policy = ParseExpiresIn(args.expires_in);
  if (!policy.ok()) return Fail(policy.error().message);
  auto root = KeyRing::Load(*env.fs, args.root, "root");
  if (!root.ok()) return Fail(root.error().message);
  auto targets = KeyRing::Load(*env.fs, args.targets, "targets");
  if (!targets.ok()) return Fail(targets.error().message);
  auto snapshot = KeyRing::Load(*env.fs, args.snapshot, "snapshot");
  if (!snapshot.ok()) return Fail(snapshot.error().message);
  auto timestamp = KeyRing::Load(*env.fs, args.timestamp, "timestamp");
  if (!timestamp.ok()) return Fail(timestamp.error().message);
  ota::repo::InitOptions options;
  options.root = {root->pointers(), args.root_threshold};
  options.targets = {targets->pointers(), args.targets_threshold};
  options.snapshot = {snapshot->pointers(), args.snapshot_threshold};
  options.timestamp = {timestamp->pointers(), args.timestamp_threshold};
  options.consistent_snapshot = args.consistent_snapshot;
  auto s = ota::repo::InitRepository(env, args.repo, options, *policy);
  if (!s.ok()) return Fail(s.error().message);
  std::printf("initialized repository %s (metadata in %s/metadata, targets in %s/targets)\n",
              args.repo.c_str(), args.repo.c_str(), args.repo.c_str());
  return 0;
}

struct RefreshArgs {
  std::string repo;
  std::string snapshot_key, timestamp_key;
  bool snapshot = false;
  std::vector<std::string> expires_in;
};

int RunRefresh(const RefreshArgs& args) {
  auto owned = MakePosixEnv();
  Env& env = owned->env();
  auto policy = ParseExpiresIn(args.expires_in);
  if (!policy.ok()) return Fail(policy.error().message);
  if (args.snapshot && args.snapshot_key.empty()) {
    return Fail("--snapshot needs --snapshot-key");
  }
  if (!args.snapshot && !args.snapshot_key.empty()) {
    return Fail("--snapshot-key is only used with --snapshot");
  }
  auto keys = LoadedKeys::Load(*env.fs, {"", "", args.snapshot_key, args.timestamp_key});
  if (!keys.ok()) return Fail(keys.error().message);
  Status s = args.snapshot ? ota::repo::RefreshSnapshot(env, args.repo, keys->keys(), *policy)
                           : ota::repo::RefreshTimestamp(env, args.repo, keys->keys(), *policy);
  if (!s.ok()) return Fail(s.error().message);
  std::printf("re-signed %s\n", args.snapshot ? "snapshot and timestamp" : "timestamp");
  return 0;
}

struct DelegateArgs {
  std::string repo;
  std::string name;
  std::vector<std::string> pubkeys;
  std::string key;
  std::vector<std::string> paths;
  std::uint64_t threshold = 1;
  bool terminating = false;
  RoleKeyPaths keys;
  std::vector<std::string> expires_in;
};

int RunDelegate(const DelegateArgs& args) {
  auto owned = MakePosixEnv();
  Env& env = owned->env();
  auto policy = ParseExpiresIn(args.expires_in);
  if (!policy.ok()) return Fail(policy.error().message);
  auto role_key = verifier::LoadPrivateKey(*env.fs, args.key);
  if (!role_key.ok())
    return Fail("cannot load the " + args.name + " key: " + role_key.error().message);
  ota::repo::DelegationSpec spec;
  spec.name = args.name;
  spec.keys.push_back(role_key->public_key);
  for (const std::string& path : args.pubkeys) {
    auto key = verifier::LoadPublicKey(*env.fs, path);
    if (!key.ok()) return Fail(key.error().message);
    if (verifier::ComputeKeyId(*key) == role_key->keyid) continue;  // --key's own half.
    spec.keys.push_back(std::move(*key));
  }
  spec.threshold = args.threshold;
  spec.paths = args.paths;
  spec.terminating = args.terminating;
  auto keys = LoadedKeys::Load(*env.fs, args.keys);
  if (!keys.ok()) return Fail(keys.error().message);
  auto staged = ota::repo::AddDelegation(env, args.repo, spec, *role_key, keys->keys(), *policy);
  if (!staged.ok()) return Fail(staged.error().message);
  if (*staged) {
    std::printf("delegated %s; the targets change is staged in %s/metadata/staged/targets.json\n",
                args.name.c_str(), args.repo.c_str());
    PrintStagedStatus(env, args.repo, "targets");
    return 0;
  }
  std::printf("delegated %s (%zu path patterns) and published %s.json\n", args.name.c_str(),
              args.paths.size(), args.name.c_str());
  return 0;
}

}  // namespace

void RegisterRepoCommands(CLI::App& app, CommandRunner* selected) {
  auto* repo = app.add_subcommand("repo", "Manage a TUF repository");
  repo->require_subcommand(1);

  auto init_args = std::make_shared<RepoInitArgs>();
  auto* init = repo->add_subcommand(
      "init", "Create a repository: keys and thresholds of the four top-level roles");
  init->add_option("--repo", init_args->repo, "Repository folder to create")->required();
  const std::pair<const char*, std::vector<std::string>*> key_opts[] = {
      {"root", &init_args->root},
      {"targets", &init_args->targets},
      {"snapshot", &init_args->snapshot},
      {"timestamp", &init_args->timestamp}};
  for (const auto& [role, paths] : key_opts) {
    init->add_option(std::string("--") + role + "-key", *paths,
                     std::string("Private key file of the ") + role + " role (repeatable)")
        ->required()
        ->check(CLI::ExistingFile);
  }
  const std::pair<const char*, std::uint64_t*> threshold_opts[] = {
      {"root", &init_args->root_threshold},
      {"targets", &init_args->targets_threshold},
      {"snapshot", &init_args->snapshot_threshold},
      {"timestamp", &init_args->timestamp_threshold}};
  for (const auto& [role, threshold] : threshold_opts) {
    init->add_option(std::string("--") + role + "-threshold", *threshold,
                     std::string("Signatures the ") + role + " role needs (default 1)")
        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1000}));
  }
  init->add_flag("--consistent-snapshot", init_args->consistent_snapshot,
                 "Write version- and hash-prefixed files (safe for CDNs and concurrent readers)");
  AddExpiresInOption(*init, init_args->expires_in);
  init->callback(
      [init_args, selected] { *selected = [init_args] { return RunRepoInit(*init_args); }; });

  auto refresh_args = std::make_shared<RefreshArgs>();
  auto* refresh = repo->add_subcommand(
      "refresh", "Re-sign timestamp (and snapshot with --snapshot) before it expires");
  refresh->add_option("--repo", refresh_args->repo, "Repository folder")
      ->required()
      ->check(CLI::ExistingDirectory);
  refresh
      ->add_option("--timestamp-key", refresh_args->timestamp_key,
                   "Private key file of the timestamp role")
      ->required()
      ->check(CLI::ExistingFile);
  refresh->add_flag("--snapshot", refresh_args->snapshot, "Also re-sign snapshot");
  refresh
      ->add_option("--snapshot-key", refresh_args->snapshot_key,
                   "Private key file of the snapshot role (with --snapshot)")
      ->check(CLI::ExistingFile);
  AddExpiresInOption(*refresh, refresh_args->expires_in);
  refresh->callback([refresh_args, selected] {
    *selected = [refresh_args] { return RunRefresh(*refresh_args); };
  });

  auto delegate_args = std::make_shared<DelegateArgs>();
  auto* delegate = repo->add_subcommand(
      "delegate", "Delegate target paths to an online role (e.g. rollouts) with its own key");
  delegate->add_option("--repo", delegate_args->repo, "Repository folder")
      ->required()
      ->check(CLI::ExistingDirectory);
  delegate->add_option("--name", delegate_args->name, "Delegated role name, e.g. rollouts")
      ->required();
  delegate
      ->add_option("--key", delegate_args->key,
                   "Private key file of the delegated role (signs its first metadata)")
      ->required()
      ->check(CLI::ExistingFile);
  delegate
      ->add_option("--pubkey", delegate_args->pubkeys,
                   "Further public key files of the delegated role (repeatable)")
      ->check(CLI::ExistingFile);
  delegate
      ->add_option("--paths", delegate_args->paths,
                   "Target path patterns the role may sign, e.g. 'rollouts/*' (repeatable)")
      ->required();
  delegate->add_option("--threshold", delegate_args->threshold,
                       "Signatures the delegated role needs (must be 1: it is online)");
  delegate->add_flag("--terminating", delegate_args->terminating,
                     "Clients stop searching other roles for paths this role matches");
  delegate
      ->add_option("--targets-key", delegate_args->keys.targets,
                   "Private key file of the targets role (without it, or below threshold, "
                   "the targets change is staged)")
      ->check(CLI::ExistingFile);
  delegate
      ->add_option("--snapshot-key", delegate_args->keys.snapshot,
                   "Private key file of the snapshot role")
      ->check(CLI::ExistingFile);
  delegate
      ->add_option("--timestamp-key", delegate_args->keys.timestamp,
                   "Private key file of the timestamp role")
      ->check(CLI::ExistingFile);
  AddExpiresInOption(*delegate, delegate_args->expires_in);
  delegate->callback([delegate_args, selected] {
    *selected = [delegate_args] { return RunDelegate(*delegate_args); };
  });

  RegisterRepoStagingCommands(*repo, selected);
}

}  // namespace ota::tools
