#include "zstd_codec.h"

#include <zstd.h>
#include <zstd_errors.h>

namespace ota::bundle {

struct ZstdCompressor::Context {
  ~Context() { ZSTD_freeCCtx(cctx); }
  ZSTD_CCtx* cctx = nullptr;
};

struct ZstdDecompressor::Context {
  ~Context() { ZSTD_freeDCtx(dctx); }
  ZSTD_DCtx* dctx = nullptr;
};

std::size_t MaxCompressedSize(std::size_t plain_size) { return ZSTD_compressBound(plain_size); }
// Negative ("fast") levels trade ratio for speed; bundles are packed once and
// downloaded many times, so only the regular levels are offered.
int MinZstdLevel() { return 1; }
unsigned long long ZstdFrameContentSize(std::span<const std::uint8_t> frame) {
  const unsigned long long n = ZSTD_getFrameContentSize(frame.data(), frame.size());
  return n == ZSTD_CONTENTSIZE_ERROR || n == ZSTD_CONTENTSIZE_UNKNOWN ? 0 : n;
}
int MaxZstdLevel() { return ZSTD_maxCLevel(); }

ZstdCompressor::ZstdCompressor(std::unique_ptr<Context> context, int level)
    : context_(std::move(context)), level_(level) {}
ZstdCompressor::~ZstdCompressor() = default;

Result<std::unique_ptr<ZstdCompressor>> ZstdCompressor::Create(int level) {
  if (level < MinZstdLevel() || level > MaxZstdLevel()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "zstd level " + std::to_string(level) + " is outside " +
                         std::to_string(MinZstdLevel()) + ".." + std::to_string(MaxZstdLevel()));
  }
  auto context = std::make_unique<Context>();
  context->cctx = ZSTD_createCCtx();
  if (context->cctx == nullptr) {
    return MakeError(ErrorCode::kInternal, "cannot create a zstd compression context");
  }
  return std::unique_ptr<ZstdCompressor>(new ZstdCompressor(std::move(context), level));
}

Result<bool> ZstdCompressor::Compress(std::span<const std::uint8_t> plain,
                                      std::vector<std::uint8_t>& out) {
  out.resize(ZSTD_compressBound(plain.size()));
  // The one-shot API records the content size in the frame header, which
  // readers compare with the chunk table before decompressing.
  const std::size_t n =
      ZSTD_compressCCtx(context_->cctx, out.data(), out.size(), plain.data(), plain.size(), level_);
  if (ZSTD_isError(n)) {
    return MakeError(ErrorCode::kInternal,
                     std::string("zstd compression failed: ") + ZSTD_getErrorName(n));
  }
  if (n >= plain.size()) return false;
  out.resize(n);
  return true;
}

Status ZstdCompressor::CompressWithPrefix(std::span<const std::uint8_t> plain,
                                          std::span<const std::uint8_t> prefix,
                                          std::vector<std::uint8_t>& out) {
  ZSTD_CCtx* c = context_->cctx;
  // The window must reach back over the whole prefix, or its start is lost.
  int window_log = 10;
  while (window_log < 30 && (std::uint64_t{1} << window_log) < prefix.size() + plain.size()) {
    ++window_log;
  }
  std::size_t r = ZSTD_CCtx_reset(c, ZSTD_reset_session_and_parameters);
  if (!ZSTD_isError(r)) r = ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level_);
  if (!ZSTD_isError(r)) r = ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, window_log);
  if (!ZSTD_isError(r) && !prefix.empty()) {
    r = ZSTD_CCtx_refPrefix(c, prefix.data(), prefix.size());
  }
  if (!ZSTD_isError(r)) {
    out.resize(ZSTD_compressBound(plain.size()));
    r = ZSTD_compress2(c, out.data(), out.size(), plain.data(), plain.size());
  }
  (void)ZSTD_CCtx_reset(c, ZSTD_reset_session_and_parameters);
  if (ZSTD_isError(r)) {
    return MakeError(ErrorCode::kInternal,
                     std::string("zstd compression failed: ") + ZSTD_getErrorName(r));
  }
  out.resize(r);
  return Ok();
}

