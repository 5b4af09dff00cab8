#include "ota/verifier/trusted_metadata.h"

#include <set>
#include <utility>

#include "ota/verifier/delegations.h"
#include "ota/verifier/hashing.h"
#include "ota/verifier/signing.h"

namespace ota::verifier {
namespace {

using manifest::TimePoint;

template <typename T>
using Parser = Result<T> (*)(const nlohmann::json&);

// Envelope, signatures by `role` of `root`, then the typed model: the
// signature check comes before any interpretation of the signed content.
template <typename T>
Result<TrustedFile<T>> VerifyFile(std::string_view bytes, const std::string& file_name,
                                  const manifest::Root& root, const std::string& role,
                                  Parser<T> parse) {
  auto envelope = manifest::ParseEnvelope(bytes, bytes.size());
  if (!envelope.ok()) {
    return MakeError(ErrorCode::kIntegrity,
                     file_name + " is not valid metadata: " + envelope.error().message);
  }
  OTA_TRY(VerifyRoleSignatures(*envelope, role, root));
  auto meta = parse(envelope->signed_json);
  if (!meta.ok()) {
    return MakeError(ErrorCode::kIntegrity,
                     file_name + " is not valid metadata: " + meta.error().message);
  }
  return TrustedFile<T>{std::move(*meta), std::move(*envelope), std::string(bytes)};
}

Status CheckExpiry(const manifest::MetadataCommon& meta, const std::string& file_name,
                   TimePoint now) {
  // The specification requires expiry to be strictly after the start time.
  if (meta.expires <= now) {
    return MakeError(ErrorCode::kSecurity,
                     file_name + " expired at " + manifest::FormatExpires(meta.expires));
  }
  return Ok();
}

Error Lower(const std::string& what, std::uint64_t version, std::uint64_t trusted) {
  return MakeError(ErrorCode::kSecurity, what + " " + std::to_string(version) +
                                             " is lower than trusted version " +
                                             std::to_string(trusted));
}

std::set<std::string> KeyIds(const manifest::Root& root, const std::string& role) {
  auto it = root.roles.find(role);
  if (it == root.roles.end()) return {};
  return std::set<std::string>(it->second.keyids.begin(), it->second.keyids.end());
}

}  // namespace

bool RoleKeysChanged(const manifest::Root& before, const manifest::Root& after,
                     const std::string& role) {
  return KeyIds(before, role) != KeyIds(after, role);
}

Result<TrustedMetadata> TrustedMetadata::FromRoot(std::string_view root_bytes) {
  auto envelope = manifest::ParseEnvelope(root_bytes, root_bytes.size());
  if (!envelope.ok()) {
    return MakeError(ErrorCode::kIntegrity,
                     "trusted root.json is not valid metadata: " + envelope.error().message);
  }
  auto root = manifest::ParseRoot(envelope->signed_json);
  if (!root.ok()) {
    return MakeError(ErrorCode::kIntegrity,
                     "trusted root.json is not valid metadata: " + root.error().message);
  }
  Status self_signed = VerifyRoleSignatures(*envelope, "root", *root);
  if (!self_signed.ok()) {
    return MakeError(
        ErrorCode::kSecurity,
        "trusted root.json is not signed by its own root keys: " + self_signed.error().message);
  }
  TrustedMetadata out;
  out.root_ = {std::move(*root), std::move(*envelope), std::string(root_bytes)};
  return out;
}

Status TrustedMetadata::UpdateRoot(std::string_view bytes) {
  if (timestamp_) {
    return MakeError(ErrorCode::kInternal, "root cannot change once timestamp is loaded");
  }
  const std::uint64_t trusted = root_.meta.version;
  const std::string file = std::to_string(trusted + 1) + ".root.json";
  auto envelope = manifest::ParseEnvelope(bytes, bytes.size());
  if (!envelope.ok()) {
    return MakeError(ErrorCode::kIntegrity,
                     file + " is not valid metadata: " + envelope.error().message);
  }
  Status by_old = VerifyRoleSignatures(*envelope, "root", root_.meta);
  if (!by_old.ok()) {
    return MakeError(ErrorCode::kSecurity, file + " is not signed by trusted root version " +
                                               std::to_string(trusted) + ": " +
                                               by_old.error().message);
  }
  auto root = manifest::ParseRoot(envelope->signed_json);
  if (!root.ok()) {
    return MakeError(ErrorCode::kIntegrity,
                     file + " is not valid metadata: " + root.error().message);
  }
  Status by_new = VerifyRoleSignatures(*envelope, "root", *root);
  if (!by_new.ok()) {
    return MakeError(ErrorCode::kSecurity,
                     file + " is not signed by its own root keys: " + by_new.error().message);
  }
  if (root->version < trusted) return Lower(file + ": root version", root->version, trusted);
  if (root->version != trusted + 1) {
    return MakeError(ErrorCode::kSecurity, file + " has root version " +
                                               std::to_string(root->version) + ", expected " +
                                               std::to_string(trusted + 1));
  }
  root_ = {std::move(*root), std::move(*envelope), std::string(bytes)};
  return Ok();
}

Status TrustedMetadata::CheckRootNotExpired(TimePoint now) const {
  return CheckExpiry(root_.meta, "root.json", now);
}

Status TrustedMetadata::LoadPreviousTimestamp(std::string_view bytes) {
  OTA_ASSIGN_OR_RETURN(
      auto ts, VerifyFile<manifest::Timestamp>(bytes, "timestamp.json", root_.meta, "timestamp",
                                               &manifest::ParseTimestamp));
  timestamp_ = std::move(ts);
  return Ok();
}

Status TrustedMetadata::LoadPreviousSnapshot(std::string_view bytes) {
  OTA_ASSIGN_OR_RETURN(
      auto snap, VerifyFile<manifest::Snapshot>(bytes, "snapshot.json", root_.meta, "snapshot",
                                                &manifest::ParseSnapshot));
  snapshot_ = std::move(snap);
  return Ok();
}

Result<TrustedMetadata::TimestampResult> TrustedMetadata::UpdateTimestamp(std::string_view bytes) {
  OTA_ASSIGN_OR_RETURN(
      auto ts, VerifyFile<manifest::Timestamp>(bytes, "timestamp.json", root_.meta, "timestamp",
                                               &manifest::ParseTimestamp));
  if (timestamp_) {
    const manifest::Timestamp& old = timestamp_->meta;
    if (ts.meta.version < old.version) {
      return Lower("timestamp version", ts.meta.version, old.version);
    }
    if (ts.meta.version == old.version) return TimestampResult::kUnchanged;
    if (ts.meta.snapshot.version < old.snapshot.version) {
      return MakeError(ErrorCode::kSecurity, "timestamp.json lists snapshot version " +
                                                 std::to_string(ts.meta.snapshot.version) +
                                                 ", lower than trusted version " +
                                                 std::to_string(old.snapshot.version));
    }
  }
  timestamp_ = std::move(ts);
  return TimestampResult::kUpdated;
}

Status TrustedMetadata::CheckTimestampNotExpired(TimePoint now) const {
  if (!timestamp_) return MakeError(ErrorCode::kInternal, "no trusted timestamp");
  return CheckExpiry(timestamp_->meta, "timestamp.json", now);
}

Status TrustedMetadata::UpdateSnapshot(std::string_view bytes, TimePoint now) {
  if (!timestamp_) return MakeError(ErrorCode::kInternal, "snapshot before timestamp");
  const manifest::MetaFile& expected = timestamp_->meta.snapshot;
  // Hashes first: they come from verified timestamp metadata, and checking
  // them is a cheap way to reject mixed-and-matched files (spec 5.5.2).
  OTA_TRY(CheckBytes(bytes, expected.length, expected.hashes, "snapshot.json", "timestamp"));
  OTA_ASSIGN_OR_RETURN(
      auto snap, VerifyFile<manifest::Snapshot>(bytes, "snapshot.json", root_.meta, "snapshot",
                                                &manifest::ParseSnapshot));
  if (snap.meta.version != expected.version) {
    return MakeError(ErrorCode::kSecurity, "snapshot version " + std::to_string(snap.meta.version) +
                                               " does not match version " +
                                               std::to_string(expected.version) +
                                               " in timestamp.json");
  }
  if (snapshot_) {
    const manifest::Snapshot& old = snapshot_->meta;
    if (snap.meta.version < old.version) {
      return Lower("snapshot version", snap.meta.version, old.version);
    }
    for (const auto& [name, old_entry] : old.meta) {
      auto it = snap.meta.meta.find(name);
      if (it == snap.meta.meta.end()) {
        return MakeError(ErrorCode::kSecurity,
                         name + " is listed in the trusted snapshot but missing from the new one");
      }
      if (it->second.version < old_entry.version) {
        return MakeError(ErrorCode::kSecurity, "snapshot.json lists " + name + " version " +
                                                   std::to_string(it->second.version) +
                                                   ", lower than trusted version " +
                                                   std::to_string(old_entry.version));
      }
    }
  }
  OTA_TRY(CheckExpiry(snap.meta, "snapshot.json", now));
  snapshot_ = std::move(snap);
  targets_.reset();
  delegated_.clear();
  checked_delegations_.clear();
  return Ok();
}

Status TrustedMetadata::UpdateTargets(std::string_view bytes, TimePoint now) {
  if (!snapshot_) return MakeError(ErrorCode::kInternal, "targets before snapshot");
  auto it = snapshot_->meta.meta.find("targets.json");
  if (it == snapshot_->meta.meta.end()) {
    return MakeError(ErrorCode::kSecurity, "snapshot.json does not list targets.json");
  }
  const manifest::MetaFile& expected = it->second;
  OTA_TRY(CheckBytes(bytes, expected.length, expected.hashes, "targets.json", "snapshot"));
  OTA_ASSIGN_OR_RETURN(auto targets,
                       VerifyFile<manifest::Targets>(bytes, "targets.json", root_.meta, "targets",
                                                     &manifest::ParseTargets));
  if (targets.meta.version != expected.version) {
    return MakeError(ErrorCode::kSecurity,
                     "targets version " + std::to_string(targets.meta.version) +
                         " does not match version " + std::to_string(expected.version) +
                         " in snapshot.json");
  }
  OTA_TRY(CheckExpiry(targets.meta, "targets.json", now));
  targets_ = std::move(targets);
  delegated_.clear();
  checked_delegations_.clear();
  return Ok();
}

const TrustedFile<manifest::Targets>* TrustedMetadata::FindTargets(const std::string& role) const {
  if (role == manifest::kTargetsRole) return targets_ ? &*targets_ : nullptr;
  auto it = delegated_.find(role);
  return it == delegated_.end() ? nullptr : &it->second;
}

Result<TrustedFile<manifest::Targets>> TrustedMetadata::VerifyDelegated(
    std::string_view bytes, const std::string& role, const std::string& delegator) const {
  const std::string file = role + ".json";
  const TrustedFile<manifest::Targets>* parent = FindTargets(delegator);
  if (parent == nullptr) {
    return MakeError(ErrorCode::kInternal, "delegator " + delegator + " is not trusted");
  }
  manifest::Role keys;
  bool delegated = false;
  if (parent->meta.parsed_delegations) {
    const manifest::Delegations& d = *parent->meta.parsed_delegations;
    if (d.succinct_roles && IsSuccinctRole(*d.succinct_roles, role)) {
      keys.keyids = d.succinct_roles->keyids;
      keys.threshold = d.succinct_roles->threshold;
      delegated = true;
    }
    for (const manifest::DelegatedRole& r : d.roles) {
      if (r.name != role) continue;
      keys.keyids = r.keyids;
      keys.threshold = r.threshold;
      delegated = true;
    }
  }
  if (!delegated) {
    return MakeError(ErrorCode::kSecurity, delegator + " does not delegate to " + role);
  }
  auto envelope = manifest::ParseEnvelope(bytes, bytes.size());
  if (!envelope.ok()) {
    return MakeError(ErrorCode::kIntegrity,
                     file + " is not valid metadata: " + envelope.error().message);
  }
  OTA_TRY(VerifyRoleSignatures(*envelope, role, parent->meta.parsed_delegations->keys, keys));
  auto meta = manifest::ParseTargets(envelope->signed_json);
  if (!meta.ok()) {
    return MakeError(ErrorCode::kIntegrity,
                     file + " is not valid metadata: " + meta.error().message);
  }
  return TrustedFile<manifest::Targets>{std::move(*meta), std::move(*envelope), std::string(bytes)};
}

Result<std::uint64_t> TrustedMetadata::SignedDelegatedVersion(std::string_view bytes,
                                                              const std::string& role,
                                                              const std::string& delegator) const {
  OTA_ASSIGN_OR_RETURN(TrustedFile<manifest::Targets> file,
                       VerifyDelegated(bytes, role, delegator));
  return file.meta.version;
}

Status TrustedMetadata::UpdateDelegatedTargets(std::string_view bytes, const std::string& role,
                                               const std::string& delegator, TimePoint now) {
  if (!snapshot_) return MakeError(ErrorCode::kInternal, "delegated targets before snapshot");
  const std::string file = role + ".json";
  auto it = snapshot_->meta.meta.find(file);
  if (it == snapshot_->meta.meta.end()) {
    return MakeError(ErrorCode::kSecurity, "snapshot.json does not list " + file);
  }
  const manifest::MetaFile& expected = it->second;
  OTA_TRY(CheckBytes(bytes, expected.length, expected.hashes, file, "snapshot"));
  OTA_ASSIGN_OR_RETURN(TrustedFile<manifest::Targets> targets,
                       VerifyDelegated(bytes, role, delegator));
  if (targets.meta.version != expected.version) {
    return MakeError(ErrorCode::kSecurity,
                     role + " version " + std::to_string(targets.meta.version) +
                         " does not match version " + std::to_string(expected.version) +
                         " in snapshot.json");
  }
  OTA_TRY(CheckExpiry(targets.meta, file, now));
  delegated_.insert_or_assign(role, std::move(targets));
  // New bytes for the role: only this delegator has vouched for them.
  std::erase_if(checked_delegations_, [&](const auto& edge) { return edge.second == role; });
  checked_delegations_.emplace(delegator, role);
  return Ok();
}

Status TrustedMetadata::CheckDelegation(const std::string& role, const std::string& delegator) {
  auto loaded = delegated_.find(role);
  if (loaded == delegated_.end()) {
    return MakeError(ErrorCode::kInternal, "delegated role " + role + " is not loaded");
  }
  if (checked_delegations_.count({delegator, role}) != 0) return Ok();
  auto verified = VerifyDelegated(loaded->second.bytes, role, delegator);
  if (!verified.ok()) {
    return MakeError(verified.error().code, role + ".json, trusted through another delegator, " +
                                                "does not verify through " + delegator + ": " +
                                                verified.error().message);
  }
  checked_delegations_.emplace(delegator, role);
  return Ok();
}

}  // namespace ota::verifier
