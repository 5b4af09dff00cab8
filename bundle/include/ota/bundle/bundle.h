// The bundle container (.otab, docs/formats.md "Bundle container"): packing a
// bundle's files into one file of independently zstd-compressed chunks, and
// unpacking it again from a stream with bounded memory.
//
// Format version 2: a fixed preamble, a JSON header carrying bundle.json, the
// chunk table (each chunk's stored size, plaintext size, SHA-256 and byte
// groups) and, when encrypted, the recipients; then the chunks. The plaintext
// stream is the bundle's files concatenated in bundle.json order; chunks may
// span file boundaries. Chunks of an encrypted bundle are sealed with
// XChaCha20-Poly1305 under a random content key that is sealed to each
// recipient's X25519 key. Format 1 (unencrypted, no groups) is still read.
//
// Every file access goes through the FileSystem seam.
#ifndef OTA_BUNDLE_BUNDLE_H_
#define OTA_BUNDLE_BUNDLE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ota/bundle/recipient_keys.h"
#include "ota/common/env.h"
#include "ota/common/filesystem.h"
#include "ota/common/result.h"
#include "ota/manifest/bundle_manifest.h"
#include "ota/manifest/target_custom.h"

namespace ota::bundle {

inline constexpr std::uint32_t kBundleFormatVersion = 2;
inline constexpr std::uint64_t kMinChunkSize = 64u << 10;
inline constexpr std::uint64_t kDefaultChunkSize = 4u << 20;
inline constexpr std::uint64_t kMaxChunkSize = 64u << 20;
inline constexpr std::uint64_t kMaxHeaderBytes = 16u << 20;
inline constexpr int kDefaultZstdLevel = 9;

// What a delta bundle (header flag kFlagDelta, docs/formats.md "Delta
// bundles") says about itself: it turns the installed version `base_id` into
// the version whose bundle.json is the container's manifest.
struct DeltaInfo {
  std::string base_id;    // SHA-256 (hex) of the base version's full bundle file.
  std::string target_id;  // SHA-256 (hex) of the target version's full bundle file.
  // SHA-256 (hex) of the delta payload (the container's plaintext stream).
  std::string payload_sha256;
  // The base version's files the payload reads from, indexed by the payload.
  std::vector<manifest::BundleFile> base_files;
};

// One file to put into a bundle.
struct InputFile {
  std::string archive_path;  // Path inside the bundle (manifest::ValidateBundlePath).
  std::string source_path;   // Where to read it from.
  std::string role;          // "model", "prompt", "tool-schema", "eval" or "other".
};

struct PackOptions {
  // Plaintext bytes per chunk, in [kMinChunkSize, kMaxChunkSize]. Unpacking
  // needs about two chunks of memory, so devices favour small chunks.
  std::uint64_t chunk_size = kDefaultChunkSize;
  int zstd_level = kDefaultZstdLevel;  // 1..22.
  // Keys to seal the bundle's content key to. Empty: an unencrypted bundle.
  // With recipients, every chunk is encrypted under a fresh random key.
  std::vector<RecipientPublicKey> recipients;
  // Byte-group the F32/F16/BF16 tensor data of GGUF inputs before zstd.
  bool byte_grouping = true;
  // With byte_grouping, store BF16 tensors split into exponent and
  // sign-and-mantissa planes (GroupKind::kBf16Split, the bf16-split flag):
  // smaller, but readers older than that flag refuse the bundle. False:
  // BF16 is byte-grouped like F16.
  bool bf16_split = true;
  // Source of the content key and bundle id; null: libsodium's generator.
  // Tests pass a fake to get reproducible bundles.
  Random* random = nullptr;
};

// Packs `inputs` (in that order) into a bundle at `out_path`.
//
// The manifest is `base` with `files` replaced by one entry per input (size
// and SHA-256 computed while reading); it is validated (paths, roles,
// model.file, name...), the options and the recipients before any input is
// read. GGUF inputs are scanned for float tensors (byte-grouped unless
// options.byte_grouping is false; a file that does not parse is compressed
// plainly). Inputs are read once: chunks are grouped and compressed into the
// scratch file `out_path + ".chunks.tmp"` while the files are hashed; with
// recipients, a fresh content key is sealed to each and every chunk is
// encrypted. Then the preamble, the header and the chunks are written to
// `out_path + ".tmp"`, which is fsynced and renamed over `out_path` (and the
// folder fsynced). Memory: about one chunk plus its compressed form, and the
// list of float tensor regions (bounded by kMaxGgufTensors per input).
// Returns the manifest stored in the bundle.
// Errors: kInvalidArgument (bad options or manifest, a recipient key given
// twice or not 32 bytes, header over kMaxHeaderBytes); the FileSystem's
// errors (kIo, kNotFound) for inputs and output. On error no file is left at
// `out_path` or the temp paths, except that an existing `out_path` is left
// untouched.
// Thread-safety: safe to call concurrently for different output paths.
Result<manifest::BundleManifest> PackBundle(FileSystem& fs, const manifest::BundleManifest& base,
                                            const std::vector<InputFile>& inputs,
                                            const std::string& out_path,
                                            const PackOptions& options = {});

// Bounds a reader enforces on top of the format's own. Exceeding one is
// kIncompatible (this device cannot take the bundle); breaking a format bound
// is kIntegrity.
struct UnpackLimits {
  // Sum of the plaintext sizes of all files.
  std::uint64_t max_total_bytes = std::uint64_t{64} << 30;
  // Largest chunk_size accepted; unpacking holds about two chunks in memory.
  std::uint64_t max_chunk_size = kMaxChunkSize;
  // Largest header accepted; the header is held in memory while parsed.
  std::uint64_t max_header_bytes = kMaxHeaderBytes;
};

// The name a delta bundle's payload has inside its container (see delta.h).
inline constexpr char kDeltaPayloadFileName[] = "delta.payload";

// Unpacks a bundle from bytes as they arrive (a download, a pipe).
//
// Verifies, in stream order: magic, format version, flags, header length and
// the header's SHA-256, then the header itself (chunk table consistent with
// chunk_size, plaintext sizes summing to total_plain and to the sum of file
// sizes, byte groups inside their chunks, bundle.json valid, limits). An
// encrypted bundle needs `key`, which must be one of its recipients; its
// content key is opened before anything is written. Only then is `out_dir`
// created; it must be absent or empty. Each chunk's SHA-256 is checked before
// it is decrypted (its Poly1305 tag, bound to the chunk's index, the chunk
// count, its table entry and bundle.json, is checked before it is
// decompressed), and it must decompress to exactly its declared size. Files
// are written under `out_dir` (subfolders created), each file's size and
// SHA-256 checked, every file and folder fsynced; bundle.json is written last,
// so its presence marks a complete unpack.
//
// Errors (sticky: once a call fails, every later call returns that error):
//   kIntegrity: corruption, truncation, trailing bytes, hash or size
//     mismatch, invalid header or bundle.json; the message names the chunk or
//     the file.
//   kSecurity: the bundle is encrypted and `key` is absent or not one of its
//     recipients ("not a recipient of this bundle (recipient key id ...)").
//   kInvalidArgument: an unsupported format version or flags; a delta
//     bundle (applied to its base with ApplyDeltaBundleFile, never unpacked);
//     out_dir not empty; Feed after Finish.
//   kIncompatible: the bundle exceeds `limits`.
//   kIo (or the FileSystem's code): disk errors.
// On error nothing is left in `out_dir`: the unpacker removes the folder it
// created (it never writes anything outside it).
// Memory: about two chunks, plus the header while it is parsed.
// Thread-safety: not thread-safe; use one object per stream.
class StreamingUnpacker {
 public:
  StreamingUnpacker(FileSystem& fs, std::string out_dir, UnpackLimits limits = {},
                    std::optional<RecipientPrivateKey> key = std::nullopt);
  ~StreamingUnpacker();
  StreamingUnpacker(const StreamingUnpacker&) = delete;
  StreamingUnpacker& operator=(const StreamingUnpacker&) = delete;