Status ZstdCompressor::CompressPlanes(std::span<const std::uint8_t> plain,
                                      std::span<const std::size_t> cuts,
                                      std::vector<std::uint8_t>& out) {
  ZSTD_CCtx* c = context_->cctx;
  int window_log = 10;
  while (window_log < 27 && (std::uint64_t{1} << window_log) < plain.size()) ++window_log;
  std::size_t r = ZSTD_CCtx_reset(c, ZSTD_reset_session_and_parameters);
  if (!ZSTD_isError(r)) r = ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level_);
  if (!ZSTD_isError(r)) r = ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, window_log);
  if (!ZSTD_isError(r)) r = ZSTD_CCtx_setPledgedSrcSize(c, plain.size());
  out.resize(ZSTD_compressBound(plain.size()) + 64 * (cuts.size() + 1));
  ZSTD_outBuffer ob{out.data(), out.size(), 0};
  std::size_t from = 0;
  for (std::size_t i = 0; i <= cuts.size() && !ZSTD_isError(r); ++i) {
    const std::size_t to = i < cuts.size() ? cuts[i] : plain.size();
    const ZSTD_EndDirective mode = i < cuts.size() ? ZSTD_e_flush : ZSTD_e_end;
    ZSTD_inBuffer ib{plain.data() + from, to - from, 0};
    do {
      r = ZSTD_compressStream2(c, &ob, &ib, mode);
    } while (!ZSTD_isError(r) && r != 0 && ob.pos < ob.size);
    if (!ZSTD_isError(r) && r != 0) {
      (void)ZSTD_CCtx_reset(c, ZSTD_reset_session_and_parameters);
      return MakeError(ErrorCode::kInternal, "zstd output buffer too small");
    }
    from = to;
  }
  (void)ZSTD_CCtx_reset(c, ZSTD_reset_session_and_parameters);
  if (ZSTD_isError(r)) {
    return MakeError(ErrorCode::kInternal,
                     std::string("zstd compression failed: ") + ZSTD_getErrorName(r));
  }
  out.resize(ob.pos);
  return Ok();
}

Status ZstdCompressor::CompressFrames(std::span<const std::uint8_t> plain,
                                      std::span<const std::size_t> cuts,
                                      std::vector<std::uint8_t>& out) {
  out.clear();
  std::size_t from = 0;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    const std::size_t to = i < cuts.size() ? cuts[i] : plain.size();
    if (to <= from) continue;
    const std::size_t at = out.size();
    out.resize(at + ZSTD_compressBound(to - from));
    const std::size_t n = ZSTD_compressCCtx(context_->cctx, out.data() + at, out.size() - at,
                                            plain.data() + from, to - from, level_);
    if (ZSTD_isError(n)) {
      return MakeError(ErrorCode::kInternal,
                       std::string("zstd compression failed: ") + ZSTD_getErrorName(n));
    }
    out.resize(at + n);
    from = to;
  }
  return Ok();
}

ZstdDecompressor::ZstdDecompressor(std::unique_ptr<Context> context)
    : context_(std::move(context)) {}
ZstdDecompressor::~ZstdDecompressor() = default;

Result<std::unique_ptr<ZstdDecompressor>> ZstdDecompressor::Create() {
  auto context = std::make_unique<Context>();
  context->dctx = ZSTD_createDCtx();
  if (context->dctx == nullptr) {
    return MakeError(ErrorCode::kInternal, "cannot create a zstd decompression context");
  }
  return std::unique_ptr<ZstdDecompressor>(new ZstdDecompressor(std::move(context)));
}

Status ZstdDecompressor::Decompress(std::span<const std::uint8_t> frame, std::size_t expected,
                                    std::vector<std::uint8_t>& out, const std::string& what) {
  return DecompressWithPrefix(frame, {}, expected, out, what);
}

