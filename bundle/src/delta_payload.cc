#include "delta_payload.h"

namespace ota::bundle {

void GroupByWidth(std::span<const std::uint8_t> data, std::uint32_t width,
                  std::vector<std::uint8_t>& out) {
  out.resize(data.size());
  const std::size_t n = width == 0 ? 0 : data.size() / width;
  std::size_t k = 0;
  for (std::uint32_t j = 0; j < width && n > 0; ++j) {
    for (std::size_t i = 0; i < n; ++i) out[k++] = data[i * width + j];
  }
  for (std::size_t i = n * width; i < data.size(); ++i) out[k++] = data[i];
}

void UngroupByWidth(std::span<const std::uint8_t> grouped, std::uint32_t width,
                    std::vector<std::uint8_t>& out) {
  out.resize(grouped.size());
  const std::size_t n = width == 0 ? 0 : grouped.size() / width;
  std::size_t k = 0;
  for (std::uint32_t j = 0; j < width && n > 0; ++j) {
    for (std::size_t i = 0; i < n; ++i) out[i * width + j] = grouped[k++];
  }
  for (std::size_t i = n * width; i < grouped.size(); ++i) out[i] = grouped[k++];
}

void ApplyTransform(DiffTransform t, std::span<const std::uint8_t> old_bytes,
                    std::span<std::uint8_t> diff) {
  if (t == DiffTransform::kXor) {
    for (std::size_t i = 0; i < diff.size(); ++i) diff[i] ^= old_bytes[i];
  } else {
    for (std::size_t i = 0; i < diff.size(); ++i) {
      diff[i] = static_cast<std::uint8_t>(diff[i] + old_bytes[i]);
    }
  }
}

void MakeDiff(DiffTransform t, std::span<const std::uint8_t> old_bytes,
              std::span<const std::uint8_t> new_bytes, std::vector<std::uint8_t>& diff) {
  diff.resize(new_bytes.size());
  if (t == DiffTransform::kXor) {
    for (std::size_t i = 0; i < diff.size(); ++i) diff[i] = new_bytes[i] ^ old_bytes[i];
  } else {
    for (std::size_t i = 0; i < diff.size(); ++i) {
      diff[i] = static_cast<std::uint8_t>(new_bytes[i] - old_bytes[i]);
    }
  }
}

std::uint32_t GroupWidthForGgmlType(std::uint32_t type) {
  switch (type) {
    case 0:  // F32
      return 4;
    case 1:   // F16
    case 30:  // BF16
      return 2;
    case 2:  // Q4_0: f16 scale + 16 bytes of nibbles
      return 18;
    case 3:  // Q4_1
      return 20;
    case 6:  // Q5_0
      return 22;
    case 7:  // Q5_1
      return 24;
    case 8:  // Q8_0: f16 scale + 32 int8
      return 34;
    default:
      return 1;
  }
}

DiffTransform TransformForGgmlType(std::uint32_t type) {
  // Requantized int8 weights move by small steps: a difference keeps them
  // small numbers, where XOR would scatter sign flips over all bits.
  return type == 8 ? DiffTransform::kSub : DiffTransform::kXor;
}

}  // namespace ota::bundle
