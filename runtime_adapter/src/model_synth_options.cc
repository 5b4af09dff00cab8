// Option checks and names for test-model synthesis. Built with or without
// llama.cpp, so the CLI can validate flags either way.
#include <cmath>
#include <string>

#include "ota/runtime_adapter/model_synth.h"

namespace ota::runtime_adapter {
namespace {

constexpr int kMaxLayers = 256;
constexpr int kMinWidth = 8;
constexpr int kMaxWidth = 8192;
constexpr int kMaxFeedForward = 65536;
constexpr int kMinContext = 8;
constexpr int kMaxContext = 1 << 20;
constexpr double kMaxNoise = 10.0;
constexpr std::size_t kMaxNameBytes = 256;

Status Invalid(const std::string& message) {
  return MakeError(ErrorCode::kInvalidArgument, message);
}

std::string RangeMessage(const char* option, long long value, long long low, long long high) {
  return std::string(option) + " must be in [" + std::to_string(low) + ", " + std::to_string(high) +
         "], got " + std::to_string(value);
}

}  // namespace

int DefaultFeedForward(int width) {
  const long long ff = (8LL * width + 2) / 3;
  return static_cast<int>((ff + 31) / 32 * 32);
}

Status ValidateSynthOptions(const SynthOptions& options) {
  if (options.layers < 1 || options.layers > kMaxLayers) {
    return Invalid(RangeMessage("layers", options.layers, 1, kMaxLayers));
  }
  if (options.width < kMinWidth || options.width > kMaxWidth) {
    return Invalid(RangeMessage("width", options.width, kMinWidth, kMaxWidth));
  }
  if (options.heads < 1 || options.heads > options.width) {
    return Invalid(RangeMessage("heads", options.heads, 1, options.width));
  }
  if (options.width % options.heads != 0) {
    return Invalid("width (" + std::to_string(options.width) + ") must be a multiple of heads (" +
                   std::to_string(options.heads) + ")");
  }
  if ((options.width / options.heads) % 2 != 0) {
    return Invalid("width / heads (the head size, " +
                   std::to_string(options.width / options.heads) +
                   ") must be even for rotary embeddings");
  }
  if (options.ff != 0 && (options.ff < 1 || options.ff > kMaxFeedForward)) {
    return Invalid(RangeMessage("ff", options.ff, 1, kMaxFeedForward) + " (or 0 for the default)");
  }
  if (options.context < kMinContext || options.context > kMaxContext) {
    return Invalid(RangeMessage("context", options.context, kMinContext, kMaxContext));
  }
  if (options.type == TensorType::kQ8_0 && options.width % 32 != 0) {
    return Invalid("width must be a multiple of 32 for q8_0, got " + std::to_string(options.width));
  }
  if (!std::isfinite(options.noise) || options.noise < 0.0 || options.noise > kMaxNoise) {
    return Invalid("noise must be in [0, 10], got " + std::to_string(options.noise));
  }
  if (options.name.empty() || options.name.size() > kMaxNameBytes) {
    return Invalid("name must be 1 to 256 bytes long");
  }
  if (options.name.find('\0') != std::string::npos) {
    return Invalid("name must not contain NUL bytes");
  }
  if (options.breakage == SynthBreak::kZeroLayer &&
      (options.break_layer < 0 || options.break_layer >= options.layers)) {
    return Invalid("zero-layer block must be in [0, " + std::to_string(options.layers - 1) +
                   "], got " + std::to_string(options.break_layer));
  }
  if (!options.vocab_from.empty() && options.vocab != SynthVocabKind::kBytes) {
    return Invalid("vocab_from replaces the built-in vocabulary: vocab must stay bytes, got " +
                   std::string(SynthVocabName(options.vocab)));
  }
  if (options.vocab_from.find('\0') != std::string::npos) {
    return Invalid("vocab_from must not contain NUL bytes");
  }
  if (options.chat_template.size() > kMaxChatTemplateBytes) {
    return Invalid("chat template is " + std::to_string(options.chat_template.size()) +
                   " bytes, more than the limit of " + std::to_string(kMaxChatTemplateBytes));
  }
  if (options.chat_template.find('\0') != std::string::npos) {
    return Invalid("chat template must not contain NUL bytes");
  }
  return Ok();
}

std::string_view TensorTypeName(TensorType type) {
  switch (type) {
    case TensorType::kF32:
      return "f32";
    case TensorType::kF16:
      return "f16";
    case TensorType::kBF16:
      return "bf16";
    case TensorType::kQ8_0:
      return "q8_0";
  }
  return "unknown";
}

Result<TensorType> ParseTensorType(std::string_view name) {
  for (TensorType type :
       {TensorType::kF32, TensorType::kF16, TensorType::kBF16, TensorType::kQ8_0}) {
    if (name == TensorTypeName(type)) return type;
  }
  return MakeError(ErrorCode::kInvalidArgument, "unknown tensor type '" + std::string(name) +
                                                    "' (expected f32, f16, bf16 or q8_0)");
}

int SynthVocabSize(SynthVocabKind kind) {
  return kind == SynthVocabKind::kAlt ? kSynthAltVocabSize : kSynthVocabSize;
}

std::string_view SynthVocabName(SynthVocabKind kind) {
  return kind == SynthVocabKind::kAlt ? "alt" : "bytes";
}

Result<SynthVocabKind> ParseSynthVocab(std::string_view name) {
  for (SynthVocabKind kind : {SynthVocabKind::kBytes, SynthVocabKind::kAlt}) {
    if (name == SynthVocabName(kind)) return kind;
  }
  return MakeError(ErrorCode::kInvalidArgument,
                   "unknown vocabulary '" + std::string(name) + "' (expected bytes or alt)");
}

Status ParseSynthBreak(std::string_view text, SynthOptions& options) {
  constexpr std::string_view kZeroLayer = "zero-layer:";
  if (text == "none") {
    options.breakage = SynthBreak::kNone;
    return Ok();
  }
  if (text == "swap-tensors") {
    options.breakage = SynthBreak::kSwapTensors;
    return Ok();
  }
  if (text.substr(0, kZeroLayer.size()) == kZeroLayer) {
    const std::string_view digits = text.substr(kZeroLayer.size());
    int layer = 0;
    bool valid = !digits.empty() && digits.size() <= 3;
    for (char c : digits) {
      valid = valid && c >= '0' && c <= '9';
      if (valid) layer = layer * 10 + (c - '0');
    }
    if (valid) {
      options.breakage = SynthBreak::kZeroLayer;
      options.break_layer = layer;
      return Ok();
    }
  }
  return Invalid("unknown break '" + std::string(text) +
                 "' (expected none, zero-layer:K or swap-tensors)");
}

std::string SynthBreakName(const SynthOptions& options) {
  switch (options.breakage) {
    case SynthBreak::kNone:
      return "none";
    case SynthBreak::kZeroLayer:
      return "zero-layer:" + std::to_string(options.break_layer);
    case SynthBreak::kSwapTensors:
      return "swap-tensors";
  }
  return "none";
}

Status SynthesizeModel(const SynthOptions& options, const std::string& out_path) {
  const std::unique_ptr<FileSystem> fs = MakePosixFileSystem();
  return SynthesizeModel(*fs, options, out_path);
}

}  // namespace ota::runtime_adapter
