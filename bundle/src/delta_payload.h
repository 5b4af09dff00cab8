// The delta payload's byte format (docs/formats.md "Delta payload") and the
// transforms its operations use, shared by the builder and the applier.
//
// Thread-safety: all functions are pure or touch only their arguments.
#ifndef OTA_BUNDLE_DELTA_PAYLOAD_H_
#define OTA_BUNDLE_DELTA_PAYLOAD_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ota/bundle/delta.h"
#include "ota/common/result.h"

namespace ota::bundle {

// Version 2 (written): integers are LEB128 varints. Version 1 (fixed-width
// little-endian integers, transforms XOR and SUB only) is still read.
inline constexpr char kDeltaPayloadMagic[8] = {'O', 'T', 'A', 'D', 'L', 'T', '0', '2'};
inline constexpr char kDeltaPayloadMagicV1[8] = {'O', 'T', 'A', 'D', 'L', 'T', '0', '1'};

enum class DeltaOp : std::uint8_t {
  kEnd = 0,      // The current target file is complete.
  kCopy = 1,     // u32 base file, u64 base offset, u64 length.
  kDiff = 2,     // u8 transform, u32 width, u32 base file, u64 base offset, u64 length,
                 // u64 frame length, frame.
  kPrefix = 3,   // u32 base file, u64 base offset, u64 base length, u64 length,
                 // u64 frame length, frame.
  kLiteral = 4,  // u32 width, u64 length, u64 frame length, frame.
};

// How a DIFF window's bytes relate to the base bytes at the same position
// (docs/formats.md "Delta payload"). kOrdered: each 2- or 4-byte element
// (F16, BF16, F32) is mapped to an integer ordered like the float it
// encodes, the base's is subtracted and the result zig-zag coded, so a small
// numeric change gives a small number whatever the sign. kQ8_0/kQ4_0: per
// block, the fp16 scale as kOrdered, the int8 quants (nibbles) subtracted
// and zig-zag coded on their own width. kQ2K..kQ6K: ggml's K-quant
// super-blocks field by field (kquant_blocks.h).
enum class DiffTransform : std::uint8_t {
  kXor = 1,
  kSub = 2,
  kOrdered = 3,
  kQ8_0 = 4,
  kQ4_0 = 5,
  kQ2K = 6,
  kQ3K = 7,
  kQ4K = 8,
  kQ5K = 9,
  kQ6K = 10,
};
inline constexpr std::uint8_t kMaxDiffTransform = 10;

// True for the K-quant transforms (kQ2K..kQ6K).
bool IsKQuantTransform(DiffTransform t);
// True if `t` may be used with elements of `width` bytes.
bool TransformFitsWidth(DiffTransform t, std::uint32_t width);

inline constexpr std::uint32_t kMaxGroupWidth = 1024;
// A prefix may reach this far beyond each side of its window.
inline constexpr std::uint64_t kMaxPrefixBytes = 2 * kMaxDeltaWindow;

// Reorders `data` by byte position within `width`-byte elements (all byte
// 0s, then all byte 1s...); a tail of fewer than `width` bytes stays last.
void GroupByWidth(std::span<const std::uint8_t> data, std::uint32_t width,
                  std::vector<std::uint8_t>& out);
// The inverse of GroupByWidth.
void UngroupByWidth(std::span<const std::uint8_t> grouped, std::uint32_t width,
                    std::vector<std::uint8_t>& out);

// new = old (op) diff over `width`-byte elements (bytes after the last
// whole element: XOR); `diff` is overwritten with the result. Requires
// TransformFitsWidth(t, width) and old_bytes.size() >= diff.size().
void ApplyTransform(DiffTransform t, std::uint32_t width, std::span<const std::uint8_t> old_bytes,
                    std::span<std::uint8_t> diff);
// diff = new (inverse op) old.
void MakeDiff(DiffTransform t, std::uint32_t width, std::span<const std::uint8_t> old_bytes,
              std::span<const std::uint8_t> new_bytes, std::vector<std::uint8_t>& diff);

// LEB128 varints (at most 10 bytes, no overlong 10th byte).
void PutVarint(std::vector<std::uint8_t>& out, std::uint64_t v);

// Element width and transform for a ggml tensor type: floats by their width,
// quantized types by their block size, so bytes of the same role line up.
// The candidate transforms a builder tries, best guess first.
std::uint32_t GroupWidthForGgmlType(std::uint32_t type);
std::vector<DiffTransform> TransformsForGgmlType(std::uint32_t type);
// Where byte-grouped planes of a ggml type's elements change kind (offsets
// inside an element, ascending, none at 0): the builder starts a zstd block
// at each. Empty: every byte position is a plane of its own.
std::vector<std::uint32_t> PlaneStartsForGgmlType(std::uint32_t type);

// Checks that the files a delta rebuilds (its target bundle.json, read from
// the delta) fit the reader's limit before anything is written. The sum is
// overflow-checked: sizes near 2^64 are corrupt (kIntegrity), a total over
// limits.max_total_bytes is kIncompatible. Implemented in delta_apply.cc.
Status CheckDeltaTargetTotal(const manifest::BundleManifest& target, const UnpackLimits& limits);

}  // namespace ota::bundle

#endif  // OTA_BUNDLE_DELTA_PAYLOAD_H_
