// Byte grouping: a reversible transform that makes floating-point tensor
// data compress better. Within a group of n elements of w bytes, the bytes
// are reordered by their position in the element (all byte 0s, then all
// byte 1s, ...). Sign and exponent bytes vary slowly and end up together,
// where zstd's entropy coder finds them; the noisy low mantissa bytes no
// longer break up its matches.
//
// Thread-safety: all functions are pure or touch only their arguments.
#ifndef OTA_BUNDLE_BYTE_GROUPING_H_
#define OTA_BUNDLE_BYTE_GROUPING_H_

#include <cstdint>
#include <span>
#include <vector>

#include "container_format.h"

namespace ota::bundle {

// Groups below this size are not worth their header entry.
inline constexpr std::uint64_t kMinGroupBytes = 256;
// Elements an exponent value needs in a kBf16Split group for its own
// mantissa bucket. Part of the format.
inline constexpr std::size_t kBf16BucketMin = 4096;

// Regions of a plaintext stream (absolute offsets) holding w-byte elements.
// Sorted by offset and disjoint.
using StreamRegions = std::vector<ByteGroup>;

// The groups of the chunk covering stream bytes [chunk_start, chunk_start +
// chunk_len): each region's part inside the chunk, trimmed to whole elements
// (counted from the region's start) and made relative to the chunk; parts
// under kMinGroupBytes are dropped, at most kMaxGroupsPerChunk kept.
// `next_region` is a cursor into `regions` for successive chunks.
std::vector<ByteGroup> GroupsForChunk(const StreamRegions& regions, std::size_t& next_region,
                                      std::uint64_t chunk_start, std::uint64_t chunk_len);

// Applies the groups to `data` in place; `scratch` is resized as needed.
// Requires groups inside data (as ParseChunk checks). If `planes` is given,
// it receives the ascending offsets inside data where a plane or bucket of
// like bytes starts after another (the places where a new entropy table
// pays off), none at 0 or data.size(), none twice.
void GroupBytes(std::span<std::uint8_t> data, const std::vector<ByteGroup>& groups,
                std::vector<std::uint8_t>& scratch, std::vector<std::size_t>* planes = nullptr);
// The inverse of GroupBytes.
void UngroupBytes(std::span<std::uint8_t> data, const std::vector<ByteGroup>& groups,
                  std::vector<std::uint8_t>& scratch);

}  // namespace ota::bundle

#endif  // OTA_BUNDLE_BYTE_GROUPING_H_
