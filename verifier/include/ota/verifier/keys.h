// Signing keys: Ed25519 generation, signing and verification (libsodium),
// key ids, and the key file formats.
//
// Key ids follow TUF: the lower-case hex SHA-256 of the canonical JSON of the
// public key object {"keytype", "scheme", "keyval": {"public"}} (plus any
// extra fields the object carried when it was parsed, see manifest::Key::raw).
//
// Only Ed25519 signatures are verified in this version. ECDSA and RSA keys
// parse (so that roots listing them load), but signatures by them never count.
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

// Like VerifyEd25519 but for any key type, with the reason on failure:
// kSecurity "bad signature", or kSecurity naming an unsupported key type or
// scheme (ECDSA and RSA verification are not implemented yet).
Status VerifySignature(const manifest::Key& key, std::string_view sig_hex,
                       std::string_view message);

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
