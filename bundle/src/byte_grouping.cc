#include "byte_grouping.h"

#include <algorithm>
#include <cstring>

namespace ota::bundle {

std::vector<ByteGroup> GroupsForChunk(const StreamRegions& regions, std::size_t& next_region,
                                      std::uint64_t chunk_start, std::uint64_t chunk_len) {
  std::vector<ByteGroup> groups;
  const std::uint64_t chunk_end = chunk_start + chunk_len;
  // Regions wholly before this chunk are never needed again.
  while (next_region < regions.size() &&
         regions[next_region].offset + regions[next_region].length <= chunk_start) {
    ++next_region;
  }
  for (std::size_t i = next_region; i < regions.size() && groups.size() < kMaxGroupsPerChunk; ++i) {
    const ByteGroup& r = regions[i];
    if (r.offset >= chunk_end) break;
    const std::uint64_t w = r.width;
    std::uint64_t start = std::max(r.offset, chunk_start);
    std::uint64_t end = std::min(r.offset + r.length, chunk_end);
    start = r.offset + (start - r.offset + w - 1) / w * w;
    end = r.offset + (end - r.offset) / w * w;
    if (end <= start || end - start < kMinGroupBytes) continue;
    groups.push_back(ByteGroup{start - chunk_start, end - start, r.width});
  }
  return groups;
}

void GroupBytes(std::span<std::uint8_t> data, const std::vector<ByteGroup>& groups,
                std::vector<std::uint8_t>& scratch) {
  for (const ByteGroup& g : groups) {
    const std::size_t w = g.width;
    const std::size_t n = static_cast<std::size_t>(g.length) / w;
    std::uint8_t* base = data.data() + g.offset;
    scratch.resize(static_cast<std::size_t>(g.length));
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t b = 0; b < w; ++b) scratch[b * n + i] = base[i * w + b];
    }
    std::memcpy(base, scratch.data(), scratch.size());
  }
}

void UngroupBytes(std::span<std::uint8_t> data, const std::vector<ByteGroup>& groups,
                  std::vector<std::uint8_t>& scratch) {
  for (const ByteGroup& g : groups) {
    const std::size_t w = g.width;
    const std::size_t n = static_cast<std::size_t>(g.length) / w;
    std::uint8_t* base = data.data() + g.offset;
    scratch.resize(static_cast<std::size_t>(g.length));
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t b = 0; b < w; ++b) scratch[i * w + b] = base[b * n + i];
    }
    std::memcpy(base, scratch.data(), scratch.size());
  }
}

}  // namespace ota::bundle
