// The delta payload's DIFF transforms (docs/formats.md "Delta payload"),
// K-quant blocks included, on any bytes: a difference made from two byte
// strings must decode to the new one exactly, and decoding a difference that
// no builder made (hostile bytes) must stay inside its buffers. The
// operations around them are fuzzed by delta_apply_fuzz.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "delta_payload.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using ota::bundle::DiffTransform;
  FuzzedDataProvider in(data, size);
  const auto t = static_cast<DiffTransform>(
      in.ConsumeIntegralInRange<std::uint8_t>(1, ota::bundle::kMaxDiffTransform));
  const std::uint32_t width =
      in.ConsumeBool()
          ? in.ConsumeIntegralInRange<std::uint32_t>(1, 300)
          : ota::bundle::GroupWidthForGgmlType(in.ConsumeIntegralInRange<std::uint32_t>(0, 31));
  if (!ota::bundle::TransformFitsWidth(t, width)) return 0;
  const std::size_t n = in.remaining_bytes() / 2;
  const std::vector<std::uint8_t> old_b = in.ConsumeBytes<std::uint8_t>(n);
  std::vector<std::uint8_t> new_b = in.ConsumeBytes<std::uint8_t>(n);
  new_b.resize(old_b.size());
  std::vector<std::uint8_t> diff;
  ota::bundle::MakeDiff(t, width, old_b, new_b, diff);
  ota::fuzz::Require(diff.size() == new_b.size(), "a difference changed the size");
  ota::bundle::ApplyTransform(t, width, old_b, diff);
  ota::fuzz::Require(diff == new_b, "a difference did not decode to its new bytes");
  // The new bytes read as a hostile difference against the old ones.
  ota::bundle::ApplyTransform(t, width, old_b, new_b);
  return 0;
}
