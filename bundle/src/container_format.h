// Encoding and verification of the container's preamble and JSON header
// (docs/formats.md, "Bundle container"). Shared by the packer, the streaming
// unpacker and ReadBundleHeader so that all three agree byte for byte.
//
// Thread-safety: all functions are pure.
#ifndef OTA_BUNDLE_CONTAINER_FORMAT_H_
#define OTA_BUNDLE_CONTAINER_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ota/bundle/bundle.h"
#include "ota/common/result.h"
#include "ota/manifest/bundle_manifest.h"

namespace ota::bundle {

inline constexpr char kMagic[8] = {'M', 'O', 'T', 'A', 'B', 'N', 'D', 'L'};
// magic (8) + format (4) + flags (4) + header_len (8) + header SHA-256 (32).
inline constexpr std::size_t kPreambleSize = 56;
// Reserved: a later format version encrypts the chunks and sets this bit.
inline constexpr std::uint32_t kFlagEncrypted = 1u << 0;
// Flag bits this reader understands. Format 1 readers understand none.
inline constexpr std::uint32_t kSupportedFlags = 0;

enum class ChunkCodec { kZstd, kRaw };

struct ChunkEntry {
  ChunkCodec codec = ChunkCodec::kZstd;
  std::uint64_t stored = 0;  // Bytes in the file.
  std::uint64_t plain = 0;   // Bytes after decoding.
  std::string sha256;        // Lower-case hex, of the stored bytes.
};

struct ContainerHeader {
  manifest::BundleManifest manifest;
  std::uint64_t chunk_size = 0;
  std::vector<ChunkEntry> chunks;
  std::uint64_t total_plain = 0;
  std::uint64_t total_stored = 0;  // Derived: sum of chunks[].stored.
};

struct Preamble {
  std::uint32_t format = 0;
  std::uint32_t flags = 0;
  std::uint64_t header_len = 0;
  std::string header_sha256;  // Lower-case hex.
};

// The 56 preamble bytes for a header of `header_json`'s length and digest.
std::string EncodePreamble(std::uint32_t flags, std::string_view header_json);
// The header as compact JSON with sorted keys.
std::string EncodeHeader(const ContainerHeader& header);

// Checks magic, format, flags and the header length bounds.
// Requires bytes.size() == kPreambleSize.
Result<Preamble> DecodePreamble(std::span<const std::uint8_t> bytes, const UnpackLimits& limits);

// Checks the header bytes against the preamble's digest, parses them and
// checks the chunk table and bundle.json (see StreamingUnpacker).
Result<ContainerHeader> DecodeHeader(std::span<const std::uint8_t> bytes, const Preamble& preamble,
                                     const UnpackLimits& limits);

// "chunk <index>", the name used in every message about a chunk.
std::string ChunkName(std::size_t index);

}  // namespace ota::bundle

#endif  // OTA_BUNDLE_CONTAINER_FORMAT_H_
