// The verification rules of the TUF 1.0 client workflow (specification
// sections 5.3 to 5.6) as a pure state machine over metadata bytes: no
// network, no files, no clock (the caller passes the fixed update start time).
// Updater does the I/O around it.
//
// Each Update* call either accepts the new metadata (it becomes trusted) or
// returns an error and leaves the state unchanged. Calls must follow the
// workflow order: root updates, then timestamp, snapshot, targets, then
// delegated targets roles (each after its delegator).
//
// Error codes: kSecurity for trust failures (signatures below threshold,
// expired, rolled back, versions that disagree), kIntegrity for bytes that do
// not match a listed length or hash and for malformed metadata.
//
// Thread-safety: a const object may be shared; mutation needs external
// locking.
#ifndef OTA_VERIFIER_TRUSTED_METADATA_H_
#define OTA_VERIFIER_TRUSTED_METADATA_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "ota/common/result.h"
#include "ota/manifest/tuf_metadata.h"

namespace ota::verifier {

// A trusted metadata file: the model, the envelope and the exact bytes.
template <typename T>
struct TrustedFile {
  T meta;
  manifest::Signed envelope;
  std::string bytes;
};

// True if `role` is held by a different set of key ids in `after` than in
// `before` (a key rotation of that role).
bool RoleKeysChanged(const manifest::Root& before, const manifest::Root& after,
                     const std::string& role);

class TrustedMetadata {
 public:
  // Starts from the locally trusted root. It must be well-formed and signed
  // by a threshold of its own root keys; its expiry is not checked here (the
  // workflow updates root first, then checks the final one).
  static Result<TrustedMetadata> FromRoot(std::string_view root_bytes);

  // Spec 5.3.4-5.3.7: `bytes` (fetched as N+1.root.json) must be signed by a
  // threshold of the trusted root's root keys and of its own, and have
  // version exactly N+1. Not allowed once a timestamp is loaded (kInternal).
  Status UpdateRoot(std::string_view bytes);
  // Spec 5.3.10. kSecurity "root.json expired at <time>".
  Status CheckRootNotExpired(manifest::TimePoint now) const;

  // Installs timestamp/snapshot metadata kept from an earlier update as the
  // trusted baseline for rollback checks. Only signatures (against the
  // current root) and form are checked: old copies may well be expired.
  Status LoadPreviousTimestamp(std::string_view bytes);
  Status LoadPreviousSnapshot(std::string_view bytes);

  enum class TimestampResult { kUpdated, kUnchanged };
  // Spec 5.4.2-5.4.3. A version equal to the trusted one keeps the trusted
  // file (kUnchanged); a lower one, or a lower snapshot version, is refused.
  // Expiry is NOT checked here so that a newer but expired timestamp still
  // raises the rollback floor; call CheckTimestampNotExpired afterwards.
  Result<TimestampResult> UpdateTimestamp(std::string_view bytes);
  // Spec 5.4.4. Requires a trusted timestamp (kInternal otherwise).
  Status CheckTimestampNotExpired(manifest::TimePoint now) const;

  // Spec 5.5.2-5.5.6 against the trusted timestamp: length and hashes (if
  // listed), signatures, version equal to the timestamp's, no targets file
  // removed or rolled back against the previous snapshot, not expired.
  Status UpdateSnapshot(std::string_view bytes, manifest::TimePoint now);

  // Spec 5.6.2-5.6.5 against the trusted snapshot's "targets.json" entry.
  Status UpdateTargets(std::string_view bytes, manifest::TimePoint now);

  // Spec 5.6 for a delegated targets role: `role` must be delegated by
  // `delegator` (the top-level "targets" or a delegated role accepted
  // earlier). Checks, in order: length and hashes against snapshot's
  // "<role>.json" entry (when listed), signatures by a threshold of the
  // delegation's keys (from the delegator's "delegations"."keys"), version
  // equal to snapshot's, not expired. Errors: kIntegrity, kSecurity, kInternal
  // (delegator not trusted).
  Status UpdateDelegatedTargets(std::string_view bytes, const std::string& role,
                                const std::string& delegator, manifest::TimePoint now);

  // The version of `bytes` when it is targets metadata signed by a threshold
  // of the keys `delegator` gives `role`; nothing else is checked. Used to
  // compare a locally kept copy with the version snapshot lists (rollback).
  Result<std::uint64_t> SignedDelegatedVersion(std::string_view bytes, const std::string& role,
                                               const std::string& delegator) const;

  // A role accepted through one delegator is trusted through another only
  // once its signatures meet the keys and threshold that other delegator
  // gives it (two roles may delegate the same role to different keys): Ok if
  // `role` is loaded and `delegator` delegates it with keys its signatures
  // satisfy (checked once per pair); kSecurity or kIntegrity otherwise;
  // kInternal when `role` or `delegator` is not loaded.
  Status CheckDelegation(const std::string& role, const std::string& delegator);

  // A trusted targets role by name: "targets", or a delegated role accepted
  // since the last snapshot update. Null when there is none. A delegated
  // role is trusted only through the delegators it was checked against
  // (UpdateDelegatedTargets, CheckDelegation).
  const TrustedFile<manifest::Targets>* FindTargets(const std::string& role) const;

  const TrustedFile<manifest::Root>& root() const { return root_; }
  const std::optional<TrustedFile<manifest::Timestamp>>& timestamp() const { return timestamp_; }
  const std::optional<TrustedFile<manifest::Snapshot>>& snapshot() const { return snapshot_; }
  const std::optional<TrustedFile<manifest::Targets>>& targets() const { return targets_; }

 private:
  TrustedMetadata() = default;
  // Envelope, signatures by the keys `delegator` gives `role`, typed model.
  Result<TrustedFile<manifest::Targets>> VerifyDelegated(std::string_view bytes,
                                                         const std::string& role,
                                                         const std::string& delegator) const;

  TrustedFile<manifest::Root> root_;
  std::optional<TrustedFile<manifest::Timestamp>> timestamp_;
  std::optional<TrustedFile<manifest::Snapshot>> snapshot_;
  std::optional<TrustedFile<manifest::Targets>> targets_;
  std::map<std::string, TrustedFile<manifest::Targets>> delegated_;
  // (delegator, role) pairs whose signatures were checked, for delegated_.
  std::set<std::pair<std::string, std::string>> checked_delegations_;
};

}  // namespace ota::verifier

#endif  // OTA_VERIFIER_TRUSTED_METADATA_H_
