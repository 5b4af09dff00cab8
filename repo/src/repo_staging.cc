// Staged metadata: root and targets versions signed in separate steps by
// offline keys, then committed once every threshold is met.
#include <algorithm>

#include "ota/verifier/signing.h"
#include "ota/verifier/trusted_metadata.h"
#include "repo_files.h"

namespace ota::repo {
namespace {

constexpr std::uint64_t kMaxStagedBytes = 32u << 20;

Status CheckStageableRole(const std::string& role) {
  if (role == "root" || role == "targets") return Ok();
  return MakeError(ErrorCode::kInvalidArgument,
                   "only root and targets metadata are staged, not \"" + role + "\"");
}

struct Staged {
  std::string bytes;
  manifest::Signed envelope;
};

Result<Staged> LoadStaged(Env& env, const std::string& repo_dir, const std::string& role) {
  const std::string path = internal::StagedPath(repo_dir, role);
  OTA_ASSIGN_OR_RETURN(bool exists, env.fs->Exists(path));
  if (!exists) {
    return MakeError(ErrorCode::kNotFound, "no staged " + role + " metadata (" + path + ")");
  }
  Staged staged;
  OTA_ASSIGN_OR_RETURN(staged.bytes, env.fs->ReadFile(path, kMaxStagedBytes));
  auto envelope = manifest::ParseEnvelope(staged.bytes);
  if (!envelope.ok()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "staged " + role + ".json: " + envelope.error().message);
  }
  staged.envelope = std::move(*envelope);
  return staged;
}

Result<manifest::Root> StagedRoot(const Staged& staged, const RepoState& st) {
  auto root = manifest::ParseRoot(staged.envelope.signed_json);
  if (!root.ok()) {
    return MakeError(ErrorCode::kInvalidArgument, "staged root.json: " + root.error().message);
  }
  if (root->version != st.root.version + 1) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "staged root.json has version " + std::to_string(root->version) +
                         " but the next root is version " + std::to_string(st.root.version + 1) +
                         "; stage it again");
  }
  return std::move(*root);
}

Result<manifest::Targets> StagedTargets(const Staged& staged, const RepoState& st) {
  auto targets = manifest::ParseTargets(staged.envelope.signed_json);
  if (!targets.ok()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "staged targets.json: " + targets.error().message);
  }
  if (targets->version != st.targets.version + 1) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "staged targets.json has version " + std::to_string(targets->version) +
                         " but the next targets is version " +
                         std::to_string(st.targets.version + 1) + "; stage it again");
  }
  return std::move(*targets);
}

Status Below(const Status& s, const std::string& whose) {
  return MakeError(ErrorCode::kSecurity, "staged " + s.error().message + whose);
}

Status CheckStagedParsed(const Staged& staged, const RepoState& st, const std::string& role) {
  if (role == "root") {
    OTA_ASSIGN_OR_RETURN(manifest::Root next, StagedRoot(staged, st));
    Status old_keys = verifier::VerifyRoleSignatures(staged.envelope, "root", st.root);
    if (!old_keys.ok()) return Below(old_keys, " by the current root keys");
    Status new_keys = verifier::VerifyRoleSignatures(staged.envelope, "root", next);
    if (!new_keys.ok()) return Below(new_keys, " by the new root keys");
    return Ok();
  }
  OTA_TRY(StagedTargets(staged, st));
  Status s = verifier::VerifyRoleSignatures(staged.envelope, "targets", st.root);
  if (!s.ok()) return Below(s, "");
  return Ok();
}

}  // namespace

Status StageTargets(Env& env, const std::string& repo_dir, manifest::Targets targets,
                    const std::vector<const verifier::PrivateKey*>& signers,
                    const ExpiryPolicy& policy) {
  OTA_ASSIGN_OR_RETURN(RepoState st, LoadRepository(env, repo_dir));
  for (const verifier::PrivateKey* key : signers) {
    OTA_TRY(internal::CheckRoleKey(st.root, "targets", key));
  }
  targets.version = st.targets.version + 1;
  targets.expires = internal::ExpiresIn(env, policy.targets);
  OTA_ASSIGN_OR_RETURN(std::string bytes,
                       internal::SignedOrBare(manifest::ToJson(targets), signers));
  const std::string path = internal::StagedPath(repo_dir, "targets");
  OTA_TRY(env.fs->CreateDirs(DirName(path)));
  return WriteFileAtomic(*env.fs, path, bytes);
}

namespace internal {

Result<manifest::Targets> TargetsToEdit(Env& env, const std::string& repo_dir,
                                        const RepoState& st) {
  auto staged = LoadStaged(env, repo_dir, "targets");
  if (!staged.ok()) {
    if (staged.error().code == ErrorCode::kNotFound) return st.targets;
    return staged.error();
  }
  auto targets = StagedTargets(*staged, st);
  if (!targets.ok()) return st.targets;  // Stale: start from the current one.
  return std::move(*targets);
}

}  // namespace internal

