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
// Signing: each role is signed with the one key given for it, which must be
// listed for the role in root.json and must meet the role's threshold alone
// (roles that need several signatures are not supported by these functions
// yet; see verifier::AddSignature).
//
// Errors: kInvalidArgument (bad input, missing or unauthorized key, refused
// overwrite), kNotFound (no repository or source file), kIo, kIntegrity
// (a copied target does not match its source).
// Thread-safety: functions are safe to call concurrently on different
// repositories; two writers on one repository must be serialized by the
// caller.
#ifndef OTA_TOOLS_REPO_H_
#define OTA_TOOLS_REPO_H_

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

namespace ota::tools {

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

// Publishes `source_file` as target `target_path` (a safe relative path such
// as "bundles/chat/1.0.0.otab": no leading '/', no "." or ".." segments, no
// empty segments, no backslashes or control characters). Copies the file into
// targets/, lists its length, sha256 and sha512 and `custom` (a JSON object,
// or null for none), then signs and writes new versions of targets, snapshot
// and timestamp. Re-adding identical content and custom data changes nothing.
// An existing path with different content is refused unless `replace`.
// Needs the targets, snapshot and timestamp keys (root may be null).
Status AddTarget(Env& env, const std::string& repo_dir, const std::string& target_path,
                 const std::string& source_file, const nlohmann::json& custom, const RepoKeys& keys,
                 const ExpiryPolicy& policy, bool replace = false);

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

}  // namespace ota::tools

#endif  // OTA_TOOLS_REPO_H_
