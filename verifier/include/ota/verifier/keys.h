// Signing keys: Ed25519 generation, signing and verification (libsodium),
// key ids, and the key file formats.
//
// Key ids follow TUF: the lower-case hex SHA-256 of the canonical JSON of the
// public key object {"keytype", "scheme", "keyval": {"public"}} (plus any
// extra fields the object carried when it was parsed, see manifest::Key::raw).
//
// Signing (operator side) is Ed25519 only. Verification also accepts the key
// types other TUF tools (python-securesystemslib, sigstore) produce, so that
// existing repositories can be trusted:
//   keytype "ed25519", scheme "ed25519": keyval.public is 64 hex digits; the
//     signature is 128 hex digits.
//   keytype "ecdsa" (or the older "ecdsa-sha2-nistp256"), scheme
//     "ecdsa-sha2-nistp256": keyval.public is a PEM SubjectPublicKeyInfo of a
//     NIST P-256 key; the signature is the hex of a DER ECDSA signature over
//     SHA-256 of the message.
//   keytype "rsa", scheme "rsassa-pss-sha256": keyval.public is a PEM
//     SubjectPublicKeyInfo of a 2048- to 16384-bit RSA key; the signature is
//     the hex of an RSASSA-PSS signature (SHA-256, MGF1-SHA-256, any salt
//     length, as securesystemslib verifies), exactly the modulus size.
// Any other type/scheme pair (including a type with another type's scheme)
// parses, so that roots listing it load, but its signatures never count.
//
// Thread-safety: all functions may be called concurrently; a PrivateKey is a
// plain value.
#ifndef OTA_VERIFIER_KEYS_H_
#define OTA_VERIFIER_KEYS_H_

#include <string>
#include <string_view>

#include "ota/common/env.h"
#include "ota/common/filesystem.h"
#include "ota/common/result.h"
#include "ota/manifest/tuf_metadata.h"

namespace ota::verifier {

struct PrivateKey {
  manifest::Key public_key;
  // libsodium's 64-byte Ed25519 secret key (32-byte seed then the public key),
  // raw bytes. Held in ordinary memory: the operator tools that use private
  // keys are short-lived processes.
  std::string secret_key;
  std::string keyid;  // ComputeKeyId(public_key).
};

// A new Ed25519 key whose 32-byte seed comes from `random` (a fake Random
// gives deterministic keys in tests). Errors: kInternal if libsodium fails.
Result<PrivateKey> GenerateEd25519Key(Random& random);

// The TUF key id of `key` (see above). Never fails: a key that cannot be
// encoded canonically (it has a float in an extra field) hashes its dump.
std::string ComputeKeyId(const manifest::Key& key);

// The public key object for an Ed25519 public key given as 32 raw bytes.
manifest::Key Ed25519PublicKey(std::string_view public_key_bytes);

// Signs `message` with Ed25519; returns the signature as lower-case hex.
// Errors: kInvalidArgument if the key is not a 64-byte Ed25519 secret key.
Result<std::string> SignBytes(const PrivateKey& key, std::string_view message);

// True if `sig_hex` is a valid Ed25519 signature of `message` by `key`. False
// for any other key type, malformed hex, or wrong sizes.
bool VerifyEd25519(const manifest::Key& key, std::string_view sig_hex, std::string_view message);

// Verifies `sig_hex` over `message` by `key` of any supported type (see
// above). Never crashes on hostile input. Errors, all kSecurity:
// "bad <scheme> signature"; "key type T with scheme S is not supported for
// verification"; a malformed or oversized PEM, a key that is not of the named
// type, an EC key on another curve, an RSA key outside 2048..16384 bits; a
// signature that is not hex, is too long, or has the wrong size.
// (Implemented in signing.cc.)
Status VerifySignature(const manifest::Key& key, std::string_view sig_hex,
                       std::string_view message);

// A signature that verified is remembered (by a SHA-256 of key, signature
// and message) and not computed again: metadata is checked at every refresh
// and by every agent of a process. How many verifications this process
// computed, not answered from memory. For diagnostics and tests.
std::uint64_t SignatureVerificationsComputed();

// Checks that `key` could verify signatures: a supported type/scheme pair
// with well-formed key material. The same kSecurity errors as
// VerifySignature's key checks. Operator tools call it before listing a key
// in metadata.
Status CheckPublicKey(const manifest::Key& key);

// Key files (JSON). A private key file holds
//   {"keytype": "ed25519", "scheme": "ed25519", "keyid": "<id>",
//    "keyval": {"public": "<64 hex>", "private": "<64 hex seed>"}}
// (the securesystemslib layout), a public key file the public key object.
//
// SavePrivateKey writes atomically with mode 0600, replacing any existing
// file (callers decide whether overwriting is allowed). Errors: kIo.
Status SavePrivateKey(FileSystem& fs, const std::string& path, const PrivateKey& key);

// Loads and checks a private key file: the public half and the key id must
// match the seed. "private" may also be the 128-hex-digit seed+public form.
// Like OpenSSH, refuses a file that group or others may read (kSecurity):
// a signing key that others can read must be treated as leaked. (The check
// uses stat(2) directly; it is skipped when the path does not exist on the
// real filesystem, as with in-memory test filesystems.)
// Errors: kNotFound, kIo, kInvalidArgument (malformed), kSecurity (mode).
Result<PrivateKey> LoadPrivateKey(FileSystem& fs, const std::string& path);

// Public key files ("*.pub"): written atomically with mode 0644.
Status SavePublicKey(FileSystem& fs, const std::string& path, const manifest::Key& key);
// Errors: kNotFound, kIo, kInvalidArgument (malformed or has a private part).
Result<manifest::Key> LoadPublicKey(FileSystem& fs, const std::string& path);

}  // namespace ota::verifier

#endif  // OTA_VERIFIER_KEYS_H_
