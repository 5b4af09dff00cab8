#include "generation_facts.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ota/common/hash.h"

namespace ota::runtime_adapter {
namespace {

constexpr std::size_t kMetaBuffer = 4096;

// "<id> <piece as a JSON string>", or "none" for an id outside the vocabulary.
std::string TokenFact(const llama_vocab* vocab, llama_token id) {
  if (id < 0 || id >= llama_vocab_n_tokens(vocab)) return "none";
  const char* text = llama_vocab_get_text(vocab, id);
  const std::string piece = text == nullptr ? std::string() : std::string(text);
  return std::to_string(id) + " " +
         nlohmann::json(piece).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Metadata value by key as llama.cpp prints it; nullopt when absent.
std::optional<std::string> Meta(const llama_model* model, const std::string& key) {
  std::array<char, kMetaBuffer> buf{};
  const int32_t n = llama_model_meta_val_str(model, key.c_str(), buf.data(), buf.size());
  if (n < 0) return std::nullopt;
  return std::string(buf.data(),
                     std::min<std::size_t>(static_cast<std::size_t>(n), buf.size() - 1));
}

std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// Every "<arch>.rope.*" key-value of the file.
void AddRopeKeys(const llama_model* model, const std::string& architecture,
                 std::vector<GenerationFact>& facts) {
  const std::string prefix = architecture + ".rope.";
  const int32_t count = llama_model_meta_count(model);
  for (int32_t i = 0; i < count; ++i) {
    std::array<char, kMetaBuffer> key{};
    std::array<char, kMetaBuffer> value{};
    if (llama_model_meta_key_by_index(model, i, key.data(), key.size()) < 0) continue;
    const std::string_view name(key.data());
    if (name.substr(0, prefix.size()) != prefix) continue;
    const int32_t n = llama_model_meta_val_str_by_index(model, i, value.data(), value.size());
    if (n < 0) continue;
    facts.push_back({"rope." + std::string(name.substr(prefix.size())), std::string(value.data())});
  }
}

}  // namespace

void DescribeGeneration(const llama_model* model, const GgufSummary& summary, ModelInfo& info) {
  const llama_vocab* vocab = llama_model_get_vocab(model);
  std::vector<GenerationFact>& facts = info.generation_facts;
  facts.clear();
  facts.push_back({"vocabulary", info.vocab_fingerprint});
  facts.push_back({"tokenizer.model", Meta(model, "tokenizer.ggml.model").value_or("none")});
  facts.push_back({"tokenizer.pre", Meta(model, "tokenizer.ggml.pre").value_or("none")});
  facts.push_back({"tokenizer.add_bos", llama_vocab_get_add_bos(vocab) ? "true" : "false"});
  facts.push_back({"tokenizer.add_eos", llama_vocab_get_add_eos(vocab) ? "true" : "false"});
  facts.push_back({"tokenizer.merges", summary.merges_digest});
  facts.push_back({"tokenizer.scores", summary.scores_digest});
  facts.push_back({"special.bos", TokenFact(vocab, llama_vocab_bos(vocab))});
  facts.push_back({"special.eos", TokenFact(vocab, llama_vocab_eos(vocab))});
  facts.push_back({"special.eot", TokenFact(vocab, llama_vocab_eot(vocab))});
  facts.push_back({"special.sep", TokenFact(vocab, llama_vocab_sep(vocab))});
  facts.push_back({"special.pad", TokenFact(vocab, llama_vocab_pad(vocab))});

  info.end_of_generation.clear();
  std::string eog;
  const int n = llama_vocab_n_tokens(vocab);
  for (llama_token id = 0; id < n; ++id) {
    if (!llama_vocab_is_eog(vocab, id)) continue;
    info.end_of_generation.push_back(id);
    eog += (eog.empty() ? "" : ",") + std::to_string(id);
  }
  facts.push_back({"special.end_of_generation", eog.empty() ? "none" : eog});

  const char* tmpl = llama_model_chat_template(model, nullptr);
  info.chat_template = tmpl == nullptr ? std::string() : std::string(tmpl);
  facts.push_back(
      {"chat_template", info.chat_template.empty() ? "none" : Sha256Hex(info.chat_template)});

  facts.push_back({"context.training", std::to_string(llama_model_n_ctx_train(model))});
  facts.push_back({"rope.type", std::to_string(static_cast<int>(llama_model_rope_type(model)))});
  facts.push_back({"rope.freq_scale", Number(llama_model_rope_freq_scale_train(model))});
  AddRopeKeys(model, info.architecture, facts);

  std::stable_sort(
      facts.begin(), facts.end(),
      [](const GenerationFact& a, const GenerationFact& b) { return a.name < b.name; });
  // A file key that repeats a computed name (e.g. rope.freq_scale) keeps the
  // computed value, which comes first for equal names thanks to stable order.
  facts.erase(std::unique(facts.begin(), facts.end(),
                          [](const GenerationFact& a, const GenerationFact& b) {
                            return a.name == b.name;
                          }),
              facts.end());
}

}  // namespace ota::runtime_adapter
