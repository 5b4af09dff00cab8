#include "gguf_layout.h"

#include <algorithm>
#include <cstring>
#include <optional>

namespace ota::bundle {
namespace {

constexpr std::uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as little-endian.
constexpr std::uint32_t kMaxDims = 4;
constexpr int kMaxArrayDepth = 4;
constexpr std::uint64_t kMaxAlignment = 1u << 20;

enum ValueType : std::uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};

// Fixed sizes of scalar value types; 0 for strings and arrays, nullopt for
// unknown types.
std::optional<std::uint64_t> ScalarSize(std::uint32_t type) {
  switch (type) {
    case kU8:
    case kI8:
    case kBool:
      return 1;
    case kU16:
    case kI16:
      return 2;
    case kU32:
    case kI32:
    case kF32:
      return 4;
    case kU64:
    case kI64:
    case kF64:
      return 8;
    case kString:
    case kArray:
      return 0;
    default:
      return std::nullopt;
  }
}

constexpr std::uint32_t kGgmlBf16 = 30;

// ggml tensor types whose elements are plain floats.
std::uint32_t FloatWidth(std::uint32_t ggml_type) {
  switch (ggml_type) {
    case 0:
      return 4;  // F32
    case 1:
      return 2;  // F16
    case kGgmlBf16:
      return 2;
    default:
      return 0;
  }
}

// Sequential little-endian reads through a small buffer, bounded by the file.
class Reader {
 public:
  Reader(ReadableFile& file, std::uint64_t size) : file_(file), size_(size) {}
  std::uint64_t pos() const { return pos_; }
  std::uint64_t remaining() const { return size_ - pos_; }
  bool failed() const { return failed_; }
  std::optional<Error>& io_error() { return io_error_; }

  // False when the file ends first (or on a read error, kept in io_error()).
  bool Read(void* out, std::size_t n) {
    if (failed_ || n > remaining()) return Fail();
    auto* dst = static_cast<std::uint8_t*>(out);
    while (n > 0) {
      if (buf_pos_ == buf_.size() && !Refill()) return Fail();
      const std::size_t take = std::min(n, buf_.size() - buf_pos_);
      std::memcpy(dst, buf_.data() + buf_pos_, take);
      buf_pos_ += take;
      pos_ += take;
      dst += take;
      n -= take;
    }
    return true;
  }
  bool Skip(std::uint64_t n) {
    if (failed_ || n > remaining()) return Fail();
    const std::uint64_t in_buffer = buf_.size() - buf_pos_;
    if (n <= in_buffer) {
      buf_pos_ += static_cast<std::size_t>(n);
    } else {
      buf_.clear();
      buf_pos_ = 0;
    }
    pos_ += n;
    return true;
  }
  template <typename T>
  bool Get(T& value) {
    std::uint8_t bytes[sizeof(T)];
    if (!Read(bytes, sizeof(T))) return false;
    std::uint64_t v = 0;
    for (int i = static_cast<int>(sizeof(T)) - 1; i >= 0; --i) v = (v << 8) | bytes[i];
    value = static_cast<T>(v);
    return true;
  }

 private:
  bool Fail() {
    failed_ = true;
    return false;
  }
  bool Refill() {
    buf_.resize(static_cast<std::size_t>(std::min<std::uint64_t>(kPiece, remaining())));
    buf_pos_ = 0;
    std::size_t done = 0;
    while (done < buf_.size()) {
      auto n = file_.ReadAt(pos_ + done, std::span(buf_).subspan(done));
      if (!n.ok()) {
        io_error_ = n.error();
        return false;
      }
      if (*n == 0) return false;
      done += *n;
    }
    return !buf_.empty();
  }

