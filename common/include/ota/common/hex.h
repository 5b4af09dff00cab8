// Hex encoding and decoding. Pure code in ota_common, so modules that only
// print or parse digests (manifest) need no crypto library; the digests
// themselves are in hash.h (ota_common_crypto).
#ifndef OTA_COMMON_HEX_H_
#define OTA_COMMON_HEX_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "ota/common/result.h"

namespace ota {

std::string HexEncode(std::span<const std::uint8_t> bytes);
std::string HexEncode(std::string_view bytes);
// Decodes lower- or upper-case hex; kInvalidArgument on odd length or bad digit.
Result<std::string> HexDecode(std::string_view hex);
// True for a lower-case hex string of exactly `length` characters.
bool IsLowerHex(std::string_view s, std::size_t length);

}  // namespace ota

#endif  // OTA_COMMON_HEX_H_
