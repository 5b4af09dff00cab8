// The TUF 1.0 metadata model: the four top-level roles, their JSON forms,
// and the signed envelope. See docs/security.md and the TUF specification
// ("Document formats").
//
// Parsing is strict where the specification says MUST and where looseness
// would weaken the client: wrong `_type`, a spec_version whose major is not 1,
// missing or mistyped required fields, versions below 1, negative lengths,
// thresholds below 1, expiry not in the form YYYY-MM-DDTHH:MM:SSZ, and hash
// algorithms other than sha256 and sha512 are all refused. Unknown extra
// fields are accepted and ignored; signatures are always checked over the
// original "signed" object (Signed::signed_json), so they still verify.
//
// Delegations in targets metadata are parsed into Targets::parsed_delegations
// (and also kept raw in Targets::delegations): "keys", and "roles" in listed
// order, each with exactly one of "paths" and "path_hash_prefixes"; role names
// must be unique and may not be a top-level role name. Or, instead of "roles",
// "succinct_roles" (TAP 15 hash bins): keyids, threshold, bit_length (1..32)
// and name_prefix, shared by all 2^bit_length bins.
//
// Errors: every parser returns kInvalidArgument naming the role and field.
// Thread-safety: all functions are pure and may be called concurrently.
#ifndef OTA_MANIFEST_TUF_METADATA_H_
#define OTA_MANIFEST_TUF_METADATA_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ota/common/result.h"

namespace ota::manifest {

using TimePoint = std::chrono::system_clock::time_point;

// The specification version written into metadata this code produces.
inline constexpr std::string_view kSpecVersion = "1.0.31";

inline constexpr std::string_view kRootRole = "root";
inline constexpr std::string_view kTimestampRole = "timestamp";
inline constexpr std::string_view kSnapshotRole = "snapshot";
inline constexpr std::string_view kTargetsRole = "targets";

// Hash algorithm name ("sha256" or "sha512") -> lower-case hex digest.
using Hashes = std::map<std::string, std::string>;

struct Key {
  std::string keytype;       // "ed25519", "ecdsa", "rsa", ...
  std::string scheme;        // "ed25519", "ecdsa-sha2-nistp256", "rsassa-pss-sha256", ...
  std::string public_value;  // keyval.public: hex for ed25519, PEM for ecdsa and rsa.
  // The key object as found (any "private" value removed). Key ids are
  // computed over it, so fields other implementations add (for example
  // "keyid_hash_algorithms") keep their ids stable.
  nlohmann::json raw;

