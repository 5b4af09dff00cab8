// Signing metadata envelopes and checking role signature thresholds.
//
// Signatures always cover CanonicalJson(signed), never the file bytes, so
// metadata may be re-indented without invalidating it.
//
// Thread-safety: all functions are pure and may be called concurrently.
#ifndef OTA_VERIFIER_SIGNING_H_
#define OTA_VERIFIER_SIGNING_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ota/common/result.h"
#include "ota/manifest/tuf_metadata.h"
#include "ota/verifier/keys.h"

namespace ota::verifier {

// Signs `signed_obj` with every key (none may be null; each key signs once
// even if listed twice) and returns the metadata file (SerializeEnvelope).
// Errors: kInvalidArgument (floats in signed_obj, a non-Ed25519 key, a null
// key, or no keys).
Result<std::string> SignEnvelope(const nlohmann::json& signed_obj,
                                 const std::vector<const PrivateKey*>& keys);

// Adds `key`'s signature to an existing metadata file, replacing an older
// signature by the same key id; other signatures are kept. This is how
// offline keys sign in separate steps. Errors: kInvalidArgument.
Result<std::string> AddSignature(std::string_view envelope_bytes, const PrivateKey& key);

// Checks that `envelope` carries valid signatures by at least `role.threshold`
// distinct keys of `role`. Each authorized key counts at most once (one key
// listed under two ids counts once); signatures by keys outside the role, and
// invalid signatures, are ignored. A key id that appears in more than one
// entry of "signatures" makes the whole envelope invalid (the specification
// requires them unique): kSecurity "<role_name> lists more than one signature
// by key <keyid>", before any signature is checked.
// Errors: kSecurity "<role_name> has N of M required signatures", followed
// by the reason in parentheses when a signature by an authorized key that
// cannot verify anything (unsupported type or scheme, malformed PEM, wrong
// curve, RSA key too small) was skipped; plain bad signatures add nothing.
Status VerifyRoleSignatures(const manifest::Signed& envelope, const std::string& role_name,
                            const std::map<std::string, manifest::Key>& keys,
                            const manifest::Role& role);

// The same check, returning the key ids whose signatures counted, in
// "signatures" order (what an audit record names as the signers).
Result<std::vector<std::string>> RoleSigners(const manifest::Signed& envelope,
                                             const std::string& role_name,
                                             const std::map<std::string, manifest::Key>& keys,
                                             const manifest::Role& role);

// The same for a top-level role defined by `root` (role_name "root",
// "timestamp", "snapshot" or "targets"). Errors: kSecurity, also when root
// does not define the role.
Status VerifyRoleSignatures(const manifest::Signed& envelope, const std::string& role_name,
                            const manifest::Root& root);

}  // namespace ota::verifier

#endif  // OTA_VERIFIER_SIGNING_H_
