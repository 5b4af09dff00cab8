#include "llama_log.h"

#include <ggml.h>
#include <llama.h>

#include <mutex>
#include <vector>

#include "ota/common/log.h"

namespace ota::runtime_adapter {
namespace {

constexpr std::size_t kMaxLogLine = 4096;
constexpr std::size_t kMaxErrorLines = 4;

// One line being assembled from the callback's pieces, per thread: llama.cpp
// logs from the thread that made the call.
struct LogCapture {
  std::string line;
  ggml_log_level level = GGML_LOG_LEVEL_INFO;
  std::vector<std::string> errors;  // The latest kMaxErrorLines error lines.
};
thread_local LogCapture t_log;

// Ends the line being assembled: kept if it is an error, then logged.
void FlushLine() {
  if (t_log.level == GGML_LOG_LEVEL_ERROR) {
    if (t_log.errors.size() == kMaxErrorLines) t_log.errors.erase(t_log.errors.begin());
    t_log.errors.push_back(t_log.line);
  }
  if (GetLogLevel() <= LogLevel::kDebug) Log(LogLevel::kDebug, "llama.cpp", t_log.line);
  t_log.line.clear();
}

void ForwardLog(ggml_log_level level, const char* text, void* /*user_data*/) {
  if (text == nullptr) return;
  if (level != GGML_LOG_LEVEL_CONT) {
    // A new message: a previous one left without its newline (llama.cpp's
    // progress lines) ends here rather than run into this one.
    if (!t_log.line.empty()) FlushLine();
    t_log.level = level;
  }
  if (t_log.line.size() < kMaxLogLine) t_log.line += text;
  if (t_log.line.empty() || t_log.line.back() != '\n') return;
  t_log.line.pop_back();
  FlushLine();
}

}  // namespace

void EnsureLlamaBackend() {
  static std::once_flag once;
  std::call_once(once, [] {
    llama_log_set(ForwardLog, nullptr);
    ggml_log_set(ForwardLog, nullptr);
    llama_backend_init();
  });
}

void ClearLlamaErrors() { t_log.errors.clear(); }

std::string TakeLlamaErrors() {
  std::string joined;
  for (const std::string& line : t_log.errors) joined += (joined.empty() ? "" : "; ") + line;
  t_log.errors.clear();
  return joined;
}

std::string LastLlamaError() {
  const std::string reason = TakeLlamaErrors();
  return reason.empty() ? "" : " (llama.cpp: " + reason + ")";
}

}  // namespace ota::runtime_adapter
