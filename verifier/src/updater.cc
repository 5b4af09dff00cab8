#include "ota/verifier/updater.h"

#include <algorithm>
#include <set>
#include <utility>
#include <vector>

#include "ota/common/hash.h"
#include "ota/common/log.h"
#include "ota/verifier/hashing.h"
#include "ota/verifier/signing.h"

namespace ota::verifier {
namespace {

constexpr std::string_view kLog = "verifier";

}  // namespace

Updater::Updater(Env& env, UpdaterOptions options) : env_(env), options_(std::move(options)) {}

Status Updater::Refresh() {
  trusted_.reset();
  // Spec 5.1: one fixed time for every expiry check of this update.
  const manifest::TimePoint now = env_.clock->Now();
  bool have_root = false;
  OTA_ASSIGN_OR_RETURN(std::string root_bytes,
                       ReadLocal("root.json", options_.max_root_bytes, &have_root));
  if (!have_root) {
    return MakeError(ErrorCode::kNotFound, "no trusted root.json in " + options_.metadata_dir);
  }
  OTA_ASSIGN_OR_RETURN(TrustedMetadata trusted, TrustedMetadata::FromRoot(root_bytes));
  const manifest::Root initial_root = trusted.root().meta;

  OTA_TRY(UpdateRoot(trusted));
  OTA_TRY(trusted.CheckRootNotExpired(now));
  OTA_TRY(RecoverFromFastForward(initial_root, trusted.root().meta));
  LoadPrevious(trusted);
  OTA_TRY(UpdateTimestamp(trusted, now));
  OTA_TRY(UpdateSnapshot(trusted, now));
  OTA_TRY(UpdateTargets(trusted, now));
  trusted_ = std::move(trusted);
  return Ok();
}

Status Updater::UpdateRoot(TrustedMetadata& trusted) {
  for (int i = 0; i < options_.max_root_rotations; ++i) {
    const std::string name = std::to_string(trusted.root().meta.version + 1) + ".root.json";
    bool missing = false;
    OTA_ASSIGN_OR_RETURN(std::string bytes, Download(name, options_.max_root_bytes, &missing));
    if (missing) return Ok();
    OTA_TRY(trusted.UpdateRoot(bytes));
    OTA_TRY(Persist("root.json", bytes));
    Log(LogLevel::kInfo, kLog,
        "trusted root is now version " + std::to_string(trusted.root().meta.version));
  }
  return Ok();
}

Status Updater::RecoverFromFastForward(const manifest::Root& before, const manifest::Root& after) {
  // Spec 5.3.11: versions signed by a rotated-out (possibly compromised) key
  // must not hold back metadata signed by its replacement.
  if (!RoleKeysChanged(before, after, "timestamp") && !RoleKeysChanged(before, after, "snapshot")) {
    return Ok();
  }
  Log(LogLevel::kWarning, kLog,
      "timestamp or snapshot keys were rotated: forgetting trusted timestamp and snapshot");
  OTA_TRY(env_.fs->Remove(JoinPath(options_.metadata_dir, "timestamp.json")));
  OTA_TRY(env_.fs->Remove(JoinPath(options_.metadata_dir, "snapshot.json")));
  return env_.fs->SyncDir(options_.metadata_dir);
}

void Updater::LoadPrevious(TrustedMetadata& trusted) {
  // A copy that no longer verifies (corrupted, or signed by keys the root
  // has since replaced) gives no rollback baseline; it is not an error.
  bool exists = false;
  auto ts = ReadLocal("timestamp.json", options_.max_timestamp_bytes, &exists);
  if (ts.ok() && exists) {
    Status s = trusted.LoadPreviousTimestamp(*ts);
    if (!s.ok())
      Log(LogLevel::kWarning, kLog, "ignoring local timestamp.json: " + s.error().message);
  }
  auto snap = ReadLocal("snapshot.json", options_.max_snapshot_bytes, &exists);
  if (snap.ok() && exists) {
    Status s = trusted.LoadPreviousSnapshot(*snap);
    if (!s.ok())
      Log(LogLevel::kWarning, kLog, "ignoring local snapshot.json: " + s.error().message);
  }
}

Status Updater::UpdateTimestamp(TrustedMetadata& trusted, manifest::TimePoint now) {
  OTA_ASSIGN_OR_RETURN(std::string bytes, Download("timestamp.json", options_.max_timestamp_bytes));
  OTA_ASSIGN_OR_RETURN(TrustedMetadata::TimestampResult result, trusted.UpdateTimestamp(bytes));
  // Spec 5.4.4 before 5.4.5: an expired timestamp is discarded, never
  // persisted, so the local copy stays the rollback baseline.
  OTA_TRY(trusted.CheckTimestampNotExpired(now));
  if (result == TrustedMetadata::TimestampResult::kUpdated) {
    OTA_TRY(Persist("timestamp.json", bytes));
  }
  return Ok();
}

Status Updater::UpdateSnapshot(TrustedMetadata& trusted, manifest::TimePoint now) {
  const manifest::MetaFile expected = trusted.timestamp()->meta.snapshot;
  if (trusted.snapshot() && trusted.snapshot()->meta.version == expected.version) {
    const std::string local = trusted.snapshot()->bytes;
    if (trusted.UpdateSnapshot(local, now).ok()) return Ok();
  }
  const std::string name = RemoteName(trusted, "snapshot", expected.version);
  const std::uint64_t limit =
      std::min(expected.length.value_or(options_.max_snapshot_bytes), options_.max_snapshot_bytes);
  OTA_ASSIGN_OR_RETURN(std::string bytes, Download(name, limit));
  OTA_TRY(trusted.UpdateSnapshot(bytes, now));
  return Persist("snapshot.json", bytes);
}

Status Updater::UpdateTargets(TrustedMetadata& trusted, manifest::TimePoint now) {
  auto entry = trusted.snapshot()->meta.meta.find("targets.json");
  if (entry == trusted.snapshot()->meta.meta.end()) {
    return MakeError(ErrorCode::kSecurity, "snapshot.json does not list targets.json");
  }
  const manifest::MetaFile expected = entry->second;
  bool exists = false;
  auto local = ReadLocal("targets.json", options_.max_targets_bytes, &exists);
  if (local.ok() && exists && trusted.UpdateTargets(*local, now).ok()) return Ok();
  const std::string name = RemoteName(trusted, "targets", expected.version);
  const std::uint64_t limit =
      std::min(expected.length.value_or(options_.max_targets_bytes), options_.max_targets_bytes);
  OTA_ASSIGN_OR_RETURN(std::string bytes, Download(name, limit));
  OTA_TRY(trusted.UpdateTargets(bytes, now));
  return Persist("targets.json", bytes);
}

const manifest::Targets* Updater::targets() const {
  if (!trusted_ || !trusted_->targets()) return nullptr;
  return &trusted_->targets()->meta;
}

const manifest::Root* Updater::root() const { return trusted_ ? &trusted_->root().meta : nullptr; }

namespace {

template <typename T>
void AddVerifiedRole(const manifest::Root& root, const std::string& role,
                     const TrustedFile<T>& file, std::vector<VerifiedRole>& out) {
  VerifiedRole v{role, file.meta.version, Sha256Hex(file.bytes), {}};
  auto it = root.roles.find(role);
  if (it != root.roles.end()) {
    auto signers = RoleSigners(file.envelope, role, root.keys, it->second);
    if (signers.ok()) v.keyids = std::move(*signers);
  }
  out.push_back(std::move(v));
}

}  // namespace

std::vector<std::pair<std::string, std::uint64_t>> Updater::TrustedVersions() const {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  if (!trusted_ || !trusted_->targets()) return out;
  out.emplace_back("root", trusted_->root().meta.version);
  if (trusted_->timestamp()) out.emplace_back("timestamp", trusted_->timestamp()->meta.version);
  if (trusted_->snapshot()) out.emplace_back("snapshot", trusted_->snapshot()->meta.version);
  out.emplace_back("targets", trusted_->targets()->meta.version);
  return out;
}

std::vector<VerifiedRole> Updater::VerifiedRoles() const {
  std::vector<VerifiedRole> out;
  if (!trusted_ || !trusted_->targets()) return out;
  const manifest::Root& root = trusted_->root().meta;
  AddVerifiedRole(root, "root", trusted_->root(), out);
  if (trusted_->timestamp()) AddVerifiedRole(root, "timestamp", *trusted_->timestamp(), out);
  if (trusted_->snapshot()) AddVerifiedRole(root, "snapshot", *trusted_->snapshot(), out);
  AddVerifiedRole(root, "targets", *trusted_->targets(), out);
  return out;
}

std::string Updater::RemoteName(const TrustedMetadata& trusted, const std::string& role,
                                std::uint64_t version) {
  // Consistent snapshots (spec 5.5.1, 5.6.1): versioned names, so a client
  // never mixes files of two publications. Download() percent-encodes.
  return trusted.root().meta.consistent_snapshot ? std::to_string(version) + "." + role + ".json"
                                                 : role + ".json";
}

Status Updater::LoadDelegated(const std::string& role, const std::string& delegator,
                              manifest::TimePoint now) {
  TrustedMetadata& trusted = *trusted_;
  // Loaded already (through this or another delegator): trusted here only
  // if this delegator's keys for the role accept it too.
  if (trusted.FindTargets(role) != nullptr) return trusted.CheckDelegation(role, delegator);
  const std::string listed = role + ".json";
  auto entry = trusted.snapshot()->meta.meta.find(listed);
  if (entry == trusted.snapshot()->meta.meta.end()) {
    return MakeError(ErrorCode::kSecurity, "snapshot.json does not list " + listed);
  }
  const manifest::MetaFile expected = entry->second;
  const std::uint64_t limit =
      std::min(expected.length.value_or(options_.max_targets_bytes), options_.max_targets_bytes);
  const std::string local_name = RoleFileName(role);
  bool exists = false;
  auto local = ReadLocal(local_name, options_.max_targets_bytes, &exists);
  if (local.ok() && exists) {
    if (trusted.UpdateDelegatedTargets(*local, role, delegator, now).ok()) return Ok();
    // A verified local copy newer than what snapshot lists is a rollback.
    auto kept = trusted.SignedDelegatedVersion(*local, role, delegator);
    if (kept.ok() && *kept > expected.version) {
      return MakeError(ErrorCode::kSecurity, "snapshot.json lists " + listed + " version " +
                                                 std::to_string(expected.version) +
                                                 ", lower than trusted version " +
                                                 std::to_string(*kept));
    }
  }
  OTA_ASSIGN_OR_RETURN(std::string bytes,
                       Download(RemoteName(trusted, role, expected.version), limit));
  OTA_TRY(trusted.UpdateDelegatedTargets(bytes, role, delegator, now));
  return Persist(local_name, bytes);
}

Result<manifest::TargetFile> Updater::GetTargetInfo(const std::string& target_path) {
  if (targets() == nullptr) {
    return MakeError(ErrorCode::kInvalidArgument, "no trusted targets metadata: Refresh first");
  }
  const manifest::TimePoint now = env_.clock->Now();
  struct Visit {
    std::string role;
    std::string delegator;
  };
  // Pre-order depth-first search (spec 5.6.7.2) with an explicit stack: the
  // back is visited next, so children are pushed in reverse listed order.
  std::vector<Visit> stack = {{std::string(manifest::kTargetsRole), ""}};
  std::set<std::string> visited;
  int budget = options_.max_delegations;
  while (!stack.empty()) {
    Visit visit = std::move(stack.back());
    stack.pop_back();
    if (visited.count(visit.role) != 0) continue;
    if (budget-- <= 0) {
      Log(LogLevel::kWarning, kLog,
          "stopped searching for " + target_path + " after " +
              std::to_string(options_.max_delegations) + " targets roles");
      break;
    }
    if (!visit.delegator.empty()) OTA_TRY(LoadDelegated(visit.role, visit.delegator, now));
    visited.insert(visit.role);
    const manifest::Targets& role = trusted_->FindTargets(visit.role)->meta;
    auto found = role.targets.find(target_path);
    if (found != role.targets.end()) return found->second;
    if (!role.parsed_delegations) continue;
    if (const auto& succinct = role.parsed_delegations->succinct_roles) {
      // TAP 15: exactly one bin may describe the path, and like a
      // terminating delegation it ends the search.
      stack.clear();
      stack.push_back({SuccinctRoleFor(*succinct, target_path), visit.role});
      continue;
    }
    std::vector<Visit> children;
    bool terminated = false;
    for (const manifest::DelegatedRole& child : role.parsed_delegations->roles) {
      if (!DelegationCovers(child, target_path)) continue;
      children.push_back({child.name, visit.role});
      if (child.terminating) {
        terminated = true;
        break;
      }
    }
    // A terminating delegation that covers the path means no role outside
    // its subtree may answer for it.
    if (terminated) stack.clear();
    stack.insert(stack.end(), children.rbegin(), children.rend());
  }
  return MakeError(ErrorCode::kNotFound,
                   "target " + target_path + " is not listed by any trusted targets role");
}

std::string Updater::TargetUrl(const std::string& target_path,
                               const manifest::TargetFile& target) const {
  std::string path = target_path;
  const manifest::Root* r = root();
  if (r != nullptr && r->consistent_snapshot && !target.hashes.empty()) {
    auto sha256 = target.hashes.find("sha256");
    const std::string& hash =
        sha256 != target.hashes.end() ? sha256->second : target.hashes.begin()->second;
    const std::size_t slash = path.find_last_of('/');
    const std::size_t name_at = slash == std::string::npos ? 0 : slash + 1;
    path.insert(name_at, hash + ".");
  }
  return options_.targets_base_url + PercentEncode(path, /*keep_slashes=*/true);
}

Status Updater::VerifyTargetFile(const manifest::TargetFile& target, const std::string& file_path,
                                 FileSystem& fs) {
  return CheckFile(fs, file_path, target);
}

}  // namespace ota::verifier
