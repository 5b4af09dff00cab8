// Operator-side writing of a TUF 1.0 repository (what otactl runs).
//
// Layout of a repository folder:
//   metadata/root.json, metadata/N.root.json   every root version is kept, as
//                                             clients walk the chain N -> N+1
//   metadata/targets.json, snapshot.json, timestamp.json
//   metadata/N.targets.json, N.snapshot.json   with consistent snapshots
//   targets/<path>                             target files; with consistent
//                                             snapshots targets/<dir>/<sha256>.<name>
// Serve the folder over HTTP with metadata_base_url = <base>/metadata/ and
// targets_base_url = <base>/targets/.
//
// Every write is atomic (temp file, fsync, rename, fsync of the folder), and
// files are written in the order that never lets published metadata point at
// something missing: target files, then targets, snapshot, and timestamp
// last. All metadata is signed before the first file is written, so a key
// problem writes nothing. Without consistent snapshots, a client that reads
// during an update can see a mix of old and new files and fails that update
// with a hash mismatch (it then retries); consistent snapshots avoid that.
//
//   metadata/<role>.json, N.<role>.json         delegated targets roles
//                                             (e.g. rollouts), listed in
//                                             snapshot like targets.json
//   metadata/staged/root.json, targets.json    new versions waiting for
//                                             signatures (never served)
//
// Signing: the online functions (AddTarget, RemoveTarget, Refresh*,
// ResignTargets, PublishDelegatedTarget) sign each role with the one key
// given for it, which must be listed for the role and meet its threshold
// alone. Root and targets keys may be offline and several may be required:
// such changes are staged (StageRoot, StageTargets), signed in separate steps
// with one key each (SignStaged), and moved into place by CommitStaged once
// every threshold is met. See docs/operator-guide.md.
//
// Errors: kInvalidArgument (bad input, missing or unauthorized key, refused
// overwrite), kNotFound (no repository or source file), kIo, kIntegrity
// (a copied target does not match its source).
// Thread-safety: functions are safe to call concurrently on different
// repositories; two writers on one repository must be serialized by the
// caller.
#ifndef OTA_REPO_REPO_H_
#define OTA_REPO_REPO_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ota/common/env.h"
#include "ota/common/result.h"
#include "ota/manifest/tuf_metadata.h"
#include "ota/verifier/keys.h"

