// Fields of a signed target's custom data (docs/formats.md "Target custom
// data") that describe the file itself, parsed into validated types.
//
// Thread-safety: pure functions.
#ifndef OTA_MANIFEST_TARGET_CUSTOM_H_
#define OTA_MANIFEST_TARGET_CUSTOM_H_

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "ota/common/result.h"

namespace ota::manifest {

// A bundle container's head: the bytes before its first chunk (preamble and
// stored header), by length and SHA-256. Signed beside the file's own
// digest, it lets a device trust the chunk table, and through it each chunk,
// before the whole file has arrived.
struct ContainerHead {
  std::uint64_t length = 0;
  std::string sha256;  // 64 lower-case hex digits.
  bool operator==(const ContainerHead&) const = default;
};

// Largest head a publisher may sign: the 56-byte preamble and a header of at
// most 16 MiB (docs/formats.md "Bundle container").
inline constexpr std::uint64_t kMaxContainerHeadLength = 56 + (std::uint64_t{16} << 20);

// Reads "head" from a target's custom.modelota or custom.modelota_delta
// object: absent gives nullopt (targets published before heads were
// signed). Present, it must be {"length": 57..kMaxContainerHeadLength,
// "sha256": 64 lower-case hex} with no other member.
// Errors: kInvalidArgument naming the field, e.g. `head: "sha256" must be ...`.
Result<std::optional<ContainerHead>> ParseContainerHead(const nlohmann::json& info);

}  // namespace ota::manifest

#endif  // OTA_MANIFEST_TARGET_CUSTOM_H_
