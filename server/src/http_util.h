// Small utilities shared by the server's handlers.
#ifndef OTA_SERVER_HTTP_UTIL_H_
#define OTA_SERVER_HTTP_UTIL_H_

#include <httplib.h>

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace ota::server {

inline void SetJson(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  // Replace, rather than escape, invalid UTF-8 that may come from request
  // paths echoed in messages: dump() would otherwise throw.
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  "application/json");
}

inline void SetJsonError(httplib::Response& res, int status, std::string_view message) {
  SetJson(res, status, nlohmann::json{{"error", message}});
}

// Per-request bookkeeping for the access log. httplib handles a request from
// its first byte to the log call on one worker thread and offers no
// per-request user data, so the record lives in thread-local storage.
struct RequestTrace {
  std::chrono::steady_clock::time_point start;
  std::uint64_t body_bytes = 0;  // Bytes written by content providers.
  bool active = false;
};

inline RequestTrace& CurrentTrace() {
  thread_local RequestTrace trace;
  return trace;
}

}  // namespace ota::server

#endif  // OTA_SERVER_HTTP_UTIL_H_
