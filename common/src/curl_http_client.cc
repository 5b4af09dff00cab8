// libcurl implementation of the HttpClient seam. This is the only file in the
// code base that includes curl.h.
#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "ota/common/http.h"
#include "ota/common/tls.h"

namespace ota {

namespace {

// Error bodies are kept only for messages; a hostile server must not make us
// buffer more than this.
constexpr std::size_t kMaxErrorBodyBytes = 64 * 1024;

void GlobalInitOnce() {
  static std::once_flag once;
  // curl_global_init is not thread-safe; every client funnels through here.
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool HasLineBreak(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

// Loopback must never go through a proxy (test servers, local agents), but an
// operator's NO_PROXY list must keep working, so extend it instead of
// replacing it.
const std::string& NoProxyList() {
  static const std::string list = [] {
    std::string out = "127.0.0.1,localhost,::1";
    for (const char* name : {"NO_PROXY", "no_proxy"}) {
      const char* value = std::getenv(name);
      if (value != nullptr && *value != '\0') return std::string(value) + "," + out;
    }
    return out;
  }();
  return list;
}

// Everything one transfer needs inside curl's callbacks.
struct Transfer {
  const HttpRequest* request = nullptr;
  const HttpBodySink* sink = nullptr;
  HttpResponse response;
  // Set when we abort from a callback; Fetch returns it instead of curl's code.
  std::optional<Error> abort_error;
  // A ranged request answered with the whole file (200): stopped before any
  // byte reached the sink.
  bool range_ignored = false;
  // A ranged request answered with another range (206 with a Content-Range
  // that does not start where asked): stopped the same way.
  bool range_mismatch = false;
  // Low-speed rule: bytes seen at the start of the current window.
  std::chrono::steady_clock::time_point window_start;
  std::uint64_t window_start_bytes = 0;

  bool IsHead() const { return request->method == "HEAD"; }
  bool Is2xx() const { return response.status >= 200 && response.status < 300; }
  std::string Describe() const { return request->method + " " + request->url; }
};

void OnStatusLine(Transfer& t, std::string_view line) {
  // A new status line starts a new header block (100 Continue, then the final
  // answer): only the last block describes the body we receive.
  t.response.headers.clear();
  std::size_t space = line.find(' ');
  if (space == std::string_view::npos) return;
  std::string_view code = line.substr(space + 1, 3);
  int status = 0;
  auto [ptr, ec] = std::from_chars(code.data(), code.data() + code.size(), status);
  if (ec == std::errc() && ptr == code.data() + code.size()) t.response.status = status;
}

// Rejects an announced body that is over the cap before a byte of it arrives.
bool CheckContentLength(Transfer& t, std::string_view value) {
  if (t.IsHead() || t.response.status < 200) return true;
  std::uint64_t length = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), length);
  bool overflow = ec == std::errc::result_out_of_range;
  if (!overflow && (ec != std::errc() || ptr != value.data() + value.size())) {
    return true;  // Malformed: curl itself rejects it.
  }
  if (overflow || length > t.request->max_body_bytes) {
    t.abort_error =
        MakeError(ErrorCode::kIntegrity, t.Describe() + ": Content-Length " + std::string(value) +
                                             " exceeds the cap of " +
                                             std::to_string(t.request->max_body_bytes) + " bytes");
    return false;
  }
  return true;
}

size_t HeaderCallback(char* data, size_t size, size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const size_t n = size * count;
  std::string_view line(data, n);
  if (line.starts_with("HTTP/")) {
    OnStatusLine(t, Trim(line));
    return n;
  }
  auto& headers = t.response.headers;
  if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
    // Obsolete line folding: the line continues the previous value.
    if (!headers.empty()) {
      std::string_view more = Trim(line);
      if (!more.empty()) headers.back().second += " " + std::string(more);
    }
    return n;
  }
  std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) return n;  // The blank end-of-block line.
  std::string name = Lower(Trim(line.substr(0, colon)));
  std::string value(Trim(line.substr(colon + 1)));
  if (name == "content-length" && !CheckContentLength(t, value)) return 0;
  auto existing =
      std::find_if(headers.begin(), headers.end(), [&](const auto& h) { return h.first == name; });
  if (existing != headers.end()) {
    existing->second = std::move(value);  // Last value wins.
  } else {
    headers.emplace_back(std::move(name), std::move(value));
  }
  return n;
}

