#include "delta_payload.h"

#include <algorithm>

#include "diff_arith.h"
#include "kquant_blocks.h"

namespace ota::bundle {
namespace {

// Elements per tile when (un)grouping: the strided side of a tile spans a
// few KiB, so it stays in cache instead of the whole window being swept
// once per byte plane.
constexpr std::size_t kTileElements = 256;

}  // namespace

void GroupByWidth(std::span<const std::uint8_t> data, std::uint32_t width,
                  std::vector<std::uint8_t>& out) {
  out.resize(data.size());
  const std::size_t n = width == 0 ? 0 : data.size() / width;
  // In tiles of elements, like UngroupByWidth.
  for (std::size_t start = 0; start < n; start += kTileElements) {
    const std::size_t count = std::min(kTileElements, n - start);
    const std::uint8_t* src = data.data() + start * width;
    for (std::uint32_t j = 0; j < width; ++j) {
      std::uint8_t* dst = out.data() + j * n + start;
      for (std::size_t i = 0; i < count; ++i) dst[i] = src[i * width + j];
    }
  }
  for (std::size_t i = n * width; i < data.size(); ++i) out[i] = data[i];
}

void UngroupByWidth(std::span<const std::uint8_t> grouped, std::uint32_t width,
                    std::vector<std::uint8_t>& out) {
  out.resize(grouped.size());
  const std::size_t n = width == 0 ? 0 : grouped.size() / width;
  for (std::size_t start = 0; start < n; start += kTileElements) {
    const std::size_t count = std::min(kTileElements, n - start);
    std::uint8_t* dst = out.data() + start * width;
    for (std::uint32_t j = 0; j < width; ++j) {
      const std::uint8_t* src = grouped.data() + j * n + start;
      for (std::size_t i = 0; i < count; ++i) dst[i * width + j] = src[i];
    }
  }
  for (std::size_t i = n * width; i < grouped.size(); ++i) out[i] = grouped[i];
}

namespace {

// Two 4-bit lanes: zig-zag of the 4-bit two's complement difference
// (encode) or its inverse (decode), branch-free so loops vectorize.
template <bool kEncode>
std::uint8_t Nibbles(std::uint8_t old_b, std::uint8_t x) {
  std::uint8_t out = 0;
  for (int shift = 0; shift < 8; shift += 4) {
    const unsigned o = (old_b >> shift) & 0xfu, v = (x >> shift) & 0xfu;
    unsigned r;
    if constexpr (kEncode) {
      const unsigned d = (v - o) & 0xfu;   // 4-bit two's complement.
      const unsigned neg = 0u - (d >> 3);  // All ones if negative.
      r = ((d << 1) ^ neg) & 0xfu;         // 0, -1, 1, -2, ... -> 0, 1, 2, 3, ...
    } else {
      const unsigned d = ((v >> 1) ^ (0u - (v & 1u))) & 0xfu;
      r = (o + d) & 0xfu;
    }
    out = static_cast<std::uint8_t>(out | (r << shift));
  }
  return out;
}

// A quantized block: an f16 scale (ordered difference), then `width - 2`
// bytes of int8 values (Q8_0: zig-zag byte differences) or nibble pairs
// (Q4_0). Fixed trip counts and no aliasing, so the byte loops vectorize.
template <bool kEncode, DiffTransform kT, std::size_t kWidth>
void RunBlocks(const std::uint8_t* __restrict old_bytes, std::uint8_t* __restrict x,
               std::size_t whole) {
  for (std::size_t b = 0; b < whole; b += kWidth) {
    const auto o = Load<std::uint16_t>(old_bytes + b), v = Load<std::uint16_t>(x + b);
    Store<std::uint16_t>(x + b, kEncode ? OrderedDiff(o, v) : OrderedUndo(o, v));
    const std::uint8_t* ob = old_bytes + b + 2;
    std::uint8_t* xb = x + b + 2;
    for (std::size_t i = 0; i < kWidth - 2; ++i) {
      if constexpr (kT == DiffTransform::kQ4_0) {
        xb[i] = Nibbles<kEncode>(ob[i], xb[i]);
      } else if constexpr (kEncode) {
        xb[i] = ZigZag<std::uint8_t>(static_cast<std::uint8_t>(xb[i] - ob[i]));
      } else {
        xb[i] = static_cast<std::uint8_t>(ob[i] + UnZigZag<std::uint8_t>(xb[i]));
      }
    }
  }
}

template <bool kEncode, typename U>
void RunOrdered(const std::uint8_t* __restrict old_bytes, std::uint8_t* __restrict x,
                std::size_t whole) {
  for (std::size_t i = 0; i < whole; i += sizeof(U)) {
    const auto o = Load<U>(old_bytes + i), v = Load<U>(x + i);
    Store<U>(x + i, kEncode ? OrderedDiff(o, v) : OrderedUndo(o, v));
  }
}

KQuant KQuantOfTransform(DiffTransform t) {
  return static_cast<KQuant>(static_cast<std::uint8_t>(t) -
                             static_cast<std::uint8_t>(DiffTransform::kQ2K));
}

// Runs transform `t` in place on `x` (new bytes when encoding, the
// difference when decoding) against `old_bytes`; bytes after the last whole
// element are XORed.
template <bool kEncode>
void Run(DiffTransform t, std::uint32_t width, const std::uint8_t* __restrict old_bytes,
         std::uint8_t* __restrict x, std::size_t size) {
  std::size_t whole = 0;
  switch (t) {
    case DiffTransform::kXor:
      break;
    case DiffTransform::kSub:
      for (std::size_t i = 0; i < size; ++i) {
        x[i] = kEncode ? static_cast<std::uint8_t>(x[i] - old_bytes[i])
                       : static_cast<std::uint8_t>(x[i] + old_bytes[i]);
      }
      return;
    case DiffTransform::kOrdered:
      whole = size / width * width;
      if (width == 2) {
        RunOrdered<kEncode, std::uint16_t>(old_bytes, x, whole);
      } else {
        RunOrdered<kEncode, std::uint32_t>(old_bytes, x, whole);
      }
      break;
    case DiffTransform::kQ8_0:
      whole = size / 34 * 34;
      RunBlocks<kEncode, DiffTransform::kQ8_0, 34>(old_bytes, x, whole);
      break;
    case DiffTransform::kQ4_0:
      whole = size / 18 * 18;
      RunBlocks<kEncode, DiffTransform::kQ4_0, 18>(old_bytes, x, whole);
      break;
    case DiffTransform::kQ2K:
    case DiffTransform::kQ3K:
    case DiffTransform::kQ4K:
    case DiffTransform::kQ5K:
    case DiffTransform::kQ6K:
      whole = size / width * width;
      KQuantDiffBlocks(kEncode, KQuantOfTransform(t), old_bytes, x, whole);
      break;
  }
  for (std::size_t i = whole; i < size; ++i) x[i] ^= old_bytes[i];
}

}  // namespace

bool IsKQuantTransform(DiffTransform t) {
  return t >= DiffTransform::kQ2K && t <= DiffTransform::kQ6K;
}

bool TransformFitsWidth(DiffTransform t, std::uint32_t width) {
  switch (t) {
    case DiffTransform::kXor:
    case DiffTransform::kSub:
      return width >= 1;
    case DiffTransform::kOrdered:
      return width == 2 || width == 4;
    case DiffTransform::kQ8_0:
      return width == 34;
    case DiffTransform::kQ4_0:
      return width == 18;
    case DiffTransform::kQ2K:
    case DiffTransform::kQ3K:
    case DiffTransform::kQ4K:
    case DiffTransform::kQ5K:
    case DiffTransform::kQ6K:
      return width == KQuantBlockBytes(KQuantOfTransform(t));
  }
  return false;
}

void ApplyTransform(DiffTransform t, std::uint32_t width, std::span<const std::uint8_t> old_bytes,
                    std::span<std::uint8_t> diff) {
  Run</*kEncode=*/false>(t, width, old_bytes.data(), diff.data(), diff.size());
}

void MakeDiff(DiffTransform t, std::uint32_t width, std::span<const std::uint8_t> old_bytes,
              std::span<const std::uint8_t> new_bytes, std::vector<std::uint8_t>& diff) {
  diff.assign(new_bytes.begin(), new_bytes.end());
  Run</*kEncode=*/true>(t, width, old_bytes.data(), diff.data(), diff.size());
}

void PutVarint(std::vector<std::uint8_t>& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<std::uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<std::uint8_t>(v));
}