Status StageTarget(Env& env, const std::string& repo_dir, const std::string& target_path,
                   const std::string& source_file, const nlohmann::json& custom,
                   const std::vector<const verifier::PrivateKey*>& signers,
                   const ExpiryPolicy& policy, bool replace, bool with_sha512) {
  OTA_ASSIGN_OR_RETURN(RepoState st, LoadRepository(env, repo_dir));
  for (const verifier::PrivateKey* key : signers) {
    OTA_TRY(internal::CheckRoleKey(st.root, "targets", key));
  }
  OTA_ASSIGN_OR_RETURN(manifest::Targets targets, internal::TargetsToEdit(env, repo_dir, st));
  OTA_TRY(internal::PrepareTarget(env, repo_dir, st.root.consistent_snapshot, targets, target_path,
                                  source_file, custom, replace, with_sha512));
  return StageTargets(env, repo_dir, std::move(targets), signers, policy);
}

Status SignStaged(Env& env, const std::string& repo_dir, const std::string& role,
                  const verifier::PrivateKey& key) {
  OTA_TRY(CheckStageableRole(role));
  OTA_ASSIGN_OR_RETURN(RepoState st, LoadRepository(env, repo_dir));
  OTA_ASSIGN_OR_RETURN(Staged staged, LoadStaged(env, repo_dir, role));
  if (role == "root") {
    OTA_ASSIGN_OR_RETURN(manifest::Root next, StagedRoot(staged, st));
    if (!internal::CheckRoleKey(st.root, "root", &key).ok() &&
        !internal::CheckRoleKey(next, "root", &key).ok()) {
      return MakeError(
          ErrorCode::kInvalidArgument,
          "key " + key.keyid + " is a root key of neither the current nor the staged root");
    }
  } else {
    OTA_TRY(StagedTargets(staged, st));
    OTA_TRY(internal::CheckRoleKey(st.root, "targets", &key));
  }
  for (const manifest::Signature& sig : staged.envelope.signatures) {
    if (sig.keyid == key.keyid) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "key " + key.keyid + " already signed the staged " + role + ".json");
    }
  }
  OTA_ASSIGN_OR_RETURN(std::string bytes, verifier::AddSignature(staged.bytes, key));
  return WriteFileAtomic(*env.fs, internal::StagedPath(repo_dir, role), bytes);
}

Status CheckStaged(Env& env, const std::string& repo_dir, const std::string& role) {
  OTA_TRY(CheckStageableRole(role));
  OTA_ASSIGN_OR_RETURN(RepoState st, LoadRepository(env, repo_dir));
  OTA_ASSIGN_OR_RETURN(Staged staged, LoadStaged(env, repo_dir, role));
  return CheckStagedParsed(staged, st, role);
}

Status CommitStaged(Env& env, const std::string& repo_dir, const std::string& role,
                    const RepoKeys& keys, const ExpiryPolicy& policy) {
  OTA_TRY(CheckStageableRole(role));
  OTA_ASSIGN_OR_RETURN(RepoState st, LoadRepository(env, repo_dir));
  OTA_ASSIGN_OR_RETURN(Staged staged, LoadStaged(env, repo_dir, role));
  OTA_TRY(CheckStagedParsed(staged, st, role));
  const std::string staged_path = internal::StagedPath(repo_dir, role);
  if (role == "root") {
    // Exactly the check a client makes, as a last line of defence.
    OTA_ASSIGN_OR_RETURN(std::string current,
                         internal::ReadMetadataFile(env, repo_dir, "root.json"));
    OTA_ASSIGN_OR_RETURN(verifier::TrustedMetadata trusted,
                         verifier::TrustedMetadata::FromRoot(current));
    Status accepted = trusted.UpdateRoot(staged.bytes);
    if (!accepted.ok()) {
      return MakeError(ErrorCode::kSecurity,
                       "clients would refuse the staged root: " + accepted.error().message);
    }
    OTA_TRY(internal::WriteRoleFile(env, repo_dir, "root", st.root.version + 1,
                                    /*versioned=*/true, staged.bytes));
    return env.fs->Remove(staged_path);
  }
  OTA_ASSIGN_OR_RETURN(manifest::Targets targets, StagedTargets(staged, st));
  internal::Chain chain;
  OTA_TRY(internal::ChainAfterTargets(env, repo_dir, st, targets, targets.version, staged.bytes,
                                      keys, policy, chain));
  OTA_TRY(internal::WriteChain(env, repo_dir, st.root.consistent_snapshot, chain));
  return env.fs->Remove(staged_path);
}

}  // namespace ota::repo
