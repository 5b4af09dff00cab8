// Private helpers of the repository tools: paths, metadata files, signing.
#ifndef OTA_TOOLS_REPO_SRC_REPO_FILES_H_
#define OTA_TOOLS_REPO_SRC_REPO_FILES_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ota/repo/repo.h"

namespace ota::repo::internal {

std::string MetadataDir(const std::string& repo_dir);
std::string TargetsDir(const std::string& repo_dir);

// Reads metadata/<file_name> (bounded).
Result<std::string> ReadMetadataFile(Env& env, const std::string& repo_dir,
                                     const std::string& file_name);

// Fails unless `key` is present and listed for `role` in `root`.
Status CheckRoleKey(const manifest::Root& root, const std::string& role,
                    const verifier::PrivateKey* key);

// Signs `signed_obj` with `key` and checks the result meets `role`'s
// threshold in `root`, so nothing a client would refuse gets written.
Result<std::string> SignRole(const nlohmann::json& signed_obj, const manifest::Root& root,
                             const std::string& role, const verifier::PrivateKey& key);

// Writes metadata/<role>.json, preceded by metadata/<version>.<role>.json
// when `versioned` (consistent snapshots, and always for root).
Status WriteRoleFile(Env& env, const std::string& repo_dir, const std::string& role,
                     std::uint64_t version, bool versioned, const std::string& bytes);

// The entry that lists metadata `bytes` of `version` in snapshot/timestamp.
manifest::MetaFile MetaFileFor(std::uint64_t version, const std::string& bytes);

// Copies a file atomically and durably in bounded memory.
Status CopyFileAtomic(FileSystem& fs, const std::string& from, const std::string& to);

// Signed and ready metadata for targets -> snapshot -> timestamp, written in
// that order (targets optional).
struct Chain {
  std::uint64_t targets_version = 0;  // 0: targets is not rewritten.
  std::string targets_bytes;
  // The snapshot timestamp lists; rewritten only when `snapshot_signed`.
  std::uint64_t snapshot_version = 0;
  std::string snapshot_bytes;
  bool snapshot_signed = false;
  std::uint64_t timestamp_version = 0;
  std::string timestamp_bytes;
};

// Signs a new snapshot version listing `meta` (unless snapshot_version is
// 0: then chain.snapshot_* must hold the current snapshot) and a new
// timestamp version into `chain`.
Status SignSnapshotAndTimestamp(Env& env, const manifest::Root& root,
                                const std::map<std::string, manifest::MetaFile>& meta,
                                std::uint64_t snapshot_version, std::uint64_t timestamp_version,
                                const RepoKeys& keys, const ExpiryPolicy& policy, Chain& chain);

// What snapshot lists: targets.json (`targets_meta`) and the metadata of
// every role `targets` delegates to, read from metadata/<name>.json unless
// `pending` holds its new entry. Roles without a file yet are left out.
Result<std::map<std::string, manifest::MetaFile>> SnapshotMeta(
    Env& env, const std::string& repo_dir, const manifest::Targets& targets,
    const manifest::MetaFile& targets_meta,
    const std::map<std::string, manifest::MetaFile>& pending = {});

// Signs `targets` (its version and expiry set here) and the snapshot and
// timestamp after it.
Status SignTargetsChain(Env& env, const std::string& repo_dir, const manifest::Root& root,
                        manifest::Targets targets, std::uint64_t targets_version,
                        std::uint64_t snapshot_version, std::uint64_t timestamp_version,
                        const RepoKeys& keys, const ExpiryPolicy& policy, Chain& chain);

// Signs snapshot and timestamp after already signed targets bytes.
Status ChainAfterTargets(Env& env, const std::string& repo_dir, const RepoState& st,
                         const manifest::Targets& targets, std::uint64_t targets_version,
                         std::string targets_bytes, const RepoKeys& keys,
                         const ExpiryPolicy& policy, Chain& chain);

// metadata/staged/<role>.json.
std::string StagedPath(const std::string& repo_dir, const std::string& role);

// Signs with every key of `keys` (none null) and checks the threshold.
Result<std::string> SignRoleWithAll(const nlohmann::json& signed_obj, const manifest::Root& root,
                                    const std::string& role,
                                    const std::vector<const verifier::PrivateKey*>& keys);

// An envelope with signatures by `signers` (none: an empty list).
Result<std::string> SignedOrBare(const nlohmann::json& signed_obj,
                                 const std::vector<const verifier::PrivateKey*>& signers);

// The names of the roles `targets` delegates to (a malformed delegations
// object gives none; parsing is the client's business).
std::vector<std::string> DelegatedRoleNames(const manifest::Targets& targets);

manifest::TimePoint ExpiresIn(Env& env, std::chrono::seconds ttl);

// The targets content the next staged change builds on: the staged targets
// when it is still the next version, else the current one (repo_staging.cc).
Result<manifest::Targets> TargetsToEdit(Env& env, const std::string& repo_dir, const RepoState& st);

// Validates and copies a new target into targets/ and lists it in `targets`
// with its sha256, and its sha512 too with `with_sha512` or when the target
// it replaces listed one (so identical content compares equal). False when
// `targets` already lists exactly this content and custom data
// (repo_targets.cc).
Result<bool> PrepareTarget(Env& env, const std::string& repo_dir, bool consistent,
                           manifest::Targets& targets, const std::string& target_path,
                           const std::string& source_file, const nlohmann::json& custom,
                           bool replace, bool with_sha512);

Status WriteChain(Env& env, const std::string& repo_dir, bool consistent, const Chain& chain);

}  // namespace ota::repo::internal

#endif  // OTA_TOOLS_REPO_SRC_REPO_FILES_H_
