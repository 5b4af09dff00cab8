// The llama.cpp adapter: loading and running models. llama.cpp is called
// only from this module: here, in generation_facts.cc (what a model's
// metadata says about generation), in quantize_llama.cc (quantization), and
// through ggml's GGUF API in gguf_probe.cc and model_synth_gguf.cc.
#include <ggml.h>
#include <llama.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "generation_facts.h"
#include "gguf_probe.h"
#include "llama_log.h"
#include "ota/common/hash.h"
#include "ota/runtime_adapter/runtime.h"
#include "resource_usage.h"

namespace ota::runtime_adapter {
namespace {

// The pinned release: llama.cpp as carried by node-llama-cpp 3.22.1, tag
// v0.5.0, commit de3ff81 (its CMake package says "0.5.0-dev", build number 1;
// the tag is the release, so the registry sees 0.5.0 with the commit as build
// metadata).
constexpr const char* kLlamaReleaseVersion = "0.5.0+de3ff81";

constexpr int kMaxThreads = 256;
constexpr int kMinContextLength = 8;
constexpr int kMaxContextLength = 1 << 20;
constexpr int kMaxBatch = 512;
constexpr std::size_t kMaxTokenizeBytes = 64u << 20;
struct ModelDeleter {
  void operator()(llama_model* m) const { llama_model_free(m); }
};
struct ContextDeleter {
  void operator()(llama_context* c) const { llama_free(c); }
};
class Batch {
 public:
  explicit Batch(int capacity) : batch_(llama_batch_init(capacity, 0, 1)) {}
  ~Batch() { llama_batch_free(batch_); }
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;
  llama_batch& get() { return batch_; }

 private:
  llama_batch batch_;
};

std::string VocabFingerprint(const llama_vocab* vocab) {
  Hasher hasher(HashAlgorithm::kSha256);
  auto put_u32 = [&hasher](std::uint32_t v) {
    const std::uint8_t bytes[4] = {static_cast<std::uint8_t>(v), static_cast<std::uint8_t>(v >> 8),
                                   static_cast<std::uint8_t>(v >> 16),
                                   static_cast<std::uint8_t>(v >> 24)};
    hasher.Update(std::span<const std::uint8_t>(bytes, 4));
  };
  const int n = llama_vocab_n_tokens(vocab);
  put_u32(static_cast<std::uint32_t>(llama_vocab_type(vocab)));
  put_u32(static_cast<std::uint32_t>(n));
  for (int id = 0; id < n; ++id) {
    const char* text = llama_vocab_get_text(vocab, id);
    const std::string_view piece = text == nullptr ? std::string_view() : std::string_view(text);
    put_u32(static_cast<std::uint32_t>(piece.size()));
    hasher.Update(piece);
    put_u32(static_cast<std::uint32_t>(llama_vocab_get_attr(vocab, id)));
  }
  return hasher.FinishHex();
}

// Natural-log softmax of one row of logits, in double precision.
LogProbs LogSoftmax(const float* logits, int n) {
  double max = -std::numeric_limits<double>::infinity();
  for (int i = 0; i < n; ++i) max = std::max(max, static_cast<double>(logits[i]));
  double sum = 0.0;
  for (int i = 0; i < n; ++i) sum += std::exp(static_cast<double>(logits[i]) - max);
  const double log_z = max + std::log(sum);
  LogProbs out(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) out[i] = static_cast<float>(logits[i] - log_z);
  return out;
}

Token ArgMax(const float* logits, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i) {
    if (logits[i] > logits[best]) best = i;
  }
  return best;
}

class LlamaModel final : public LoadedModel {
 public:
  LlamaModel(Clock& clock, std::unique_ptr<llama_model, ModelDeleter> model,
             std::unique_ptr<llama_context, ContextDeleter> ctx, ModelInfo info,
             double load_seconds)
      : clock_(clock),
        model_(std::move(model)),
        ctx_(std::move(ctx)),
        vocab_(llama_model_get_vocab(model_.get())),
        info_(std::move(info)),
        batch_size_(static_cast<int>(llama_n_batch(ctx_.get()))),
        load_seconds_(load_seconds) {}

  const ModelInfo& Info() const override { return info_; }

