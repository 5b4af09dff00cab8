// GGUF pre-flight checks with ggml's GGUF reader (metadata only, no tensor
// data is read).
#include "gguf_probe.h"

#include <gguf.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>

#include "ota/common/hash.h"

namespace ota::runtime_adapter {
namespace {

struct GgufDeleter {
  void operator()(gguf_context* ctx) const { gguf_free(ctx); }
};
struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

// An unsigned integer key of any GGUF integer type; nullopt when absent,
// negative or not an integer.
std::optional<std::uint64_t> GetUnsigned(const gguf_context* ctx, const std::string& key) {
  const std::int64_t id = gguf_find_key(ctx, key.c_str());
  if (id < 0) return std::nullopt;
  switch (gguf_get_kv_type(ctx, id)) {
    case GGUF_TYPE_UINT8:
      return gguf_get_val_u8(ctx, id);
    case GGUF_TYPE_UINT16:
      return gguf_get_val_u16(ctx, id);
    case GGUF_TYPE_UINT32:
      return gguf_get_val_u32(ctx, id);
    case GGUF_TYPE_UINT64:
      return gguf_get_val_u64(ctx, id);
    case GGUF_TYPE_INT8: {
      const auto v = gguf_get_val_i8(ctx, id);
      return v < 0 ? std::nullopt : std::optional<std::uint64_t>(v);
    }
    case GGUF_TYPE_INT16: {
      const auto v = gguf_get_val_i16(ctx, id);
      return v < 0 ? std::nullopt : std::optional<std::uint64_t>(v);
    }
    case GGUF_TYPE_INT32: {
      const auto v = gguf_get_val_i32(ctx, id);
      return v < 0 ? std::nullopt : std::optional<std::uint64_t>(v);
    }
    case GGUF_TYPE_INT64: {
      const auto v = gguf_get_val_i64(ctx, id);
      return v < 0 ? std::nullopt : std::optional<std::uint64_t>(v);
    }
    default:
      return std::nullopt;
  }
}

std::optional<std::string> GetString(const gguf_context* ctx, const char* key) {
  const std::int64_t id = gguf_find_key(ctx, key);
  if (id < 0 || gguf_get_kv_type(ctx, id) != GGUF_TYPE_STRING) return std::nullopt;
  const char* value = gguf_get_val_str(ctx, id);
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

// SHA-256 of a string array (each string prefixed by its 8-byte length) or
// of a float array's bytes (want is GGUF_TYPE_STRING or GGUF_TYPE_FLOAT32);
// "none" when the key is absent, "invalid" when it
// has another type.
std::string ArrayDigest(const gguf_context* ctx, const char* key, gguf_type want) {
  const std::int64_t id = gguf_find_key(ctx, key);
  if (id < 0) return "none";
  if (gguf_get_kv_type(ctx, id) != GGUF_TYPE_ARRAY || gguf_get_arr_type(ctx, id) != want) {
    return "invalid";
  }
  Hasher hasher(HashAlgorithm::kSha256);
  const std::size_t n = gguf_get_arr_n(ctx, id);
  if (want == GGUF_TYPE_STRING) {
    for (std::size_t i = 0; i < n; ++i) {
      const std::string_view text = gguf_get_arr_str(ctx, id, i);
      std::array<std::uint8_t, 8> length{};
      for (std::size_t b = 0; b < length.size(); ++b) {
        length[b] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(text.size()) >> (8 * b));
      }
      hasher.Update(std::span<const std::uint8_t>(length));
      hasher.Update(text);
    }
  } else {
    const auto* data = static_cast<const std::uint8_t*>(gguf_get_arr_data(ctx, id));
    hasher.Update(std::span<const std::uint8_t>(data, n * sizeof(float)));
  }
  return hasher.FinishHex();
}

}  // namespace

std::uint64_t SaturatingAdd(std::uint64_t a, std::uint64_t b) {
  const std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  return a > max - b ? max : a + b;
}

std::uint64_t SaturatingMul(std::uint64_t a, std::uint64_t b) {
  const std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  if (a != 0 && b > max / a) return max;
  return a * b;
}

Result<GgufSummary> ProbeGguf(const std::string& path) {
  std::error_code ec;
  const std::filesystem::file_status status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) {
    if (status.type() == std::filesystem::file_type::not_found ||
        ec == std::errc::no_such_file_or_directory) {
      return MakeError(ErrorCode::kNotFound, "model file " + path + " does not exist");
    }
    return MakeError(ErrorCode::kIo, "cannot stat model file " + path + ": " + ec.message());
  }
  if (!std::filesystem::is_regular_file(status)) {
    return MakeError(ErrorCode::kIo, "model file " + path + " is not a regular file");
  }
  GgufSummary summary;
  summary.file_bytes = std::filesystem::file_size(path, ec);
  if (ec) return MakeError(ErrorCode::kIo, "cannot size " + path + ": " + ec.message());

