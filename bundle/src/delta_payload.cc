#include "delta_payload.h"

namespace ota::bundle {

void GroupByWidth(std::span<const std::uint8_t> data, std::uint32_t width,
                  std::vector<std::uint8_t>& out) {
  out.resize(data.size());
  const std::size_t n = width == 0 ? 0 : data.size() / width;
  std::size_t k = 0;
  for (std::uint32_t j = 0; j < width && n > 0; ++j) {
    for (std::size_t i = 0; i < n; ++i) out[k++] = data[i * width + j];
  }
  for (std::size_t i = n * width; i < data.size(); ++i) out[k++] = data[i];
}

void UngroupByWidth(std::span<const std::uint8_t> grouped, std::uint32_t width,
                    std::vector<std::uint8_t>& out) {
  out.resize(grouped.size());
  const std::size_t n = width == 0 ? 0 : grouped.size() / width;
  std::size_t k = 0;
  for (std::uint32_t j = 0; j < width && n > 0; ++j) {
    for (std::size_t i = 0; i < n; ++i) out[i * width + j] = grouped[k++];
  }
  for (std::size_t i = n * width; i < grouped.size(); ++i) out[i] = grouped[k++];
}

namespace {

// Float bit patterns to integers ordered like the floats (negative: all bits
// flipped; positive: sign bit set), and back. -0 and +0 are neighbours.
template <typename U>
U ToOrdered(U x) {
  constexpr U kSign = U(U(1) << (sizeof(U) * 8 - 1));
  return (x & kSign) ? U(~x) : U(x | kSign);
}
template <typename U>
U FromOrdered(U k) {
  constexpr U kSign = U(U(1) << (sizeof(U) * 8 - 1));
  return (k & kSign) ? U(k ^ kSign) : U(~k);
}
// Zig-zag on a two's complement difference of U's width: 0, -1, 1, -2, ...
template <typename U>
U ZigZag(U d) {
  constexpr int kBits = sizeof(U) * 8;
  const U neg = (d >> (kBits - 1)) ? U(~U(0)) : U(0);
  return U(U(d << 1) ^ neg);
}
template <typename U>
U UnZigZag(U z) {
  return U(U(z >> 1) ^ U(U(0) - U(z & 1)));
}

template <typename U>
U Load(const std::uint8_t* p) {
  U v = 0;
  for (std::size_t i = 0; i < sizeof(U); ++i) v = U(v | U(U(p[i]) << (8 * i)));
  return v;
}
template <typename U>
void Store(std::uint8_t* p, U v) {
  for (std::size_t i = 0; i < sizeof(U); ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

// One element: the ordered difference (encode) or its inverse (decode).
template <typename U>
U OrderedDiff(U old_bits, U new_bits) {
  return ZigZag<U>(U(ToOrdered(new_bits) - ToOrdered(old_bits)));
}
template <typename U>
U OrderedUndo(U old_bits, U z) {
  return FromOrdered<U>(U(ToOrdered(old_bits) + UnZigZag(z)));
}

std::uint8_t Nibbles(std::uint8_t old_b, std::uint8_t x, bool encode) {
  std::uint8_t out = 0;
  for (int shift = 0; shift < 8; shift += 4) {
    const std::uint8_t o = (old_b >> shift) & 0xf, v = (x >> shift) & 0xf;
    std::uint8_t r;
    if (encode) {
      const std::uint8_t d = (v - o) & 0xf;  // 4-bit two's complement.
      r = (d & 0x8) ? static_cast<std::uint8_t>(((~d & 0xf) << 1) | 1)
                    : static_cast<std::uint8_t>(d << 1);
      r &= 0xf;
    } else {
      const std::uint8_t d =
          (v & 1) ? static_cast<std::uint8_t>(~(v >> 1) & 0xf) : static_cast<std::uint8_t>(v >> 1);
      r = (o + d) & 0xf;
    }
    out = static_cast<std::uint8_t>(out | (r << shift));
  }
  return out;
}

// Runs transform `t` in place on `x` (new bytes when encoding, the
// difference when decoding) against `old_bytes`.
void Run(DiffTransform t, std::uint32_t width, const std::uint8_t* old_bytes, std::uint8_t* x,
         std::size_t size, bool encode) {
  std::size_t whole = 0;
  switch (t) {
    case DiffTransform::kXor:
      break;
    case DiffTransform::kSub:
      for (std::size_t i = 0; i < size; ++i) {
        x[i] = encode ? static_cast<std::uint8_t>(x[i] - old_bytes[i])
                      : static_cast<std::uint8_t>(x[i] + old_bytes[i]);
      }
      return;
    case DiffTransform::kOrdered:
      whole = size / width * width;
      if (width == 2) {
        for (std::size_t i = 0; i < whole; i += 2) {
          const auto o = Load<std::uint16_t>(old_bytes + i), v = Load<std::uint16_t>(x + i);
          Store<std::uint16_t>(x + i, encode ? OrderedDiff(o, v) : OrderedUndo(o, v));
        }
      } else {
        for (std::size_t i = 0; i < whole; i += 4) {
          const auto o = Load<std::uint32_t>(old_bytes + i), v = Load<std::uint32_t>(x + i);
          Store<std::uint32_t>(x + i, encode ? OrderedDiff(o, v) : OrderedUndo(o, v));
        }
      }
      break;
    case DiffTransform::kQ8_0:
    case DiffTransform::kQ4_0:
      whole = size / width * width;
      for (std::size_t b = 0; b < whole; b += width) {
        const auto o = Load<std::uint16_t>(old_bytes + b), v = Load<std::uint16_t>(x + b);
        Store<std::uint16_t>(x + b, encode ? OrderedDiff(o, v) : OrderedUndo(o, v));
        for (std::size_t i = b + 2; i < b + width; ++i) {
          if (t == DiffTransform::kQ8_0) {
            x[i] = encode ? ZigZag<std::uint8_t>(static_cast<std::uint8_t>(x[i] - old_bytes[i]))
                          : static_cast<std::uint8_t>(old_bytes[i] + UnZigZag<std::uint8_t>(x[i]));
          } else {
            x[i] = Nibbles(old_bytes[i], x[i], encode);
          }
        }
      }
      break;
  }
  for (std::size_t i = whole; i < size; ++i) x[i] ^= old_bytes[i];
}

}  // namespace

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
  }
  return false;
}

void ApplyTransform(DiffTransform t, std::uint32_t width, std::span<const std::uint8_t> old_bytes,
                    std::span<std::uint8_t> diff) {
  Run(t, width, old_bytes.data(), diff.data(), diff.size(), /*encode=*/false);
}

void MakeDiff(DiffTransform t, std::uint32_t width, std::span<const std::uint8_t> old_bytes,
              std::span<const std::uint8_t> new_bytes, std::vector<std::uint8_t>& diff) {
  diff.assign(new_bytes.begin(), new_bytes.end());
  Run(t, width, old_bytes.data(), diff.data(), diff.size(), /*encode=*/true);
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
      return {DiffTransform::kXor, DiffTransform::kSub};
  }
}

}  // namespace ota::bundle