  Result<std::vector<Token>> Tokenize(std::string_view text, bool add_bos) override {
    if (text.size() > kMaxTokenizeBytes) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "text of " + std::to_string(text.size()) + " bytes exceeds 64 MiB");
    }
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Token> tokens(text.size() + 2);
    for (int attempt = 0; attempt < 2; ++attempt) {
      const std::int32_t n =
          llama_tokenize(vocab_, text.data(), static_cast<std::int32_t>(text.size()), tokens.data(),
                         static_cast<std::int32_t>(tokens.size()), /*add_special=*/false,
                         /*parse_special=*/false);
      if (n == std::numeric_limits<std::int32_t>::min()) break;
      if (n >= 0) {
        tokens.resize(static_cast<std::size_t>(n));
        if (add_bos && info_.bos_token >= 0 && llama_vocab_get_add_bos(vocab_)) {
          tokens.insert(tokens.begin(), info_.bos_token);
        }
        return tokens;
      }
      tokens.resize(static_cast<std::size_t>(-static_cast<std::int64_t>(n)));
    }
    return MakeError(ErrorCode::kInternal, "tokenization failed" + LastLlamaError());
  }

  Result<std::string> Detokenize(std::span<const Token> tokens) override {
    OTA_TRY(CheckTokens(tokens));
    if (tokens.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max() / 64)) {
      return MakeError(ErrorCode::kInvalidArgument, "too many tokens to detokenize");
    }
    std::lock_guard<std::mutex> lock(mu_);
    std::string text(tokens.size() * 8 + 16, '\0');
    for (int attempt = 0; attempt < 2; ++attempt) {
      const std::int32_t n = llama_detokenize(
          vocab_, tokens.data(), static_cast<std::int32_t>(tokens.size()), text.data(),
          static_cast<std::int32_t>(text.size()), /*remove_special=*/false,
          /*unparse_special=*/false);
      if (n == std::numeric_limits<std::int32_t>::min()) break;
      if (n >= 0) {
        text.resize(static_cast<std::size_t>(n));
        return text;
      }
      text.resize(static_cast<std::size_t>(-static_cast<std::int64_t>(n)));
    }
    return MakeError(ErrorCode::kInternal, "detokenization failed" + LastLlamaError());
  }

  Result<std::vector<LogProbs>> EvaluateLogProbs(std::span<const Token> tokens,
                                                 std::span<const int> positions) override {
    OTA_TRY(CheckSequence(tokens, "tokens"));
    // wanted[i]: indices into the result of the positions that ask for token i.
    std::vector<std::vector<std::size_t>> wanted(tokens.size());
    for (std::size_t k = 0; k < positions.size(); ++k) {
      const int p = positions[k];
      if (p < 0 || static_cast<std::size_t>(p) >= tokens.size()) {
        return MakeError(ErrorCode::kInvalidArgument, "position " + std::to_string(p) +
                                                          " is outside [0, " +
                                                          std::to_string(tokens.size()) + ")");
      }
      wanted[static_cast<std::size_t>(p)].push_back(k);
    }
    std::lock_guard<std::mutex> lock(mu_);
    const auto start = clock_.Monotonic();
    const double cpu_start = ProcessCpuSeconds();
    std::vector<LogProbs> out(positions.size());
    ClearCache();
    Batch batch(batch_size_);
    for (std::size_t first = 0; first < tokens.size(); first += batch_size_) {
      const std::size_t count = std::min<std::size_t>(batch_size_, tokens.size() - first);
      Fill(batch.get(), tokens, first, count, [&](std::size_t i) { return !wanted[i].empty(); });
      OTA_TRY(Decode(batch.get()));
      for (std::size_t j = 0; j < count; ++j) {
        if (wanted[first + j].empty()) continue;
        const float* logits = llama_get_logits_ith(ctx_.get(), static_cast<std::int32_t>(j));
        if (logits == nullptr) {
          return MakeError(ErrorCode::kInternal, "llama.cpp returned no logits for position " +
                                                     std::to_string(first + j) + LastLlamaError());
        }
        LogProbs row = LogSoftmax(logits, info_.vocab_size);
        const std::vector<std::size_t>& slots = wanted[first + j];
        for (std::size_t s = 1; s < slots.size(); ++s) out[slots[s]] = row;
        out[slots[0]] = std::move(row);
      }
    }
    RecordThroughput(tokens.size(), start, cpu_start);
    return out;
  }

  Result<std::vector<Token>> Generate(std::span<const Token> prompt, int max_tokens) override {
    OTA_TRY(CheckSequence(prompt, "prompt"));
    if (max_tokens < 0) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "max_tokens must be >= 0, got " + std::to_string(max_tokens));
    }
    if (prompt.size() >= static_cast<std::size_t>(info_.context_length)) {
      return MakeError(ErrorCode::kInvalidArgument, "a prompt of " + std::to_string(prompt.size()) +
                                                        " tokens leaves no room in a context of " +
                                                        std::to_string(info_.context_length));
    }
    std::lock_guard<std::mutex> lock(mu_);
    const auto start = clock_.Monotonic();
    const double cpu_start = ProcessCpuSeconds();
    std::vector<Token> generated;
    if (max_tokens == 0) return generated;
    ClearCache();
    Batch batch(batch_size_);
    for (std::size_t first = 0; first < prompt.size(); first += batch_size_) {
      const std::size_t count = std::min<std::size_t>(batch_size_, prompt.size() - first);
      Fill(batch.get(), prompt, first, count,
           [&](std::size_t i) { return i + 1 == prompt.size(); });
      OTA_TRY(Decode(batch.get()));
    }
    std::size_t position = prompt.size();
    while (static_cast<int>(generated.size()) < max_tokens) {
      const float* logits = llama_get_logits_ith(ctx_.get(), -1);
      if (logits == nullptr) {
        return MakeError(ErrorCode::kInternal, "llama.cpp returned no logits" + LastLlamaError());
      }
      Token next = ArgMax(logits, info_.vocab_size);
      if (llama_vocab_is_eog(vocab_, next)) break;
      generated.push_back(next);
      if (static_cast<int>(generated.size()) == max_tokens ||
          position >= static_cast<std::size_t>(info_.context_length)) {
        break;
      }
      const std::span<const Token> one(&generated.back(), 1);
      Fill(batch.get(), one, 0, 1, [](std::size_t) { return true; });
      batch.get().pos[0] = static_cast<llama_pos>(position);
      OTA_TRY(Decode(batch.get()));
      ++position;
    }
    RecordThroughput(prompt.size() + generated.size(), start, cpu_start);
    return generated;
  }

  Result<std::string> ApplyChatTemplate(const std::vector<ChatMessage>& messages,
                                        bool add_assistant_prefix) override {
    if (messages.empty()) {
      return MakeError(ErrorCode::kInvalidArgument, "a conversation needs at least one message");
    }
    std::size_t content_bytes = 0;
    std::vector<llama_chat_message> chat;
    chat.reserve(messages.size());
    for (const ChatMessage& m : messages) {
      content_bytes += m.content.size() + m.role.size();
      chat.push_back({m.role.c_str(), m.content.c_str()});
    }
    if (content_bytes > kMaxTokenizeBytes) {
      return MakeError(ErrorCode::kInvalidArgument, "the conversation exceeds 64 MiB");
    }
    if (info_.chat_template.empty()) {
      return MakeError(ErrorCode::kNotFound, "the model has no chat template");
    }
    std::lock_guard<std::mutex> lock(mu_);
    std::string out(std::max<std::size_t>(256, 2 * content_bytes + 1024), '\0');
    for (int attempt = 0; attempt < 2; ++attempt) {
      const int32_t n = llama_chat_apply_template(info_.chat_template.c_str(), chat.data(),
                                                  chat.size(), add_assistant_prefix, out.data(),
                                                  static_cast<int32_t>(out.size()));
      if (n < 0) {
        return MakeError(ErrorCode::kIncompatible,
                         "llama.cpp " + std::string(kLlamaReleaseVersion) +
                             " does not recognize the model's chat template");
      }
      if (static_cast<std::size_t>(n) <= out.size()) {
        out.resize(static_cast<std::size_t>(n));
        return out;
      }
      out.assign(static_cast<std::size_t>(n), '\0');
    }
    return MakeError(ErrorCode::kInternal, "the chat template's output kept growing");
  }

  ResourceFigures Resources() const override {
    std::lock_guard<std::mutex> lock(mu_);
    ResourceFigures figures;
    figures.load_seconds = load_seconds_;
    figures.peak_resident_bytes = PeakResidentBytes();
    figures.tokens_per_second = tokens_per_second_;
    figures.cpu_tokens_per_second = cpu_tokens_per_second_;
    return figures;
  }

 private:
  Status CheckTokens(std::span<const Token> tokens) const {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      if (tokens[i] < 0 || tokens[i] >= info_.vocab_size) {
        return MakeError(ErrorCode::kInvalidArgument, "token " + std::to_string(tokens[i]) +
                                                          " at index " + std::to_string(i) +
                                                          " is outside the vocabulary [0, " +
                                                          std::to_string(info_.vocab_size) + ")");
      }
    }
    return Ok();
  }

  Status CheckSequence(std::span<const Token> tokens, const char* what) const {
    if (tokens.empty())
      return MakeError(ErrorCode::kInvalidArgument, std::string(what) + " is empty");
    if (tokens.size() > static_cast<std::size_t>(info_.context_length)) {
      return MakeError(ErrorCode::kInvalidArgument, std::string(what) + " has " +
                                                        std::to_string(tokens.size()) +
                                                        " tokens, more than the context length " +
                                                        std::to_string(info_.context_length));
    }
    return CheckTokens(tokens);
  }

  void ClearCache() { llama_memory_clear(llama_get_memory(ctx_.get()), /*data=*/true); }

  // Tokens [first, first + count) of `tokens` at their own positions, one
  // sequence; output(i) says whether token i needs logits.
  template <typename Output>
  static void Fill(llama_batch& batch, std::span<const Token> tokens, std::size_t first,
                   std::size_t count, Output output) {
    batch.n_tokens = static_cast<std::int32_t>(count);
    for (std::size_t j = 0; j < count; ++j) {
      batch.token[j] = tokens[first + j];
      batch.pos[j] = static_cast<llama_pos>(first + j);
      batch.n_seq_id[j] = 1;
      batch.seq_id[j][0] = 0;
      batch.logits[j] = output(first + j) ? 1 : 0;
    }
  }

  Status Decode(llama_batch& batch) {
    const std::int32_t rc = llama_decode(ctx_.get(), batch);
    if (rc == 0) return Ok();
    return MakeError(ErrorCode::kInternal,
                     "llama_decode failed with code " + std::to_string(rc) + LastLlamaError());
  }

  void RecordThroughput(std::size_t tokens, std::chrono::steady_clock::time_point start,
                        double cpu_start) {
    const double seconds = std::chrono::duration<double>(clock_.Monotonic() - start).count();
    tokens_per_second_ = seconds > 0.0 ? static_cast<double>(tokens) / seconds : 0.0;
    const double cpu = ProcessCpuSeconds() - cpu_start;
    cpu_tokens_per_second_ = cpu > 0.0 && cpu_start > 0.0 ? static_cast<double>(tokens) / cpu : 0.0;
  }

  Clock& clock_;
  std::unique_ptr<llama_model, ModelDeleter> model_;
  std::unique_ptr<llama_context, ContextDeleter> ctx_;
  const llama_vocab* vocab_;
  const ModelInfo info_;
  const int batch_size_;
  const double load_seconds_;
  mutable std::mutex mu_;
  double tokens_per_second_ = 0.0;      // Guarded by mu_.
  double cpu_tokens_per_second_ = 0.0;  // Guarded by mu_.
};

