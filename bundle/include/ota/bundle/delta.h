// Delta bundles (docs/formats.md "Delta bundles"): the difference between
// two unpacked versions of a bundle, in a bundle container with the delta
// flag, so it is encrypted, chunked and resumable like a full bundle.
//
// GGUF model files are matched tensor by tensor by name, so a metadata edit
// that shifts every offset costs almost nothing. Each window of a tensor is
// stored as the smallest of: a copy of the base bytes, the difference to
// the base (XOR, or per element the difference of the bit patterns as
// integers ordered like the floats, zig-zag coded; for Q8_0/Q4_0 blocks the
// scale and the quants on their own), grouped by byte position, zstd; zstd
// with the base window as a prefix; or the bytes themselves (grouped, zstd). Other files (and GGUF
// headers) are stored window by window as zstd with the matching base window as a prefix.
//
// Applying streams one window at a time: memory stays bounded by a few
// windows whatever the model size.
//
// Small unencrypted deltas (a metadata edit) are written in the compact form
// (format 3, docs/formats.md "Compact delta bundles"): no container header,
// the target bundle.json as an edit of the base's, and none of the ids and
// digests that the delta's signed repository target already carries. A
// compact delta is applied only together with those signed facts.
#ifndef OTA_BUNDLE_DELTA_H_
#define OTA_BUNDLE_DELTA_H_

#include <cstdint>
#include <optional>
#include <string>

#include "ota/bundle/bundle.h"
#include "ota/bundle/recipient_keys.h"
#include "ota/common/filesystem.h"
#include "ota/common/result.h"
#include "ota/manifest/bundle_manifest.h"