std::uint32_t GroupWidthForGgmlType(std::uint32_t type) {
  switch (type) {
    case 0:  // F32
      return 4;
    case 1:   // F16
    case 30:  // BF16
      return 2;
    case 2:  // Q4_0: f16 scale + 16 bytes of nibbles
      return 18;
    case 3:  // Q4_1
      return 20;
    case 6:  // Q5_0
      return 22;
    case 7:  // Q5_1
      return 24;
    case 8:  // Q8_0: f16 scale + 32 int8
      return 34;
    default:
      // K-quants: one super-block of 256 weights.
      if (auto k = KQuantOfGgmlType(type)) return KQuantBlockBytes(*k);
      return 1;
  }
}

std::vector<DiffTransform> TransformsForGgmlType(std::uint32_t type) {
  switch (type) {
    case 0:   // F32
    case 1:   // F16
    case 30:  // BF16
      // A numeric nudge is a small ordered difference; XOR stays a candidate
      // for bit-level edits (pruning, masks).
      return {DiffTransform::kOrdered, DiffTransform::kXor};
    case 8:
      return {DiffTransform::kQ8_0, DiffTransform::kXor};
    case 2:
      return {DiffTransform::kQ4_0, DiffTransform::kXor};
    default:
      if (auto k = KQuantOfGgmlType(type)) {
        return {static_cast<DiffTransform>(static_cast<std::uint8_t>(DiffTransform::kQ2K) +
                                           static_cast<std::uint8_t>(*k)),
                DiffTransform::kXor};
      }
      return {DiffTransform::kXor, DiffTransform::kSub};
  }
}

std::vector<std::uint32_t> PlaneStartsForGgmlType(std::uint32_t type) {
  if (auto k = KQuantOfGgmlType(type)) return KQuantFieldStarts(*k);
  return {};
}

}  // namespace ota::bundle
