// The byte-level vocabulary written into every synthesized model.
#ifndef OTA_RUNTIME_ADAPTER_SRC_SYNTH_VOCAB_H_
#define OTA_RUNTIME_ADAPTER_SRC_SYNTH_VOCAB_H_

#include <cstdint>
#include <string>
#include <vector>

#include "ota/runtime_adapter/model_synth.h"

namespace ota::runtime_adapter {

// Parallel arrays, index = token id, in the layout of the GGUF keys
// tokenizer.ggml.tokens / scores / token_type.
struct SynthVocab {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<std::int32_t> types;
};

// <unk>, <s>, </s>, <0x00>..<0xFF> (type BYTE), then "▁" (U+2581, the
// SentencePiece space) and the printable ASCII characters '!'..'~' as normal
// tokens. Any byte string tokenizes: characters without a token fall back to
// their byte tokens. kSynthVocabSize entries. kAlt: see SynthVocabKind.
SynthVocab BuildSynthVocab(SynthVocabKind kind = SynthVocabKind::kBytes);

}  // namespace ota::runtime_adapter

#endif  // OTA_RUNTIME_ADAPTER_SRC_SYNTH_VOCAB_H_
