// Delegated targets roles (one level below targets), e.g. "rollouts": an
// online key publishes rollout targets without the offline targets keys.
#include <algorithm>

#include "ota/verifier/delegations.h"
#include "ota/verifier/signing.h"
#include "repo_files.h"

namespace ota::repo {
namespace {

constexpr std::uint64_t kMaxDelegatedBytes = 32u << 20;

Status ValidateRoleName(const std::string& name) {
  const bool chars_ok =
      !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
      });
  if (!chars_ok) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "delegated role name \"" + name + "\" must be 1 to 64 of [a-z0-9_-]");
  }
  if (name == "root" || name == "targets" || name == "snapshot" || name == "timestamp") {
    return MakeError(ErrorCode::kInvalidArgument,
                     "\"" + name + "\" is a top-level role and cannot be delegated");
  }
  return Ok();
}

// One entry of delegations.roles, as this tool writes it.
struct Delegated {
  std::map<std::string, manifest::Key> keys;
  manifest::Role role;
  std::vector<std::string> paths;
};

Result<Delegated> FindDelegation(const manifest::Targets& targets, const std::string& name) {
  const nlohmann::json& d = targets.delegations;
  auto missing = MakeError(ErrorCode::kNotFound, "targets delegates no role named " + name);
  if (!d.is_object() || !d.contains("roles") || !d["roles"].is_array()) return missing;
  for (const nlohmann::json& r : d["roles"]) {
    if (!r.is_object() || r.value("name", nlohmann::json()) != name) continue;
    Delegated out;
    auto bad = MakeError(ErrorCode::kInvalidArgument, "delegation " + name + " is malformed");
    if (!r.contains("keyids") || !r["keyids"].is_array() || !r.contains("threshold") ||
        !r["threshold"].is_number_unsigned() || !r.contains("paths") || !r["paths"].is_array()) {
      return bad;
    }
    out.role.threshold = r["threshold"].get<std::uint64_t>();
    for (const nlohmann::json& id : r["keyids"]) {
      if (!id.is_string()) return bad;
      const std::string keyid = id.get<std::string>();
      if (!d.contains("keys") || !d["keys"].is_object() || !d["keys"].contains(keyid)) return bad;
      auto key = manifest::ParseKey(d["keys"][keyid]);
      if (!key.ok()) return bad;
      out.keys[keyid] = std::move(*key);
      out.role.keyids.push_back(keyid);
    }
    for (const nlohmann::json& p : r["paths"]) {
      if (!p.is_string()) return bad;
      out.paths.push_back(p.get<std::string>());
    }
    return out;
  }
  return missing;
}

Result<std::string> SignDelegated(const manifest::Targets& meta, const std::string& name,
                                  const Delegated& delegation, const verifier::PrivateKey& key) {
  if (std::find(delegation.role.keyids.begin(), delegation.role.keyids.end(), key.keyid) ==
      delegation.role.keyids.end()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "key " + key.keyid + " is not a key of the delegated role " + name);
  }
  OTA_ASSIGN_OR_RETURN(std::string bytes, verifier::SignEnvelope(manifest::ToJson(meta), {&key}));
  OTA_ASSIGN_OR_RETURN(manifest::Signed envelope, manifest::ParseEnvelope(bytes));
  Status s = verifier::VerifyRoleSignatures(envelope, name, delegation.keys, delegation.role);
  if (!s.ok()) return MakeError(ErrorCode::kInvalidArgument, s.error().message);
  return bytes;
}