Status ZstdDecompressor::DecompressFrames(std::span<const std::uint8_t> frames,
                                          std::size_t expected, std::vector<std::uint8_t>& out,
                                          const std::string& what) {
  auto fail = [&](const std::string& why) {
    return MakeError(ErrorCode::kIntegrity, what + " " + why);
  };
  out.resize(expected);
  std::size_t in = 0;
  std::size_t produced = 0;
  for (std::size_t index = 0; in < frames.size(); ++index) {
    const std::string frame_name = "zstd frame " + std::to_string(index);
    const std::span<const std::uint8_t> rest = frames.subspan(in);
    const std::size_t frame_size = ZSTD_findFrameCompressedSize(rest.data(), rest.size());
    if (ZSTD_isError(frame_size)) {
      return fail("has an invalid " + frame_name + ": " + ZSTD_getErrorName(frame_size));
    }
    const unsigned long long declared = ZSTD_getFrameContentSize(rest.data(), frame_size);
    if (declared == ZSTD_CONTENTSIZE_ERROR || declared == ZSTD_CONTENTSIZE_UNKNOWN ||
        declared == 0) {
      return fail("has " + frame_name + " without a non-zero content size");
    }
    if (declared > expected - produced) {
      return fail("decompresses to more than the " + std::to_string(expected) +
                  " bytes the header says");
    }
    std::size_t n = ZSTD_DCtx_reset(context_->dctx, ZSTD_reset_session_and_parameters);
    if (!ZSTD_isError(n)) n = ZSTD_DCtx_setParameter(context_->dctx, ZSTD_d_windowLogMax, 30);
    if (!ZSTD_isError(n)) {
      n = ZSTD_decompressDCtx(context_->dctx, out.data() + produced,
                              static_cast<std::size_t>(declared), rest.data(), frame_size);
    }
    if (ZSTD_isError(n)) {
      return fail(frame_name + " does not decompress: " + ZSTD_getErrorName(n));
    }
    if (n != declared) {
      return fail(frame_name + " decompresses to " + std::to_string(n) + " bytes, it declares " +
                  std::to_string(declared));
    }
    produced += n;
    in += frame_size;
  }
  if (produced != expected) {
    return fail("decompresses to " + std::to_string(produced) + " bytes, the header says " +
                std::to_string(expected));
  }
  return Ok();
}

Status ZstdDecompressor::DecompressWithPrefix(std::span<const std::uint8_t> frame,
                                              std::span<const std::uint8_t> prefix,
                                              std::size_t expected, std::vector<std::uint8_t>& out,
                                              const std::string& what) {
  auto fail = [&](const std::string& why) {
    return MakeError(ErrorCode::kIntegrity, what + " " + why);
  };
  const std::size_t frame_size = ZSTD_findFrameCompressedSize(frame.data(), frame.size());
  if (ZSTD_isError(frame_size)) {
    return fail(std::string("is not a valid zstd frame: ") + ZSTD_getErrorName(frame_size));
  }
  if (frame_size != frame.size()) {
    return fail("has " + std::to_string(frame.size() - frame_size) + " bytes after its zstd frame");
  }
  const unsigned long long declared = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (declared == ZSTD_CONTENTSIZE_ERROR) return fail("has an invalid zstd frame header");
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != expected) {
    return fail("declares " + std::to_string(declared) + " plaintext bytes, the header says " +
                std::to_string(expected));
  }
  // One-shot decompression into a buffer of exactly `expected` bytes: zstd
  // stops with dstSize_tooSmall instead of writing past it, which is what
  // defuses a frame that expands beyond its declared size.
  out.resize(expected);
  std::size_t n = ZSTD_DCtx_reset(context_->dctx, ZSTD_reset_session_and_parameters);
  if (!ZSTD_isError(n)) n = ZSTD_DCtx_setParameter(context_->dctx, ZSTD_d_windowLogMax, 30);
  if (!ZSTD_isError(n) && !prefix.empty()) {
    n = ZSTD_DCtx_refPrefix(context_->dctx, prefix.data(), prefix.size());
  }
  if (!ZSTD_isError(n))
    n = ZSTD_decompressDCtx(context_->dctx, out.data(), out.size(), frame.data(), frame.size());
  if (ZSTD_isError(n)) {
    if (ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall) {
      return fail("decompresses to more than the " + std::to_string(expected) +
                  " bytes the header says");
    }
    return fail(std::string("does not decompress: ") + ZSTD_getErrorName(n));
  }
  if (n != expected) {
    return fail("decompresses to " + std::to_string(n) + " bytes, the header says " +
                std::to_string(expected));
  }
  return Ok();
}

}  // namespace ota::bundle
