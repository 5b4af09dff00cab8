// Editing root: keys and thresholds of the top-level roles, staged for
// signing by offline root keys.
#include <algorithm>
#include <set>

#include "ota/verifier/signing.h"
#include "repo_files.h"

namespace ota::repo {
namespace {

bool IsTopLevelRole(const std::string& role) {
  return role == "root" || role == "targets" || role == "snapshot" || role == "timestamp";
}

Result<manifest::Role*> FindRole(manifest::Root& root, const std::string& role) {
  if (!IsTopLevelRole(role)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "unknown role \"" + role + "\" (root, targets, snapshot or timestamp)");
  }
  auto it = root.roles.find(role);
  if (it == root.roles.end()) {
    return MakeError(ErrorCode::kInvalidArgument, "root does not define the " + role + " role");
  }
  return &it->second;
}

// Drops keys that no role lists any more.
void DropUnusedKeys(manifest::Root& root) {
  std::set<std::string> used;
  for (const auto& [name, role] : root.roles) used.insert(role.keyids.begin(), role.keyids.end());
  std::erase_if(root.keys, [&](const auto& entry) { return used.count(entry.first) == 0; });
}

}  // namespace

Status AddRoleKey(manifest::Root& root, const std::string& role, const manifest::Key& key) {
  OTA_ASSIGN_OR_RETURN(manifest::Role * r, FindRole(root, role));
  Status usable = verifier::CheckPublicKey(key);
  if (!usable.ok()) {
    return MakeError(ErrorCode::kInvalidArgument, "unusable key: " + usable.error().message);
  }
  const std::string id = verifier::ComputeKeyId(key);
  if (std::find(r->keyids.begin(), r->keyids.end(), id) != r->keyids.end()) {
    return MakeError(ErrorCode::kInvalidArgument, "key " + id + " is already a " + role + " key");
  }
  root.keys[id] = key;
  r->keyids.push_back(id);
  return Ok();
}

Status RevokeRoleKey(manifest::Root& root, const std::string& role, const std::string& keyid) {
  OTA_ASSIGN_OR_RETURN(manifest::Role * r, FindRole(root, role));
  auto it = std::find(r->keyids.begin(), r->keyids.end(), keyid);
  if (it == r->keyids.end()) {
    return MakeError(ErrorCode::kNotFound, "key " + keyid + " is not a " + role + " key");
  }
  if (r->keyids.size() - 1 < r->threshold) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "revoking " + keyid + " would leave " + role + " with " +
                         std::to_string(r->keyids.size() - 1) + " keys for threshold " +
                         std::to_string(r->threshold) + "; add a key or lower the threshold first");
  }
  r->keyids.erase(it);
  DropUnusedKeys(root);
  return Ok();
}

Status SetRoleThreshold(manifest::Root& root, const std::string& role, std::uint64_t threshold) {
  OTA_ASSIGN_OR_RETURN(manifest::Role * r, FindRole(root, role));
  if (threshold < 1 || threshold > r->keyids.size()) {
    return MakeError(ErrorCode::kInvalidArgument, "the " + role +
                                                      " threshold must be between 1 and its " +
                                                      std::to_string(r->keyids.size()) +
                                                      " keys, got " + std::to_string(threshold));
  }
  if ((role == "snapshot" || role == "timestamp") && threshold != 1) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "the " + role +
                         " threshold must be 1: online roles are signed by one key (list several "
                         "keys to rotate without a gap)");
  }
  r->threshold = threshold;
  return Ok();
}

Result<manifest::Root> RootToEdit(Env& env, const std::string& repo_dir,
                                  const ExpiryPolicy& policy) {
  OTA_ASSIGN_OR_RETURN(RepoState st, LoadRepository(env, repo_dir));
  const std::string staged = internal::StagedPath(repo_dir, "root");
  OTA_ASSIGN_OR_RETURN(bool has_staged, env.fs->Exists(staged));
  manifest::Root root = st.root;
  root.version = st.root.version + 1;
  if (has_staged) {
    OTA_ASSIGN_OR_RETURN(std::string bytes, env.fs->ReadFile(staged, 1u << 20));
    auto parsed = [&]() -> Result<manifest::Root> {
      OTA_ASSIGN_OR_RETURN(manifest::Signed envelope, manifest::ParseEnvelope(bytes));
      return manifest::ParseRoot(envelope.signed_json);
    }();
    if (!parsed.ok()) {
      return MakeError(ErrorCode::kInvalidArgument, "staged root.json: " + parsed.error().message);
    }
    // A staged root older than the current one is stale: start over.
    if (parsed->version == root.version) root = std::move(*parsed);
  }
  root.expires = internal::ExpiresIn(env, policy.root);
  return root;
}

Status StageRoot(Env& env, const std::string& repo_dir, const manifest::Root& root,
                 const std::vector<const verifier::PrivateKey*>& signers) {
  OTA_ASSIGN_OR_RETURN(RepoState st, LoadRepository(env, repo_dir));
  if (root.version != st.root.version + 1) {
    return MakeError(ErrorCode::kInvalidArgument, "a new root must have version " +
                                                      std::to_string(st.root.version + 1) +
                                                      ", not " + std::to_string(root.version));
  }
  for (const auto& [name, role] : root.roles) {
    if (role.keyids.size() < role.threshold) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "the new " + name + " role has fewer keys than its threshold");
    }
  }
  for (const verifier::PrivateKey* key : signers) {
    if (key == nullptr) return MakeError(ErrorCode::kInvalidArgument, "null signing key");
    if (!internal::CheckRoleKey(st.root, "root", key).ok() &&
        !internal::CheckRoleKey(root, "root", key).ok()) {
      return MakeError(
          ErrorCode::kInvalidArgument,
          "key " + key->keyid + " is a root key of neither the current nor the new root");
    }
  }
  OTA_ASSIGN_OR_RETURN(std::string bytes, internal::SignedOrBare(manifest::ToJson(root), signers));
  const std::string path = internal::StagedPath(repo_dir, "root");
  OTA_TRY(env.fs->CreateDirs(DirName(path)));
  return WriteFileAtomic(*env.fs, path, bytes);
}

}  // namespace ota::repo
