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

// The stable error code of an HTTP status, for answers that need no finer
// code (docs/server-api.md, "Errors").
inline std::string_view ErrorCodeForStatus(int status) {
  switch (status) {
    case 400:
      return "bad-request";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not-found";
    case 405:
      return "method-not-allowed";
    case 408:
      return "request-timeout";
    case 409:
      return "conflict";
    case 410:
      return "gone";
    case 411:
      return "length-required";
    case 413:
      return "payload-too-large";
    case 414:
      return "uri-too-long";
    case 416:
      return "range-not-satisfiable";
    case 429:
      return "rate-limited";
    case 431:
      return "headers-too-large";
    case 503:
      return "unavailable";
    default:
      return status >= 500 ? "internal" : "bad-request";
  }
}

// Every error answer: {"error": "<one-line message>", "code": "<code>"}.
inline void SetJsonError(httplib::Response& res, int status, std::string_view code,
                         std::string_view message) {
  SetJson(res, status, nlohmann::json{{"error", message}, {"code", code}});
}

inline void SetJsonError(httplib::Response& res, int status, std::string_view message) {
  SetJsonError(res, status, ErrorCodeForStatus(status), message);
}

// docs/openapi.yaml, embedded at build time (served at GET /v1/openapi.yaml).
std::string_view OpenApiDocument();

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
