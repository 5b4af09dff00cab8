// llama.cpp's and ggml's log lines, for code beside the llama runtime that
// calls ggml directly (test-model synthesis): they go to ModelOTA's logger at
// debug level instead of stderr, and a failed call can say why.
#ifndef OTA_RUNTIME_ADAPTER_SRC_LLAMA_LOG_H_
#define OTA_RUNTIME_ADAPTER_SRC_LLAMA_LOG_H_

#include <string>

namespace ota::runtime_adapter {

// Installs the log forwarding (and initializes the llama.cpp backend) once
// per process. Thread-safe.
void EnsureLlamaLogging();

// The error lines llama.cpp or ggml logged on this thread since the last
// call, joined by "; "; empty when there were none.
std::string TakeLlamaLogErrors();

}  // namespace ota::runtime_adapter

#endif  // OTA_RUNTIME_ADAPTER_SRC_LLAMA_LOG_H_
