// ModelInfo's generation facts (runtime.h, GenerationFact) of a model loaded
// by llama.cpp: what changes generation without changing a weight.
#ifndef OTA_RUNTIME_ADAPTER_SRC_GENERATION_FACTS_H_
#define OTA_RUNTIME_ADAPTER_SRC_GENERATION_FACTS_H_

#include <llama.h>

#include "gguf_probe.h"
#include "ota/runtime_adapter/runtime.h"

namespace ota::runtime_adapter {

// Fills info.generation_facts (sorted by name), info.end_of_generation and
// info.chat_template. Needs info.vocab_fingerprint and info.architecture.
void DescribeGeneration(const llama_model* model, const GgufSummary& summary, ModelInfo& info);

}  // namespace ota::runtime_adapter

#endif  // OTA_RUNTIME_ADAPTER_SRC_GENERATION_FACTS_H_
