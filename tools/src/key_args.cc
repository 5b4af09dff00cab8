#include "key_args.h"

#include <CLI/CLI.hpp>

namespace ota::tools {
namespace {

Result<std::optional<verifier::PrivateKey>> LoadIf(FileSystem& fs, const std::string& path,
                                                   const char* role) {
  if (path.empty()) return std::optional<verifier::PrivateKey>();
  auto key = verifier::LoadPrivateKey(fs, path);
  if (!key.ok()) {
    return MakeError(key.error().code,
                     std::string("cannot load the ") + role + " key: " + key.error().message);
  }
  return std::optional<verifier::PrivateKey>(std::move(*key));
}

}  // namespace

Result<LoadedKeys> LoadedKeys::Load(FileSystem& fs, const RoleKeyPaths& paths) {
  LoadedKeys k;
  OTA_ASSIGN_OR_RETURN(k.root_, LoadIf(fs, paths.root, "root"));
  OTA_ASSIGN_OR_RETURN(k.targets_, LoadIf(fs, paths.targets, "targets"));
  OTA_ASSIGN_OR_RETURN(k.snapshot_, LoadIf(fs, paths.snapshot, "snapshot"));
  OTA_ASSIGN_OR_RETURN(k.timestamp_, LoadIf(fs, paths.timestamp, "timestamp"));
  return k;
}

RepoKeys LoadedKeys::keys() const {
  RepoKeys k;
  k.root = root_ ? &*root_ : nullptr;
  k.targets = targets_ ? &*targets_ : nullptr;
  k.snapshot = snapshot_ ? &*snapshot_ : nullptr;
  k.timestamp = timestamp_ ? &*timestamp_ : nullptr;
  return k;
}

void AddRoleKeyOptions(CLI::App& cmd, RoleKeyPaths& paths, bool with_root) {
  if (with_root) {
    cmd.add_option("--root-key", paths.root, "Private key file of the root role")
        ->required()
        ->check(CLI::ExistingFile);
  }
  cmd.add_option("--targets-key", paths.targets, "Private key file of the targets role")
      ->required()
      ->check(CLI::ExistingFile);
  cmd.add_option("--snapshot-key", paths.snapshot, "Private key file of the snapshot role")
      ->required()
      ->check(CLI::ExistingFile);
  cmd.add_option("--timestamp-key", paths.timestamp, "Private key file of the timestamp role")
      ->required()
      ->check(CLI::ExistingFile);
}

}  // namespace ota::tools
