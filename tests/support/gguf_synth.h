// Synthetic llama-shaped GGUF models for delta tests and the delta benchmark:
// normally distributed weights (from a seed per tensor, so a tensor is the
// same in every file that holds it unchanged), stored as F16, BF16, Q8_0 or Q4_0
// blocks laid out as ggml does, and written tensor by tensor (memory: one
// tensor). Scenario edits describe how a target model differs from its base.
#ifndef OTA_TESTS_SUPPORT_GGUF_SYNTH_H_
#define OTA_TESTS_SUPPORT_GGUF_SYNTH_H_

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

namespace ota::testing {

enum class SynthType : std::uint32_t { kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ8_0 = 8, kBF16 = 30 };

struct SynthShape {
  int layers = 4;
  int n_embd = 384;
  int n_ff = 1024;
  int n_vocab = 4096;
  SynthType weight_type = SynthType::kF16;  // 2-D weights; norms stay F32.
};

// How the target differs from the base (all zero: identical).
struct SynthEdit {
  std::string chat_template = "{{ messages }}";  // Metadata string.
  int extra_vocab = 0;                           // Rows appended to token_embd and output.
  std::set<int> changed_layers;                  // Layers whose weights are nudged.
  bool all_tensors = false;                      // Nudge every tensor (full fine-tune).
  float nudge = 0.0f;                            // Std-dev of the nudge (weights: 0.02).
  int lora_rank = 0;  // Low-rank update on attn_q/attn_v of changed_layers.
  std::uint64_t nudge_seed = 1;
};

// Writes the model to `path`; returns false on an I/O error.
bool WriteSynthGguf(const std::string& path, const SynthShape& shape, const SynthEdit& edit);

// IEEE half from float (round to nearest even), as ggml stores F16.
std::uint16_t FloatToHalf(float f);
// bfloat16 from float (round to nearest even; NaN stays NaN), as ggml stores BF16.
std::uint16_t FloatToBf16(float f);

}  // namespace ota::testing

#endif  // OTA_TESTS_SUPPORT_GGUF_SYNTH_H_
