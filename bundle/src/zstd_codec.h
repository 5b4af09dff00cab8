// The bundle module's only use of zstd: one-shot compression and bounded
// decompression of single chunks.
//
// Thread-safety: each object owns a zstd context; use one per thread.
#ifndef OTA_BUNDLE_ZSTD_CODEC_H_
#define OTA_BUNDLE_ZSTD_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ota/common/result.h"

namespace ota::bundle {

// The largest zstd frame that `plain_size` bytes can compress to. Readers use
// it to refuse chunks whose stored size no honest writer produces.
std::size_t MaxCompressedSize(std::size_t plain_size);
// The content size a zstd frame declares; 0 if unknown, absent or invalid.
unsigned long long ZstdFrameContentSize(std::span<const std::uint8_t> frame);
int MinZstdLevel();
int MaxZstdLevel();

class ZstdCompressor {
 public:
  // Errors: kInvalidArgument for a level outside MinZstdLevel()..MaxZstdLevel();
  // kInternal if zstd cannot allocate a context.
  static Result<std::unique_ptr<ZstdCompressor>> Create(int level);
  ~ZstdCompressor();
  ZstdCompressor(const ZstdCompressor&) = delete;
  ZstdCompressor& operator=(const ZstdCompressor&) = delete;

  // Compresses `plain` into one frame (content size recorded) in `out`.
  // Returns false, leaving `out` unspecified, when the frame would not be
  // smaller than `plain`: such chunks are stored raw.
  // Errors: kInternal if zstd fails.
  Result<bool> Compress(std::span<const std::uint8_t> plain, std::vector<std::uint8_t>& out);
  // Compresses `plain` into one frame (content size recorded) that may copy
  // from `prefix` (ZSTD_CCtx_refPrefix); decoding needs the same prefix.
  // Always writes a frame. Requires prefix.size() + plain.size() < 1 GiB.
  // Errors: kInternal if zstd fails.
  Status CompressWithPrefix(std::span<const std::uint8_t> plain,
                            std::span<const std::uint8_t> prefix, std::vector<std::uint8_t>& out);
  // Like CompressWithPrefix without a prefix, but zstd starts a new block at
  // each offset in `cuts` (ascending, inside plain), so each byte-grouped
  // plane gets its own entropy tables instead of sharing one with the bytes
  // of another position. The result is one ordinary frame.
  // Errors: kInternal if zstd fails.
  Status CompressPlanes(std::span<const std::uint8_t> plain, std::span<const std::size_t> cuts,
                        std::vector<std::uint8_t>& out);
  // Like CompressPlanes, but each piece between cuts becomes a frame of its
  // own (content size recorded), written back to back: each starts with
  // fresh statistics, which the optimal parser of the high levels needs to
  // code a skewed plane (bf16 exponents) well after a noisy one.
  // Errors: kInternal if zstd fails.
  Status CompressFrames(std::span<const std::uint8_t> plain, std::span<const std::size_t> cuts,
                        std::vector<std::uint8_t>& out);

 private:
  struct Context;
  ZstdCompressor(std::unique_ptr<Context> context, int level);
  std::unique_ptr<Context> context_;
  int level_;
};

class ZstdDecompressor {
 public:
  // Errors: kInternal if zstd cannot allocate a context.
  static Result<std::unique_ptr<ZstdDecompressor>> Create();
  ~ZstdDecompressor();
  ZstdDecompressor(const ZstdDecompressor&) = delete;
  ZstdDecompressor& operator=(const ZstdDecompressor&) = delete;

  // Decompresses `frame`, which must be exactly one zstd frame, into `out`,
  // which must produce exactly `expected` bytes. Never writes or allocates
  // more than `expected` bytes: a frame that declares or yields more is
  // refused. Errors: kIntegrity, the message starting with `what`.
  Status Decompress(std::span<const std::uint8_t> frame, std::size_t expected,
                    std::vector<std::uint8_t>& out, const std::string& what);
  // Like Decompress for one or more frames back to back (CompressFrames),
  // each of which must record a non-zero content size; together they must
  // produce exactly `expected` bytes.
  Status DecompressFrames(std::span<const std::uint8_t> frames, std::size_t expected,
                          std::vector<std::uint8_t>& out, const std::string& what);
  // The same for a frame made by CompressWithPrefix with `prefix`.
  Status DecompressWithPrefix(std::span<const std::uint8_t> frame,
                              std::span<const std::uint8_t> prefix, std::size_t expected,
                              std::vector<std::uint8_t>& out, const std::string& what);

 private:
  struct Context;
  explicit ZstdDecompressor(std::unique_ptr<Context> context);
  std::unique_ptr<Context> context_;
};

}  // namespace ota::bundle

#endif  // OTA_BUNDLE_ZSTD_CODEC_H_
