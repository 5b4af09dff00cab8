// Quantization of GGUF models with llama.cpp's own quantizer
// (llama_model_quantize), so that every variant of a release is made by the
// same code, at the same pinned release, as the runtime that will load it.
//
// Thread-safety: QuantizeModel may run concurrently for distinct outputs;
// the type functions are pure.
#ifndef OTA_RUNTIME_ADAPTER_QUANTIZE_H_
#define OTA_RUNTIME_ADAPTER_QUANTIZE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ota/common/result.h"

namespace ota::runtime_adapter {

// Target types, named as llama.cpp's quantize tool names them (lower case).
// K-quants store rows in blocks of 256 values; llama.cpp quantizes a matrix
// whose rows are not a multiple of 256 with a fallback type of similar size.
enum class QuantType {
  kF16,
  kQ8_0,
  kQ6_K,
  kQ5_K_M,
  kQ5_K_S,
  kQ4_K_M,
  kQ4_K_S,
  kQ4_0,
  kQ3_K_M,
  kQ2_K,
};

// "f16", "q8_0", "q6_k", "q5_k_m", ... (the names above, lower case).
std::string_view QuantTypeName(QuantType type);
// Every type, from the most to the least precise.
const std::vector<QuantType>& AllQuantTypes();
// "f16, q8_0, q6_k, ...": the valid names, for error messages.
std::string QuantTypeList();
// Case-insensitive. kInvalidArgument "unknown quantization type 'x'; valid
// types: f16, q8_0, ..." for anything else.
Result<QuantType> ParseQuantType(std::string_view name);

// Stores every tensor whose name matches `pattern` (an ECMAScript regular
// expression, found anywhere in the name, e.g. "^blk\\.0\\.") as `type`
// instead of what the file type's mix picks (llama.cpp's --tensor-type).
// `type` must be one tensor type: f16, q8_0, q6_k or q4_0.
struct TensorTypeOverride {
  std::string pattern;
  QuantType type = QuantType::kQ6_K;
};

struct QuantizeOptions {
  QuantType type = QuantType::kQ4_K_M;
  // Tried in order, the first match wins; a tensor the type cannot store
  // (rows not a multiple of its block) falls back as llama.cpp decides.
  std::vector<TensorTypeOverride> tensor_types;
  int threads = 0;         // 0: one per hardware thread; else [1, 256].
  bool overwrite = false;  // Replace an existing output file.
};

struct QuantizeResult {
  std::string file_type;    // As llama.cpp names it, e.g. "Q4_K - Medium".
  std::uint64_t bytes = 0;  // Size of the written file.
};

// Quantizes the GGUF model `in` into `out` with llama.cpp.
//
// The output appears atomically: llama.cpp writes a temporary file in out's
// folder, which is synced, renamed over `out` and the folder synced; on any
// failure the temporary file is removed and `out` is untouched. The input is
// checked (GGUF header, tensor extents) before llama.cpp reads it.
// llama.cpp's log goes to the logger at debug level, never to stderr.
//
// Errors:
//   kInvalidArgument  empty paths, threads out of range, a tensor type that is
//                     a mix or a pattern that is not a regular expression,
//                     `out` names the same
//                     file as `in`, `out` exists without options.overwrite,
//                     `out` is a folder;
//   kNotFound         `in` or out's folder does not exist;
//   kIncompatible     `in` is not a GGUF model; built without llama.cpp;
//   kIntegrity        `in` is truncated or inconsistent;
//   kIo               a file cannot be read, written, synced or renamed;
//   kInternal         llama.cpp refused or failed, with its reason (e.g. an
//                     already-quantized input).
Result<QuantizeResult> QuantizeModel(const std::string& in, const std::string& out,
                                     const QuantizeOptions& options);

}  // namespace ota::runtime_adapter

#endif  // OTA_RUNTIME_ADAPTER_QUANTIZE_H_
