#include "host_transport.h"

#include <algorithm>
#include <cctype>
#include <exception>
#include <optional>
#include <string>
#include <vector>

// What a transport writes its answer into (ota/agent.h).
struct ota_transport_response {
  const ota::HttpRequest* request = nullptr;
  const ota::HttpBodySink* sink = nullptr;
  ota::HttpResponse response;
  bool status_set = false;
  // The updater wants no more bytes: `error` says why, or the answer is
  // complete as far as the updater cares (a range the server ignored).
  bool stopped = false;
  std::optional<ota::Error> error;
};

namespace ota::agent {
namespace {

// Non-2xx bodies are kept for error messages only.
constexpr std::uint64_t kMaxErrorBody = 64 * 1024;

bool IsSuccess(int status) { return status >= 200 && status < 300; }

// A 200 to a range request, or a 206 for another range: the libcurl client's
// rule (ota/common/http.h) is that such an answer reaches no sink.
bool WrongRange(const ota_transport_response& r) {
  if (!r.request->range_start) return false;
  if (r.response.status == 200) return true;
  if (r.response.status != 206) return false;
  auto range = r.response.Header("content-range");
  return !range || ContentRangeStart(*range) != r.request->range_start;
}

int Stop(ota_transport_response* r, std::optional<Error> error) {
  r->stopped = true;
  if (error && !r->error) r->error = std::move(error);
  return 1;
}

}  // namespace

Result<HttpResponse> HostTransportClient::Fetch(const HttpRequest& request,
                                                const HttpBodySink& sink) {
  if (transport_.fetch == nullptr) {
    return MakeError(ErrorCode::kInvalidArgument, "the host transport has no fetch function");
  }
  std::vector<std::string> names;
  std::vector<std::string> values;
  for (const auto& [name, value] : request.headers) {
    names.push_back(name);
    values.push_back(value);
  }
  std::vector<const char*> name_ptrs;
  std::vector<const char*> value_ptrs;
  for (std::size_t i = 0; i < names.size(); ++i) {
    name_ptrs.push_back(names[i].c_str());
    value_ptrs.push_back(values[i].c_str());
  }
  ota_transport_request c{};
  c.method = request.method.c_str();
  c.url = request.url.c_str();
  c.header_names = name_ptrs.data();
  c.header_values = value_ptrs.data();
  c.header_count = names.size();
  c.body = request.body.data();
  c.body_len = request.body.size();
  c.range_start = request.range_start ? static_cast<long long>(*request.range_start) : -1;
  ota_transport_response answer;
  answer.request = &request;
  answer.sink = &sink;
  const ota_status status = transport_.fetch(transport_.user, &c, &answer);
  if (answer.error) return *answer.error;
  if (status != OTA_OK && !answer.stopped) {
    return MakeError(status == OTA_ERR_CANCELLED ? ErrorCode::kCancelled : ErrorCode::kRetryLater,
                     "the host transport failed (" + std::string(ota_status_name(status)) +
                         ") for " + request.url);
  }
  if (!answer.status_set) {
    return MakeError(ErrorCode::kRetryLater,
                     "the host transport gave no HTTP status for " + request.url);
  }
  return std::move(answer.response);
}

}  // namespace ota::agent

extern "C" {

void ota_transport_set_status(ota_transport_response* r, int http_status) {
  if (r == nullptr || r->status_set) return;
  r->status_set = true;
  r->response.status = http_status;
}

void ota_transport_add_header(ota_transport_response* r, const char* name, const char* value) {
  if (r == nullptr || name == nullptr || value == nullptr) return;
  try {
    std::string lower(name);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    for (auto& [n, v] : r->response.headers) {
      if (n == lower) {
        v = value;  // The last value wins, as with the libcurl client.
        return;
      }
    }
    r->response.headers.emplace_back(std::move(lower), value);
  } catch (const std::exception& e) {
    ota::agent::Stop(r, ota::MakeError(ota::ErrorCode::kInternal, e.what()));
  }
}

int ota_transport_write(ota_transport_response* r, const void* data, size_t len) {
  if (r == nullptr) return 1;
  if (r->stopped) return 1;
  if (data == nullptr && len > 0) return 1;
  if (!r->status_set) {
    return ota::agent::Stop(r, ota::MakeError(ota::ErrorCode::kRetryLater,
                                              "the host transport wrote a body before its status"));
  }
  try {
    const ota::HttpRequest& request = *r->request;
    if (r->response.body_bytes + len > request.max_body_bytes) {
      return ota::agent::Stop(
          r, ota::MakeError(ota::ErrorCode::kIntegrity,
                            request.url + ": the answer is longer than " +
                                std::to_string(request.max_body_bytes) + " bytes"));
    }
    if (ota::agent::WrongRange(*r)) return ota::agent::Stop(r, std::nullopt);
    r->response.body_bytes += len;
    const auto* bytes = static_cast<const std::uint8_t*>(data);
    if (ota::agent::IsSuccess(r->response.status) && *r->sink) {
      ota::Status s = (*r->sink)(std::span<const std::uint8_t>(bytes, len));
      if (!s.ok()) return ota::agent::Stop(r, std::move(s).error());
      return 0;
    }
    // A 2xx answer without a sink is the body asked for; any other is kept
    // for its message only.
    std::uint64_t keep = len;
    if (!ota::agent::IsSuccess(r->response.status)) {
      const std::uint64_t held = r->response.body.size();
      keep = held >= ota::agent::kMaxErrorBody
                 ? 0
                 : std::min<std::uint64_t>(len, ota::agent::kMaxErrorBody - held);
    }
    r->response.body.append(reinterpret_cast<const char*>(bytes), static_cast<std::size_t>(keep));
    return 0;
  } catch (const std::exception& e) {
    return ota::agent::Stop(r, ota::MakeError(ota::ErrorCode::kInternal, e.what()));
  }
}

}  // extern "C"