class LlamaRuntime final : public Runtime {
 public:
  LlamaRuntime(Clock* clock, manifest::Version version)
      : owned_clock_(clock == nullptr ? MakeSystemClock() : nullptr),
        clock_(clock != nullptr ? *clock : *owned_clock_),
        version_(std::move(version)) {}

  std::string_view Name() const override { return kLlamaRuntimeName; }
  const manifest::Version& RuntimeVersion() const override { return version_; }
  std::vector<std::string> Formats() const override { return {"gguf"}; }

  Result<std::unique_ptr<LoadedModel>> Open(const ModelOpenOptions& options) override {
    OTA_TRY(CheckOptions(options));
    EnsureLlamaBackend();
    ClearLlamaErrors();
    const auto start = clock_.Monotonic();
    OTA_ASSIGN_OR_RETURN(const GgufSummary summary, ProbeGguf(options.path));
    const std::uint64_t needed = SaturatingAdd(
        summary.file_bytes,
        EstimateKvCacheBytes(summary, static_cast<std::uint64_t>(options.context_length)));
    if (options.memory_budget_bytes != 0 && needed > options.memory_budget_bytes) {
      return MakeError(ErrorCode::kIncompatible, "model needs " + std::to_string(needed) +
                                                     " bytes, budget is " +
                                                     std::to_string(options.memory_budget_bytes));
    }

    llama_model_params model_params = llama_model_default_params();
    model_params.n_gpu_layers = 0;
    std::unique_ptr<llama_model, ModelDeleter> model(
        llama_model_load_from_file(options.path.c_str(), model_params));
    if (!model) return LoadError(summary);

    llama_context_params ctx_params = llama_context_default_params();
    ctx_params.n_ctx = static_cast<std::uint32_t>(options.context_length);
    ctx_params.n_batch = static_cast<std::uint32_t>(std::min(options.context_length, kMaxBatch));
    ctx_params.n_ubatch = ctx_params.n_batch;
    ctx_params.n_seq_max = 1;
    ctx_params.n_threads = options.threads;
    ctx_params.n_threads_batch = options.threads;
    ctx_params.no_perf = true;
    std::unique_ptr<llama_context, ContextDeleter> ctx(
        llama_init_from_model(model.get(), ctx_params));
    if (!ctx) {
      return MakeError(
          ErrorCode::kInternal,
          "llama.cpp could not create an inference context for " + options.path + LastLlamaError());
    }

    ModelInfo info = Describe(model.get(), summary, options);
    info.estimated_bytes = needed;
    const double load_seconds = std::chrono::duration<double>(clock_.Monotonic() - start).count();
    return std::unique_ptr<LoadedModel>(std::make_unique<LlamaModel>(
        clock_, std::move(model), std::move(ctx), std::move(info), load_seconds));
  }

