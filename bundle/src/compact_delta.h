// Compact delta bundles (format 3, docs/formats.md "Compact delta bundles"):
// the byte layout, and the bundle.json edit that rebuilds the target's
// bundle.json from the base's. Shared by the builder and the applier.
//
// Thread-safety: all functions are pure or touch only their arguments.
#ifndef OTA_BUNDLE_COMPACT_DELTA_H_
#define OTA_BUNDLE_COMPACT_DELTA_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ota/bundle/delta.h"
#include "ota/common/result.h"

namespace ota::bundle {

// magic (8) + format (4) + flags (1) + base id prefix (8).
inline constexpr std::size_t kCompactFixedBytes = 21;
inline constexpr std::size_t kCompactBaseIdBytes = 8;
// The edit is at most this long (a bundle.json is at most 4 MiB; an edit
// that inserts all of it plus its op varints stays under this).
inline constexpr std::uint64_t kMaxManifestEditBytes = 5u << 20;

// The parsed header of a compact delta file.
struct CompactHeader {
  std::string base_id_prefix;  // 16 lower-case hex digits.
  std::vector<std::uint8_t> manifest_edit;
  std::uint64_t payload_offset = 0;  // Where the payload starts in the file.
  std::uint64_t payload_bytes = 0;
};

// An edit turning `base` (a bundle.json text) into `target`: copies, skips
// and inserts, hex digests inserted as their bytes.
std::vector<std::uint8_t> MakeManifestEdit(std::string_view base, std::string_view target);
// Applies `edit` to `base`. Errors: kIntegrity naming the bad op (runs past
// the base, empty op, truncated, varint overflow, output over
// manifest::kMaxBundleManifestBytes).
Result<std::string> ApplyManifestEdit(std::string_view base, std::span<const std::uint8_t> edit);

// The header bytes of a compact delta (everything before the payload).
std::string EncodeCompactHeader(const std::string& base_id, std::span<const std::uint8_t> edit);

// True if `prefix` (at least 12 bytes) is the start of a compact delta.
bool LooksCompact(std::span<const std::uint8_t> prefix);

// Reads and checks a compact delta's header from `path`: magic, format,
// flags (must be 0), edit length, a non-empty payload within
// kMaxCompactPayloadBytes. Errors: kIntegrity (truncated, bad fields),
// kInvalidArgument (not a compact delta), the FileSystem's errors.
Result<CompactHeader> ReadCompactHeader(FileSystem& fs, const std::string& path,
                                        std::uint64_t max_header_bytes);

// True if the file at `path` starts like a compact delta.
Result<bool> IsCompactDeltaFile(FileSystem& fs, const std::string& path);

// Writes a compact delta at `out_path` (through out_path + ".tmp", fsynced,
// renamed): the header for `base_id` and `edit`, then the payload file at
// `payload_path` without its 8-byte magic.
Status WriteCompactDelta(FileSystem& fs, const std::string& base_id,
                         std::span<const std::uint8_t> edit, const std::string& payload_path,
                         const std::string& out_path);

// Everything before a compact delta's files are rebuilt: the header is read,
// its base id prefix checked against `base_id` and facts.base_id, the target
// bundle.json rebuilt from base_dir's and checked against
// facts.manifest_sha256. Fills `info` (base files: base_dir's bundle.json)
// and where the payload lies in the delta file (it is read in place, after
// the payload magic its reader expects). Returns the target manifest. Errors: kIntegrity ("delta is
// for base ...", corrupt header or edit), kInvalidArgument (facts missing),
// the FileSystem's errors.
Result<manifest::BundleManifest> PrepareCompactDelta(
    FileSystem& fs, const std::string& delta_path, const std::string& base_dir,
    const std::string& base_id, const SignedDeltaFacts& facts, const UnpackLimits& limits,
    DeltaInfo& info, std::uint64_t& payload_offset, std::uint64_t& payload_bytes);

// The canonical text of a folder's bundle.json (parsed and serialized again,
// so whitespace never matters). Errors: kIntegrity if it does not parse.
Result<std::string> CanonicalManifestText(FileSystem& fs, const std::string& dir);

}  // namespace ota::bundle

#endif  // OTA_BUNDLE_COMPACT_DELTA_H_
