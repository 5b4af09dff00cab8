// The Runtime interface: what ModelOTA needs from an inference runtime to
// load a model, describe it, and compare two models (shadow tests).
//
// A Runtime opens model files; a LoadedModel is one opened model with one
// inference context. Everything the shadow tests measure goes through
// LoadedModel: tokenization, next-token log-probabilities, greedy generation
// and resource figures. Errors are values; nothing here throws or aborts on a
// bad model file.
//
// Thread-safety: Runtime::Open may be called concurrently from any thread.
// A LoadedModel serializes its own calls with an internal mutex, so it may be
// shared between threads, but calls on one model never run in parallel; open
// one model per thread for parallel work. Info() is immutable after Open and
// needs no lock.
#ifndef OTA_RUNTIME_ADAPTER_RUNTIME_H_
#define OTA_RUNTIME_ADAPTER_RUNTIME_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ota/common/env.h"
#include "ota/common/result.h"
#include "ota/manifest/version.h"

namespace ota::runtime_adapter {

// A token id of the model's vocabulary.
using Token = std::int32_t;

struct ModelOpenOptions {
  std::string path;  // Model file.
  // Refuse to load when the estimated memory need (ModelInfo::estimated_bytes)
  // exceeds this. 0 means no limit.
  std::uint64_t memory_budget_bytes = 0;
  int threads = 1;           // Compute threads, [1, 256].
  int context_length = 512;  // Tokens held by the inference context, [8, 1048576].
};

// A fact of a model file that changes generation without changing a weight:
// tokenizer, special tokens, chat template, RoPE and context parameters.
// Shadow tests compare them by name (docs/architecture.md, "Shadow tests").
// Names:
//   vocabulary                    the vocabulary fingerprint (below)
//   tokenizer.model, tokenizer.pre, tokenizer.add_bos, tokenizer.add_eos
//   tokenizer.merges, tokenizer.scores   SHA-256 of the arrays, or "none"
//   special.bos, special.eos, special.eot, special.sep, special.pad
//                                 "<id> <piece as JSON string>", or "none"
//   special.end_of_generation     every id that ends generation, ascending
//   chat_template                 SHA-256 of the template text, or "none"
//   context.training              the training context length
//   rope.type, rope.freq_scale    and every "<architecture>.rope.*" key of
//                                 the file, as the runtime prints it
struct GenerationFact {
  std::string name;
  std::string value;
  bool operator==(const GenerationFact&) const = default;
};

struct ModelInfo {
  std::string runtime;       // Runtime name, e.g. "llama.cpp".
  std::string architecture;  // e.g. "llama" (GGUF general.architecture).
  std::string name;          // Model name from the file, may be empty.
  std::uint64_t parameter_count = 0;
  std::string file_type;  // Quantization / storage type, e.g. "F16", "Q8_0".
  std::uint64_t file_bytes = 0;
  // Estimated memory need: file size plus the KV cache for context_length.
  std::uint64_t estimated_bytes = 0;
  int context_length = 0;           // Of this loaded instance.
  int training_context_length = 0;  // Declared by the file.
  int layers = 0;
  int vocab_size = 0;
  // Lower-case hex SHA-256 over every token's piece and type, in id order:
  // two models agree exactly when their vocabularies do, so their token ids
  // and log-probabilities can be compared position by position.
  std::string vocab_fingerprint;
  Token bos_token = -1;  // -1 when the vocabulary has none.
  Token eos_token = -1;
  // Sorted by name, each name once. Empty for a runtime that cannot tell.
  std::vector<GenerationFact> generation_facts;
  // Ids that end generation (EOS, EOT and the like), ascending.
  std::vector<Token> end_of_generation;
  std::string chat_template;  // The file's default template; empty when none.
};

// One turn of a conversation rendered by a chat template.
struct ChatMessage {
  std::string role;  // "system", "user" or "assistant".
  std::string content;
};

// Figures of the last operations. Peak resident memory is process-wide (the
// kernel's high-water mark), so it includes every model the process holds.
struct ResourceFigures {
  double load_seconds = 0.0;
  std::uint64_t peak_resident_bytes = 0;  // 0 if the platform cannot tell.
  // Tokens processed per second by the last EvaluateLogProbs or Generate
  // (evaluated plus generated tokens); 0 before the first call.
  double tokens_per_second = 0.0;
  // The same tokens per second of the process's CPU time (every thread), 0
  // when unknown. Unlike wall time it does not grow while other work, or a
  // lowered priority, keeps the model's threads waiting, so shadow tests
  // compare models by it.
  double cpu_tokens_per_second = 0.0;
};

// Next-token log-probabilities at one position: natural-log softmax over the
// whole vocabulary (logsumexp is 0 up to rounding), index = token id.
using LogProbs = std::vector<float>;

class LoadedModel {
 public:
  virtual ~LoadedModel() = default;

