#include "repo_files.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "ota/common/hash.h"
#include "ota/manifest/canonical_json.h"
#include "ota/verifier/signing.h"

namespace ota::repo {
namespace internal {
namespace {

constexpr std::uint64_t kMaxMetadataBytes = 64u << 20;

}  // namespace

manifest::TimePoint ExpiresIn(Env& env, std::chrono::seconds ttl) {
  return std::chrono::floor<std::chrono::seconds>(env.clock->Now()) + ttl;
}

std::string StagedPath(const std::string& repo_dir, const std::string& role) {
  return JoinPath(JoinPath(MetadataDir(repo_dir), "staged"), role + ".json");
}

Result<std::string> SignRoleWithAll(const nlohmann::json& signed_obj, const manifest::Root& root,
                                    const std::string& role,
                                    const std::vector<const verifier::PrivateKey*>& keys) {
  for (const verifier::PrivateKey* key : keys) OTA_TRY(CheckRoleKey(root, role, key));
  OTA_ASSIGN_OR_RETURN(std::string bytes, verifier::SignEnvelope(signed_obj, keys));
  OTA_ASSIGN_OR_RETURN(manifest::Signed envelope, manifest::ParseEnvelope(bytes));
  Status s = verifier::VerifyRoleSignatures(envelope, role, root);
  if (!s.ok()) return MakeError(ErrorCode::kInvalidArgument, s.error().message);
  return bytes;
}

Result<std::string> SignedOrBare(const nlohmann::json& signed_obj,
                                 const std::vector<const verifier::PrivateKey*>& signers) {
  if (!signers.empty()) return verifier::SignEnvelope(signed_obj, signers);
  OTA_TRY(manifest::CanonicalJson(signed_obj));  // Must stay signable.
  manifest::Signed envelope;
  envelope.signed_json = signed_obj;
  return manifest::SerializeEnvelope(envelope);
}

std::vector<std::string> DelegatedRoleNames(const manifest::Targets& targets) {
  std::vector<std::string> names;
  const nlohmann::json& d = targets.delegations;
  if (!d.is_object() || !d.contains("roles") || !d["roles"].is_array()) return names;
  for (const nlohmann::json& role : d["roles"]) {
    if (role.is_object() && role.contains("name") && role["name"].is_string()) {
      names.push_back(role["name"].get<std::string>());
    }
  }
  return names;
}

Result<std::map<std::string, manifest::MetaFile>> SnapshotMeta(
    Env& env, const std::string& repo_dir, const manifest::Targets& targets,
    const manifest::MetaFile& targets_meta,
    const std::map<std::string, manifest::MetaFile>& pending) {
  std::map<std::string, manifest::MetaFile> meta;
  meta["targets.json"] = targets_meta;
  for (const std::string& name : DelegatedRoleNames(targets)) {
    const std::string file = name + ".json";
    if (auto it = pending.find(file); it != pending.end()) {
      meta[file] = it->second;
      continue;
    }
    OTA_ASSIGN_OR_RETURN(bool exists, env.fs->Exists(JoinPath(MetadataDir(repo_dir), file)));
    if (!exists) continue;
    OTA_ASSIGN_OR_RETURN(std::string bytes, ReadMetadataFile(env, repo_dir, file));
    OTA_ASSIGN_OR_RETURN(manifest::Signed envelope, manifest::ParseEnvelope(bytes));
    auto version = envelope.signed_json.find("version");
    if (version == envelope.signed_json.end() || !version->is_number_unsigned()) {
      return MakeError(ErrorCode::kInvalidArgument, file + " has no version");
    }
    meta[file] = MetaFileFor(version->get<std::uint64_t>(), bytes);
  }
  return meta;
}

std::string MetadataDir(const std::string& repo_dir) { return JoinPath(repo_dir, "metadata"); }
std::string TargetsDir(const std::string& repo_dir) { return JoinPath(repo_dir, "targets"); }

Result<std::string> ReadMetadataFile(Env& env, const std::string& repo_dir,
                                     const std::string& file_name) {
  return env.fs->ReadFile(JoinPath(MetadataDir(repo_dir), file_name), kMaxMetadataBytes);
}

Status CheckRoleKey(const manifest::Root& root, const std::string& role,
                    const verifier::PrivateKey* key) {
  if (key == nullptr) {
    return MakeError(ErrorCode::kInvalidArgument, "the " + role + " key is required");
  }
  auto it = root.roles.find(role);
  if (it == root.roles.end() || std::find(it->second.keyids.begin(), it->second.keyids.end(),
                                          key->keyid) == it->second.keyids.end()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "key " + key->keyid + " is not a " + role + " key of root.json");
  }
  return Ok();
}

Result<std::string> SignRole(const nlohmann::json& signed_obj, const manifest::Root& root,
                             const std::string& role, const verifier::PrivateKey& key) {
  OTA_ASSIGN_OR_RETURN(std::string bytes, verifier::SignEnvelope(signed_obj, {&key}));
  OTA_ASSIGN_OR_RETURN(manifest::Signed envelope, manifest::ParseEnvelope(bytes));
  Status s = verifier::VerifyRoleSignatures(envelope, role, root);
  if (!s.ok()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     s.error().message + "; roles needing several keys must be signed in steps");
  }
  return bytes;
}

