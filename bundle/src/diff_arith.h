// Integer arithmetic shared by the delta transforms: float bit patterns as
// ordered integers, zig-zag coding, little-endian loads and stores.
//
// Thread-safety: pure functions.
#ifndef OTA_BUNDLE_DIFF_ARITH_H_
#define OTA_BUNDLE_DIFF_ARITH_H_

#include <cstddef>
#include <cstdint>

namespace ota::bundle {

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

// A `bits`-wide difference (encode: z of new - old; decode: new from old and
// z), all values taken mod 2^bits; 0, -1, 1, -2 ... code as 0, 1, 2, 3 ...
inline unsigned SmallDiff(unsigned old_v, unsigned new_v, unsigned bits) {
  const unsigned mask = (1u << bits) - 1, d = (new_v - old_v) & mask;
  const unsigned neg = 0u - (d >> (bits - 1));
  return ((d << 1) ^ neg) & mask;
}
inline unsigned SmallUndo(unsigned old_v, unsigned z, unsigned bits) {
  const unsigned mask = (1u << bits) - 1;
  return (old_v + ((z >> 1) ^ (0u - (z & 1u)))) & mask;
}

}  // namespace ota::bundle

#endif  // OTA_BUNDLE_DIFF_ARITH_H_
