// The TUF 1.0 client workflow ("detailed client workflow", sections 5.1 to
// 5.7 of the specification): root rotation, then timestamp, snapshot and
// targets, with rollback, freeze, mix-and-match, fast-forward recovery and
// endless-data protection; then, per target lookup, the pre-order
// depth-first search of delegated targets roles (5.6.7).
//
// "succinct_roles" (TAP 15 hash bins) are followed: a lookup that reaches one
// visits only the bin of the target path (SuccinctRoleFor), verified with the
// keys and threshold of the succinct_roles entry, and the search ends there.
//
// Files in `metadata_dir`: root.json, timestamp.json, snapshot.json,
// targets.json, and one file per delegated role loaded (RoleFileName in
// delegations.h): each the exact bytes that were downloaded and verified,
// written atomically (temp file, fsync, rename, fsync of the folder).
//
// URLs: metadata_base_url + "N.root.json", "timestamp.json", and
// "ROLE.json" for snapshot, targets and delegated roles, or "V.ROLE.json"
// (V: the version snapshot or timestamp lists) when root sets
// consistent_snapshot. Role names are percent-encoded in URLs (every byte
// but A-Z a-z 0-9 - . _ ~, so '/' too).
//
// Thread-safety: not thread-safe; use one Updater per thread or lock.
#ifndef OTA_VERIFIER_UPDATER_H_
#define OTA_VERIFIER_UPDATER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ota/common/env.h"
#include "ota/common/result.h"
#include "ota/manifest/tuf_metadata.h"
#include "ota/verifier/delegations.h"
#include "ota/verifier/trusted_metadata.h"

namespace ota::verifier {

struct UpdaterOptions {
  std::string metadata_dir;       // Local trusted metadata; must hold root.json.
  std::string metadata_base_url;  // Ends with '/'.
  std::string targets_base_url;   // Ends with '/'.
  // Download caps for files whose size no signed metadata states (spec: the
  // application-chosen W, X, Y, Z). Snapshot and targets use the signed
  // length instead when one is listed (capped by these).
  std::uint64_t max_root_bytes = 512 * 1024;
  std::uint64_t max_timestamp_bytes = 16 * 1024;
  std::uint64_t max_snapshot_bytes = 4 << 20;
  std::uint64_t max_targets_bytes = 32 << 20;
  // Most root versions fetched in one Refresh.
  int max_root_rotations = 256;
  // Most targets roles (the top-level one included) one target lookup
  // visits; bounds the work a hostile delegation graph can cause.
  int max_delegations = 32;
};

// A top-level role as the last Refresh trusted it: for audit records.
struct VerifiedRole {
  std::string role;  // "root", "timestamp", "snapshot" or "targets".
  std::uint64_t version = 0;
  std::string sha256;  // Of the metadata file's bytes.
  // Key ids whose signatures counted towards the role's threshold.
  std::vector<std::string> keyids;
};

class Updater {
 public:
  // `env` must outlive the Updater; its clock, fs and http are used.
  Updater(Env& env, UpdaterOptions options);

  // Runs the workflow once with the time fixed at its start (env.clock):
  // loads the trusted root.json, fetches N+1.root.json until 404/403 (each
  // signed by a threshold of the old and of the new root keys, version
  // exactly N+1, persisted), refuses an expired final root, deletes the
  // trusted timestamp and snapshot when their keys were rotated (recovery
  // from fast-forward attacks), then updates timestamp, snapshot and targets
  // with every check of the specification. Snapshot and targets already on
  // disk are reused when they are the versions (and hashes) now listed.
  //
  // Errors: kNotFound (no trusted root.json), kRetryLater (network, or an
  // HTTP status other than 200; names the file), kIntegrity (length/hash
  // mismatch, malformed metadata, more bytes than allowed), kSecurity (trust
  // failure: signatures, expiry, rollback, version mismatch), kIo.
  // After an error, targets() is null until a later Refresh succeeds.
  Status Refresh();

  // The trusted top-level targets metadata after a successful Refresh, or
  // null.
  const manifest::Targets* targets() const;
  // The trusted root after a successful Refresh, or null.
  const manifest::Root* root() const;

