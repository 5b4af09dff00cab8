// SHA-256 and SHA-512 through libcrypto (using SHA CPU extensions where
// present). Library ota_common_crypto (libcrypto and libsodium); the hex
// helpers, included here for the digests' callers, are in ota_common.
#ifndef OTA_COMMON_HASH_H_
#define OTA_COMMON_HASH_H_

#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "ota/common/hex.h"
#include "ota/common/result.h"

namespace ota {

enum class HashAlgorithm { kSha256, kSha512 };

// Streaming hasher. Not thread-safe.
class Hasher {
 public:
  explicit Hasher(HashAlgorithm algorithm);
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  void Update(std::span<const std::uint8_t> data);
  void Update(std::string_view data);
  // Lower-case hex digest. The hasher may not be updated afterwards.
  std::string FinishHex();

 private:
  struct State;
  HashAlgorithm algorithm_;
  std::unique_ptr<State> state_;
};

std::string Sha256Hex(std::string_view data);
// SHA-256 (lower-case hex) of the concatenation of `parts`, written to `out`
// without allocating.
void Sha256HexParts(std::initializer_list<std::string_view> parts, std::span<char, 64> out);
std::string Sha512Hex(std::string_view data);

// Hashes a whole file in bounded memory. kIo if it cannot be read.
Result<std::string> HashFileHex(const std::string& path, HashAlgorithm algorithm);

// Must be called once before any libsodium use; safe to call repeatedly.
void InitCrypto();

}  // namespace ota

#endif  // OTA_COMMON_HASH_H_