Status WriteRoleFile(Env& env, const std::string& repo_dir, const std::string& role,
                     std::uint64_t version, bool versioned, const std::string& bytes) {
  const std::string dir = MetadataDir(repo_dir);
  if (versioned) {
    OTA_TRY(WriteFileAtomic(*env.fs, JoinPath(dir, std::to_string(version) + "." + role + ".json"),
                            bytes));
  }
  return WriteFileAtomic(*env.fs, JoinPath(dir, role + ".json"), bytes);
}

manifest::MetaFile MetaFileFor(std::uint64_t version, const std::string& bytes) {
  manifest::MetaFile meta;
  meta.version = version;
  meta.length = bytes.size();
  meta.hashes = {{"sha256", Sha256Hex(bytes)}};
  return meta;
}

Status CopyFileAtomic(FileSystem& fs, const std::string& from, const std::string& to) {
  OTA_ASSIGN_OR_RETURN(std::unique_ptr<ReadableFile> in, fs.OpenReadable(from));
  const std::string tmp = to + ".tmp-copy";
  Status s = [&]() -> Status {
    OTA_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> out, fs.OpenWritable(tmp, false));
    std::vector<std::uint8_t> buf(1 << 20);
    std::uint64_t offset = 0;
    while (true) {
      OTA_ASSIGN_OR_RETURN(std::size_t n, in->ReadAt(offset, buf));
      if (n == 0) break;
      OTA_TRY(out->Append(std::span<const std::uint8_t>(buf.data(), n)));
      offset += n;
    }
    OTA_TRY(out->Sync());
    OTA_TRY(out->Close());
    OTA_TRY(fs.Rename(tmp, to));
    return fs.SyncDir(DirName(to));
  }();
  if (!s.ok()) (void)fs.Remove(tmp);
  return s;
}

Status SignSnapshotAndTimestamp(Env& env, const manifest::Root& root,
                                const std::map<std::string, manifest::MetaFile>& meta,
                                std::uint64_t snapshot_version, std::uint64_t timestamp_version,
                                const RepoKeys& keys, const ExpiryPolicy& policy, Chain& chain) {
  OTA_TRY(CheckRoleKey(root, "timestamp", keys.timestamp));
  if (snapshot_version != 0) {
    OTA_TRY(CheckRoleKey(root, "snapshot", keys.snapshot));
    manifest::Snapshot snapshot;
    snapshot.version = snapshot_version;
    snapshot.expires = ExpiresIn(env, policy.snapshot);
    snapshot.meta = meta;
    OTA_ASSIGN_OR_RETURN(chain.snapshot_bytes,
                         SignRole(manifest::ToJson(snapshot), root, "snapshot", *keys.snapshot));
    chain.snapshot_version = snapshot_version;
    chain.snapshot_signed = true;
  }
  manifest::Timestamp timestamp;
  timestamp.version = timestamp_version;
  timestamp.expires = ExpiresIn(env, policy.timestamp);
  timestamp.snapshot = MetaFileFor(chain.snapshot_version, chain.snapshot_bytes);
  OTA_ASSIGN_OR_RETURN(chain.timestamp_bytes,
                       SignRole(manifest::ToJson(timestamp), root, "timestamp", *keys.timestamp));
  chain.timestamp_version = timestamp_version;
  return Ok();
}

Status SignTargetsChain(Env& env, const std::string& repo_dir, const manifest::Root& root,
                        manifest::Targets targets, std::uint64_t targets_version,
                        std::uint64_t snapshot_version, std::uint64_t timestamp_version,
                        const RepoKeys& keys, const ExpiryPolicy& policy, Chain& chain) {
  OTA_TRY(CheckRoleKey(root, "targets", keys.targets));
  targets.version = targets_version;
  targets.expires = ExpiresIn(env, policy.targets);
  OTA_ASSIGN_OR_RETURN(chain.targets_bytes,
                       SignRole(manifest::ToJson(targets), root, "targets", *keys.targets));
  chain.targets_version = targets_version;
  OTA_ASSIGN_OR_RETURN(auto meta, SnapshotMeta(env, repo_dir, targets,
                                               MetaFileFor(targets_version, chain.targets_bytes)));
  return SignSnapshotAndTimestamp(env, root, meta, snapshot_version, timestamp_version, keys,
                                  policy, chain);
}

