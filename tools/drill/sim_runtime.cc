#include "sim_runtime.h"

#include <cmath>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "ota/common/filesystem.h"
#include "ota/common/hash.h"

namespace ota::drill {
namespace {

using runtime_adapter::LoadedModel;
using runtime_adapter::LogProbs;
using runtime_adapter::ModelInfo;
using runtime_adapter::ResourceFigures;
using runtime_adapter::Token;

constexpr int kByteTokens = 256;
constexpr Token kBos = 256;
constexpr Token kEos = 257;
constexpr int kVocab = 258;

// A model over bytes whose next token after t is a fixed letter; a
// diverging model emits NUL bytes instead (garbage that every eval set's
// checks refuse, so the behaviour gate fails it).
class SimModel : public LoadedModel {
 public:
  SimModel(ModelInfo info, bool diverging) : info_(std::move(info)), diverging_(diverging) {}

  const ModelInfo& Info() const override { return info_; }

  Result<std::vector<Token>> Tokenize(std::string_view text, bool add_bos) override {
    std::vector<Token> out;
    out.reserve(text.size() + 1);
    if (add_bos) out.push_back(kBos);
    for (unsigned char c : text) out.push_back(static_cast<Token>(c));
    return out;
  }

  Result<std::string> Detokenize(std::span<const Token> tokens) override {
    std::string out;
    for (Token t : tokens) {
      if (t < 0 || t >= kVocab) {
        return MakeError(ErrorCode::kInvalidArgument,
                         "token " + std::to_string(t) + " is outside the vocabulary");
      }
      if (t < kByteTokens) out.push_back(static_cast<char>(t));
    }
    return out;
  }

  Result<std::vector<LogProbs>> EvaluateLogProbs(std::span<const Token> tokens,
                                                 std::span<const int> positions) override {
    OTA_TRY(CheckTokens(tokens));
    std::vector<LogProbs> out;
    out.reserve(positions.size());
    for (int p : positions) {
      if (p < 0 || static_cast<std::size_t>(p) >= tokens.size()) {
        return MakeError(ErrorCode::kInvalidArgument, "position out of range");
      }
      out.push_back(Distribution(tokens[static_cast<std::size_t>(p)]));
    }
    return out;
  }

  Result<std::vector<Token>> Generate(std::span<const Token> prompt, int max_tokens) override {
    OTA_TRY(CheckTokens(prompt));
    if (max_tokens < 0) return MakeError(ErrorCode::kInvalidArgument, "max_tokens < 0");
    std::vector<Token> out;
    Token last = prompt.back();
    for (int i = 0; i < max_tokens; ++i) {
      last = Next(last);
      out.push_back(last);
    }
    return out;
  }

  ResourceFigures Resources() const override { return {0.001, 0, 1000.0, 1000.0}; }

 private:
  Status CheckTokens(std::span<const Token> tokens) const {
    if (tokens.empty()) return MakeError(ErrorCode::kInvalidArgument, "no tokens");
    for (Token t : tokens) {
      if (t < 0 || t >= kVocab) {
        return MakeError(ErrorCode::kInvalidArgument, "token outside the vocabulary");
      }
    }
    return Ok();
  }

  // A lower-case letter chosen by the previous token (NUL when diverging).
  Token Next(Token previous) const {
    return diverging_ ? 0 : static_cast<Token>('a' + previous % 26);
  }

  // Most of the mass on Next(previous), the rest spread over the letters.
  LogProbs Distribution(Token previous) const {
    LogProbs lp(kVocab, std::log(1e-9f));
    const Token top = Next(previous);
    const bool letter = top >= 'a' && top <= 'z';
    const float rest = std::log(0.1f / (letter ? 25.0f : 26.0f));
    for (Token t = 'a'; t <= 'z'; ++t) lp[static_cast<std::size_t>(t)] = rest;
    lp[static_cast<std::size_t>(top)] = std::log(0.9f);
    return lp;
  }

  ModelInfo info_;
  bool diverging_;
};

class SimRuntime : public runtime_adapter::Runtime {
 public:
  explicit SimRuntime(SimBehaviour b)
      : behaviour_(std::move(b)), version_(*manifest::ParseVersion("0.5.0")) {}

  std::string_view Name() const override { return runtime_adapter::kLlamaRuntimeName; }
  const manifest::Version& RuntimeVersion() const override { return version_; }
  std::vector<std::string> Formats() const override { return {"gguf"}; }

  Result<std::unique_ptr<LoadedModel>> Open(
      const runtime_adapter::ModelOpenOptions& options) override {
    OTA_ASSIGN_OR_RETURN(Identity id, Identify(options.path));
    const std::string& digest = id.digest;
    if (behaviour_.unloadable.count(digest) > 0) {
      return MakeError(ErrorCode::kIncompatible,
                       "simulated load failure of " + options.path + " (drill fault load-fail)");
    }
    ModelInfo info;
    info.runtime = std::string(runtime_adapter::kLlamaRuntimeName);
    info.architecture = "simulated";
    info.file_type = "F16";
    info.file_bytes = id.size;
    info.estimated_bytes = id.size;
    info.context_length = options.context_length;
    info.training_context_length = 4096;
    info.layers = 1;
    info.vocab_size = kVocab;
    info.vocab_fingerprint = std::string(64, 'b');
    info.bos_token = kBos;
    info.eos_token = kEos;
    info.end_of_generation = {kEos};
    return std::unique_ptr<LoadedModel>(
        new SimModel(std::move(info), behaviour_.diverging.count(digest) > 0));
  }

 private:
  struct Identity {
    std::string digest;
    std::uint64_t size = 0;
  };

  // A model file's digest, read once per path: installed versions live in
  // folders named by their digest and never change.
  Result<Identity> Identify(const std::string& path) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (auto it = known_.find(path); it != known_.end()) return it->second;
    }
    OTA_ASSIGN_OR_RETURN(std::string bytes, behaviour_.fs->ReadFile(path, 1 << 30));
    Identity id{Sha256Hex(bytes), bytes.size()};
    std::lock_guard<std::mutex> lock(mu_);
    known_[path] = id;
    return id;
  }

  SimBehaviour behaviour_;
  manifest::Version version_;
  std::mutex mu_;
  std::map<std::string, Identity> known_;
};

}  // namespace

std::shared_ptr<runtime_adapter::Runtime> MakeSimRuntime(SimBehaviour behaviour) {
  return std::make_shared<SimRuntime>(std::move(behaviour));
}

}  // namespace ota::drill
