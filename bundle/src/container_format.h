// Encoding and verification of the container's preamble and JSON header
// (docs/formats.md, "Bundle container"). Shared by the packer, the streaming
// unpacker and ReadBundleHeader so that all three agree byte for byte.
//
// Thread-safety: all functions are pure.
#ifndef OTA_BUNDLE_CONTAINER_FORMAT_H_
#define OTA_BUNDLE_CONTAINER_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ota/bundle/bundle.h"
#include "ota/common/result.h"
#include "ota/manifest/bundle_manifest.h"

namespace ota::bundle {

inline constexpr char kMagic[8] = {'M', 'O', 'T', 'A', 'B', 'N', 'D', 'L'};
// magic (8) + format (4) + flags (4) + header_len (8) + header SHA-256 (32).
inline constexpr std::size_t kPreambleSize = 56;
// Format 1: unencrypted, no byte grouping. Still read; never written.
inline constexpr std::uint32_t kLegacyFormatVersion = 1;
// Format 3: a compact delta (compact_delta.h), not a container. Readers of
// formats 1 and 2 refuse it by its format number.
inline constexpr std::uint32_t kCompactDeltaFormatVersion = 3;
// The chunks are encrypted; the header carries an "encryption" object.
inline constexpr std::uint32_t kFlagEncrypted = 1u << 0;
// The payload is a delta (docs/formats.md "Delta bundles"); the header
// carries a "delta" object and total_plain is the payload's size.
inline constexpr std::uint32_t kFlagDelta = 1u << 1;
// The header is one zstd frame (content size recorded) of the JSON header,
// compressed with kHeaderDictionary as its referenced prefix; header_len and
// header_sha256 describe the stored (compressed) bytes. Delta bundles only:
// their headers are a large part of a small delta.
inline constexpr std::uint32_t kFlagHeaderZstd = 1u << 2;
// Some chunk has a byte group of kind GroupKind::kBf16Split (written as
// [offset, length, 2, "bf16"]); without the flag such groups are refused.
inline constexpr std::uint32_t kFlagBf16Split = 1u << 3;
// Flag bits this reader understands (format 2; format 1 allows none).
inline constexpr std::uint32_t kSupportedFlags =
    kFlagEncrypted | kFlagDelta | kFlagHeaderZstd | kFlagBf16Split;
// The skeleton of a typical delta header: zstd copies structure from it, so
// a compressed header costs little more than its digests and names. Part of
// the format: changing it breaks every delta written before.
inline constexpr std::string_view kHeaderDictionary =
    R"({"bundle":{"files":[{"path":"model.gguf","role":"model","sha256":"","size":}],)"
    R"("model":{"file":"model.gguf","format":"gguf"},"name":"","schema":"modelota.bundle/1",)"
    R"("version":""},"chunk_size":4194304,"chunks":[{"codec":"zstd","plain":,"sha256":"",)"
    R"("stored":}],"delta":{"base":"","base_files":[{"path":"model.gguf","sha256":"","size":}],)"
    R"("payload_sha256":"","target":""},"total_plain":})";
inline constexpr std::size_t kMaxDeltaBaseFiles = 4096;

// Bytes an encrypted chunk adds to its encoded form (the Poly1305 tag).
inline constexpr std::uint64_t kChunkTagBytes = 16;
inline constexpr std::size_t kContentKeyBytes = 32;
inline constexpr std::size_t kBundleIdBytes = 32;
// A content key sealed to one recipient: ephemeral public key, MAC, key.
inline constexpr std::size_t kSealedKeyBytes = 48 + kContentKeyBytes;
inline constexpr std::size_t kMaxRecipients = 1024;
// Byte groups per chunk; more never helps and only costs header space.
inline constexpr std::size_t kMaxGroupsPerChunk = 4096;

enum class ChunkCodec { kZstd, kRaw };

// How a byte group is stored (see byte_grouping.h).
enum class GroupKind : std::uint8_t {
  // Transposed: every element's byte 0, then every element's byte 1, ...
  kBytes = 0,
  // BF16 elements (width 2) as an exponent plane, then sign-and-mantissa
  // bytes sorted into buckets by exponent.
  kBf16Split = 1,
};

// A run of `length` bytes at `offset` within a chunk's plaintext, made of
// elements of `width` bytes, stored as `kind` says.
struct ByteGroup {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;  // A non-zero multiple of width.
  std::uint32_t width = 0;   // 2 or 4; 2 for kBf16Split.
  GroupKind kind = GroupKind::kBytes;
  bool operator==(const ByteGroup&) const = default;
};

struct ChunkEntry {
  ChunkCodec codec = ChunkCodec::kZstd;
  std::uint64_t stored = 0;  // Bytes in the file (ciphertext and tag if encrypted).
  std::uint64_t plain = 0;   // Bytes after decoding.
  std::string sha256;        // Lower-case hex, of the stored bytes.
  // Sorted, disjoint, inside [0, plain); only for kZstd chunks.
  std::vector<ByteGroup> groups;
};

// Whether a chunk's groups include one of kind kBf16Split: its encoded bytes are
// then one or more zstd frames back to back instead of exactly one.
bool HasBf16Split(const std::vector<ByteGroup>& groups);

struct Recipient {
  std::string key_id;      // Lower-case hex SHA-256 of the X25519 public key.
  std::string sealed_key;  // kSealedKeyBytes raw bytes (crypto_box_seal).
};

struct Encryption {
  std::string bundle_id;  // kBundleIdBytes random raw bytes.
  std::vector<Recipient> recipients;
};

struct ContainerHeader {
  manifest::BundleManifest manifest;
  std::uint64_t chunk_size = 0;
  std::vector<ChunkEntry> chunks;
  std::uint64_t total_plain = 0;
  std::uint64_t total_stored = 0;        // Derived: sum of chunks[].stored.
  std::optional<Encryption> encryption;  // Set iff the preamble has kFlagEncrypted.
  std::optional<DeltaInfo> delta;        // Set iff the preamble has kFlagDelta.
};

struct Preamble {
  std::uint32_t format = 0;
  std::uint32_t flags = 0;
  std::uint64_t header_len = 0;
  std::string header_sha256;  // Lower-case hex.
};

// The 56 preamble bytes (format kBundleFormatVersion) for a header of
// `header_json`'s length and digest.
std::string EncodePreamble(std::uint32_t flags, std::string_view header_json);
// The header as compact JSON with sorted keys.
std::string EncodeHeader(const ContainerHeader& header);
// The stored form of a header under kFlagHeaderZstd (zstd level 19 with
// kHeaderDictionary as prefix). Errors: kInternal if zstd fails.
Result<std::string> CompressHeader(std::string_view header_json);

// Checks magic, format (1 or 2), flags and the header length bounds.
// Requires bytes.size() == kPreambleSize.
Result<Preamble> DecodePreamble(std::span<const std::uint8_t> bytes, const UnpackLimits& limits);

// Checks the header bytes against the preamble's digest, parses them and
// checks the chunk table and bundle.json (see StreamingUnpacker).
Result<ContainerHeader> DecodeHeader(std::span<const std::uint8_t> bytes, const Preamble& preamble,
                                     const UnpackLimits& limits);

// The stored-size bound for a chunk: what its codec allows for `plain` bytes,
// plus the tag when encrypted.
bool StoredSizePossible(const ChunkEntry& chunk, bool encrypted);

// "chunk <index>", the name used in every message about a chunk.
std::string ChunkName(std::size_t index);

}  // namespace ota::bundle

#endif  // OTA_BUNDLE_CONTAINER_FORMAT_H_