  virtual const ModelInfo& Info() const = 0;

  // Text (any bytes) to tokens; with add_bos, the BOS token first when the
  // vocabulary has one and the model asks for it (GGUF
  // tokenizer.ggml.add_bos_token, as llama.cpp's own tools read it).
  // kInvalidArgument if the text exceeds 64 MiB.
  virtual Result<std::vector<Token>> Tokenize(std::string_view text, bool add_bos) = 0;

  // Tokens back to bytes; control tokens (BOS, EOS) render as nothing.
  // kInvalidArgument for a token outside [0, vocab_size).
  virtual Result<std::string> Detokenize(std::span<const Token> tokens) = 0;

  // Runs `tokens` through the model from an empty cache (every call is
  // independent of the previous ones) and returns, for each entry p of
  // `positions`, the distribution of the token following tokens[p], in the
  // order of `positions`.
  // kInvalidArgument: empty tokens, a token outside the vocabulary, more
  // tokens than the context length, a position outside [0, tokens.size()).
  // kInternal with the runtime's reason when decoding fails.
  virtual Result<std::vector<LogProbs>> EvaluateLogProbs(std::span<const Token> tokens,
                                                         std::span<const int> positions) = 0;

  // Greedy decoding from an empty cache: appends the most likely token until
  // an end-of-generation token (not returned), max_tokens tokens, or a full
  // context. Returns only the generated tokens.
  // kInvalidArgument: empty prompt, a token outside the vocabulary, a prompt
  // that fills the context, max_tokens < 0. kInternal when decoding fails.
  virtual Result<std::vector<Token>> Generate(std::span<const Token> prompt_tokens,
                                              int max_tokens) = 0;

  virtual ResourceFigures Resources() const = 0;

  // Renders `messages` with the model's own chat template (ModelInfo::
  // chat_template), ending with the opening of the assistant's turn when
  // add_assistant_prefix. kNotFound when the model has no template;
  // kIncompatible when the runtime cannot apply it; kInvalidArgument for an
  // empty conversation or over 64 MiB of content.
  virtual Result<std::string> ApplyChatTemplate(const std::vector<ChatMessage>& messages,
                                                bool add_assistant_prefix) {
    (void)messages;
    (void)add_assistant_prefix;
    return MakeError(ErrorCode::kIncompatible, "this runtime does not apply chat templates");
  }
};

class Runtime {
 public:
  virtual ~Runtime() = default;

  // Registry identity: the name bundles declare in bundle.json "runtime".
  virtual std::string_view Name() const = 0;
  virtual const manifest::Version& RuntimeVersion() const = 0;
  // Model formats this runtime opens (bundle.json model.format), e.g. "gguf".
  virtual std::vector<std::string> Formats() const = 0;

  // Opens a model file. Errors:
  //   kInvalidArgument  options out of range;
  //   kNotFound         the file does not exist;
  //   kIncompatible     not a model of this runtime's format, an architecture
  //                     the runtime does not know, or "model needs X bytes,
  //                     budget is Y";
  //   kIntegrity        the file is truncated or its header is inconsistent;
  //   kIo               the file cannot be read;
  //   kInternal         the runtime failed, with its reason where it gave one.
  virtual Result<std::unique_ptr<LoadedModel>> Open(const ModelOpenOptions& options) = 0;
};

// The llama.cpp adapter's registry name; its version is the pinned release
// (RuntimeVersion(), "0.5.0+de3ff81").
inline constexpr std::string_view kLlamaRuntimeName = "llama.cpp";

// The llama.cpp adapter (GGUF models). `clock` measures load time and
// throughput; nullptr uses the system's monotonic clock. The clock must
// outlive the runtime and its models.
// kIncompatible "built without llama.cpp: run scripts/setup" when this build
// has no llama.cpp.
Result<std::unique_ptr<Runtime>> MakeLlamaRuntime(Clock* clock = nullptr);

// True when this build includes the llama.cpp adapter.
bool LlamaRuntimeAvailable();

}  // namespace ota::runtime_adapter

#endif  // OTA_RUNTIME_ADAPTER_RUNTIME_H_