  std::array<char, 4> magic{};
  {
    std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
    if (!file) {
      return MakeError(ErrorCode::kIo,
                       "cannot open " + path + ": " + std::generic_category().message(errno));
    }
    if (std::fread(magic.data(), 1, magic.size(), file.get()) != magic.size() ||
        std::memcmp(magic.data(), GGUF_MAGIC, magic.size()) != 0) {
      return MakeError(ErrorCode::kIncompatible, path + " is not a GGUF file");
    }
  }

  gguf_init_params params{};
  params.no_alloc = true;
  params.ctx = nullptr;
  std::unique_ptr<gguf_context, GgufDeleter> ctx(gguf_init_from_file(path.c_str(), params));
  if (!ctx) {
    return MakeError(ErrorCode::kIntegrity, path + ": GGUF header is malformed or truncated");
  }

  summary.tensors = gguf_get_n_tensors(ctx.get());
  if (summary.tensors <= 0) {
    return MakeError(ErrorCode::kIncompatible, path + ": GGUF file holds no tensors");
  }
  const std::uint64_t data_offset = gguf_get_data_offset(ctx.get());
  std::uint64_t data_end = data_offset;
  for (std::int64_t i = 0; i < summary.tensors; ++i) {
    const std::uint64_t end =
        SaturatingAdd(SaturatingAdd(data_offset, gguf_get_tensor_offset(ctx.get(), i)),
                      gguf_get_tensor_size(ctx.get(), i));
    if (end > data_end) data_end = end;
  }
  if (data_end > summary.file_bytes) {
    return MakeError(ErrorCode::kIntegrity, path + " is truncated: its tensors need " +
                                                std::to_string(data_end) + " bytes, the file has " +
                                                std::to_string(summary.file_bytes));
  }

  std::optional<std::string> arch = GetString(ctx.get(), "general.architecture");
  if (!arch || arch->empty()) {
    return MakeError(ErrorCode::kIncompatible,
                     path + ": GGUF file declares no general.architecture");
  }
  summary.architecture = *arch;
  summary.name = GetString(ctx.get(), "general.name").value_or("");
  const std::string prefix = summary.architecture + ".";
  auto hp = [&](const char* key) { return GetUnsigned(ctx.get(), prefix + key).value_or(0); };
  summary.layers = hp("block_count");
  summary.embedding = hp("embedding_length");
  summary.heads = hp("attention.head_count");
  summary.heads_kv = hp("attention.head_count_kv");
  summary.key_length = hp("attention.key_length");
  summary.value_length = hp("attention.value_length");
  summary.training_context = hp("context_length");
  summary.merges_digest = ArrayDigest(ctx.get(), "tokenizer.ggml.merges", GGUF_TYPE_STRING);
  summary.scores_digest = ArrayDigest(ctx.get(), "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32);
  return summary;
}

std::uint64_t EstimateKvCacheBytes(const GgufSummary& s, std::uint64_t context) {
  constexpr std::uint64_t kF16Bytes = 2;
  const std::uint64_t heads = s.heads != 0 ? s.heads : 1;
  const std::uint64_t heads_kv = s.heads_kv != 0 ? s.heads_kv : heads;
  const std::uint64_t head_size = s.embedding / heads;
  const std::uint64_t k_width =
      SaturatingMul(heads_kv, s.key_length != 0 ? s.key_length : head_size);
  const std::uint64_t v_width =
      SaturatingMul(heads_kv, s.value_length != 0 ? s.value_length : head_size);
  const std::uint64_t per_token = SaturatingMul(SaturatingAdd(k_width, v_width), kF16Bytes);
  return SaturatingMul(SaturatingMul(per_token, s.layers), context);
}

}  // namespace ota::runtime_adapter
