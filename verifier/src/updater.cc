#include "ota/verifier/updater.h"

#include <algorithm>
#include <utility>

#include "ota/common/log.h"
#include "ota/verifier/hashing.h"

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
  if (result == TrustedMetadata::TimestampResult::kUpdated) {
    OTA_TRY(Persist("timestamp.json", bytes));
  }
  return trusted.CheckTimestampNotExpired(now);
}

Status Updater::UpdateSnapshot(TrustedMetadata& trusted, manifest::TimePoint now) {
  const manifest::MetaFile expected = trusted.timestamp()->meta.snapshot;
  if (trusted.snapshot() && trusted.snapshot()->meta.version == expected.version) {
    const std::string local = trusted.snapshot()->bytes;
    if (trusted.UpdateSnapshot(local, now).ok()) return Ok();
  }
  const std::string name = trusted.root().meta.consistent_snapshot
                               ? std::to_string(expected.version) + ".snapshot.json"
                               : "snapshot.json";
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
  const std::string name = trusted.root().meta.consistent_snapshot
                               ? std::to_string(expected.version) + ".targets.json"
                               : "targets.json";
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

Result<manifest::TargetFile> Updater::GetTargetInfo(const std::string& target_path) const {
  const manifest::Targets* t = targets();
  if (t == nullptr) {
    return MakeError(ErrorCode::kInvalidArgument, "no trusted targets metadata: Refresh first");
  }
  auto it = t->targets.find(target_path);
  if (it == t->targets.end()) {
    return MakeError(ErrorCode::kNotFound, "target " + target_path + " is not in targets.json");
  }
  return it->second;
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