  // Consumes the next bytes of the bundle; any split of the stream works.
  Status Feed(std::span<const std::uint8_t> bytes);
  // Declares the end of the stream: fails with kIntegrity if it was cut
  // short, else completes the unpack and returns the bundle's manifest.
  Result<manifest::BundleManifest> Finish();

  // Bytes accepted by Feed so far.
  std::uint64_t bytes_fed() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Unpacks the bundle file at `bundle_path` into `out_dir`, reading it in
// 1 MiB pieces through a StreamingUnpacker (same checks and errors).
Result<manifest::BundleManifest> UnpackBundleFile(
    FileSystem& fs, const std::string& bundle_path, const std::string& out_dir,
    const UnpackLimits& limits = {}, std::optional<RecipientPrivateKey> key = std::nullopt);

// A bundle file's head: the bytes before its first chunk (the preamble and
// the stored header). Publishers sign its length and SHA-256 beside the
// whole file's digest (target custom data "head").
using ContainerHead = manifest::ContainerHead;

// What a bundle's preamble and header say.
struct BundleInfo {
  manifest::BundleManifest manifest;
  std::uint32_t format_version = 0;
  std::uint32_t flags = 0;
  std::uint64_t chunk_size = 0;
  std::size_t chunk_count = 0;
  std::uint64_t total_plain = 0;   // Sum of the files' sizes.
  std::uint64_t total_stored = 0;  // Sum of the stored chunk sizes.
  std::uint64_t file_size = 0;     // Size of the bundle file.
  bool encrypted = false;
  std::vector<std::string> recipient_key_ids;  // Empty when not encrypted.
  std::uint64_t grouped_bytes = 0;             // Plaintext bytes byte-grouped.
  std::optional<DeltaInfo> delta;              // Set for delta bundles.
  ContainerHead head;
};

// Reads and verifies a bundle's preamble and header (including the header's
// SHA-256) and checks that the file is exactly as long as the header says.
// Chunks are not read: a bundle that passes may still hold corrupt chunks.
// Errors: as StreamingUnpacker (kIntegrity, kInvalidArgument, kIncompatible),
// and the FileSystem's errors for reading.
Result<BundleInfo> ReadBundleHeader(FileSystem& fs, const std::string& path,
                                    const UnpackLimits& limits = {});

// Checks a bundle file's stored bytes while a download appends them, one
// piece at a time: first the head (against the signed ContainerHead when
// there is one; in any case a valid preamble and header that describe a file
// of the signed length), then each chunk against the SHA-256 its header
// entry gives. Needs no key and decodes nothing: it lets a downloader keep
// every checked piece and throw away only the one that failed (a range
// answered with other bytes, a mirror that changed its copy mid-download).
//
// With a signed head a checked chunk is authenticated (its digest comes from
// a header whose digest is signed). Without one (targets published before
// heads were signed) the checks only catch accidents; the whole file's
// signed hash, checked after the download, remains the verdict either way.
//
// Thread-safety: not thread-safe; one object per download.
class DownloadChecker {
 public:
  // `file_length`: the signed length of the whole file.
  DownloadChecker(std::uint64_t file_length, std::optional<ContainerHead> signed_head,
                  UnpackLimits limits = {});
  ~DownloadChecker();
  DownloadChecker(const DownloadChecker&) = delete;
  DownloadChecker& operator=(const DownloadChecker&) = delete;

