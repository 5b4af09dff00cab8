// Canonical JSON (the OLPC form that TUF and securesystemslib sign), and a
// strict JSON parser for untrusted metadata.
//
// Signatures in TUF cover the canonical bytes of the "signed" object, so the
// encoder must produce exactly what other TUF implementations produce:
//   - objects: keys sorted by their UTF-8 bytes, no whitespace anywhere;
//   - strings: only '"' and '\' are escaped (with a backslash); every other
//     byte, control characters and non-ASCII included, is written as is;
//   - numbers: integers only, in plain decimal; floats are refused;
//   - true, false, null.
//
// Thread-safety: all functions are pure and may be called concurrently.
#ifndef OTA_MANIFEST_CANONICAL_JSON_H_
#define OTA_MANIFEST_CANONICAL_JSON_H_

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "ota/common/result.h"

namespace ota::manifest {

// Encodes `value` canonically. Errors: kInvalidArgument if the value holds a
// floating-point number or binary data (neither has a canonical form).
Result<std::string> CanonicalJson(const nlohmann::json& value);

// The bytes a device signs with its report key to vouch for the facts it
// enrolls with (docs/server-api.md, "Devices"): the canonical JSON of
// {"device_id": device_id, "facts": facts, "type": "modelota-device-facts"}.
// Errors as for CanonicalJson.
Result<std::string> DeviceFactsSigningBytes(const std::string& device_id,
                                            const nlohmann::json& facts);

struct JsonLimits {
  // Documents larger than this are refused before parsing.
  std::size_t max_bytes = 32u << 20;
  // Maximum nesting of objects and arrays; TUF metadata needs about 6.
  std::size_t max_depth = 64;
};

// Parses untrusted JSON (RFC 8259, UTF-8). Stricter than nlohmann::json::parse:
// an object with the same key twice is refused (two parsers could otherwise
// disagree on which value was signed), as are documents over the limits.
// Errors: kInvalidArgument with the reason and byte offset. Never throws.
Result<nlohmann::json> ParseJsonStrict(std::string_view text, const JsonLimits& limits = {});

}  // namespace ota::manifest

#endif  // OTA_MANIFEST_CANONICAL_JSON_H_