Status ChainAfterTargets(Env& env, const std::string& repo_dir, const RepoState& st,
                         const manifest::Targets& targets, std::uint64_t targets_version,
                         std::string targets_bytes, const RepoKeys& keys,
                         const ExpiryPolicy& policy, Chain& chain) {
  OTA_ASSIGN_OR_RETURN(
      auto meta, SnapshotMeta(env, repo_dir, targets, MetaFileFor(targets_version, targets_bytes)));
  chain.targets_version = targets_version;
  chain.targets_bytes = std::move(targets_bytes);
  return SignSnapshotAndTimestamp(env, st.root, meta, st.snapshot.version + 1,
                                  st.timestamp.version + 1, keys, policy, chain);
}

Status WriteChain(Env& env, const std::string& repo_dir, bool consistent, const Chain& chain) {
  if (chain.targets_version != 0) {
    OTA_TRY(WriteRoleFile(env, repo_dir, "targets", chain.targets_version, consistent,
                          chain.targets_bytes));
  }
  if (chain.snapshot_signed) {
    OTA_TRY(WriteRoleFile(env, repo_dir, "snapshot", chain.snapshot_version, consistent,
                          chain.snapshot_bytes));
  }
  // Timestamp is fetched by fixed name only; it goes last so that it never
  // names a snapshot that is not there yet.
  return WriteRoleFile(env, repo_dir, "timestamp", chain.timestamp_version, false,
                       chain.timestamp_bytes);
}

}  // namespace internal

Result<RepoState> LoadRepository(Env& env, const std::string& repo_dir) {
  RepoState st;
  auto load = [&](const std::string& name) -> Result<manifest::Signed> {
    OTA_ASSIGN_OR_RETURN(std::string bytes, internal::ReadMetadataFile(env, repo_dir, name));
    auto env_or = manifest::ParseEnvelope(bytes);
    if (!env_or.ok()) {
      return MakeError(ErrorCode::kInvalidArgument, name + ": " + env_or.error().message);
    }
    return std::move(*env_or);
  };
  auto parse_error = [](const std::string& name, const Error& e) {
    return MakeError(ErrorCode::kInvalidArgument, name + ": " + e.message);
  };
  OTA_ASSIGN_OR_RETURN(manifest::Signed root, load("root.json"));
  auto r = manifest::ParseRoot(root.signed_json);
  if (!r.ok()) return parse_error("root.json", r.error());
  st.root = std::move(*r);
  OTA_ASSIGN_OR_RETURN(manifest::Signed targets, load("targets.json"));
  auto t = manifest::ParseTargets(targets.signed_json);
  if (!t.ok()) return parse_error("targets.json", t.error());
  st.targets = std::move(*t);
  OTA_ASSIGN_OR_RETURN(manifest::Signed snapshot, load("snapshot.json"));
  auto s = manifest::ParseSnapshot(snapshot.signed_json);
  if (!s.ok()) return parse_error("snapshot.json", s.error());
  st.snapshot = std::move(*s);
  OTA_ASSIGN_OR_RETURN(manifest::Signed timestamp, load("timestamp.json"));
  auto ts = manifest::ParseTimestamp(timestamp.signed_json);
  if (!ts.ok()) return parse_error("timestamp.json", ts.error());
  st.timestamp = std::move(*ts);
  return st;
}

Status ValidateTargetPath(const std::string& target_path) {
  auto bad = [&](const std::string& why) {
    return MakeError(ErrorCode::kInvalidArgument, "target path \"" + target_path + "\" " + why);
  };
  if (target_path.empty()) return bad("is empty");
  if (target_path.size() > 1024) return bad("is longer than 1024 bytes");
  if (target_path.front() == '/') return bad("must be relative");
  for (char c : target_path) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return bad("contains a control character");
    if (c == '\\') return bad("contains a backslash");
  }
  std::size_t start = 0;
  while (start <= target_path.size()) {
    std::size_t end = target_path.find('/', start);
    if (end == std::string::npos) end = target_path.size();
    const std::string segment = target_path.substr(start, end - start);
    if (segment.empty()) return bad("has an empty segment");
    if (segment == "." || segment == "..") return bad("has a \".\" or \"..\" segment");
    start = end + 1;
  }
  return Ok();
}

}  // namespace ota::repo