namespace ota::repo {

// Signing keys for the top-level roles; null when not available.
struct RepoKeys {
  const verifier::PrivateKey* root = nullptr;
  const verifier::PrivateKey* targets = nullptr;
  const verifier::PrivateKey* snapshot = nullptr;
  const verifier::PrivateKey* timestamp = nullptr;
};

// How long newly signed metadata stays valid, from env.clock->Now().
struct ExpiryPolicy {
  std::chrono::seconds root{std::chrono::days(365)};
  std::chrono::seconds targets{std::chrono::days(90)};
  std::chrono::seconds snapshot{std::chrono::days(7)};
  std::chrono::seconds timestamp{std::chrono::days(1)};
};

// The parsed current metadata of a repository.
struct RepoState {
  manifest::Root root;
  manifest::Targets targets;
  manifest::Snapshot snapshot;
  manifest::Timestamp timestamp;
};

// Creates a repository in `repo_dir` (which must not exist or be empty): a
// root (version 1) with one key per top-level role, threshold 1, and version
// 1 of empty targets, snapshot and timestamp. All four keys are required.
Status InitRepository(Env& env, const std::string& repo_dir, const RepoKeys& keys,
                      bool consistent_snapshot, const ExpiryPolicy& policy);

// Reads and parses the repository's current metadata (signatures are not
// checked: the operator's own files are trusted here).
Result<RepoState> LoadRepository(Env& env, const std::string& repo_dir);

// Where target `target_path` (listed as `target`) is stored in the
// repository folder (with consistent snapshots, under its SHA-256).
std::string TargetFileInRepository(const std::string& repo_dir, const RepoState& st,
                                   const std::string& target_path,
                                   const manifest::TargetFile& target);

// Publishes `source_file` as target `target_path` (a safe relative path such
// as "bundles/chat/1.0.0.otab": no leading '/', no "." or ".." segments, no
// empty segments, no backslashes or control characters). Copies the file into
// targets/, lists its length, sha256 and `custom` (a JSON object, or null for
// none), then signs and writes new versions of targets, snapshot and
// timestamp. The sha512 is listed too when asked (NewTarget::sha512, or
// `with_sha512` of StageTarget and PublishDelegatedTarget) or when the target
// replaced listed one. Re-adding identical content and custom data changes nothing.
// An existing path with different content is refused unless `replace`.
// Needs the targets, snapshot and timestamp keys (root may be null).
Status AddTarget(Env& env, const std::string& repo_dir, const std::string& target_path,
                 const std::string& source_file, const nlohmann::json& custom, const RepoKeys& keys,
                 const ExpiryPolicy& policy, bool replace = false);

// One target of AddTargets.
struct NewTarget {
  std::string path;         // Target path, as AddTarget's target_path.
  std::string source_file;  // File to publish.
  nlohmann::json custom;    // JSON object, or null for none.
  bool sha512 = false;      // List the sha512 beside the sha256.
};

// Publishes several targets in one new version of targets, snapshot and
// timestamp, so that clients see all of them or none (the variants of one
// release). Each is checked and copied as by AddTarget before anything is
// signed; a failure leaves the metadata unchanged. Errors as AddTarget's,
// plus kInvalidArgument for an empty list or a path listed twice.
Status AddTargets(Env& env, const std::string& repo_dir, const std::vector<NewTarget>& targets,
                  const RepoKeys& keys, const ExpiryPolicy& policy, bool replace = false);

// Removes a target from targets metadata (the file stays in targets/, since
// clients holding older metadata may still fetch it). kNotFound if absent.
Status RemoveTarget(Env& env, const std::string& repo_dir, const std::string& target_path,
                    const RepoKeys& keys, const ExpiryPolicy& policy);

// Re-signs timestamp with a new version and expiry (the online routine that
// keeps clients from seeing a freeze). Needs the timestamp key.
Status RefreshTimestamp(Env& env, const std::string& repo_dir, const RepoKeys& keys,
                        const ExpiryPolicy& policy);

// Re-signs snapshot and timestamp with new versions and expiry. Needs the
// snapshot and timestamp keys. Also the step after rotating those keys.
Status RefreshSnapshot(Env& env, const std::string& repo_dir, const RepoKeys& keys,
                       const ExpiryPolicy& policy);

// Re-signs targets (same content), snapshot and timestamp with new versions
// and expiry; the step after rotating the targets key.
Status ResignTargets(Env& env, const std::string& repo_dir, const RepoKeys& keys,
                     const ExpiryPolicy& policy);

// New keys (public halves) and threshold for one role.
struct RoleKeysChange {
  std::vector<manifest::Key> keys;
  std::uint64_t threshold = 1;
};

// A new root version. Roles left empty keep their keys and threshold.
struct RootRotation {
  std::optional<RoleKeysChange> root, targets, snapshot, timestamp;
  // Must include a threshold of the current root keys AND of the new ones
  // (TUF clients require both to accept the new root).
  std::vector<const verifier::PrivateKey*> signers;
};

// Writes metadata/N+1.root.json and root.json, after checking that a client
// trusting the current root accepts the new one. Other roles are not
// re-signed: after rotating their keys, call ResignTargets or RefreshSnapshot
// with the new keys, or clients fail to verify them.
Status RotateRoot(Env& env, const std::string& repo_dir, const RootRotation& rotation,
                  const ExpiryPolicy& policy);

// Checks a target path against the rules listed at AddTarget.
// kInvalidArgument with the reason.
Status ValidateTargetPath(const std::string& target_path);

// ---- Several keys per role, offline keys, signing in steps ----

// The keys of one role at initialization, and its threshold (1 <= threshold
// <= keys). Every key signs that role's first version.
struct InitRole {
  std::vector<const verifier::PrivateKey*> keys;
  std::uint64_t threshold = 1;
};
struct InitOptions {
  InitRole root, targets, snapshot, timestamp;
  bool consistent_snapshot = false;
};

// Like InitRepository above, with any number of keys per role. The snapshot
// and timestamp thresholds must be 1: those online roles are signed by one
// key (several may be listed, for rotation without a gap).
Status InitRepository(Env& env, const std::string& repo_dir, const InitOptions& options,
                      const ExpiryPolicy& policy);

// Edits of a root (pure). `role` is one of the four top-level roles.
// AddRoleKey: kInvalidArgument if the key is already listed for the role or
// cannot verify signatures (verifier::CheckPublicKey).
// RevokeRoleKey: kNotFound if the role does not list `keyid`;
// kInvalidArgument if fewer keys than the threshold would remain.
// SetRoleThreshold: 1 <= threshold <= keys, and 1 for snapshot/timestamp.
// Keys no role lists any more are dropped from root.keys.
Status AddRoleKey(manifest::Root& root, const std::string& role, const manifest::Key& key);
Status RevokeRoleKey(manifest::Root& root, const std::string& role, const std::string& keyid);
Status SetRoleThreshold(manifest::Root& root, const std::string& role, std::uint64_t threshold);

// The root the next edit applies to: the staged root if there is one, else
// the current root with version N+1; its expiry is renewed from `policy`.
Result<manifest::Root> RootToEdit(Env& env, const std::string& repo_dir,
                                  const ExpiryPolicy& policy);

// Writes metadata/staged/root.json: `root` (version N+1 of the current
// root) signed by `signers` (possibly none), each of which must be a root key
// of the current or of the new root. Replaces any staged root (and its
// signatures). Errors: kInvalidArgument.
Status StageRoot(Env& env, const std::string& repo_dir, const manifest::Root& root,
                 const std::vector<const verifier::PrivateKey*>& signers);

// Like AddTarget, but writes the new targets version to
// metadata/staged/targets.json, signed by `signers` (possibly none; each must
// be a targets key of root), instead of publishing it. Successive calls add
// to the staged content. The target file is copied into targets/ right away
// (nothing lists it until the commit).
Status StageTarget(Env& env, const std::string& repo_dir, const std::string& target_path,
                   const std::string& source_file, const nlohmann::json& custom,
                   const std::vector<const verifier::PrivateKey*>& signers,
                   const ExpiryPolicy& policy, bool replace = false, bool with_sha512 = false);

// Stages `targets` (its version and expiry are set here) as the next targets
// version, signed by `signers`. The building block of StageTarget and
// AddDelegation. Errors: kInvalidArgument.
Status StageTargets(Env& env, const std::string& repo_dir, manifest::Targets targets,
                    const std::vector<const verifier::PrivateKey*>& signers,
                    const ExpiryPolicy& policy);

// Adds `key`'s signature to the staged metadata of `role` ("root" or
// "targets"). Errors: kNotFound (nothing staged), kInvalidArgument (the key
// is not authorized for the role: for root, a root key of the current or of
// the staged root; or it already signed).
Status SignStaged(Env& env, const std::string& repo_dir, const std::string& role,
                  const verifier::PrivateKey& key);

// Checks the staged metadata of `role` against what clients require.
// kSecurity with one line naming the role and the counts, e.g.
// "staged root has 2 of 3 required signatures by the current root keys",
// "staged targets has 1 of 2 required signatures"; kNotFound if nothing is
// staged; kInvalidArgument if it is stale (not version N+1 any more).
Status CheckStaged(Env& env, const std::string& repo_dir, const std::string& role);

// CheckStaged, then moves the staged file into place atomically and removes
// it from staged/: root as N+1.root.json and root.json; targets followed by
// new snapshot and timestamp versions (needs those keys in `keys`).
Status CommitStaged(Env& env, const std::string& repo_dir, const std::string& role,
                    const RepoKeys& keys, const ExpiryPolicy& policy);

// A delegated targets role (TUF delegations, one level below targets).
struct DelegationSpec {
  std::string name;                 // e.g. "rollouts": [a-z0-9_-], 1..64 chars.
  std::vector<manifest::Key> keys;  // Its keys (public halves).
  std::uint64_t threshold = 1;      // Must be 1: the role is online.
  std::vector<std::string> paths;   // Patterns ("rollouts/*"), see below.
  bool terminating = false;
};

// Adds (or replaces) delegation `spec` in top-level targets and writes the
// role's first, empty metadata (<name>.json, version 1) signed by
// `role_key`, which must be one of spec.keys. With keys.targets given and
// meeting the targets threshold alone, targets, snapshot and timestamp are
// published; otherwise the targets change is staged (StageTargets, signed by
// keys.targets if given) and the role becomes visible at CommitStaged.
// Returns true when the targets change was staged.
Result<bool> AddDelegation(Env& env, const std::string& repo_dir, const DelegationSpec& spec,
                           const verifier::PrivateKey& role_key, const RepoKeys& keys,
                           const ExpiryPolicy& policy);

// Publishes `source_file` as `target_path` in the delegated role `role`,
// signed by `role_key`, then new snapshot and timestamp versions. The path
// must match one of the role's patterns. Errors as AddTarget's, plus
// kNotFound (no such delegation).
Status PublishDelegatedTarget(Env& env, const std::string& repo_dir, const std::string& role,
                              const std::string& target_path, const std::string& source_file,
                              const nlohmann::json& custom, const verifier::PrivateKey& role_key,
                              const RepoKeys& keys, const ExpiryPolicy& policy,
                              bool replace = false, bool with_sha512 = false);

// TUF path pattern matching, as the client does it
// (verifier::PathPatternMatches): "*" and "?" never cross "/", so
// "rollouts/*" matches "rollouts/a.json" but not "rollouts/x/a.json".
bool DelegationPathMatches(const std::string& pattern, const std::string& target_path);

}  // namespace ota::repo

#endif  // OTA_REPO_REPO_H_
