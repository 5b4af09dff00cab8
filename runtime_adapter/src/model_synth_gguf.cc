// Test-model synthesis with ggml's GGUF API.
//
// The GGUF header, key-values and tensor infos come from gguf_get_meta_data;
// the tensor data is then streamed row chunk by row chunk, so memory stays
// bounded whatever the model size. Weight generation is in synth_random.h.
#include <ggml.h>
#include <gguf.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ota/runtime_adapter/model_synth.h"
#include "synth_random.h"
#include "synth_tokenizer.h"
#include "synth_vocab.h"

namespace ota::runtime_adapter {
namespace {

constexpr std::int64_t kChunkElements = 1 << 16;
constexpr std::uint32_t kQuantizationVersion = 2;  // GGML_QNT_VERSION.
constexpr float kRmsEpsilon = 1e-5f;
constexpr float kRopeFreqBase = 10000.0f;

struct TensorPlan {
  std::string name;
  std::int64_t ne0 = 0;  // Row length (the input dimension of a matrix).
  std::int64_t ne1 = 1;  // Rows; 1 and n_dims 1 for a vector.
  int n_dims = 2;
  ggml_type type = GGML_TYPE_F32;
  double scale = 1.0;  // Standard deviation of the base weights; norms: 1.
  bool is_norm = false;
};

struct GgmlDeleter {
  void operator()(ggml_context* ctx) const { ggml_free(ctx); }
};

ggml_type MatrixType(TensorType type, std::int64_t row_length) {
  switch (type) {
    case TensorType::kF32:
      return GGML_TYPE_F32;
    case TensorType::kF16:
      return GGML_TYPE_F16;
    case TensorType::kBF16:
      return GGML_TYPE_BF16;
    case TensorType::kQ8_0:
      return row_length % ggml_blck_size(GGML_TYPE_Q8_0) == 0 ? GGML_TYPE_Q8_0 : GGML_TYPE_F16;
  }
  return GGML_TYPE_F32;
}

std::uint32_t FileType(TensorType type) {
  switch (type) {
    case TensorType::kF32:
      return 0;  // LLAMA_FTYPE_ALL_F32
    case TensorType::kF16:
      return 1;  // LLAMA_FTYPE_MOSTLY_F16
    case TensorType::kBF16:
      return 32;  // LLAMA_FTYPE_MOSTLY_BF16
    case TensorType::kQ8_0:
      return 7;  // LLAMA_FTYPE_MOSTLY_Q8_0
  }
  return 0;
}

// Tensor order and shapes follow llama.cpp's "llama" architecture; `vocab`
// is the number of tokens (rows of the embedding and output matrices).
std::vector<TensorPlan> PlanTensors(const SynthOptions& options, int ff, std::int64_t vocab) {
  const std::int64_t width = options.width;
  std::vector<TensorPlan> plan;
  auto matrix = [&](std::string name, std::int64_t in, std::int64_t out, double scale) {
    plan.push_back({std::move(name), in, out, 2, MatrixType(options.type, in), scale, false});
  };
  auto norm = [&](std::string name) {
    plan.push_back({std::move(name), width, 1, 1, GGML_TYPE_F32, 1.0, true});
  };
  const double width_scale = 1.0 / std::sqrt(static_cast<double>(width));
  // Embeddings feed RMS norms, so their scale only sets the balance against
  // the blocks' residual updates.
  matrix("token_embd.weight", width, vocab, 1.0);
  for (int layer = 0; layer < options.layers; ++layer) {
    const std::string prefix = "blk." + std::to_string(layer) + ".";
    norm(prefix + "attn_norm.weight");
    matrix(prefix + "attn_q.weight", width, width, width_scale);
    matrix(prefix + "attn_k.weight", width, width, width_scale);
    matrix(prefix + "attn_v.weight", width, width, width_scale);
    matrix(prefix + "attn_output.weight", width, width, width_scale);
    norm(prefix + "ffn_norm.weight");
    matrix(prefix + "ffn_gate.weight", width, ff, width_scale);
    matrix(prefix + "ffn_up.weight", width, ff, width_scale);
    matrix(prefix + "ffn_down.weight", ff, width, 1.0 / std::sqrt(static_cast<double>(ff)));
  }
  norm("output_norm.weight");
  // Logits with a standard deviation of about 2: peaked enough that top-1
  // agreement and KL-divergence are meaningful, far from one-hot.
  matrix("output.weight", width, vocab, 2.0 * width_scale);
  return plan;
}

std::uint32_t U32(std::int64_t v) { return static_cast<std::uint32_t>(v); }

void SetModelMetadata(gguf_context* ctx, const SynthOptions& options, int ff, std::int64_t vocab) {
  gguf_set_val_str(ctx, "general.architecture", "llama");
  gguf_set_val_str(ctx, "general.name", options.name.c_str());
  gguf_set_val_u32(ctx, "general.file_type", FileType(options.type));
  gguf_set_val_u32(ctx, "general.quantization_version", kQuantizationVersion);
  gguf_set_val_u32(ctx, "llama.vocab_size", U32(vocab));
  gguf_set_val_u32(ctx, "llama.context_length", U32(options.context));
  gguf_set_val_u32(ctx, "llama.embedding_length", U32(options.width));
  gguf_set_val_u32(ctx, "llama.block_count", U32(options.layers));
  gguf_set_val_u32(ctx, "llama.feed_forward_length", U32(ff));
  gguf_set_val_u32(ctx, "llama.attention.head_count", U32(options.heads));
  gguf_set_val_u32(ctx, "llama.attention.head_count_kv", U32(options.heads));
  gguf_set_val_u32(ctx, "llama.rope.dimension_count", U32(options.width / options.heads));
  gguf_set_val_f32(ctx, "llama.rope.freq_base", kRopeFreqBase);
  gguf_set_val_f32(ctx, "llama.attention.layer_norm_rms_epsilon", kRmsEpsilon);
}

void SetBuiltInVocab(gguf_context* ctx, const SynthOptions& options) {
  const SynthVocab vocab = BuildSynthVocab(options.vocab);
  std::vector<const char*> tokens;
  tokens.reserve(vocab.tokens.size());
  for (const std::string& token : vocab.tokens) tokens.push_back(token.c_str());
  gguf_set_val_str(ctx, "tokenizer.ggml.model", "llama");
  gguf_set_arr_str(ctx, "tokenizer.ggml.tokens", tokens.data(), tokens.size());
  gguf_set_arr_data(ctx, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, vocab.scores.data(),
                    vocab.scores.size());
  gguf_set_arr_data(ctx, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, vocab.types.data(),
                    vocab.types.size());
  gguf_set_val_u32(ctx, "tokenizer.ggml.bos_token_id", U32(kSynthBosToken));
  gguf_set_val_u32(ctx, "tokenizer.ggml.eos_token_id", U32(kSynthEosToken));
  gguf_set_val_u32(ctx, "tokenizer.ggml.unknown_token_id", U32(kSynthUnkToken));
  gguf_set_val_bool(ctx, "tokenizer.ggml.add_bos_token", true);
  gguf_set_val_bool(ctx, "tokenizer.ggml.add_eos_token", false);
  // No leading "▁": text maps to tokens byte for byte and back.
  gguf_set_val_bool(ctx, "tokenizer.ggml.add_space_prefix", false);
}

std::span<const std::uint8_t> Bytes(const void* data, std::size_t size) {
  return {static_cast<const std::uint8_t*>(data), size};
}

// The tensor whose random streams give `name` its values: itself, or its
// partner under SynthBreak::kSwapTensors (same shape and scale).
const std::string& StreamName(const std::string& name, const SynthOptions& options) {
  static const std::string kGate = "blk.0.ffn_gate.weight";
  static const std::string kUp = "blk.0.ffn_up.weight";
  if (options.breakage != SynthBreak::kSwapTensors) return name;
  if (name == kGate) return kUp;
  if (name == kUp) return kGate;
  return name;
}

bool IsZeroed(const std::string& name, const SynthOptions& options) {
  if (options.breakage != SynthBreak::kZeroLayer) return false;
  const std::string prefix = "blk." + std::to_string(options.break_layer) + ".";
  return name.compare(0, prefix.size(), prefix) == 0;
}

// Generates, converts and appends one tensor's data (without padding);
// returns the number of bytes appended.
Result<std::size_t> WriteTensorData(WritableFile& out, const TensorPlan& tensor,
                                    const SynthOptions& options) {
  const std::string& stream_name = StreamName(tensor.name, options);
  const bool zeroed = IsZeroed(tensor.name, options);
  WeightStream base(options.seed, "base", stream_name);
  WeightStream noise(options.noise_seed, "noise", stream_name);
  const std::int64_t rows_per_chunk = std::max<std::int64_t>(1, kChunkElements / tensor.ne0);
  std::vector<float> values;
  std::vector<std::uint8_t> converted;
  std::size_t bytes = 0;
  for (std::int64_t row = 0; row < tensor.ne1; row += rows_per_chunk) {
    const std::int64_t rows = std::min(rows_per_chunk, tensor.ne1 - row);
    const std::int64_t count = rows * tensor.ne0;
    values.resize(static_cast<std::size_t>(count));
    for (float& value : values) {
      double w = tensor.is_norm ? 1.0 : tensor.scale * base.Normal();
      if (options.noise > 0.0) w += options.noise * tensor.scale * noise.Normal();
      value = zeroed ? 0.0f : static_cast<float>(w);
    }
    switch (tensor.type) {
      case GGML_TYPE_F32:
        OTA_TRY(out.Append(Bytes(values.data(), values.size() * sizeof(float))));
        bytes += values.size() * sizeof(float);
        break;
      case GGML_TYPE_F16:
        converted.resize(values.size() * sizeof(ggml_fp16_t));
        ggml_fp32_to_fp16_row(values.data(), reinterpret_cast<ggml_fp16_t*>(converted.data()),
                              count);
        OTA_TRY(out.Append(converted));
        bytes += converted.size();
        break;
      default: {  // Quantized types and BF16 (ggml rounds to nearest even).
        converted.resize(ggml_row_size(tensor.type, tensor.ne0) * rows);
        const std::size_t written =
            ggml_quantize_chunk(tensor.type, values.data(), converted.data(), 0, rows, tensor.ne0,
                                /*imatrix=*/nullptr);
        if (written != converted.size()) {
          return MakeError(ErrorCode::kInternal, "quantizing " + tensor.name + " wrote " +
                                                     std::to_string(written) + " bytes, expected " +
                                                     std::to_string(converted.size()));
        }
        OTA_TRY(out.Append(converted));
        bytes += converted.size();
      }
    }
  }
  return bytes;
}

// Writes the whole file to `path` (not atomically; the caller renames it).
Status WriteModelFile(FileSystem& fs, const SynthOptions& options, const std::string& path) {
  const int ff = options.ff != 0 ? options.ff : DefaultFeedForward(options.width);
  TokenizerSource tokenizer;
  if (!options.vocab_from.empty()) {
    OTA_ASSIGN_OR_RETURN(tokenizer, LoadTokenizerSource(options.vocab_from));
  }
  const std::int64_t vocab =
      tokenizer.gguf ? tokenizer.tokens : static_cast<std::int64_t>(SynthVocabSize(options.vocab));
  const std::vector<TensorPlan> plan = PlanTensors(options, ff, vocab);

  std::unique_ptr<gguf_context, GgufContextFree> gguf(gguf_init_empty());
  ggml_init_params params{};
  params.mem_size = ggml_tensor_overhead() * (plan.size() + 1);
  params.mem_buffer = nullptr;
  params.no_alloc = true;  // Tensor descriptions only; data is streamed.
  std::unique_ptr<ggml_context, GgmlDeleter> ggml(ggml_init(params));
  if (!gguf || !ggml) return MakeError(ErrorCode::kInternal, "ggml/gguf initialisation failed");

  SetModelMetadata(gguf.get(), options, ff, vocab);
  if (tokenizer.gguf) {
    CopyTokenizer(tokenizer, gguf.get());
    tokenizer.gguf.reset();  // Its key-values are copied; free them before the weights.
  } else {
    SetBuiltInVocab(gguf.get(), options);
  }
  if (!options.chat_template.empty()) {
    gguf_set_val_str(gguf.get(), "tokenizer.chat_template", options.chat_template.c_str());
  }
  for (const TensorPlan& tensor : plan) {
    const std::int64_t ne[2] = {tensor.ne0, tensor.ne1};
    ggml_tensor* t = ggml_new_tensor(ggml.get(), tensor.type, tensor.n_dims, ne);
    ggml_set_name(t, tensor.name.c_str());
    gguf_add_tensor(gguf.get(), t);
  }

  std::vector<std::uint8_t> meta(gguf_get_meta_size(gguf.get()));
  gguf_get_meta_data(gguf.get(), meta.data());
  const std::size_t alignment = gguf_get_alignment(gguf.get());

  OTA_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> out, fs.OpenWritable(path, false));
  OTA_TRY(out->Append(meta));
  const std::vector<std::uint8_t> zeros(alignment, 0);
  std::size_t offset = 0;  // Relative to the start of the data section.
  for (std::size_t i = 0; i < plan.size(); ++i) {
    const std::int64_t id = static_cast<std::int64_t>(i);
    if (gguf_get_tensor_offset(gguf.get(), id) != offset) {
      return MakeError(ErrorCode::kInternal, "tensor offset mismatch for " + plan[i].name);
    }
    OTA_ASSIGN_OR_RETURN(const std::size_t written, WriteTensorData(*out, plan[i], options));
    const std::size_t size = gguf_get_tensor_size(gguf.get(), id);
    if (written != size) {
      return MakeError(ErrorCode::kInternal, "wrote " + std::to_string(written) + " bytes for " +
                                                 plan[i].name + ", expected " +
                                                 std::to_string(size));
    }
    const std::size_t padded = GGML_PAD(size, alignment);
    OTA_TRY(out->Append(std::span<const std::uint8_t>(zeros.data(), padded - size)));
    offset += padded;
  }
  OTA_TRY(out->Sync());
  return out->Close();
}

}  // namespace

bool ModelSynthesisAvailable() { return true; }

Status SynthesizeModel(FileSystem& fs, const SynthOptions& options, const std::string& out_path) {
  OTA_TRY(ValidateSynthOptions(options));
  if (out_path.empty()) return MakeError(ErrorCode::kInvalidArgument, "empty output path");
  const std::string temp = out_path + ".tmp." + std::to_string(::getpid());
  Status written = WriteModelFile(fs, options, temp);
  if (written.ok()) written = fs.Rename(temp, out_path);
  if (!written.ok()) {
    (void)fs.Remove(temp);  // Best effort; the write error is what matters.
    return written;
  }
  return fs.SyncDir(DirName(out_path));
}

}  // namespace ota::runtime_adapter
