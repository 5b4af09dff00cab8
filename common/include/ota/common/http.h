// HTTP seam. The production implementation is libcurl (the only place in the
// code base that includes curl.h).
//
// Designed for hostile servers: every request carries a hard byte cap, the
// body can be streamed to a sink (bounded memory), and timeouts are explicit.
#ifndef OTA_COMMON_HTTP_H_
#define OTA_COMMON_HTTP_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ota/common/result.h"

namespace ota {

// Whom an https:// server must prove to be (docs/security.md, "TLS").
// Peer and host name verification are always on for https and TLS 1.2 is
// the minimum; there is deliberately no switch to turn verification off.
// Ignored for http:// URLs. Check settings with ValidateTlsSettings
// (ota/common/tls.h) before use.
struct TlsSettings {
  // PEM file of the CAs to trust instead of the system store. Empty: the
  // system store.
  std::string ca_bundle_file;
  // Base64 SHA-256 digests of the server's SubjectPublicKeyInfo (what
  // `openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`
  // prints), without the "sha256//" prefix. Non-empty: the server's key must
  // match one of them as well as chain to a trusted CA.
  std::vector<std::string> pinned_sha256;

  bool operator==(const TlsSettings&) const = default;
};

struct HttpRequest {
  std::string method = "GET";  // GET, POST, HEAD or DELETE (no body).
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // Sent with POST.
  // When set, sends "Range: bytes=<range_start>-"; a 206 answer is then
  // expected. A 200 means the server ignored the range, and a 206 whose
  // Content-Range does not start at range_start answers another range: in
  // both cases the transfer stops before any body byte reaches the sink and
  // Fetch returns that answer (the caller checks ContentRangeStart).
  std::optional<std::uint64_t> range_start;
  // Hard cap on body bytes received. Exceeding it aborts the transfer with
  // kIntegrity (endless-data attack). Required: there is no unlimited mode.
  std::uint64_t max_body_bytes = 16 * 1024 * 1024;
  std::chrono::milliseconds connect_timeout{10'000};
  // Abort if fewer than low_speed_bytes arrive per low_speed_window.
  std::uint64_t low_speed_bytes = 1;
  std::chrono::seconds low_speed_window{30};
  // Overall limit for the whole transfer (0 = none beyond the low-speed rule).
  std::chrono::milliseconds total_timeout{0};
  // Trust settings for https:// URLs.
  TlsSettings tls;
};

struct HttpResponse {
  int status = 0;
  // Header names are lower-cased; last value wins.
  std::vector<std::pair<std::string, std::string>> headers;
  // The body, unless a sink consumed it.
  std::string body;
  // Body bytes received (whether buffered or sunk).
  std::uint64_t body_bytes = 0;

  // Value of a header by lower-case name, if present.
  std::optional<std::string> Header(const std::string& lower_name) const;
};

// Receives body bytes as they arrive. Returning an error aborts the transfer
// and Fetch() returns that error.
using HttpBodySink = std::function<Status(std::span<const std::uint8_t>)>;

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // Performs the request. Transport failures (refused, reset, timeout,
  // truncated body, a TLS handshake cut short) are kRetryLater; a body longer
  // than max_body_bytes is kIntegrity. An https server that fails
  // verification (a certificate no trusted CA signed, a name that does not
  // match the URL's host, a public key matching no pin) is kSecurity with a
  // message starting "TLS: ": a trust problem of the connection, never a
  // verdict on the artifact. Malformed TLS settings or an unreadable CA
  // bundle are kInvalidArgument. Any HTTP status is a successful Fetch: callers inspect
  // `status`. With a sink, only 2xx bodies go to the sink; others are buffered
  // (up to 64 KiB) for error messages.
  virtual Result<HttpResponse> Fetch(const HttpRequest& request, const HttpBodySink& sink) = 0;
  Result<HttpResponse> Fetch(const HttpRequest& request) { return Fetch(request, nullptr); }
};

// The first byte position of a Content-Range value "bytes a-b/total" (or
// "bytes a-b/*"); nullopt when the value is not of that form.
std::optional<std::uint64_t> ContentRangeStart(std::string_view value);

// The wait a 429 or 503 answer's Retry-After header asks for: delta-seconds,
// or an HTTP-date taken relative to `now` (a date in the past asks for no
// wait). nullopt when the header is absent or unreadable.
std::optional<std::chrono::seconds> RetryAfter(const HttpResponse& response,
                                               std::chrono::system_clock::time_point now);

// libcurl-backed client (library ota_common_http; the rest of this header is
// ota_common). Thread-compatible: use one per thread.
std::unique_ptr<HttpClient> MakeCurlHttpClient();

}  // namespace ota

#endif  // OTA_COMMON_HTTP_H_