// The current metadata of a delegated role, or an empty version 0.
Result<manifest::Targets> LoadDelegated(Env& env, const std::string& repo_dir,
                                        const std::string& name) {
  const std::string file = name + ".json";
  OTA_ASSIGN_OR_RETURN(bool exists,
                       env.fs->Exists(JoinPath(internal::MetadataDir(repo_dir), file)));
  if (!exists) {
    manifest::Targets empty;
    empty.version = 0;
    return empty;
  }
  OTA_ASSIGN_OR_RETURN(
      std::string bytes,
      env.fs->ReadFile(JoinPath(internal::MetadataDir(repo_dir), file), kMaxDelegatedBytes));
  auto parsed = [&]() -> Result<manifest::Targets> {
    OTA_ASSIGN_OR_RETURN(manifest::Signed envelope, manifest::ParseEnvelope(bytes));
    return manifest::ParseTargets(envelope.signed_json);
  }();
  if (!parsed.ok()) {
    return MakeError(ErrorCode::kInvalidArgument, file + ": " + parsed.error().message);
  }
  return std::move(*parsed);
}

}  // namespace

bool DelegationPathMatches(const std::string& pattern, const std::string& target_path) {
  // Exactly the client's matching, so that what is published is found.
  return verifier::PathPatternMatches(pattern, target_path);
}

Result<bool> AddDelegation(Env& env, const std::string& repo_dir, const DelegationSpec& spec,
                           const verifier::PrivateKey& role_key, const RepoKeys& keys,
                           const ExpiryPolicy& policy) {
  OTA_TRY(ValidateRoleName(spec.name));
  if (spec.keys.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "the delegated role needs at least one key");
  }
  if (spec.threshold != 1) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "the threshold of a delegated role must be 1: it is signed online by one key");
  }
  if (spec.paths.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "the delegated role needs at least one path");
  }
  for (const std::string& pattern : spec.paths) {
    Status s = ValidateTargetPath(pattern);
    if (!s.ok())
      return MakeError(ErrorCode::kInvalidArgument, "path pattern: " + s.error().message);
  }
  nlohmann::json role_obj = {{"name", spec.name},
                             {"keyids", nlohmann::json::array()},
                             {"threshold", spec.threshold},
                             {"terminating", spec.terminating},
                             {"paths", spec.paths}};
  Delegated delegation;
  delegation.role.threshold = spec.threshold;
  for (const manifest::Key& key : spec.keys) {
    Status usable = verifier::CheckPublicKey(key);
    if (!usable.ok()) {
      return MakeError(ErrorCode::kInvalidArgument, "unusable key: " + usable.error().message);
    }
    const std::string id = verifier::ComputeKeyId(key);
    if (delegation.keys.count(id) != 0) {
      return MakeError(ErrorCode::kInvalidArgument, "key " + id + " is given twice");
    }
    delegation.keys[id] = key;
    delegation.role.keyids.push_back(id);
    role_obj["keyids"].push_back(id);
  }

  OTA_ASSIGN_OR_RETURN(RepoState st, LoadRepository(env, repo_dir));
  const bool direct = keys.targets != nullptr &&
                      internal::CheckRoleKey(st.root, "targets", keys.targets).ok() &&
                      st.root.roles.at("targets").threshold == 1;
  manifest::Targets targets = st.targets;
  if (!direct) {
    OTA_ASSIGN_OR_RETURN(targets, internal::TargetsToEdit(env, repo_dir, st));
  }
  nlohmann::json d =
      targets.delegations.is_object() ? targets.delegations : nlohmann::json::object();
  if (!d.contains("keys") || !d["keys"].is_object()) d["keys"] = nlohmann::json::object();
  if (!d.contains("roles") || !d["roles"].is_array()) d["roles"] = nlohmann::json::array();
  for (const auto& [id, key] : delegation.keys) d["keys"][id] = manifest::ToJson(key);
  bool replaced = false;
  for (nlohmann::json& r : d["roles"]) {
    if (r.is_object() && r.value("name", nlohmann::json()) == spec.name) {
      r = role_obj;
      replaced = true;
    }
  }
  if (!replaced) d["roles"].push_back(role_obj);
  targets.delegations = std::move(d);

  // The role's first (empty) metadata; an existing one is kept, since its
  // version must never go back.
  OTA_ASSIGN_OR_RETURN(manifest::Targets current, LoadDelegated(env, repo_dir, spec.name));
  if (current.version == 0) {
    manifest::Targets first;
    first.version = 1;
    first.expires = internal::ExpiresIn(env, policy.targets);
    OTA_ASSIGN_OR_RETURN(std::string bytes, SignDelegated(first, spec.name, delegation, role_key));
    OTA_TRY(
        internal::WriteRoleFile(env, repo_dir, spec.name, 1, st.root.consistent_snapshot, bytes));
  }
  if (!direct) {
    std::vector<const verifier::PrivateKey*> signers;
    if (keys.targets != nullptr) signers.push_back(keys.targets);
    OTA_TRY(StageTargets(env, repo_dir, std::move(targets), signers, policy));
    return true;
  }
  internal::Chain chain;
  OTA_TRY(internal::SignTargetsChain(env, repo_dir, st.root, std::move(targets),
                                     st.targets.version + 1, st.snapshot.version + 1,
                                     st.timestamp.version + 1, keys, policy, chain));
  OTA_TRY(internal::WriteChain(env, repo_dir, st.root.consistent_snapshot, chain));
  return false;
}

