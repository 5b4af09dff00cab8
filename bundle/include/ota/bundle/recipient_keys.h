// Recipient keys: the X25519 key pairs a bundle's content key is sealed to
// (docs/formats.md "Bundle container", docs/security.md "Bundle
// confidentiality"). A recipient is a device (its own key, made at
// enrollment) or a fleet or cohort (one key installed on many devices).
//
// Key files are JSON. A private key file (mode 0600) holds
//   {"keytype": "x25519", "keyid": "<64 hex>",
//    "keyval": {"public": "<64 hex>", "private": "<64 hex>"}}
// and a public key file ("*.pub", mode 0644) the same without "private".
// The key id is the lower-case hex SHA-256 of the 32 raw public key bytes.
//
// Thread-safety: all functions may be called concurrently.
#ifndef OTA_BUNDLE_RECIPIENT_KEYS_H_
#define OTA_BUNDLE_RECIPIENT_KEYS_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "ota/common/env.h"
#include "ota/common/filesystem.h"
#include "ota/common/result.h"

namespace ota::bundle {

inline constexpr std::size_t kRecipientKeyBytes = 32;

struct RecipientPublicKey {
  std::string public_key;  // 32 raw bytes.
  std::string key_id;      // RecipientKeyId(public_key).
};

struct RecipientPrivateKey {
  std::string public_key;   // 32 raw bytes.
  std::string private_key;  // 32 raw bytes (X25519 scalar).
  std::string key_id;       // RecipientKeyId(public_key).
};

// Lower-case hex SHA-256 of the raw public key bytes.
std::string RecipientKeyId(std::string_view public_key);

// A new key pair whose private half comes from `random`.
// Errors: kInternal if libsodium cannot start or derive the public key.
Result<RecipientPrivateKey> GenerateRecipientKey(Random& random);

// The key pair for 32 raw private key bytes (the public half is derived).
// Errors: kInvalidArgument for a wrong size or a degenerate key.
Result<RecipientPrivateKey> RecipientKeyFromPrivate(std::string_view private_key);

// Writes the private key file atomically with mode 0600, replacing any file.
// Errors: the FileSystem's (kIo).
Status SaveRecipientPrivateKey(FileSystem& fs, const std::string& path,
                               const RecipientPrivateKey& key);
// Writes the public key file atomically with mode 0644.
Status SaveRecipientPublicKey(FileSystem& fs, const std::string& path,
                              const RecipientPublicKey& key);

// Loads a private key file and checks that its public half and key id match.
// Refuses a file that group or others may access (kSecurity; the check is
// skipped when the path is not on the real filesystem).
// Errors: kNotFound, kIo, kInvalidArgument (malformed), kSecurity (mode).
Result<RecipientPrivateKey> LoadRecipientPrivateKey(FileSystem& fs, const std::string& path);
// Loads a public key file. Errors: kNotFound, kIo, kInvalidArgument
// (malformed, or it holds a private key: pass the ".pub" file).
Result<RecipientPublicKey> LoadRecipientPublicKey(FileSystem& fs, const std::string& path);

}  // namespace ota::bundle

#endif  // OTA_BUNDLE_RECIPIENT_KEYS_H_
