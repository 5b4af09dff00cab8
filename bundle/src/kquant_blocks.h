// ggml's K-quant super-blocks (Q2_K to Q6_K: 256 weights per block), field
// by field, for the delta transforms (docs/formats.md "K-quant blocks").
//
// A block holds fp16 super-block scales, per-sub-block scales (and mins)
// quantized to 4, 6 or 8 bits, and the weights' quants of 2 to 6 bits, whose
// high bits may sit in their own array (Q3_K's hmask, Q5_K's and Q6_K's qh).
// The difference of two blocks is taken field by field in each field's own
// arithmetic: fp16 scales as ordered integers, packed 6-bit scales unpacked
// and subtracted mod 64, every weight's whole quant (low and high bits put
// together) subtracted mod 2^bits; each result is zig-zag coded and packed
// back into the same layout. A weight whose quant moved by one step thus
// gives a 1 or 2 in its own bits instead of a change in two arrays.
//
// Thread-safety: all functions are pure or touch only their arguments.
#ifndef OTA_BUNDLE_KQUANT_BLOCKS_H_
#define OTA_BUNDLE_KQUANT_BLOCKS_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace ota::bundle {

enum class KQuant : std::uint8_t { kQ2K, kQ3K, kQ4K, kQ5K, kQ6K };

inline constexpr std::size_t kKQuantWeights = 256;  // ggml's QK_K.

// Bytes of one block: Q2_K 84, Q3_K 110, Q4_K 144, Q5_K 176, Q6_K 210.
std::uint32_t KQuantBlockBytes(KQuant type);
// The K-quant of a ggml tensor type (10 Q2_K ... 14 Q6_K), if it is one.
std::optional<KQuant> KQuantOfGgmlType(std::uint32_t ggml_type);

// Offsets inside a block where a field of another kind starts (each byte of
// the scale fields, then each quant array), ascending, none at 0: where a
// byte-grouped window of such blocks gains from a new entropy table.
std::vector<std::uint32_t> KQuantFieldStarts(KQuant type);

// Encodes (x = new bytes, becomes their difference from `old_bytes`) or
// decodes (x = the difference, becomes the new bytes) `whole` bytes of
// blocks, a multiple of KQuantBlockBytes(type). Every pair of blocks has a
// difference and every difference decodes, whatever the bytes.
void KQuantDiffBlocks(bool encode, KQuant type, const std::uint8_t* old_bytes, std::uint8_t* x,
                      std::size_t whole);

}  // namespace ota::bundle

#endif  // OTA_BUNDLE_KQUANT_BLOCKS_H_
