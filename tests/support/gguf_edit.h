// Copies a GGUF model with its key-values edited and its tensors untouched:
// "the same weights, different metadata", the models whose changes only the
// generation facts show (a new EOS id, chat template, context length, RoPE
// base, tokenizer flag). Uses ggml's GGUF API; built with llama.cpp only.
#ifndef OTA_TESTS_SUPPORT_GGUF_EDIT_H_
#define OTA_TESTS_SUPPORT_GGUF_EDIT_H_

#include <functional>
#include <string>

struct gguf_context;

namespace ota::testing {

// Reads `in`'s metadata, lets `edit` change it (gguf_set_val_*, gguf_remove_key
// and the like), and writes `out` as the new metadata followed by `in`'s tensor
// data. Returns an empty string on success, else the reason.
std::string EditGgufMetadata(const std::string& in, const std::string& out,
                             const std::function<void(gguf_context*)>& edit);

}  // namespace ota::testing

#endif  // OTA_TESTS_SUPPORT_GGUF_EDIT_H_
