// Test-model synthesis: writes tiny llama-architecture GGUF models with
// random weights from a seed, so tests, benchmarks and demos never download a
// model.
//
// The file is a complete model for the pinned llama.cpp: the hyper-parameters
// of the "llama" architecture, a byte-level SentencePiece-style vocabulary
// (<unk>, <s>, </s>, the 256 byte tokens <0x00>..<0xFF>, "▁" and the printable
// ASCII characters) that tokenizes any byte string, and every tensor of a
// llama block. Weights are normally distributed with a scale that keeps the
// activations and the logits in a sensible range; norm weights are 1.
//
// Determinism: the same options always produce a byte-identical file, on any
// platform. Each tensor's values come from its own stream, derived from
// (seed, tensor name), built from integer arithmetic only (splitmix64 and an
// Irwin-Hall sum of uniforms), so no libm rounding enters the bytes.
// `noise` adds a perturbation drawn from (noise_seed, tensor name) on top of
// the same base weights: two models differing only in noise are "the same
// model, slightly changed" (what delta and shadow-test equivalence tests need).
//
// Variants for shadow-test gates: `breakage` damages the model on purpose
// (a block of zeros, two swapped tensors) while keeping its layout, and
// `vocab` picks an alternative vocabulary whose fingerprint differs.
//
// Real tokenizers: with `vocab_from`, the model takes the whole tokenizer of
// another GGUF file (a real model, or one of llama.cpp's vocabulary-only
// files that scripts/setup keeps, see docs/runtime-adapters.md): every
// `tokenizer.*` key-value is copied as it is, in the file's order, and the
// embedding and output matrices get one row per token. The model then
// tokenizes exactly as the model that vocabulary came from; its weights stay
// random. `chat_template` sets `tokenizer.chat_template`.
#ifndef OTA_RUNTIME_ADAPTER_MODEL_SYNTH_H_
#define OTA_RUNTIME_ADAPTER_MODEL_SYNTH_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ota/common/filesystem.h"
#include "ota/common/result.h"

