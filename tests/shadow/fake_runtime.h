// A scripted Runtime for shadow tests that need exact control over model
// outputs: byte-level tokens, outputs chosen per prompt, fixed distributions.
#ifndef OTA_TESTS_SHADOW_FAKE_RUNTIME_H_
#define OTA_TESTS_SHADOW_FAKE_RUNTIME_H_

#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "ota/manifest/version.h"
#include "ota/runtime_adapter/runtime.h"

namespace ota::shadow::testing {

using runtime_adapter::LoadedModel;
using runtime_adapter::LogProbs;
using runtime_adapter::Token;

struct FakeSpec {
  // Prompt text -> generated text.
  std::function<std::string(const std::string&)> output = [](const std::string&) {
    return std::string("ok");
  };
  std::string vocab = "bytes";  // The fingerprint.
  double logit_shift = 0.0;     // Perturbs the distributions.
  double tokens_per_second = 1000.0;
  std::uint64_t estimated_bytes = 1000;
  // Called on every Generate (e.g. to cancel a run or block a worker).
  std::function<void()> on_generate;
};

class FakeModel : public LoadedModel {
 public:
  explicit FakeModel(FakeSpec spec) : spec_(std::move(spec)) {
    info_.runtime = "fake";
    info_.vocab_size = 259;
    info_.vocab_fingerprint = spec_.vocab;
    info_.estimated_bytes = spec_.estimated_bytes;
    info_.bos_token = 1;
    info_.eos_token = 2;
    info_.context_length = 4096;
  }
  const runtime_adapter::ModelInfo& Info() const override { return info_; }
  Result<std::vector<Token>> Tokenize(std::string_view text, bool add_bos) override {
    std::vector<Token> out;
    if (add_bos) out.push_back(1);
    for (unsigned char c : text) out.push_back(3 + c);
    return out;
  }
  Result<std::string> Detokenize(std::span<const Token> tokens) override {
    std::string out;
    for (Token t : tokens) {
      if (t >= 3) out.push_back(static_cast<char>(t - 3));
    }
    return out;
  }
  Result<std::vector<LogProbs>> EvaluateLogProbs(std::span<const Token> tokens,
                                                 std::span<const int> positions) override {
    std::vector<LogProbs> out;
    for (int p : positions) {
      LogProbs row(259);
      double sum = 0;
      for (int i = 0; i < 259; ++i) {
        row[i] = static_cast<float>(std::sin(0.37 * i + tokens[p]) * 2.0 +
                                    (i == 7 ? spec_.logit_shift : 0.0));
        sum += std::exp(row[i]);
      }
      for (float& v : row) v -= static_cast<float>(std::log(sum));
      out.push_back(std::move(row));
    }
    return out;
  }
  Result<std::vector<Token>> Generate(std::span<const Token> prompt, int max_tokens) override {
    if (spec_.on_generate) spec_.on_generate();
    auto text = Detokenize(prompt);
    auto out = Tokenize(spec_.output(*text), false);
    if (static_cast<int>(out->size()) > max_tokens) out->resize(max_tokens);
    return out;
  }
  runtime_adapter::ResourceFigures Resources() const override {
    return {0.5, 1u << 20, spec_.tokens_per_second};
  }

 private:
  FakeSpec spec_;
  runtime_adapter::ModelInfo info_;
};

class FakeRuntime : public runtime_adapter::Runtime {
 public:
  std::map<std::string, FakeSpec> models;
  int opens = 0;
  int max_open = 0;  // Most models alive at once.

  std::string_view Name() const override { return "fake"; }
  const manifest::Version& RuntimeVersion() const override { return version_; }
  std::vector<std::string> Formats() const override { return {"fake"}; }
  Result<std::unique_ptr<LoadedModel>> Open(
      const runtime_adapter::ModelOpenOptions& options) override {
    auto it = models.find(options.path);
    if (it == models.end()) return MakeError(ErrorCode::kNotFound, options.path + " not found");
    ++opens;
    auto alive = alive_;
    *alive += 1;
    max_open = std::max(max_open, *alive);
    return std::unique_ptr<LoadedModel>(new Tracked(it->second, alive));
  }

 private:
  class Tracked : public FakeModel {
   public:
    Tracked(FakeSpec spec, std::shared_ptr<int> alive)
        : FakeModel(std::move(spec)), alive_(alive) {}
    ~Tracked() override { *alive_ -= 1; }

   private:
    std::shared_ptr<int> alive_;
  };
  manifest::Version version_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace ota::shadow::testing

#endif  // OTA_TESTS_SHADOW_FAKE_RUNTIME_H_