Status PublishDelegatedTarget(Env& env, const std::string& repo_dir, const std::string& role,
                              const std::string& target_path, const std::string& source_file,
                              const nlohmann::json& custom, const verifier::PrivateKey& role_key,
                              const RepoKeys& keys, const ExpiryPolicy& policy, bool replace,
                              bool with_sha512) {
  OTA_TRY(ValidateRoleName(role));
  OTA_TRY(ValidateTargetPath(target_path));
  OTA_ASSIGN_OR_RETURN(RepoState st, LoadRepository(env, repo_dir));
  OTA_ASSIGN_OR_RETURN(Delegated delegation, FindDelegation(st.targets, role));
  const bool matches =
      std::any_of(delegation.paths.begin(), delegation.paths.end(),
                  [&](const std::string& p) { return DelegationPathMatches(p, target_path); });
  if (!matches) {
    std::string patterns;
    for (const std::string& p : delegation.paths) patterns += (patterns.empty() ? "" : ", ") + p;
    return MakeError(ErrorCode::kInvalidArgument, "target path " + target_path +
                                                      " matches none of the paths delegated to " +
                                                      role + " (" + patterns + ")");
  }
  OTA_ASSIGN_OR_RETURN(manifest::Targets meta, LoadDelegated(env, repo_dir, role));
  OTA_ASSIGN_OR_RETURN(bool changed, internal::PrepareTarget(
                                         env, repo_dir, st.root.consistent_snapshot, meta,
                                         target_path, source_file, custom, replace, with_sha512));
  if (!changed && meta.version != 0) return Ok();
  meta.version += 1;
  meta.expires = internal::ExpiresIn(env, policy.targets);
  OTA_ASSIGN_OR_RETURN(std::string bytes, SignDelegated(meta, role, delegation, role_key));

  OTA_ASSIGN_OR_RETURN(std::string targets_bytes,
                       internal::ReadMetadataFile(env, repo_dir, "targets.json"));
  OTA_ASSIGN_OR_RETURN(
      auto snapshot_meta,
      internal::SnapshotMeta(env, repo_dir, st.targets,
                             internal::MetaFileFor(st.targets.version, targets_bytes),
                             {{role + ".json", internal::MetaFileFor(meta.version, bytes)}}));
  internal::Chain chain;
  OTA_TRY(internal::SignSnapshotAndTimestamp(env, st.root, snapshot_meta, st.snapshot.version + 1,
                                             st.timestamp.version + 1, keys, policy, chain));
  OTA_TRY(internal::WriteRoleFile(env, repo_dir, role, meta.version, st.root.consistent_snapshot,
                                  bytes));
  return internal::WriteChain(env, repo_dir, st.root.consistent_snapshot, chain);
}

}  // namespace ota::repo
