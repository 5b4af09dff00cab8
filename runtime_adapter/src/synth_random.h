// Deterministic, platform-independent weight streams for test-model synthesis.
//
// Every value is produced with integer arithmetic and one exact scaling, so a
// given (seed, domain, tensor name) yields the same doubles on every compiler,
// CPU and libm. Not for cryptography.
#ifndef OTA_RUNTIME_ADAPTER_SRC_SYNTH_RANDOM_H_
#define OTA_RUNTIME_ADAPTER_SRC_SYNTH_RANDOM_H_

#include <cstdint>
#include <string_view>

namespace ota::runtime_adapter {

// splitmix64's output function: a bijective mix of all 64 bits.
inline std::uint64_t Mix64(std::uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

class WeightStream {
 public:
  // `domain` separates independent uses of one seed (base weights, noise).
  WeightStream(std::uint64_t seed, std::string_view domain, std::string_view tensor_name) {
    std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a over "domain/name".
    auto absorb = [&h](std::string_view s) {
      for (unsigned char c : s) {
        h = (h ^ c) * 0x100000001b3ULL;
      }
    };
    absorb(domain);
    absorb("/");
    absorb(tensor_name);
    state_ = Mix64(seed ^ Mix64(h));
  }

  // splitmix64.
  std::uint64_t Next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    return Mix64(state_);
  }

  // Approximately standard normal: the Irwin-Hall sum of twelve uniform
  // 16-bit integers, centred and divided by 2^16 (exact in a double). Mean 0,
  // variance 1 - 2^-32, support [-6, 6].
  double Normal() {
    std::int64_t sum = 0;
    for (int draw = 0; draw < 3; ++draw) {
      const std::uint64_t bits = Next();
      for (int part = 0; part < 4; ++part) {
        sum += static_cast<std::int64_t>((bits >> (16 * part)) & 0xffff);
      }
    }
    constexpr std::int64_t kMean = 12 * 65535 / 2;
    return static_cast<double>(sum - kMean) / 65536.0;
  }

 private:
  std::uint64_t state_;
};

}  // namespace ota::runtime_adapter

#endif  // OTA_RUNTIME_ADAPTER_SRC_SYNTH_RANDOM_H_