  static constexpr std::uint64_t kPiece = 64u << 10;
  ReadableFile& file_;
  std::uint64_t size_;
  std::uint64_t pos_ = 0;
  std::vector<std::uint8_t> buf_;
  std::size_t buf_pos_ = 0;
  bool failed_ = false;
  std::optional<Error> io_error_;
};

struct Scan {
  Reader& in;
  GgufLayout& out;
  bool Refuse(const std::string& why) {
    if (out.reason.empty()) out.reason = why;
    return false;
  }

  bool String(std::string* keep, std::uint64_t max_keep) {
    std::uint64_t len = 0;
    if (!in.Get(len)) return Refuse("truncated string length");
    if (len > in.remaining()) return Refuse("string runs past the end of the file");
    if (keep == nullptr) return in.Skip(len) || Refuse("truncated string");
    if (len > max_keep) return Refuse("string of " + std::to_string(len) + " bytes is too long");
    keep->resize(static_cast<std::size_t>(len));
    return in.Read(keep->data(), keep->size()) || Refuse("truncated string");
  }

  bool Value(std::uint32_t type, int depth, std::uint64_t* number) {
    const auto size = ScalarSize(type);
    if (!size) return Refuse("unknown metadata value type " + std::to_string(type));
    if (type == kString) return String(nullptr, 0);
    if (type == kArray) {
      if (depth >= kMaxArrayDepth) return Refuse("metadata arrays nest too deep");
      std::uint32_t item_type = 0;
      std::uint64_t count = 0;
      if (!in.Get(item_type) || !in.Get(count)) return Refuse("truncated array header");
      const auto item_size = ScalarSize(item_type);
      if (!item_size) return Refuse("unknown array item type " + std::to_string(item_type));
      // Every item takes at least 8 bytes (a length) when not a scalar.
      const std::uint64_t min_item = *item_size != 0 ? *item_size : 8;
      if (count > in.remaining() / min_item) return Refuse("array count runs past the file");
      if (*item_size != 0) return in.Skip(count * *item_size) || Refuse("truncated array");
      for (std::uint64_t i = 0; i < count; ++i) {
        if (!Value(item_type, depth + 1, nullptr)) return false;
      }
      return true;
    }
    if (number == nullptr) return in.Skip(*size) || Refuse("truncated value");
    std::uint64_t v = 0;
    std::uint8_t bytes[8] = {};
    if (!in.Read(bytes, static_cast<std::size_t>(*size))) return Refuse("truncated value");
    for (int i = static_cast<int>(*size) - 1; i >= 0; --i) v = (v << 8) | bytes[i];
    *number = v;
    return true;
  }