 private:
  static Status CheckOptions(const ModelOpenOptions& options) {
    if (options.path.empty()) return MakeError(ErrorCode::kInvalidArgument, "empty model path");
    if (options.threads < 1 || options.threads > kMaxThreads) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "threads must be in [1, 256], got " + std::to_string(options.threads));
    }
    if (options.context_length < kMinContextLength || options.context_length > kMaxContextLength) {
      return MakeError(ErrorCode::kInvalidArgument, "context_length must be in [8, 1048576], got " +
                                                        std::to_string(options.context_length));
    }
    return Ok();
  }

  static Error LoadError(const GgufSummary& summary) {
    const std::string reason = TakeLlamaErrors();
    if (reason.find("unknown model architecture") != std::string::npos) {
      return MakeError(ErrorCode::kIncompatible, "unknown architecture '" + summary.architecture +
                                                     "' for llama.cpp " + kLlamaReleaseVersion);
    }
    return MakeError(ErrorCode::kInternal,
                     "llama.cpp could not load the model" +
                         (reason.empty() ? std::string() : " (llama.cpp: " + reason + ")"));
  }

  static ModelInfo Describe(const llama_model* model, const GgufSummary& summary,
                            const ModelOpenOptions& options) {
    const llama_vocab* vocab = llama_model_get_vocab(model);
    ModelInfo info;
    info.runtime = std::string(kLlamaRuntimeName);
    info.architecture = summary.architecture;
    info.name = summary.name;
    info.parameter_count = llama_model_n_params(model);
    const char* ftype = llama_ftype_name(llama_model_ftype(model));
    info.file_type = ftype == nullptr ? "unknown" : ftype;
    info.file_bytes = summary.file_bytes;
    info.context_length = options.context_length;
    info.training_context_length = llama_model_n_ctx_train(model);
    info.layers = llama_model_n_layer(model);
    info.vocab_size = llama_vocab_n_tokens(vocab);
    info.vocab_fingerprint = VocabFingerprint(vocab);
    info.bos_token = llama_vocab_bos(vocab);
    info.eos_token = llama_vocab_eos(vocab);
    if (info.bos_token < 0 || info.bos_token >= info.vocab_size) info.bos_token = -1;
    if (info.eos_token < 0 || info.eos_token >= info.vocab_size) info.eos_token = -1;
    DescribeGeneration(model, summary, info);
    return info;
  }

  std::unique_ptr<Clock> owned_clock_;
  Clock& clock_;
  const manifest::Version version_;
};

}  // namespace

bool LlamaRuntimeAvailable() { return true; }

Result<std::unique_ptr<Runtime>> MakeLlamaRuntime(Clock* clock) {
  OTA_ASSIGN_OR_RETURN(manifest::Version version, manifest::ParseVersion(kLlamaReleaseVersion));
  return std::unique_ptr<Runtime>(std::make_unique<LlamaRuntime>(clock, std::move(version)));
}

}  // namespace ota::runtime_adapter
