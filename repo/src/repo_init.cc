// Creating a repository and rotating root keys.
#include <algorithm>
#include <set>

#include "ota/verifier/signing.h"
#include "ota/verifier/trusted_metadata.h"
#include "repo_files.h"

namespace ota::repo {

using internal::Chain;

Status InitRepository(Env& env, const std::string& repo_dir, const RepoKeys& keys,
                      bool consistent_snapshot, const ExpiryPolicy& policy) {
  const std::pair<const char*, const verifier::PrivateKey*> role_keys[] = {
      {"root", keys.root},
      {"targets", keys.targets},
      {"snapshot", keys.snapshot},
      {"timestamp", keys.timestamp}};
  for (const auto& [role, key] : role_keys) {
    if (key == nullptr) {
      return MakeError(ErrorCode::kInvalidArgument,
                       std::string("the ") + role + " key is required to initialize");
    }
  }
  InitOptions options;
  options.root.keys = {keys.root};
  options.targets.keys = {keys.targets};
  options.snapshot.keys = {keys.snapshot};
  options.timestamp.keys = {keys.timestamp};
  options.consistent_snapshot = consistent_snapshot;
  return InitRepository(env, repo_dir, options, policy);
}

Status InitRepository(Env& env, const std::string& repo_dir, const InitOptions& options,
                      const ExpiryPolicy& policy) {
  const std::pair<const char*, const InitRole*> roles[] = {{"root", &options.root},
                                                           {"targets", &options.targets},
                                                           {"snapshot", &options.snapshot},
                                                           {"timestamp", &options.timestamp}};
  manifest::Root root;
  root.version = 1;
  root.expires = internal::ExpiresIn(env, policy.root);
  root.consistent_snapshot = options.consistent_snapshot;
  for (const auto& [role, init] : roles) {
    if (init->keys.empty()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       std::string("the ") + role + " key is required to initialize");
    }
    manifest::Role r;
    for (const verifier::PrivateKey* key : init->keys) {
      if (key == nullptr) {
        return MakeError(ErrorCode::kInvalidArgument, std::string("null ") + role + " key");
      }
      if (std::find(r.keyids.begin(), r.keyids.end(), key->keyid) != r.keyids.end()) {
        return MakeError(ErrorCode::kInvalidArgument,
                         std::string("the ") + role + " key " + key->keyid + " is given twice");
      }
      root.keys[key->keyid] = key->public_key;
      r.keyids.push_back(key->keyid);
    }
    r.threshold = init->threshold;
    root.roles[role] = std::move(r);
    // Validates the threshold against the key count and the online roles.
    OTA_TRY(SetRoleThreshold(root, role, init->threshold));
  }
  OTA_ASSIGN_OR_RETURN(bool exists, env.fs->Exists(repo_dir));
  if (exists) {
    OTA_ASSIGN_OR_RETURN(std::vector<std::string> entries, env.fs->ListDir(repo_dir));
    if (!entries.empty()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       repo_dir + " is not empty; refusing to initialize a repository over it");
    }
  }
  OTA_ASSIGN_OR_RETURN(
      std::string root_bytes,
      internal::SignRoleWithAll(manifest::ToJson(root), root, "root", options.root.keys));
  // Targets is signed by all of its keys; snapshot and timestamp by the first.
  manifest::Targets targets;
  targets.version = 1;
  targets.expires = internal::ExpiresIn(env, policy.targets);
  OTA_ASSIGN_OR_RETURN(
      std::string targets_bytes,
      internal::SignRoleWithAll(manifest::ToJson(targets), root, "targets", options.targets.keys));
  RepoKeys online;
  online.snapshot = options.snapshot.keys.front();
  online.timestamp = options.timestamp.keys.front();
  Chain chain;
  chain.targets_version = 1;
  chain.targets_bytes = targets_bytes;
  OTA_TRY(internal::SignSnapshotAndTimestamp(
      env, root, {{"targets.json", internal::MetaFileFor(1, targets_bytes)}}, 1, 1, online, policy,
      chain));

  OTA_TRY(env.fs->CreateDirs(internal::MetadataDir(repo_dir)));
  OTA_TRY(env.fs->CreateDirs(internal::TargetsDir(repo_dir)));
  OTA_TRY(internal::WriteRoleFile(env, repo_dir, "root", 1, /*versioned=*/true, root_bytes));
  return internal::WriteChain(env, repo_dir, options.consistent_snapshot, chain);
}

Status RotateRoot(Env& env, const std::string& repo_dir, const RootRotation& rotation,
                  const ExpiryPolicy& policy) {
  OTA_ASSIGN_OR_RETURN(std::string old_bytes,
                       internal::ReadMetadataFile(env, repo_dir, "root.json"));
  OTA_ASSIGN_OR_RETURN(verifier::TrustedMetadata trusted,
                       verifier::TrustedMetadata::FromRoot(old_bytes));
  manifest::Root root = trusted.root().meta;
  root.version += 1;
  root.expires = std::chrono::floor<std::chrono::seconds>(env.clock->Now()) + policy.root;
  const std::pair<const char*, const std::optional<RoleKeysChange>*> changes[] = {
      {"root", &rotation.root},
      {"targets", &rotation.targets},
      {"snapshot", &rotation.snapshot},
      {"timestamp", &rotation.timestamp}};
  for (const auto& [role, change] : changes) {
    if (!change->has_value()) continue;
    const RoleKeysChange& c = **change;
    if (c.keys.empty() || c.threshold < 1 || c.threshold > c.keys.size()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       std::string("the new ") + role + " role needs 1 <= threshold <= keys");
    }
    manifest::Role new_role;
    new_role.threshold = c.threshold;
    for (const manifest::Key& key : c.keys) {
      const std::string id = verifier::ComputeKeyId(key);
      root.keys[id] = key;
      new_role.keyids.push_back(id);
    }
    root.roles[role] = std::move(new_role);
  }
  // Drop keys no role uses any more.
  std::set<std::string> used;
  for (const auto& [name, role] : root.roles) used.insert(role.keyids.begin(), role.keyids.end());
  std::erase_if(root.keys, [&](const auto& entry) { return used.count(entry.first) == 0; });

  OTA_ASSIGN_OR_RETURN(std::string bytes,
                       verifier::SignEnvelope(manifest::ToJson(root), rotation.signers));
  // Exactly the check a client makes (old and new thresholds, version N+1).
  Status accepted = trusted.UpdateRoot(bytes);
  if (!accepted.ok()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "clients would refuse the new root: " + accepted.error().message);
  }
  return internal::WriteRoleFile(env, repo_dir, "root", root.version, /*versioned=*/true, bytes);
}

}  // namespace ota::repo