  // Bytes fed so far (the file offset of the next byte).
  std::uint64_t fed() const;
  // Every byte before this offset has been checked: the end of the last
  // complete piece.
  std::uint64_t checked() const;
  // End offset of the piece the next byte belongs to: feeds must not cross
  // it. While the head's length is not known yet (no signed head, preamble
  // incomplete), the end of the preamble. file_length once everything is
  // fed.
  std::uint64_t piece_end() const;

  // Feeds the next bytes; they must not go past piece_end(). Completing a
  // piece checks it. Errors: kIntegrity naming the piece ("bundle head" or
  // "chunk N") when it fails; the checker then rewinds to that piece's
  // start (fed() == checked()) and failure() describes it. kInvalidArgument
  // when the bytes cross piece_end().
  Status Feed(std::span<const std::uint8_t> bytes);

  // Moves to `offset` without hashing the bytes before it: for resuming a
  // file whose earlier pieces were checked when they were written. The head
  // must be checked already and `offset` must be the start of a chunk (or
  // the file's end) at or after fed(). Errors: kInvalidArgument.
  Status SkipCheckedTo(std::uint64_t offset);

  // Start of the chunk holding byte `offset`, once the head is checked
  // (offsets inside the head give the head's end); nullopt before.
  std::optional<std::uint64_t> ChunkStartOf(std::uint64_t offset) const;

  // The last piece that failed: where it starts and the SHA-256 of the
  // bytes received for it (two equal failures mean the server consistently
  // sends those bytes: the artifact, not the transfer, is at fault).
  struct Failure {
    std::uint64_t start = 0;
    std::string sha256;
    bool operator==(const Failure&) const = default;
  };
  const std::optional<Failure>& failure() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ota::bundle

#endif  // OTA_BUNDLE_BUNDLE_H_
