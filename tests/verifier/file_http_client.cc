#include "file_http_client.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace ota::testing {
namespace {

std::string PercentDecode(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

bool FileHttpClient::WasRequested(const std::string& relative_path) const {
  return std::find(requests_.begin(), requests_.end(), relative_path) != requests_.end();
}

Result<HttpResponse> FileHttpClient::Fetch(const HttpRequest& request, const HttpBodySink& sink) {
  if (request.url.rfind(base_url_, 0) != 0) {
    return MakeError(ErrorCode::kRetryLater, "cannot connect to " + request.url);
  }
  const std::string rel = PercentDecode(request.url.substr(base_url_.size()));
  requests_.push_back(rel);
  HttpResponse response;
  auto canned = overrides_.find(rel);
  if (canned != overrides_.end()) {
    response.status = canned->second.status;
    response.body = canned->second.body;
  } else {
    const std::filesystem::path path = std::filesystem::path(root_dir_) / rel;
    std::error_code ec;
    if (rel.find("..") != std::string::npos || !std::filesystem::is_regular_file(path, ec)) {
      response.status = 404;
      response.body = "not found";
    } else {
      std::ifstream in(path, std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      response.status = 200;
      response.body = ss.str();
    }
  }
  if (response.body.size() > request.max_body_bytes) {
    return MakeError(ErrorCode::kIntegrity,
                     "response body exceeds " + std::to_string(request.max_body_bytes) + " bytes");
  }
  response.body_bytes = response.body.size();
  if (sink && response.status / 100 == 2) {
    OTA_TRY(sink(std::span<const std::uint8_t>(
        reinterpret_cast<const std::uint8_t*>(response.body.data()), response.body.size())));
    response.body.clear();
  }
  return response;
}

}  // namespace ota::testing