  // Same key material (type, scheme and public value).
  bool SameMaterial(const Key& other) const {
    return keytype == other.keytype && scheme == other.scheme && public_value == other.public_value;
  }
};

struct Role {
  std::vector<std::string> keyids;  // Unique.
  std::uint64_t threshold = 1;      // >= 1.
};

// Fields every role's "signed" object has.
struct MetadataCommon {
  std::string spec_version = std::string(kSpecVersion);
  std::uint64_t version = 1;  // >= 1.
  TimePoint expires{};
};

struct Root : MetadataCommon {
  bool consistent_snapshot = false;
  std::map<std::string, Key> keys;    // keyid -> key.
  std::map<std::string, Role> roles;  // Has root, timestamp, snapshot and targets.
};

// An entry of timestamp's or snapshot's "meta".
struct MetaFile {
  std::uint64_t version = 1;
  std::optional<std::uint64_t> length;
  Hashes hashes;  // Empty when the entry lists no hashes.
};

struct Timestamp : MetadataCommon {
  MetaFile snapshot;  // meta["snapshot.json"], the only entry allowed.
};

struct Snapshot : MetadataCommon {
  std::map<std::string, MetaFile> meta;  // "targets.json" (and delegated roles) -> entry.
};

struct TargetFile {
  std::uint64_t length = 0;
  Hashes hashes;          // At least one entry.
  nlohmann::json custom;  // null when absent.
};

// A delegated targets role: an entry of "delegations"."roles".
struct DelegatedRole {
  std::string name;                 // Unique in its delegator; never a top-level role name.
  std::vector<std::string> keyids;  // Unique.
  std::uint64_t threshold = 1;      // >= 1.
  bool terminating = false;
  // Exactly one is set: shell-style path patterns, or prefixes of the lower-case
  // hex SHA-256 of the target path.
  std::optional<std::vector<std::string>> paths;
  std::optional<std::vector<std::string>> path_hash_prefixes;
};

// "delegations"."succinct_roles" (TAP 15): 2^bit_length delegated roles
// ("hash bins") named "<name_prefix>-<bin>", <bin> in lower-case hex padded to
// the width of the largest bin; all share these keys and threshold. The bin of
// a target path is given by the first bit_length bits of its SHA-256.
struct SuccinctRoles {
  std::vector<std::string> keyids;  // Unique.
  std::uint64_t threshold = 1;      // >= 1.
  std::uint32_t bit_length = 1;     // 1..32.
  std::string name_prefix;
};

struct Delegations {
  std::map<std::string, Key> keys;   // keyid -> key, for the delegated roles.
  std::vector<DelegatedRole> roles;  // In listed order: the search order.
  // Set when "succinct_roles" was given instead of "roles" (then `roles` is
  // empty).
  std::optional<SuccinctRoles> succinct_roles;
};

struct Targets : MetadataCommon {
  std::map<std::string, TargetFile> targets;  // Target path -> description.
  nlohmann::json delegations;                 // Raw object, or null when absent.
  // The typed form of `delegations` (set exactly when it is not null). ToJson
  // writes `delegations` when set, else this.
  std::optional<Delegations> parsed_delegations;
};

struct Signature {
  std::string keyid;
  std::string sig;  // Hex for ed25519.
};

// A metadata file: the "signed" object exactly as received, and its
// signatures.
struct Signed {
  nlohmann::json signed_json;
  std::vector<Signature> signatures;
};

// Parses a metadata file. `max_bytes` bounds the input; nesting is limited
// and duplicate object keys are refused (see ParseJsonStrict). Checks only the
// envelope's shape: {"signed": {...}, "signatures": [{"keyid", "sig"}, ...]}.
Result<Signed> ParseEnvelope(std::string_view bytes, std::size_t max_bytes = 32u << 20);

// The `_type` of a "signed" object ("root", "targets", ...).
Result<std::string> MetadataType(const nlohmann::json& signed_obj);

Result<Key> ParseKey(const nlohmann::json& key_obj);
Result<Root> ParseRoot(const nlohmann::json& signed_obj);
Result<Timestamp> ParseTimestamp(const nlohmann::json& signed_obj);
Result<Snapshot> ParseSnapshot(const nlohmann::json& signed_obj);
Result<Targets> ParseTargets(const nlohmann::json& signed_obj);
Result<MetaFile> ParseMetaFile(const nlohmann::json& obj);
Result<TargetFile> ParseTargetFile(const nlohmann::json& obj);
Result<Delegations> ParseDelegations(const nlohmann::json& obj);

// The public key object as it appears in root.json:
// {"keytype", "scheme", "keyval": {"public"}} plus any extra fields of `raw`.
nlohmann::json ToJson(const Key& key);
nlohmann::json ToJson(const Root& root);
nlohmann::json ToJson(const Timestamp& timestamp);
nlohmann::json ToJson(const Snapshot& snapshot);
nlohmann::json ToJson(const Targets& targets);
nlohmann::json ToJson(const MetaFile& meta);
nlohmann::json ToJson(const TargetFile& target);
nlohmann::json ToJson(const Delegations& delegations);

// The file form of an envelope: sorted keys, one-space indent, trailing
// newline (what the reference implementation writes).
std::string SerializeEnvelope(const Signed& envelope);

// "YYYY-MM-DDTHH:MM:SSZ" (UTC) <-> time point. Parsing refuses any other form
// and impossible dates; dates past what the clock can represent saturate to
// TimePoint::max(). Formatting truncates to whole seconds.
Result<TimePoint> ParseExpires(std::string_view text);
std::string FormatExpires(TimePoint t);

}  // namespace ota::manifest

#endif  // OTA_MANIFEST_TUF_METADATA_H_
