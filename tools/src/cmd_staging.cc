// Root and targets changes signed in steps with offline keys:
// otactl repo add-key / revoke-key / set-threshold (stage a new root),
// otactl sign (adds one signature), otactl repo commit (checks thresholds and
// moves the staged file into place).
#include <cstdio>
#include <functional>
#include <memory>

#include "commands.h"
#include "key_args.h"
#include "ota/repo/repo.h"

namespace ota::tools {

void PrintStagedStatus(Env& env, const std::string& repo, const std::string& role) {
  Status s = ota::repo::CheckStaged(env, repo, role);
  if (s.ok()) {
    std::printf("staged %s.json has every signature it needs: run otactl repo commit --role %s\n",
                role.c_str(), role.c_str());
  } else {
    std::printf("%s: sign it with otactl sign --role %s\n", s.error().message.c_str(),
                role.c_str());
  }
}

namespace {

struct RootEditArgs {
  std::string repo;
  std::string role;
  std::vector<std::string> root_keys;
  std::vector<std::string> expires_in;
  // One of these, by command.
  std::string pubkey;
  std::string keyid;
  std::uint64_t threshold = 0;
};

using RootEdit = std::function<Status(Env&, const RootEditArgs&, manifest::Root&)>;

int RunRootEdit(const RootEditArgs& args, const RootEdit& edit) {
  auto owned = MakePosixEnv();
  Env& env = owned->env();
  auto policy = ParseExpiresIn(args.expires_in);
  if (!policy.ok()) return Fail(policy.error().message);
  auto signers = KeyRing::Load(*env.fs, args.root_keys, "root");
  if (!signers.ok()) return Fail(signers.error().message);
  auto root = ota::repo::RootToEdit(env, args.repo, *policy);
  if (!root.ok()) return Fail(root.error().message);
  if (Status s = edit(env, args, *root); !s.ok()) return Fail(s.error().message);
  if (Status s = ota::repo::StageRoot(env, args.repo, *root, signers->pointers()); !s.ok()) {
    return Fail(s.error().message);
  }
  std::printf("staged root version %llu in %s/metadata/staged/root.json\n",
              static_cast<unsigned long long>(root->version), args.repo.c_str());
  PrintStagedStatus(env, args.repo, "root");
  return 0;
}

CLI::App* AddRootEditCommand(CLI::App& repo, const char* name, const char* help,
                             std::shared_ptr<RootEditArgs> args, CommandRunner* selected,
                             RootEdit edit) {
  auto* cmd = repo.add_subcommand(name, help);
  cmd->add_option("--repo", args->repo, "Repository folder")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--role", args->role, "Top-level role whose keys change")
      ->required()
      ->check(CLI::IsMember(TopLevelRoles()));
  cmd->add_option("--root-key", args->root_keys,
                  "Root private key file to sign the staged root with now (repeatable; more "
                  "can sign later with otactl sign)")
      ->check(CLI::ExistingFile);
  AddExpiresInOption(*cmd, args->expires_in);
  cmd->callback(
      [args, selected, edit] { *selected = [args, edit] { return RunRootEdit(*args, edit); }; });
  return cmd;
}

struct SignArgs {
  std::string repo;
  std::string role;
  std::string key;
};

int RunSign(const SignArgs& args) {
  auto owned = MakePosixEnv();
  Env& env = owned->env();
  auto key = verifier::LoadPrivateKey(*env.fs, args.key);
  if (!key.ok()) return Fail(key.error().message);
  if (Status s = ota::repo::SignStaged(env, args.repo, args.role, *key); !s.ok()) {
    return Fail(s.error().message);
  }
  std::printf("signed staged %s.json with key %s\n", args.role.c_str(), key->keyid.c_str());
  PrintStagedStatus(env, args.repo, args.role);
  return 0;
}

struct CommitArgs {
  std::string repo;
  std::string role;
  RoleKeyPaths keys;
  std::vector<std::string> expires_in;
};

int RunCommit(const CommitArgs& args) {
  auto owned = MakePosixEnv();
  Env& env = owned->env();
  auto policy = ParseExpiresIn(args.expires_in);
  if (!policy.ok()) return Fail(policy.error().message);
  if (args.role == "targets" && (args.keys.snapshot.empty() || args.keys.timestamp.empty())) {
    return Fail("committing targets needs --snapshot-key and --timestamp-key");
  }
  auto keys = LoadedKeys::Load(*env.fs, args.keys);
  if (!keys.ok()) return Fail(keys.error().message);
  if (Status s = ota::repo::CommitStaged(env, args.repo, args.role, keys->keys(), *policy);
      !s.ok()) {
    return Fail(s.error().message);
  }
  if (args.role == "root") {
    std::printf(
        "committed the staged root; if it changed targets, snapshot or timestamp keys, "
        "re-sign those roles with their new keys\n");
  } else {
    std::printf("committed the staged targets with new snapshot and timestamp versions\n");
  }
  return 0;
}

}  // namespace

void RegisterRepoStagingCommands(CLI::App& repo, CommandRunner* selected) {
  auto add_args = std::make_shared<RootEditArgs>();
  auto* add = AddRootEditCommand(
      repo, "add-key", "Stage a new root that adds a key to a role", add_args, selected,
      [](Env& env, const RootEditArgs& a, manifest::Root& root) -> Status {
        OTA_ASSIGN_OR_RETURN(manifest::Key key, verifier::LoadPublicKey(*env.fs, a.pubkey));
        return ota::repo::AddRoleKey(root, a.role, key);
      });
  add->add_option("--pubkey", add_args->pubkey, "Public key file (*.pub) to add")
      ->required()
      ->check(CLI::ExistingFile);

  auto revoke_args = std::make_shared<RootEditArgs>();
  auto* revoke = AddRootEditCommand(
      repo, "revoke-key", "Stage a new root that removes a key from a role", revoke_args, selected,
      [](Env&, const RootEditArgs& a, manifest::Root& root) -> Status {
        return ota::repo::RevokeRoleKey(root, a.role, a.keyid);
      });
  revoke->add_option("--keyid", revoke_args->keyid, "Key id to remove")->required();

  auto threshold_args = std::make_shared<RootEditArgs>();
  auto* threshold = AddRootEditCommand(
      repo, "set-threshold", "Stage a new root with another threshold for a role", threshold_args,
      selected, [](Env&, const RootEditArgs& a, manifest::Root& root) -> Status {
        return ota::repo::SetRoleThreshold(root, a.role, a.threshold);
      });
  threshold->add_option("threshold", threshold_args->threshold, "Signatures the role needs")
      ->required()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1000}));

  auto commit_args = std::make_shared<CommitArgs>();
  auto* commit = repo.add_subcommand(
      "commit", "Publish staged root or targets metadata once it has every signature it needs");
  commit->add_option("--repo", commit_args->repo, "Repository folder")
      ->required()
      ->check(CLI::ExistingDirectory);
  commit->add_option("--role", commit_args->role, "Staged role to commit")
      ->required()
      ->check(CLI::IsMember({"root", "targets"}));
  commit
      ->add_option("--snapshot-key", commit_args->keys.snapshot,
                   "Private key file of the snapshot role (committing targets)")
      ->check(CLI::ExistingFile);
  commit
      ->add_option("--timestamp-key", commit_args->keys.timestamp,
                   "Private key file of the timestamp role (committing targets)")
      ->check(CLI::ExistingFile);
  AddExpiresInOption(*commit, commit_args->expires_in);
  commit->callback(
      [commit_args, selected] { *selected = [commit_args] { return RunCommit(*commit_args); }; });
}

void RegisterSignCommand(CLI::App& app, CommandRunner* selected) {
  auto args = std::make_shared<SignArgs>();
  auto* cmd = app.add_subcommand(
      "sign", "Add one signature to staged root or targets metadata (offline keys)");
  cmd->add_option("--repo", args->repo, "Repository folder")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--role", args->role, "Staged role to sign")
      ->required()
      ->check(CLI::IsMember({"root", "targets"}));
  cmd->add_option("--key", args->key, "Private key file")->required()->check(CLI::ExistingFile);
  cmd->callback([args, selected] { *selected = [args] { return RunSign(*args); }; });
}

}  // namespace ota::tools