namespace ota::bundle {

// Output bytes per delta window, and the most a reader accepts.
inline constexpr std::uint64_t kDefaultDeltaWindow = 4u << 20;
inline constexpr std::uint64_t kMaxDeltaWindow = 16u << 20;

// Which form BuildDelta writes. kAuto: the compact form when the delta is
// unencrypted, its payload fits one container chunk and the compact file is
// smaller than the container (in practice always); else the container.
enum class DeltaForm { kAuto, kContainer, kCompact };

// A compact delta's payload is at most this long.
inline constexpr std::uint64_t kMaxCompactPayloadBytes = kMaxChunkSize;

struct DeltaOptions {
  // SHA-256 (hex) of the base and target full bundle files: the base is the
  // version id a device has installed; the target id is what it becomes.
  std::string base_id;
  std::string target_id;
  // Output bytes per window, in [64 KiB, kMaxDeltaWindow]. Apply memory is
  // about 5 windows.
  std::uint64_t window = kDefaultDeltaWindow;
  // zstd level for differences and literal windows (entropy-bound data), and
  // for windows coded with the base as a prefix (match-bound data). The DIFF
  // transform is chosen on a sample at a fast level, then coded at `level`.
  int level = 19;
  int prefix_level = 15;
  // The container: chunk size, recipients (encryption), randomness.
  // zstd_level and byte_grouping are ignored (the payload is already coded).
  PackOptions container;
  // kCompact with recipients is kInvalidArgument (compact deltas are never
  // encrypted).
  DeltaForm form = DeltaForm::kAuto;
};

// What BuildDelta chose, in target bytes per method.
struct DeltaStats {
  std::uint64_t target_bytes = 0;
  std::uint64_t payload_bytes = 0;
  std::uint64_t copied = 0;
  std::uint64_t differenced = 0;
  std::uint64_t kquant_differenced = 0;  // Of `differenced`: K-quant blocks, field by field.
  std::uint64_t prefixed = 0;
  std::uint64_t literal = 0;
  std::size_t tensors_matched = 0;
  bool compact = false;          // The compact form was written.
  std::uint64_t file_bytes = 0;  // Size of the delta file written.
};

// What the repository signs about a delta in its target's custom metadata
// (docs/formats.md "Delta targets"). The agent takes these from the signed
// targets metadata; a compact delta carries none of them itself.
struct SignedDeltaFacts {
  std::string base_id;    // delta_from: the installed version it applies to.
  std::string target_id;  // delta_to: the full bundle it rebuilds.
  // SHA-256 (hex) of the target's bundle.json as SerializeBundleManifest
  // writes it (ManifestSha256). Required for compact deltas.
  std::string manifest_sha256;
};

// SHA-256 (hex) of SerializeBundleManifest(m).
std::string ManifestSha256(const manifest::BundleManifest& m);

// What a compact delta file says about itself.
struct CompactDeltaInfo {
  std::string base_id_prefix;  // The base id's first 16 hex digits.
  std::uint64_t file_size = 0;
  std::uint64_t manifest_edit_bytes = 0;
  std::uint64_t payload_bytes = 0;
};

// Reads and checks the header of a compact delta. nullopt if the file is a
// bundle container instead (format 1 or 2: use ReadBundleHeader).
// Errors: kIntegrity (corrupt or truncated header), the FileSystem's errors.
Result<std::optional<CompactDeltaInfo>> ReadCompactDeltaInfo(FileSystem& fs,
                                                             const std::string& path);

// The target bundle.json a compact delta rebuilds from `base` (the base
// version's bundle.json), for publishers that check a delta before signing
// it. Errors: as ReadCompactDeltaInfo; kIntegrity if the edit does not apply
// to `base` or does not give a valid bundle.json.
Result<manifest::BundleManifest> CompactDeltaTargetManifest(FileSystem& fs,
                                                            const std::string& delta_path,
                                                            const manifest::BundleManifest& base);

// Builds a delta bundle at `out_path` turning the unpacked version in
// `base_dir` into the one in `target_dir` (folders as UnpackBundleFile leaves
// them: the files plus bundle.json). The container's manifest is the
// target's bundle.json. Memory: a few windows; the payload is staged in
// `out_path + ".payload.tmp"`, removed afterwards.
// Errors: kInvalidArgument (bad options or ids); kIntegrity if a folder's
// files do not match its bundle.json sizes; the FileSystem's errors. On
// error no file is left at `out_path` (an existing one is left untouched).
Result<DeltaStats> BuildDelta(FileSystem& fs, const std::string& base_dir,
                              const std::string& target_dir, const std::string& out_path,
                              const DeltaOptions& options);

// Applies the delta bundle at `delta_path` to the installed version in
// `base_dir` (whose id is `base_id`), writing the target version into
// `out_dir` (absent or empty). In order, before anything is written: the
// container's preamble and header are verified; the delta's base must be
// `base_id` and every base file it reads must be listed in base_dir's
// bundle.json with the same size and SHA-256 (else kIntegrity "delta is for
// base ..."); `key` must open it (kSecurity). Then the payload is unpacked to
// `out_dir + ".payload"` and applied: every output file's size and SHA-256 is
// checked against the target bundle.json (kIntegrity naming the file), each
// file and folder fsynced, bundle.json written last. On any error `out_dir`
// and the payload folder are removed. Returns the target manifest.
// Errors: as StreamingUnpacker, plus the above.
//
// `signed_facts` (from the delta's signed repository target) must agree with
// the delta: its base_id must be `base_id`, and for a container delta its
// ids must be the header's (kIntegrity otherwise). A compact delta needs
// them (kInvalidArgument without): its base id prefix must match `base_id`
// (kIntegrity "delta is for base ..."), the bundle.json rebuilt from
// base_dir's must have SHA-256 signed_facts->manifest_sha256 (kIntegrity),
// and then its files are rebuilt and checked as above.
Result<manifest::BundleManifest> ApplyDeltaBundleFile(
    FileSystem& fs, const std::string& delta_path, const std::string& base_dir,
    const std::string& base_id, const std::string& out_dir, const UnpackLimits& limits = {},
    std::optional<RecipientPrivateKey> key = std::nullopt,
    const SignedDeltaFacts* signed_facts = nullptr);

}  // namespace ota::bundle

#endif  // OTA_BUNDLE_DELTA_H_
