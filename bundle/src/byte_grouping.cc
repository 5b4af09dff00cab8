#include "byte_grouping.h"

#include <algorithm>
#include <array>
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
    groups.push_back(ByteGroup{start - chunk_start, end - start, r.width, r.kind});
  }
  return groups;
}

namespace {

// Bucket of each exponent value in a kBf16Split group (see the header) and
// the start of each bucket inside the sign-and-mantissa plane. Returns the
// number of buckets.
std::size_t Bf16Buckets(const std::uint8_t* exponents, std::size_t n,
                        std::array<std::uint16_t, 256>& bucket_of,
                        std::array<std::size_t, 257>& starts) {
  std::array<std::size_t, 256> count{};
  for (std::size_t i = 0; i < n; ++i) ++count[exponents[i]];
  std::size_t buckets = 0;
  for (std::size_t e = 0; e < 256; ++e) {
    if (count[e] >= kBf16BucketMin) bucket_of[e] = static_cast<std::uint16_t>(buckets++);
  }
  const std::size_t rest = buckets++;
  std::array<std::size_t, 257> sizes{};
  for (std::size_t e = 0; e < 256; ++e) {
    if (count[e] < kBf16BucketMin) bucket_of[e] = static_cast<std::uint16_t>(rest);
    sizes[bucket_of[e]] += count[e];
  }
  std::size_t at = 0;
  for (std::size_t b = 0; b < buckets; ++b) {
    starts[b] = at;
    at += sizes[b];
  }
  return buckets;
}

void SplitBf16(std::uint8_t* base, std::size_t n, std::vector<std::uint8_t>& scratch,
               std::size_t group_offset, std::vector<std::size_t>* planes) {
  scratch.resize(2 * n);
  std::uint8_t* exponents = scratch.data();
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned w = base[2 * i] | (base[2 * i + 1] << 8);
    exponents[i] = static_cast<std::uint8_t>(w >> 7);
  }
  std::array<std::uint16_t, 256> bucket_of{};
  std::array<std::size_t, 257> starts{};
  const std::size_t buckets = Bf16Buckets(exponents, n, bucket_of, starts);
  if (planes != nullptr) {
    planes->push_back(group_offset + n);
    for (std::size_t b = 1; b < buckets; ++b) {
      if (starts[b] != starts[b - 1]) planes->push_back(group_offset + n + starts[b]);
    }
  }
  std::uint8_t* rest = scratch.data() + n;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned w = base[2 * i] | (base[2 * i + 1] << 8);
    rest[starts[bucket_of[exponents[i]]]++] =
        static_cast<std::uint8_t>(((w >> 8) & 0x80) | (w & 0x7f));
  }
  std::memcpy(base, scratch.data(), 2 * n);
}

void JoinBf16(std::uint8_t* base, std::size_t n, std::vector<std::uint8_t>& scratch) {
  const std::uint8_t* exponents = base;
  const std::uint8_t* rest = base + n;
  std::array<std::uint16_t, 256> bucket_of{};
  std::array<std::size_t, 257> starts{};
  (void)Bf16Buckets(exponents, n, bucket_of, starts);
  scratch.resize(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned e = exponents[i];
    const unsigned r = rest[starts[bucket_of[e]]++];
    scratch[2 * i] = static_cast<std::uint8_t>(((e & 1) << 7) | (r & 0x7f));
    scratch[2 * i + 1] = static_cast<std::uint8_t>((r & 0x80) | (e >> 1));
  }
  std::memcpy(base, scratch.data(), 2 * n);
}

}  // namespace

void GroupBytes(std::span<std::uint8_t> data, const std::vector<ByteGroup>& groups,
                std::vector<std::uint8_t>& scratch, std::vector<std::size_t>* planes) {
  const auto mark = [&](std::size_t at) {
    if (planes == nullptr || at == 0 || at >= data.size()) return;
    if (planes->empty() || planes->back() < at) planes->push_back(at);
  };
  for (const ByteGroup& g : groups) {
    const std::size_t w = g.width;
    const std::size_t n = static_cast<std::size_t>(g.length) / w;
    const std::size_t offset = static_cast<std::size_t>(g.offset);
    std::uint8_t* base = data.data() + offset;
    mark(offset);
    if (g.kind == GroupKind::kBf16Split) {
      // Its plane and bucket starts lie inside the group, ascending.
      SplitBf16(base, n, scratch, offset, planes);
      mark(offset + 2 * n);
      continue;
    }
    scratch.resize(static_cast<std::size_t>(g.length));
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t b = 0; b < w; ++b) scratch[b * n + i] = base[i * w + b];
    }
    std::memcpy(base, scratch.data(), scratch.size());
    for (std::size_t b = 1; b <= w; ++b) mark(offset + b * n);
  }
}

void UngroupBytes(std::span<std::uint8_t> data, const std::vector<ByteGroup>& groups,
                  std::vector<std::uint8_t>& scratch) {
  for (const ByteGroup& g : groups) {
    const std::size_t w = g.width;
    const std::size_t n = static_cast<std::size_t>(g.length) / w;
    std::uint8_t* base = data.data() + g.offset;
    if (g.kind == GroupKind::kBf16Split) {
      JoinBf16(base, n, scratch);
      continue;
    }
    scratch.resize(static_cast<std::size_t>(g.length));
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t b = 0; b < w; ++b) scratch[i * w + b] = base[b * n + i];
    }
    std::memcpy(base, scratch.data(), scratch.size());
  }
}

}  // namespace ota::bundle