namespace ota::runtime_adapter {

// Storage type of the weight matrices. Norm vectors are always F32. With
// kQ8_0, a matrix whose rows are not a multiple of 32 values is stored as F16.
enum class TensorType { kF32, kF16, kBF16, kQ8_0 };

// Deliberate damage, for tests that a shadow test rejects a broken model.
enum class SynthBreak {
  kNone,
  kZeroLayer,    // Every weight of block `break_layer` (norms included) is 0.
  kSwapTensors,  // blk.0.ffn_gate and blk.0.ffn_up exchange their data.
};

// The vocabulary written into the model.
enum class SynthVocabKind {
  // <unk>, <s>, </s>, <0x00>..<0xFF>, "▁", '!'..'~' (kSynthVocabSize tokens).
  kBytes,
  // The same specials and byte tokens, then '~'..'!' in reverse order, "▁"
  // and eight two-character tokens: still tokenizes any byte string, but
  // token ids and the vocabulary fingerprint differ from kBytes.
  kAlt,
};

struct SynthOptions {
  std::uint64_t seed = 1;  // Base weights.
  int layers = 2;          // Transformer blocks, [1, 256].
  int width = 64;          // n_embd, [8, 8192]; a multiple of 32 for kQ8_0.
  int heads = 4;           // Attention heads; width / heads must be even.
  int ff = 0;              // Feed-forward length; 0 picks DefaultFeedForward(width).
  int context = 256;       // Training context length, [8, 1048576].
  TensorType type = TensorType::kF16;
  // Standard deviation of the perturbation added to every weight, as a
  // fraction of that tensor's weight scale (norms: of 1). 0 adds nothing, and
  // then noise_seed does not affect the file. [0, 10].
  double noise = 0.0;
  std::uint64_t noise_seed = 0;
  std::string name = "modelota-test";  // general.name, 1 to 256 bytes.
  SynthVocabKind vocab = SynthVocabKind::kBytes;
  SynthBreak breakage = SynthBreak::kNone;
  int break_layer = 0;  // kZeroLayer: the block to zero, [0, layers).
  // A GGUF file whose tokenizer the model takes (see above); empty means the
  // built-in vocabulary `vocab`. With vocab_from, `vocab` must stay kBytes
  // (it is not used).
  std::string vocab_from;
  // The chat template (Jinja text) written as tokenizer.chat_template,
  // replacing one copied from vocab_from; empty writes none of its own.
  // At most kMaxChatTemplateBytes, no NUL bytes.
  std::string chat_template;
};

// Vocabulary of every synthesized model.
inline constexpr int kSynthUnkToken = 0;
inline constexpr int kSynthBosToken = 1;
inline constexpr int kSynthEosToken = 2;
inline constexpr int kSynthFirstByteToken = 3;            // <0x00>; byte b is token 3 + b.
inline constexpr int kSynthVocabSize = 3 + 256 + 1 + 94;  // SynthVocabKind::kBytes.
inline constexpr int kSynthAltVocabSize = kSynthVocabSize + 8;

// Bounds of a copied tokenizer. The largest vocabularies in use have about
// 260,000 tokens (Gemma: 262,144); a bigger token list is refused rather than
// turned into embedding matrices of unbounded size.
inline constexpr int kMaxSynthVocabTokens = 300000;
inline constexpr std::size_t kMaxChatTemplateBytes = 1u << 20;

// Number of tokens of a vocabulary kind.
int SynthVocabSize(SynthVocabKind kind);

// The feed-forward length used when SynthOptions::ff is 0: 8/3 of the width
// (as in llama), rounded up to a multiple of 32.
int DefaultFeedForward(int width);

// Checks the ranges and the constraints between options. kInvalidArgument
// with a one-line message naming the option.
Status ValidateSynthOptions(const SynthOptions& options);

// "f32", "f16", "q8_0" <-> TensorType. Parse fails with kInvalidArgument.
std::string_view TensorTypeName(TensorType type);
Result<TensorType> ParseTensorType(std::string_view name);

// "bytes", "alt" <-> SynthVocabKind. Parse fails with kInvalidArgument.
std::string_view SynthVocabName(SynthVocabKind kind);
Result<SynthVocabKind> ParseSynthVocab(std::string_view name);

// Sets options.breakage (and break_layer) from "none", "zero-layer:K" or
// "swap-tensors". kInvalidArgument for anything else; the layer's range is
// checked by ValidateSynthOptions.
Status ParseSynthBreak(std::string_view text, SynthOptions& options);
// The text form of options.breakage, e.g. "zero-layer:1".
std::string SynthBreakName(const SynthOptions& options);

// True when this build can synthesize models (it was built with llama.cpp's
// ggml). Without it, SynthesizeModel fails with kIncompatible.
bool ModelSynthesisAvailable();

// Writes the model to `out_path` atomically: a temporary file in the same
// folder, synced, then renamed over out_path and the folder synced. On
// failure out_path is untouched and the temporary file is removed.
// Memory use is bounded whatever the model size: a few MB, plus, with
// vocab_from, the key-values of that file held twice (read, then written:
// about 40 MB for Llama 3's or Qwen2's). ggml's reader checks every
// length in the file against its size before it allocates.
// Errors: kInvalidArgument (options or an empty path); the FileSystem's
// errors (kIo, kNotFound when the folder does not exist); kIncompatible when
// built without llama.cpp (run scripts/setup); kInternal on a ggml failure.
// A vocab_from file that cannot be used fails with one line naming the file:
// kNotFound (no such file), kIo (unreadable, not a regular file),
// kIncompatible (not a GGUF file; no tokenizer.ggml.tokens; more than
// kMaxSynthVocabTokens tokens), kIntegrity (a malformed or truncated GGUF
// header), kInvalidArgument (a tokenizer key of the wrong type or length, a
// special token id outside the vocabulary).
// Thread-safe for distinct out_paths.
Status SynthesizeModel(FileSystem& fs, const SynthOptions& options, const std::string& out_path);
// Same, through the real POSIX filesystem.
Status SynthesizeModel(const SynthOptions& options, const std::string& out_path);

}  // namespace ota::runtime_adapter

#endif  // OTA_RUNTIME_ADAPTER_MODEL_SYNTH_H_
