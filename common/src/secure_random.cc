// The secure random source (libsodium's randombytes), apart from the rest of
// the real environment so that a small program can use it without linking
// the HTTP client (ota-agentd). Library ota_common_crypto.
#include <sodium.h>

#include <cstdint>
#include <memory>
#include <span>

#include "ota/common/env.h"
#include "ota/common/hash.h"

namespace ota {
namespace {

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

std::unique_ptr<Random> MakeSecureRandom() { return std::make_unique<SecureRandom>(); }

}  // namespace ota