size_t WriteCallback(char* data, size_t size, size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (t.request->range_start && t.response.status == 200) {
    t.range_ignored = true;
    return 0;
  }
  if (t.request->range_start && t.response.status == 206 && t.response.body_bytes == 0 &&
      ContentRangeStart(t.response.Header("content-range").value_or("")) !=
          t.request->range_start) {
    t.range_mismatch = true;
    return 0;
  }
  const std::uint64_t cap = t.request->max_body_bytes;
  if (t.response.body_bytes > cap || n > cap - t.response.body_bytes) {
    t.abort_error = MakeError(ErrorCode::kIntegrity, "response body of " + t.Describe() +
                                                         " exceeds the cap of " +
                                                         std::to_string(cap) + " bytes");
    return 0;  // Any count other than n makes curl abort the transfer.
  }
  t.response.body_bytes += n;
  if (!t.Is2xx()) {
    std::size_t room = kMaxErrorBodyBytes - std::min(kMaxErrorBodyBytes, t.response.body.size());
    t.response.body.append(data, std::min(room, n));
    return n;
  }
  if (t.sink != nullptr && *t.sink) {
    Status s =
        (*t.sink)(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(data), n));
    if (!s.ok()) {
      t.abort_error = std::move(s).error();
      return 0;
    }
    return n;
  }
  t.response.body.append(data, n);
  return n;
}

// Implements "fewer than low_speed_bytes per low_speed_window" exactly, in
// both directions, which curl's bytes-per-second rule cannot express.
int ProgressCallback(void* user, curl_off_t /*dltotal*/, curl_off_t dlnow, curl_off_t /*ultotal*/,
                     curl_off_t ulnow) {
  auto& t = *static_cast<Transfer*>(user);
  if (t.request->low_speed_bytes == 0 || t.request->low_speed_window.count() <= 0) return 0;
  const auto now = std::chrono::steady_clock::now();
  const std::uint64_t moved = static_cast<std::uint64_t>(dlnow) + static_cast<std::uint64_t>(ulnow);
  if (now - t.window_start < t.request->low_speed_window) return 0;
  if (moved - t.window_start_bytes < t.request->low_speed_bytes) {
    t.abort_error = MakeError(ErrorCode::kRetryLater,
                              t.Describe() + ": transfer stalled: fewer than " +
                                  std::to_string(t.request->low_speed_bytes) + " bytes in " +
                                  std::to_string(t.request->low_speed_window.count()) + " s");
    return 1;
  }
  t.window_start = now;
  t.window_start_bytes = moved;
  return 0;
}

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

Status AppendHeader(Slist& list, const std::string& line) {
  curl_slist* grown = curl_slist_append(list.get(), line.c_str());
  if (grown == nullptr) return MakeError(ErrorCode::kInternal, "out of memory building headers");
  (void)list.release();  // curl_slist_append returned the same list, now longer.
  list.reset(grown);
  return Ok();
}

Result<Slist> BuildHeaders(const HttpRequest& request) {
  Slist list;
  bool caller_sets_expect = false;
  for (const auto& [name, value] : request.headers) {
    if (name.empty() || HasLineBreak(name) || HasLineBreak(value) ||
        name.find(':') != std::string::npos) {
      return MakeError(ErrorCode::kInvalidArgument, "invalid HTTP header name or value: " + name);
    }
    if (Lower(name) == "expect") caller_sets_expect = true;
    OTA_TRY(AppendHeader(list, name + ": " + value));
  }
  if (request.range_start) {
    OTA_TRY(AppendHeader(list, "Range: bytes=" + std::to_string(*request.range_start) + "-"));
  }
  // curl would otherwise add "Expect: 100-continue" to larger POSTs and stall
  // on servers that never answer it.
  if (!caller_sets_expect) OTA_TRY(AppendHeader(list, "Expect:"));
  return list;
}

// "sha256//A;sha256//B", as CURLOPT_PINNEDPUBLICKEY takes several pins.
Result<std::string> PinList(const TlsSettings& tls) {
  std::string out;
  for (const std::string& pin : tls.pinned_sha256) {
    OTA_TRY(ValidatePinSha256(pin));
    if (!out.empty()) out += ";";
    out += kPinPrefix + pin;
  }
  return out;
}

