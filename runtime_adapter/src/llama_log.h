// llama.cpp and ggml log through one process-wide callback. Every llama.cpp
// call of ModelOTA first calls EnsureLlamaBackend(), which installs the
// callback and initializes the backend once: log lines then go to our logger
// at debug level (never straight to stderr), and the error lines of the
// calling thread are kept so that a failed call can say why.
#ifndef OTA_RUNTIME_ADAPTER_SRC_LLAMA_LOG_H_
#define OTA_RUNTIME_ADAPTER_SRC_LLAMA_LOG_H_

#include <string>

namespace ota::runtime_adapter {

// Installs the log callback and runs llama_backend_init, once per process.
// Thread-safe.
void EnsureLlamaBackend();

// Forgets the error lines this thread logged so far.
void ClearLlamaErrors();

// The error lines logged on this thread since the last call (at most the
// latest four), joined by "; "; empty when there were none.
std::string TakeLlamaErrors();

// " (llama.cpp: <error lines>)", or "" when there were none.
std::string LastLlamaError();

}  // namespace ota::runtime_adapter

#endif  // OTA_RUNTIME_ADAPTER_SRC_LLAMA_LOG_H_
