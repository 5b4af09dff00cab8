// Which delegated targets roles may describe a target path (TUF 1.0
// specification 5.6.7), and how role names become file names.
//
// Thread-safety: pure functions.
#ifndef OTA_VERIFIER_DELEGATIONS_H_
#define OTA_VERIFIER_DELEGATIONS_H_

#include <string>
#include <string_view>

#include "ota/manifest/tuf_metadata.h"

namespace ota::verifier {

// Shell-style (fnmatch) matching of a whole target path against a "paths"
// pattern: `*` matches any run of characters except '/', `?` any one
// character except '/', "[abc]", "[a-z]" and "[!a-z]" one character in (or
// not in) the class (a ']' just after "[" or "[!" is a member; a '[' with no
// closing ']' is an ordinary character), every other character only itself.
// So "a/*" matches "a/b" but not "a/b/c", and "*" matches only paths without
// a folder. Bytes are compared as bytes (no case folding).
bool PathPatternMatches(std::string_view pattern, std::string_view target_path);

// True if `role` is trusted for `target_path`: one of its "paths" patterns
// matches, or the lower-case hex SHA-256 of the path starts with one of its
// "path_hash_prefixes".
bool DelegationCovers(const manifest::DelegatedRole& role, std::string_view target_path);

// The hash-bin role (TAP 15) that `succinct` assigns to `target_path`:
// name_prefix + "-" + the first bit_length bits of SHA-256(target_path) as
// lower-case hex, zero-padded to ceil(bit_length / 4) digits.
std::string SuccinctRoleFor(const manifest::SuccinctRoles& succinct, std::string_view target_path);

// True if `role` is one of the 2^bit_length bin names `succinct` defines.
bool IsSuccinctRole(const manifest::SuccinctRoles& succinct, std::string_view role);

// The local file that caches a role's metadata. Top-level roles keep
// "root.json", "timestamp.json", "snapshot.json" and "targets.json". Any other
// name has every byte outside [A-Za-z0-9_-] percent-encoded (%XX, upper-case
// hex), so that names such as "../x", "/x", "?", "." or "" stay one harmless
// file name inside the folder, and two names never share a file.
std::string RoleFileName(std::string_view role);

}  // namespace ota::verifier

#endif  // OTA_VERIFIER_DELEGATIONS_H_
