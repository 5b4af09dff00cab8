// Publishing targets and re-signing the online roles.
#include "ota/verifier/hashing.h"
#include "repo_files.h"

namespace ota::repo {

using internal::Chain;

namespace {

// Where a target's bytes live in the repository.
std::string TargetFilePath(const std::string& repo_dir, const std::string& target_path,
                           const manifest::TargetFile& target, bool consistent) {
  std::string rel = target_path;
  auto sha256 = target.hashes.find("sha256");
  if (consistent && sha256 != target.hashes.end()) {
    const std::size_t slash = rel.find_last_of('/');
    rel.insert(slash == std::string::npos ? 0 : slash + 1, sha256->second + ".");
  }
  return JoinPath(internal::TargetsDir(repo_dir), rel);
}

}  // namespace

std::string TargetFileInRepository(const std::string& repo_dir, const RepoState& st,
                                   const std::string& target_path,
                                   const manifest::TargetFile& target) {
  return TargetFilePath(repo_dir, target_path, target, st.root.consistent_snapshot);
}

namespace {

// Signs and writes targets -> snapshot -> timestamp for new targets content.
Status PublishTargets(Env& env, const std::string& repo_dir, const RepoState& st,
                      manifest::Targets targets, const RepoKeys& keys, const ExpiryPolicy& policy) {
  Chain chain;
  OTA_TRY(internal::SignTargetsChain(env, repo_dir, st.root, std::move(targets),
                                     st.targets.version + 1, st.snapshot.version + 1,
                                     st.timestamp.version + 1, keys, policy, chain));
  return internal::WriteChain(env, repo_dir, st.root.consistent_snapshot, chain);
}

}  // namespace

namespace internal {

Result<bool> PrepareTarget(Env& env, const std::string& repo_dir, bool consistent,
                           manifest::Targets& targets, const std::string& target_path,
                           const std::string& source_file, const nlohmann::json& custom,
                           bool replace, bool with_sha512) {
  OTA_TRY(ValidateTargetPath(target_path));
  if (!custom.is_null() && !custom.is_object()) {
    return MakeError(ErrorCode::kInvalidArgument, "custom target data must be a JSON object");
  }
  auto existing = targets.targets.find(target_path);
  const bool sha512 = with_sha512 || (existing != targets.targets.end() &&
                                      existing->second.hashes.count("sha512") != 0);
  OTA_ASSIGN_OR_RETURN(manifest::TargetFile target,
                       verifier::DescribeFile(*env.fs, source_file, sha512));
  target.custom = custom;

  if (existing != targets.targets.end()) {
    const bool same_content =
        existing->second.length == target.length && existing->second.hashes == target.hashes;
    if (same_content && existing->second.custom == target.custom) return false;
    if (!same_content && !replace) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "target " + target_path +
                           " already exists with different content; replace it explicitly");
    }
  }

  const std::string dest = TargetFilePath(repo_dir, target_path, target, consistent);
  OTA_TRY(env.fs->CreateDirs(DirName(dest)));
  OTA_TRY(internal::CopyFileAtomic(*env.fs, source_file, dest));
  // The source may have changed between hashing and copying.
  OTA_TRY(verifier::CheckFile(*env.fs, dest, target));
  targets.targets[target_path] = std::move(target);
  return true;
}

}  // namespace internal

Status AddTarget(Env& env, const std::string& repo_dir, const std::string& target_path,
                 const std::string& source_file, const nlohmann::json& custom, const RepoKeys& keys,
                 const ExpiryPolicy& policy, bool replace) {
  return AddTargets(env, repo_dir, {NewTarget{target_path, source_file, custom}}, keys, policy,
                    replace);
}

Status AddTargets(Env& env, const std::string& repo_dir, const std::vector<NewTarget>& added,
                  const RepoKeys& keys, const ExpiryPolicy& policy, bool replace) {
  if (added.empty()) return MakeError(ErrorCode::kInvalidArgument, "no target to publish");
  for (std::size_t i = 0; i < added.size(); ++i) {
    OTA_TRY(ValidateTargetPath(added[i].path));
    for (std::size_t j = 0; j < i; ++j) {
      if (added[j].path == added[i].path) {
        return MakeError(ErrorCode::kInvalidArgument,
                         "target " + added[i].path + " is listed twice");
      }
    }
  }
  OTA_ASSIGN_OR_RETURN(RepoState st, LoadRepository(env, repo_dir));
  manifest::Targets targets = st.targets;
  bool changed = false;
  for (const NewTarget& t : added) {
    OTA_ASSIGN_OR_RETURN(
        bool one, internal::PrepareTarget(env, repo_dir, st.root.consistent_snapshot, targets,
                                          t.path, t.source_file, t.custom, replace, t.sha512));
    changed = changed || one;
  }
  if (!changed) return Ok();
  return PublishTargets(env, repo_dir, st, std::move(targets), keys, policy);
}

Status RemoveTarget(Env& env, const std::string& repo_dir, const std::string& target_path,
                    const RepoKeys& keys, const ExpiryPolicy& policy) {
  OTA_ASSIGN_OR_RETURN(RepoState st, LoadRepository(env, repo_dir));
  manifest::Targets targets = st.targets;
  if (targets.targets.erase(target_path) == 0) {
    return MakeError(ErrorCode::kNotFound, "target " + target_path + " is not in targets.json");
  }
  return PublishTargets(env, repo_dir, st, std::move(targets), keys, policy);
}

Status ResignTargets(Env& env, const std::string& repo_dir, const RepoKeys& keys,
                     const ExpiryPolicy& policy) {
  OTA_ASSIGN_OR_RETURN(RepoState st, LoadRepository(env, repo_dir));
  return PublishTargets(env, repo_dir, st, st.targets, keys, policy);
}

Status RefreshSnapshot(Env& env, const std::string& repo_dir, const RepoKeys& keys,
                       const ExpiryPolicy& policy) {
  OTA_ASSIGN_OR_RETURN(RepoState st, LoadRepository(env, repo_dir));
  OTA_ASSIGN_OR_RETURN(std::string targets_bytes,
                       internal::ReadMetadataFile(env, repo_dir, "targets.json"));
  OTA_ASSIGN_OR_RETURN(
      auto meta, internal::SnapshotMeta(env, repo_dir, st.targets,
                                        internal::MetaFileFor(st.targets.version, targets_bytes)));
  Chain chain;
  OTA_TRY(internal::SignSnapshotAndTimestamp(env, st.root, meta, st.snapshot.version + 1,
                                             st.timestamp.version + 1, keys, policy, chain));
  return internal::WriteChain(env, repo_dir, st.root.consistent_snapshot, chain);
}

Status RefreshTimestamp(Env& env, const std::string& repo_dir, const RepoKeys& keys,
                        const ExpiryPolicy& policy) {
  OTA_ASSIGN_OR_RETURN(RepoState st, LoadRepository(env, repo_dir));
  Chain chain;
  chain.snapshot_version = st.snapshot.version;
  OTA_ASSIGN_OR_RETURN(chain.snapshot_bytes,
                       internal::ReadMetadataFile(env, repo_dir, "snapshot.json"));
  OTA_TRY(internal::SignSnapshotAndTimestamp(env, st.root, {}, 0, st.timestamp.version + 1, keys,
                                             policy, chain));
  return internal::WriteChain(env, repo_dir, st.root.consistent_snapshot, chain);
}

}  // namespace ota::repo
