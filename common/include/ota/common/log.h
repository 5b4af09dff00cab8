// Minimal leveled logging to stderr: "LEVEL component: message".
#ifndef OTA_COMMON_LOG_H_
#define OTA_COMMON_LOG_H_

#include <string_view>

namespace ota {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3, kOff = 4 };

// Process-wide threshold (default kInfo); set once at startup by main().
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
void Log(LogLevel level, std::string_view component, std::string_view message);

}  // namespace ota

#endif  // OTA_COMMON_LOG_H_
