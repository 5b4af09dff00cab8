// The tokenizer of another GGUF file, checked and copied into a synthesized
// model (SynthOptions::vocab_from).
#ifndef OTA_RUNTIME_ADAPTER_SRC_SYNTH_TOKENIZER_H_
#define OTA_RUNTIME_ADAPTER_SRC_SYNTH_TOKENIZER_H_

#include <gguf.h>

#include <cstdint>
#include <memory>
#include <string>

#include "ota/common/result.h"

namespace ota::runtime_adapter {

struct GgufContextFree {
  void operator()(gguf_context* ctx) const { gguf_free(ctx); }
};

// The key-values of a vocabulary file (no tensor data is read), whose
// tokenizer keys have passed every check of LoadTokenizerSource.
struct TokenizerSource {
  std::unique_ptr<gguf_context, GgufContextFree> gguf;
  std::int64_t tokens = 0;  // Entries of tokenizer.ggml.tokens.
};

// Reads `path` and checks its tokenizer:
//   - tokenizer.ggml.tokens is a non-empty array of strings of at most
//     kMaxSynthVocabTokens entries;
//   - scores (f32) and token_type (i32) arrays, when present, have one entry
//     per token; merges is an array of strings;
//   - model, pre and chat templates are strings; tokenizer.ggml.add_* and
//     remove_extra_whitespaces are booleans;
//   - every *_token_id is a u32 below the token count;
//   - no tokenizer key is an array of arrays.
// Errors, each one line naming the file: kNotFound, kIo (unreadable or not a
// regular file), kIncompatible (not GGUF, no tokens, too many tokens),
// kIntegrity (malformed header), kInvalidArgument (a key of the wrong type
// or length, a token id outside the vocabulary).
Result<TokenizerSource> LoadTokenizerSource(const std::string& path);

// Copies every `tokenizer.*` key-value of `source` into `out`, in the
// source's order, replacing keys of the same name.
void CopyTokenizer(const TokenizerSource& source, gguf_context* out);

}  // namespace ota::runtime_adapter

#endif  // OTA_RUNTIME_ADAPTER_SRC_SYNTH_TOKENIZER_H_