  bool Run(std::uint64_t file_size) {
    std::uint32_t magic = 0, version = 0;
    std::uint64_t tensors = 0, kvs = 0;
    if (!in.Get(magic) || magic != kGgufMagic) return Refuse("not a GGUF file");
    if (!in.Get(version) || (version != 2 && version != 3)) {
      return Refuse("unsupported GGUF version " + std::to_string(version));
    }
    if (!in.Get(tensors) || !in.Get(kvs)) return Refuse("truncated GGUF header");
    if (tensors > kMaxGgufTensors || kvs > kMaxGgufKeyValues) {
      return Refuse("GGUF header claims " + std::to_string(tensors) + " tensors and " +
                    std::to_string(kvs) + " metadata keys");
    }
    for (std::uint64_t i = 0; i < kvs; ++i) {
      std::string key;
      std::uint32_t type = 0;
      if (!String(&key, kMaxGgufKeyBytes) || !in.Get(type)) return Refuse("truncated metadata");
      const bool unsigned_int = type == kU8 || type == kU16 || type == kU32 || type == kU64;
      if (key == "general.alignment" && unsigned_int) {
        std::uint64_t alignment = 0;
        if (!Value(type, 0, &alignment)) return false;
        if (alignment == 0 || alignment > kMaxAlignment || (alignment & (alignment - 1)) != 0) {
          return Refuse("general.alignment " + std::to_string(alignment) + " is not a power of 2");
        }
        out.alignment = alignment;
      } else if (!Value(type, 0, nullptr)) {
        return false;
      }
    }
    struct Tensor {
      std::uint64_t offset, length;
      std::uint32_t width;
      GroupKind kind;
    };
    std::vector<Tensor> floats;
    for (std::uint64_t i = 0; i < tensors; ++i) {
      std::uint32_t dims = 0, type = 0;
      std::string name;
      if (!String(&name, kMaxGgufKeyBytes) || !in.Get(dims)) return Refuse("truncated tensor info");
      if (dims == 0 || dims > kMaxDims)
        return Refuse("tensor with " + std::to_string(dims) + " dims");
      std::uint64_t elements = 1;
      for (std::uint32_t d = 0; d < dims; ++d) {
        std::uint64_t n = 0;
        if (!in.Get(n)) return Refuse("truncated tensor dims");
        if (n != 0 && elements > file_size / n) return Refuse("tensor larger than the file");
        elements *= n;
      }
      std::uint64_t offset = 0;
      if (!in.Get(type) || !in.Get(offset)) return Refuse("truncated tensor info");
      out.tensors.push_back(GgufTensor{std::move(name), type, offset, 0});
      const std::uint32_t width = FloatWidth(type);
      if (width == 0 || elements == 0) continue;
      if (elements > file_size / width) return Refuse("tensor larger than the file");
      floats.push_back(Tensor{offset, elements * width, width,
                              type == kGgmlBf16 ? GroupKind::kBf16Split : GroupKind::kBytes});
    }
    const std::uint64_t end = in.pos();
    out.data_offset = (end + out.alignment - 1) / out.alignment * out.alignment;
    if (tensors > 0 && out.data_offset > file_size)
      return Refuse("tensor data starts past the end of the file");
    out.tensor_count = static_cast<std::size_t>(tensors);
    std::sort(out.tensors.begin(), out.tensors.end(),
              [](const GgufTensor& a, const GgufTensor& b) { return a.offset < b.offset; });
    for (std::size_t i = 0; i < out.tensors.size(); ++i) {
      GgufTensor& t = out.tensors[i];
      if (t.offset > file_size - out.data_offset) return Refuse("tensor offset past the file");
      t.offset += out.data_offset;
      const std::uint64_t next =
          i + 1 < out.tensors.size() ? out.tensors[i + 1].offset : file_size - out.data_offset;
      if (next > file_size - out.data_offset) return Refuse("tensor offset past the file");
      const std::uint64_t end = out.data_offset + next;
      if (end < t.offset) return Refuse("tensors overlap");
      t.length = end - t.offset;
    }
    std::sort(floats.begin(), floats.end(),
              [](const Tensor& a, const Tensor& b) { return a.offset < b.offset; });
    std::uint64_t covered = out.data_offset;
    for (const Tensor& t : floats) {
      if (t.offset > file_size - out.data_offset) return Refuse("tensor offset past the file");
      const std::uint64_t start = out.data_offset + t.offset;
      if (t.length > file_size - start) return Refuse("tensor data runs past the file");
      if (start < covered) return Refuse("tensors overlap");
      covered = start + t.length;
      ByteGroup* last = out.float_regions.empty() ? nullptr : &out.float_regions.back();
      if (last != nullptr && last->width == t.width && last->kind == t.kind &&
          last->offset + last->length == start) {
        last->length += t.length;
      } else {
        out.float_regions.push_back(ByteGroup{start, t.length, t.width, t.kind});
      }
    }
    return true;
  }
};

}  // namespace

Result<GgufLayout> ScanGguf(ReadableFile& file, std::uint64_t file_size) {
  GgufLayout layout;
  layout.file_size = file_size;
  Reader reader(file, file_size);
  Scan scan{reader, layout};
  layout.usable = scan.Run(file_size);
  if (reader.io_error()) return *reader.io_error();
  if (!layout.usable) {
    layout.float_regions.clear();
    layout.tensors.clear();
  }
  return layout;
}

}  // namespace ota::bundle
