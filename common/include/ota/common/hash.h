// SHA-256 (libcrypto, using SHA CPU extensions where present) / SHA-512
// (libsodium) and hex encoding.
#ifndef OTA_COMMON_HASH_H_
#define OTA_COMMON_HASH_H_

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

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
std::string Sha512Hex(std::string_view data);

// Hashes a whole file in bounded memory. kIo if it cannot be read.
Result<std::string> HashFileHex(const std::string& path, HashAlgorithm algorithm);

std::string HexEncode(std::span<const std::uint8_t> bytes);
std::string HexEncode(std::string_view bytes);
// Decodes lower- or upper-case hex; kInvalidArgument on odd length or bad digit.
Result<std::string> HexDecode(std::string_view hex);
// True for a lower-case hex string of exactly `length` characters.
bool IsLowerHex(std::string_view s, std::size_t length);

// Must be called once before any libsodium use; safe to call repeatedly.
void InitCrypto();

}  // namespace ota

#endif  // OTA_COMMON_HASH_H_
