// Cohort bucketing for staged rollouts.
#ifndef OTA_ROLLOUT_BUCKET_H_
#define OTA_ROLLOUT_BUCKET_H_

#include <cstdint>
#include <string_view>

namespace ota::rollout {

inline constexpr std::uint32_t kBucketCount = 10000;

// A device's stable bucket in [0, kBucketCount) for one rollout: the first
// 8 bytes of SHA-256(device_id || 0x00 || rollout_id), big-endian, modulo
// kBucketCount. The same inputs always give the same bucket on every
// platform, so a device stays in its cohort and widening a stage from p% to
// q% only adds devices (bucket < p*100 implies bucket < q*100). Thread-safe.
std::uint32_t CohortBucket(std::string_view device_id, std::string_view rollout_id);

// True if the bucket falls inside a stage of `percent_hundredths` (0..10000,
// i.e. 1% = 100).
bool InStage(std::uint32_t bucket, std::uint32_t percent_hundredths);

}  // namespace ota::rollout

#endif  // OTA_ROLLOUT_BUCKET_H_
