// The system clock and the secure random source, apart from the rest of the
// real environment so that a small program can use them without linking the
// HTTP client (ota-agentd).
#include <sodium.h>

#include <thread>

#include "ota/common/env.h"
#include "ota/common/hash.h"

namespace ota {
namespace {

class SystemClock : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::now();
  }
  std::chrono::steady_clock::time_point Monotonic() const override {
    return std::chrono::steady_clock::now();
  }
  void SleepFor(std::chrono::milliseconds d) override { std::this_thread::sleep_for(d); }
};

class SecureRandom : public Random {
 public:
  SecureRandom() { InitCrypto(); }
  void Fill(std::span<std::uint8_t> out) override { randombytes_buf(out.data(), out.size()); }
  std::uint64_t Uniform(std::uint64_t bound) override {
    if (bound <= 1) return 0;
    // Rejection sampling keeps the result unbiased for any bound.
    const std::uint64_t limit = UINT64_MAX - (UINT64_MAX % bound);
    while (true) {
      std::uint64_t v = 0;
      randombytes_buf(&v, sizeof(v));
      if (v < limit) return v % bound;
    }
  }
};

}  // namespace

std::unique_ptr<Clock> MakeSystemClock() { return std::make_unique<SystemClock>(); }
std::unique_ptr<Random> MakeSecureRandom() { return std::make_unique<SecureRandom>(); }

}  // namespace ota
