// QuantizeModel through llama.cpp's llama_model_quantize.
#include <llama.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <regex>
#include <system_error>
#include <vector>

#include "gguf_probe.h"
#include "llama_log.h"
#include "ota/common/filesystem.h"
#include "ota/runtime_adapter/quantize.h"

namespace ota::runtime_adapter {
namespace {

constexpr int kMaxQuantizeThreads = 256;

llama_ftype FtypeOf(QuantType type) {
  switch (type) {
    case QuantType::kF16:
      return LLAMA_FTYPE_MOSTLY_F16;
    case QuantType::kQ8_0:
      return LLAMA_FTYPE_MOSTLY_Q8_0;
    case QuantType::kQ6_K:
      return LLAMA_FTYPE_MOSTLY_Q6_K;
    case QuantType::kQ5_K_M:
      return LLAMA_FTYPE_MOSTLY_Q5_K_M;
    case QuantType::kQ5_K_S:
      return LLAMA_FTYPE_MOSTLY_Q5_K_S;
    case QuantType::kQ4_K_M:
      return LLAMA_FTYPE_MOSTLY_Q4_K_M;
    case QuantType::kQ4_K_S:
      return LLAMA_FTYPE_MOSTLY_Q4_K_S;
    case QuantType::kQ4_0:
      return LLAMA_FTYPE_MOSTLY_Q4_0;
    case QuantType::kQ3_K_M:
      return LLAMA_FTYPE_MOSTLY_Q3_K_M;
    case QuantType::kQ2_K:
      return LLAMA_FTYPE_MOSTLY_Q2_K;
  }
  return LLAMA_FTYPE_MOSTLY_Q4_K_M;
}

// The ggml type of a single-type QuantType, for per-tensor overrides.
Result<ggml_type> TensorTypeOf(QuantType type) {
  switch (type) {
    case QuantType::kF16:
      return GGML_TYPE_F16;
    case QuantType::kQ8_0:
      return GGML_TYPE_Q8_0;
    case QuantType::kQ6_K:
      return GGML_TYPE_Q6_K;
    case QuantType::kQ4_0:
      return GGML_TYPE_Q4_0;
    default:
      return MakeError(ErrorCode::kInvalidArgument,
                       "per-tensor type " + std::string(QuantTypeName(type)) +
                           " is a mix of types; use f16, q8_0, q6_k or q4_0");
  }
}

// The overrides as llama.cpp takes them: an array ended by a null pattern.
// The patterns' storage stays in `options`.
Result<std::vector<llama_model_tensor_override>> Overrides(const QuantizeOptions& options) {
  std::vector<llama_model_tensor_override> out;
  for (const TensorTypeOverride& o : options.tensor_types) {
    OTA_ASSIGN_OR_RETURN(ggml_type type, TensorTypeOf(o.type));
    try {
      std::regex check(o.pattern);
    } catch (const std::regex_error& e) {
      return MakeError(
          ErrorCode::kInvalidArgument,
          "tensor pattern '" + o.pattern + "' is not a regular expression: " + e.what());
    }
    out.push_back(llama_model_tensor_override{o.pattern.c_str(), type});
  }
  if (!out.empty()) out.push_back(llama_model_tensor_override{nullptr, GGML_TYPE_COUNT});
  return out;
}

// Refuses an output that is the input, a folder, or (without overwrite) an
// existing file; requires its folder to exist.
Status CheckOutput(const std::string& in, const std::string& out, bool overwrite) {
  std::error_code ec;
  const std::filesystem::file_status status = std::filesystem::status(out, ec);
  if (std::filesystem::exists(status)) {
    if (std::filesystem::equivalent(in, out, ec) && !ec) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "the output " + out + " is the input file; write to another file");
    }
    if (std::filesystem::is_directory(status)) {
      return MakeError(ErrorCode::kInvalidArgument, out + " is a folder, not a file");
    }
    if (!overwrite) return MakeError(ErrorCode::kInvalidArgument, out + " already exists");
    return Ok();
  }
  const std::string dir = DirName(out);
  if (!std::filesystem::is_directory(dir.empty() ? "." : dir, ec)) {
    return MakeError(ErrorCode::kNotFound, "the output folder " + dir + " does not exist");
  }
  return Ok();
}

// A name beside `out` that no other call of this process uses.
std::string TempPathFor(const std::string& out) {
  static std::atomic<unsigned> counter{0};
  return out + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1));
}

// Makes the temporary file durable, then moves it over `out` durably.
Status SyncAndRename(FileSystem& fs, const std::string& temp, const std::string& out) {
  OTA_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, fs.OpenWritable(temp, /*append=*/true));
  OTA_TRY(file->Sync());
  OTA_TRY(file->Close());
  OTA_TRY(fs.Rename(temp, out));
  const std::string dir = DirName(out);
  return fs.SyncDir(dir.empty() ? "." : dir);
}

}  // namespace

Result<QuantizeResult> QuantizeModel(const std::string& in, const std::string& out,
                                     const QuantizeOptions& options) {
  if (in.empty() || out.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "empty model path");
  }
  if (options.threads < 0 || options.threads > kMaxQuantizeThreads) {
    return MakeError(ErrorCode::kInvalidArgument, "threads must be 0 (all) or from 1 to 256, got " +
                                                      std::to_string(options.threads));
  }
  // A hostile or damaged input ends here with a precise error, before
  // llama.cpp's loader sees it.
  OTA_ASSIGN_OR_RETURN(const std::vector<llama_model_tensor_override> overrides,
                       Overrides(options));
  OTA_TRY(ProbeGguf(in));
  OTA_TRY(CheckOutput(in, out, options.overwrite));

  EnsureLlamaBackend();
  ClearLlamaErrors();
  llama_model_quantize_params params = llama_model_quantize_default_params();
  params.nthread = options.threads;
  params.ftype = FtypeOf(options.type);
  params.allow_requantize = false;  // Quantize from F32/F16/BF16 masters only.
  if (!overrides.empty()) params.tt_overrides = overrides.data();
  const std::string temp = TempPathFor(out);
  std::unique_ptr<FileSystem> fs = MakePosixFileSystem();
  if (llama_model_quantize(in.c_str(), temp.c_str(), &params) != 0) {
    const std::string reason = LastLlamaError();
    (void)fs->Remove(temp);  // Best effort; llama.cpp's failure is what matters.
    return MakeError(ErrorCode::kInternal, "llama.cpp could not quantize " + in + " to " +
                                               std::string(QuantTypeName(options.type)) + reason);
  }
  if (Status moved = SyncAndRename(*fs, temp, out); !moved.ok()) {
    (void)fs->Remove(temp);
    return moved.error();
  }
  QuantizeResult result;
  const char* name = llama_ftype_name(params.ftype);
  result.file_type = name == nullptr ? std::string(QuantTypeName(options.type)) : name;
  OTA_ASSIGN_OR_RETURN(result.bytes, fs->FileSize(out));
  return result;
}

}  // namespace ota::runtime_adapter
