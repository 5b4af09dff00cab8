// Overflow-checked arithmetic on sizes read from files and the network.
//
// A size field is attacker-controlled until verified: two sizes near 2^64
// add up to a small number, which would pass a "total below the limit"
// check. Every sum or product of such sizes goes through these.
// Thread-safety: pure functions.
#ifndef OTA_COMMON_CHECKED_MATH_H_
#define OTA_COMMON_CHECKED_MATH_H_

#include <cstdint>
#include <initializer_list>
#include <optional>

namespace ota {

// a + b, or nullopt when it does not fit in 64 bits.
[[nodiscard]] constexpr std::optional<std::uint64_t> CheckedAdd(std::uint64_t a, std::uint64_t b) {
  std::uint64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) return std::nullopt;
  return sum;
}

// a * b, or nullopt when it does not fit in 64 bits.
[[nodiscard]] constexpr std::optional<std::uint64_t> CheckedMul(std::uint64_t a, std::uint64_t b) {
  std::uint64_t product = 0;
  if (__builtin_mul_overflow(a, b, &product)) return std::nullopt;
  return product;
}

// The sum of `values`, or nullopt when any partial sum overflows.
[[nodiscard]] constexpr std::optional<std::uint64_t> CheckedSum(
    std::initializer_list<std::uint64_t> values) {
  std::uint64_t total = 0;
  for (std::uint64_t v : values) {
    std::optional<std::uint64_t> next = CheckedAdd(total, v);
    if (!next) return std::nullopt;
    total = *next;
  }
  return total;
}

}  // namespace ota

#endif  // OTA_COMMON_CHECKED_MATH_H_