  // The four top-level roles after a successful Refresh (empty before one,
  // and after a failed one): version, digest, and the keys that signed.
  // Hashes each file and checks its signatures again: call it when
  // TrustedVersions() changed, not at every refresh.
  std::vector<VerifiedRole> VerifiedRoles() const;
  // The same roles' versions only (cheap). A role's version names its
  // content: a different file under a trusted version is refused.
  std::vector<std::pair<std::string, std::uint64_t>> TrustedVersions() const;

  // The description of `target_path` (spec 5.6.7): searches the top-level
  // targets role, then, pre-order depth-first in listed order, each delegated
  // role whose "paths" or "path_hash_prefixes" cover the path; a terminating
  // delegation that covers it ends the search after its own subtree. The first
  // role visited that lists the path wins. Each role is visited at most once
  // per lookup (cycles end), and at most options.max_delegations roles are.
  // Delegated metadata is loaded on first use, like top-level targets (local
  // copy reused when it matches snapshot, else downloaded; signatures by the
  // delegator's keys for the role, version equal to snapshot's, not expired at
  // env.clock's time, not older than a verified local copy) and persisted.
  // Errors: kNotFound if no visited role lists it; kInvalidArgument before a
  // successful Refresh; for a delegated role that fails to load, the codes of
  // Refresh (kRetryLater, kIntegrity, kSecurity, kIo).
  Result<manifest::TargetFile> GetTargetInfo(const std::string& target_path);

  // Where to download a target: targets_base_url + the path, percent-encoded
  // per segment. With consistent snapshots the file name is prefixed by its
  // hash: dir/HASH.name, using sha256 when listed, else sha512.
  std::string TargetUrl(const std::string& target_path, const manifest::TargetFile& target) const;

  // Checks a downloaded target: length first, then every listed hash.
  // Errors: kIntegrity, kNotFound, kIo.
  static Status VerifyTargetFile(const manifest::TargetFile& target, const std::string& file_path,
                                 FileSystem& fs);

 private:
  // With `missing`, a 404 or 403 answer sets *missing and returns "".
  Result<std::string> Download(const std::string& file_name, std::uint64_t max_bytes,
                               bool* missing = nullptr);
  // Sets *exists; returns "" when the file does not exist.
  Result<std::string> ReadLocal(const std::string& file_name, std::uint64_t max_bytes,
                                bool* exists);
  Status Persist(const std::string& file_name, std::string_view bytes);

  Status UpdateRoot(TrustedMetadata& trusted);
  Status RecoverFromFastForward(const manifest::Root& before, const manifest::Root& after);
  void LoadPrevious(TrustedMetadata& trusted);
  Status UpdateTimestamp(TrustedMetadata& trusted, manifest::TimePoint now);
  Status UpdateSnapshot(TrustedMetadata& trusted, manifest::TimePoint now);
  Status UpdateTargets(TrustedMetadata& trusted, manifest::TimePoint now);
  // Makes delegated role `role` (delegated by `delegator`) trusted.
  Status LoadDelegated(const std::string& role, const std::string& delegator,
                       manifest::TimePoint now);
  // Snapshot's "V.<role>.json" or "<role>.json" name for a download.
  static std::string RemoteName(const TrustedMetadata& trusted, const std::string& role,
                                std::uint64_t version);

  Env& env_;
  UpdaterOptions options_;
  std::optional<TrustedMetadata> trusted_;
};

// Bootstraps trust on a device: checks that `root_bytes` is a well-formed
// root signed by a threshold of its own root keys, then writes it as
// metadata_dir/root.json (creating the folder). Expiry is not checked: the
// first Refresh rotates to the current root. Refuses to replace an existing
// root.json (kInvalidArgument): doing so could roll trust back; remove the
// folder to start over. Errors: kIntegrity, kSecurity, kInvalidArgument, kIo.
Status InitTrustedRoot(FileSystem& fs, const std::string& metadata_dir,
                       std::string_view root_bytes);

// Percent-encodes (upper-case %XX) every byte except ASCII letters, digits
// and the bytes listed in `keep`.
std::string PercentEncodeExcept(std::string_view s, std::string_view keep);

// Percent-encodes everything but RFC 3986 unreserved characters, and '/' when
// `keep_slashes` (target paths keep their folders).
std::string PercentEncode(std::string_view s, bool keep_slashes);

}  // namespace ota::verifier

#endif  // OTA_VERIFIER_UPDATER_H_
