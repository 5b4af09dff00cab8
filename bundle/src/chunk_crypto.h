// The bundle module's encryption (libsodium): content keys sealed to
// recipients, and per-chunk XChaCha20-Poly1305 bound to the chunk's place in
// its bundle (docs/formats.md "Chunk encryption", docs/decisions.md).
//
// Thread-safety: all functions may be called concurrently.
#ifndef OTA_BUNDLE_CHUNK_CRYPTO_H_
#define OTA_BUNDLE_CHUNK_CRYPTO_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "container_format.h"
#include "ota/bundle/recipient_keys.h"
#include "ota/common/env.h"
#include "ota/common/result.h"

namespace ota::bundle {

// `n` random bytes from `random`, or from libsodium's generator when null.
// Errors: kInternal if libsodium cannot start.
Result<std::string> RandomBytes(Random* random, std::size_t n);

// crypto_box_seal of the content key to a recipient's public key.
// Errors: kInvalidArgument for malformed keys; kInternal.
Result<std::string> SealContentKey(std::string_view content_key, std::string_view public_key);

// Finds `key` among the recipients and opens its sealed content key.
// Errors: kSecurity "not a recipient of this bundle (recipient key id ...)";
// kIntegrity if the sealed key listed for this key id does not open.
Result<std::string> OpenContentKey(const Encryption& encryption, const RecipientPrivateKey& key);

// What every chunk's associated data starts with: a SHA-256 over the bundle
// id, chunk_size, total_plain, the chunk count and the SHA-256 of bundle.json
// as the reader serialises it. Editing any of them makes every chunk fail.
std::string ChunkContext(const ContainerHeader& header);

// Encrypts `plain` (a chunk's encoded bytes) as chunk `index` of the header
// into `out` (ciphertext then the 16-byte tag). Requires header.encryption,
// and `chunk` with everything but stored and sha256 final.
Status EncryptChunk(std::string_view content_key, const ContainerHeader& header,
                    std::string_view context, std::size_t index, const ChunkEntry& chunk,
                    std::span<const std::uint8_t> plain, std::vector<std::uint8_t>& out);

// The inverse. Errors: kIntegrity naming the chunk when the tag does not
// verify (wrong key, altered, reordered, swapped or cut chunk or header).
Status DecryptChunk(std::string_view content_key, const ContainerHeader& header,
                    std::string_view context, std::size_t index, const ChunkEntry& chunk,
                    std::span<const std::uint8_t> stored, std::vector<std::uint8_t>& out);

// Overwrites a key in memory.
void WipeKey(std::string& key);

}  // namespace ota::bundle

#endif  // OTA_BUNDLE_CHUNK_CRYPTO_H_
