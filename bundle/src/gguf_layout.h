// Finds the floating-point tensor data in a GGUF model file (little-endian,
// versions 2 and 3), so the packer can byte-group it.
//
// The file is untrusted: every count, length and offset is checked against
// the file's size and fixed bounds before it is used, allocation stays
// proportional to the number of tensors (itself bounded), and the file is
// read in small pieces, never whole. Anything unexpected means "not a GGUF
// this scanner understands": the caller then compresses the file plainly.
//
// Thread-safety: pure apart from reading `file`.
#ifndef OTA_BUNDLE_GGUF_LAYOUT_H_
#define OTA_BUNDLE_GGUF_LAYOUT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "container_format.h"
#include "ota/common/filesystem.h"
#include "ota/common/result.h"

namespace ota::bundle {

inline constexpr std::uint64_t kMaxGgufTensors = 1u << 20;
inline constexpr std::uint64_t kMaxGgufKeyValues = 1u << 20;
inline constexpr std::uint64_t kMaxGgufKeyBytes = 64u << 10;

// One tensor's data: `length` runs to the next tensor's start (or the end of
// the file), so it includes alignment padding.
struct GgufTensor {
  std::string name;
  std::uint32_t type = 0;    // ggml type (0 F32, 1 F16, 8 Q8_0, 2 Q4_0, 30 BF16...).
  std::uint64_t offset = 0;  // Absolute offset in the file.
  std::uint64_t length = 0;
};

struct GgufLayout {
  bool usable = false;  // False: not GGUF, or a header this scanner refuses.
  std::string reason;   // Why not, for logs and tests.
  std::uint64_t alignment = 32;
  std::uint64_t data_offset = 0;  // Start of the tensor data section.
  std::size_t tensor_count = 0;
  std::uint64_t file_size = 0;
  // File regions of F32 (width 4), F16 and BF16 (width 2) tensors, sorted,
  // disjoint, adjacent tensors of the same width and kind merged. BF16
  // regions are of kind kBf16Split, the others kBytes.
  std::vector<ByteGroup> float_regions;
  // Every tensor, sorted by offset (disjoint, each inside the file).
  std::vector<GgufTensor> tensors;
};

// Scans `file` (`file_size` bytes). Only read errors are errors (the
// FileSystem's codes); a malformed GGUF gives usable == false.
Result<GgufLayout> ScanGguf(ReadableFile& file, std::uint64_t file_size);

}  // namespace ota::bundle

#endif  // OTA_BUNDLE_GGUF_LAYOUT_H_
