// GGUF layout scanning (what the bundle builder and delta use to find tensor
// regions) on arbitrary bytes: only read errors are errors, and every region
// it reports lies inside the file.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "fuzz_support.h"
#include "gguf_layout.h"

namespace {

class MemoryFile : public ota::ReadableFile {
 public:
  MemoryFile(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  ota::Result<std::size_t> ReadAt(std::uint64_t offset, std::span<std::uint8_t> out) override {
    if (offset >= size_) return std::size_t{0};
    const std::size_t n = std::min<std::uint64_t>(out.size(), size_ - offset);
    std::memcpy(out.data(), data_ + offset, n);
    return n;
  }
  ota::Result<std::uint64_t> Size() override { return size_; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  MemoryFile file(data, size);
  auto layout = ota::bundle::ScanGguf(file, size);
  ota::fuzz::Require(layout.ok(), "ScanGguf failed on a readable file");
  if (!layout->usable) return 0;
  for (const auto& t : layout->tensors) {
    ota::fuzz::Require(t.offset <= size && t.length <= size - t.offset, "tensor outside the file");
  }
  for (const auto& r : layout->float_regions) {
    ota::fuzz::Require(r.offset <= size && r.length <= size - r.offset, "region outside the file");
  }
  return 0;
}