// Verification is not optional: every https transfer checks the chain, the
// host name and (when pinned) the key, with TLS 1.2 at least.
void ApplyTls(CURL* h, const TlsSettings& tls, const std::string& pins) {
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(h, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  if (!tls.ca_bundle_file.empty()) {
    curl_easy_setopt(h, CURLOPT_CAINFO, tls.ca_bundle_file.c_str());
    // Only the configured bundle: the system's certificate folder would
    // otherwise be trusted beside it.
    curl_easy_setopt(h, CURLOPT_CAPATH, nullptr);
  }
  if (!pins.empty()) curl_easy_setopt(h, CURLOPT_PINNEDPUBLICKEY, pins.c_str());
}

// What the caller should do about a failed transfer, and how to say it.
Error ErrorForCurl(CURLcode rc, const std::string& what, const std::string& detail) {
  switch (rc) {
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return MakeError(ErrorCode::kInvalidArgument, what + ": " + detail);
    case CURLE_OUT_OF_MEMORY:
      return MakeError(ErrorCode::kInternal, what + ": " + detail);
    // Trust failures: the server is not who the settings say it must be.
    // Not transient (retrying reaches the same server), not the artifact's
    // fault (no byte of it was read).
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_INVALIDCERTSTATUS:
      return MakeError(ErrorCode::kSecurity,
                       "TLS: " + what + ": the server's certificate is not trusted: " + detail);
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
      return MakeError(
          ErrorCode::kSecurity,
          "TLS: " + what + ": the server's public key matches none of the pins: " + detail);
    case CURLE_SSL_CACERT_BADFILE:
      return MakeError(ErrorCode::kInvalidArgument,
                       "TLS: " + what + ": the CA bundle cannot be used: " + detail);
    case CURLE_SSL_CONNECT_ERROR:
      return MakeError(ErrorCode::kRetryLater, "TLS: " + what + ": handshake failed: " + detail);
    default:
      return MakeError(ErrorCode::kRetryLater, what + ": " + detail);
  }
}

class CurlHttpClient : public HttpClient {
 public:
  CurlHttpClient() : handle_(curl_easy_init()) {}
  ~CurlHttpClient() override {
    if (handle_ != nullptr) curl_easy_cleanup(handle_);
  }
  CurlHttpClient(const CurlHttpClient&) = delete;
  CurlHttpClient& operator=(const CurlHttpClient&) = delete;

  Result<HttpResponse> Fetch(const HttpRequest& request, const HttpBodySink& sink) override {
    if (handle_ == nullptr) return MakeError(ErrorCode::kInternal, "curl_easy_init failed");
    if (request.method != "GET" && request.method != "POST" && request.method != "HEAD" &&
        request.method != "DELETE") {
      return MakeError(ErrorCode::kInvalidArgument, "unsupported HTTP method: " + request.method);
    }
    OTA_ASSIGN_OR_RETURN(Slist headers, BuildHeaders(request));
    OTA_ASSIGN_OR_RETURN(const std::string pins, PinList(request.tls));

    Transfer t;
    t.request = &request;
    t.sink = &sink;
    t.window_start = std::chrono::steady_clock::now();
    char error_text[CURL_ERROR_SIZE] = {};

    // Reset keeps the connection cache, so repeated fetches reuse sockets.
    curl_easy_reset(handle_);
    CURL* h = handle_;
    curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOPROXY, NoProxyList().c_str());
    curl_easy_setopt(h, CURLOPT_USERAGENT, "ModelOTA");
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_text);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
    ApplyTls(h, request.tls, pins);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(request.connect_timeout.count()));
    if (request.total_timeout.count() > 0) {
      curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(request.total_timeout.count()));
    }
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &HeaderCallback);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &WriteCallback);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &ProgressCallback);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &t);
    if (request.method == "HEAD") {
      curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (request.method == "DELETE") {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    } else if (request.method == "POST") {
      curl_easy_setopt(h, CURLOPT_POST, 1L);
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(request.body.size()));
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
    }

    CURLcode rc = curl_easy_perform(h);
    // The error buffer and header list live on this stack frame; make sure
    // the reused handle does not keep pointers to them.
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
    curl_easy_setopt(h, CURLOPT_PINNEDPUBLICKEY, nullptr);

    if (t.abort_error) return std::move(*t.abort_error);
    if (t.range_ignored || t.range_mismatch) return std::move(t.response);
    if (rc != CURLE_OK) {
      std::string detail = error_text[0] != '\0' ? error_text : curl_easy_strerror(rc);
      return ErrorForCurl(rc, t.Describe(), detail);
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    t.response.status = static_cast<int>(status);
    return std::move(t.response);
  }

 private:
  CURL* handle_;
};

}  // namespace

std::unique_ptr<HttpClient> MakeCurlHttpClient() {
  GlobalInitOnce();
  return std::make_unique<CurlHttpClient>();
}

}  // namespace ota
