// A cheap, defensive look at a GGUF file before a runtime loads it: magic,
// header, tensor extents and the hyper-parameters that size the KV cache.
// Hostile files (garbage, truncated, inconsistent) end here as precise
// errors instead of reaching the runtime's loader.
#ifndef OTA_RUNTIME_ADAPTER_SRC_GGUF_PROBE_H_
#define OTA_RUNTIME_ADAPTER_SRC_GGUF_PROBE_H_

#include <cstdint>
#include <string>

#include "ota/common/result.h"

namespace ota::runtime_adapter {

struct GgufSummary {
  std::uint64_t file_bytes = 0;
  std::string architecture;  // general.architecture
  std::string name;          // general.name, empty if absent
  std::int64_t tensors = 0;
  // "<arch>.*" hyper-parameters; 0 when the file does not declare them.
  std::uint64_t layers = 0;
  std::uint64_t embedding = 0;
  std::uint64_t heads = 0;
  std::uint64_t heads_kv = 0;
  std::uint64_t key_length = 0;
  std::uint64_t value_length = 0;
  std::uint64_t training_context = 0;
  // Lower-case hex SHA-256 of the tokenizer arrays that the runtime's
  // vocabulary API does not show (tokenizer.ggml.merges, each string length-
  // prefixed; tokenizer.ggml.scores, its little-endian floats), or "none".
  std::string merges_digest = "none";
  std::string scores_digest = "none";
};

// Errors: kNotFound (no such file), kIo (unreadable, not a regular file),
// kIncompatible ("not a GGUF file", no architecture), kIntegrity (header
// malformed, tensor data beyond the end of the file).
Result<GgufSummary> ProbeGguf(const std::string& path);

// Bytes of the K and V caches for `context` tokens with F16 entries, from the
// summary's hyper-parameters (saturating; never overflows).
std::uint64_t EstimateKvCacheBytes(const GgufSummary& summary, std::uint64_t context);

// Saturating arithmetic for size estimates.
std::uint64_t SaturatingAdd(std::uint64_t a, std::uint64_t b);
std::uint64_t SaturatingMul(std::uint64_t a, std::uint64_t b);

}  // namespace ota::runtime_adapter

#endif  // OTA_RUNTIME_ADAPTER_SRC_GGUF_PROBE_H_
