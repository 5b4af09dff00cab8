#include "synth_vocab.h"

#include "ota/runtime_adapter/model_synth.h"

namespace ota::runtime_adapter {
namespace {

// SentencePiece token types, as stored in tokenizer.ggml.token_type.
constexpr std::int32_t kTypeNormal = 1;
constexpr std::int32_t kTypeUnknown = 2;
constexpr std::int32_t kTypeControl = 3;
constexpr std::int32_t kTypeByte = 6;

}  // namespace

SynthVocab BuildSynthVocab(SynthVocabKind kind) {
  SynthVocab vocab;
  auto add = [&vocab](std::string text, float score, std::int32_t type) {
    vocab.tokens.push_back(std::move(text));
    vocab.scores.push_back(score);
    vocab.types.push_back(type);
  };
  add("<unk>", 0.0f, kTypeUnknown);
  add("<s>", 0.0f, kTypeControl);
  add("</s>", 0.0f, kTypeControl);
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (int byte = 0; byte < 256; ++byte) {
    add(std::string("<0x") + kHex[byte >> 4] + kHex[byte & 15] + ">", 0.0f, kTypeByte);
  }
  // Normal tokens score below the specials, in order, as SentencePiece does.
  float score = -1.0f;
  if (kind == SynthVocabKind::kBytes) {
    add("\xe2\x96\x81", score, kTypeNormal);
    for (char c = '!'; c <= '~'; ++c) {
      score -= 1.0f;
      add(std::string(1, c), score, kTypeNormal);
    }
    static_assert(kSynthVocabSize == 3 + 256 + 1 + ('~' - '!' + 1));
    return vocab;
  }
  for (char c = '~'; c >= '!'; --c) {
    add(std::string(1, c), score, kTypeNormal);
    score -= 1.0f;
  }
  add("\xe2\x96\x81", score, kTypeNormal);
  for (const char* pair : {"th", "he", "in", "er", "an", "re", "on", "at"}) {
    score -= 1.0f;
    add(pair, score, kTypeNormal);
  }
  return vocab;
}

}  // namespace ota::runtime_adapter
