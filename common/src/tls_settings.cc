// Checking TLS trust settings and stamping them on requests. No libcurl
// here: the curl client (curl_http_client.cc) enforces what this checks.
#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "ota/common/tls.h"

namespace ota {
namespace {

// Large enough for any sensible CA bundle (Mozilla's is about 220 KiB).
constexpr std::uint64_t kMaxCaBundleBytes = 4 << 20;

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

class TlsHttpClient : public HttpClient {
 public:
  TlsHttpClient(HttpClient& inner, TlsSettings settings)
      : inner_(inner), settings_(std::move(settings)) {}

  Result<HttpResponse> Fetch(const HttpRequest& request, const HttpBodySink& sink) override {
    HttpRequest with_tls = request;
    with_tls.tls = settings_;
    return inner_.Fetch(with_tls, sink);
  }

 private:
  HttpClient& inner_;
  TlsSettings settings_;
};

}  // namespace

Status ValidatePinSha256(const std::string& pin) {
  const std::string shown = "public-key pin \"" + pin + "\"";
  if (std::string_view(pin).starts_with(kPinPrefix)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     shown + ": give the base64 digest without the \"sha256//\" prefix");
  }
  // 32 bytes in base64: 43 characters and one "=".
  if (pin.size() != 44 || pin.back() != '=') {
    return MakeError(ErrorCode::kInvalidArgument,
                     shown +
                         " is not the base64 of a SHA-256 digest (44 characters ending in "
                         "\"=\")");
  }
  for (std::size_t i = 0; i + 1 < pin.size(); ++i) {
    if (Base64Value(pin[i]) < 0) {
      return MakeError(
          ErrorCode::kInvalidArgument,
          shown + " has a character that is not base64 at position " + std::to_string(i + 1));
    }
  }
  // The last digit carries 2 bits of padding, which must be zero.
  if ((Base64Value(pin[42]) & 0x3) != 0) {
    return MakeError(ErrorCode::kInvalidArgument, shown + " is not canonical base64");
  }
  return Ok();
}

Status ValidateTlsSettings(FileSystem& fs, const TlsSettings& settings) {
  for (std::size_t i = 0; i < settings.pinned_sha256.size(); ++i) {
    OTA_TRY(ValidatePinSha256(settings.pinned_sha256[i]));
    if (std::find(settings.pinned_sha256.begin(), settings.pinned_sha256.begin() + i,
                  settings.pinned_sha256[i]) != settings.pinned_sha256.begin() + i) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "public-key pin \"" + settings.pinned_sha256[i] + "\" is given twice");
    }
  }
  if (settings.ca_bundle_file.empty()) return Ok();
  Result<std::string> pem = fs.ReadFile(settings.ca_bundle_file, kMaxCaBundleBytes);
  if (!pem.ok()) {
    return MakeError(ErrorCode::kInvalidArgument, "CA bundle " + settings.ca_bundle_file +
                                                      " cannot be read: " + pem.error().message);
  }
  if (pem->find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "CA bundle " + settings.ca_bundle_file + " holds no PEM certificate");
  }
  return Ok();
}

Result<std::unique_ptr<HttpClient>> MakeTlsHttpClient(FileSystem& fs, HttpClient& inner,
                                                      TlsSettings settings) {
  OTA_TRY(ValidateTlsSettings(fs, settings));
  return std::unique_ptr<HttpClient>(std::make_unique<TlsHttpClient>(inner, std::move(settings)));
}

}  // namespace ota
