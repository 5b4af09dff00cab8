#include "ota/rollout/bucket.h"

#include <string>

#include "ota/common/hash.h"

namespace ota::rollout {

std::uint32_t CohortBucket(std::string_view device_id, std::string_view rollout_id) {
  std::string input;
  input.reserve(device_id.size() + rollout_id.size() + 1);
  input.append(device_id);
  // The separator keeps ("ab", "c") and ("a", "bc") apart.
  input.push_back('\0');
  input.append(rollout_id);
  const std::string hex = Sha256Hex(input);
  std::uint64_t value = 0;
  for (int i = 0; i < 16; ++i) {
    const char c = hex[static_cast<std::size_t>(i)];
    value = (value << 4) | static_cast<std::uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  }
  // 2^64 mod 10000 is negligible next to 2^64: the bias is below 1e-15.
  return static_cast<std::uint32_t>(value % kBucketCount);
}

bool InStage(std::uint32_t bucket, std::uint32_t percent_hundredths) {
  return bucket < percent_hundredths;
}

}  // namespace ota::rollout
