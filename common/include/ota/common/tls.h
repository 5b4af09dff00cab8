// TLS trust settings: checking them, and applying them to every request of
// an HttpClient. The settings themselves (TlsSettings) are in http.h; the
// libcurl client enforces them (docs/security.md, "TLS").
#ifndef OTA_COMMON_TLS_H_
#define OTA_COMMON_TLS_H_

#include <memory>
#include <string>

#include "ota/common/filesystem.h"
#include "ota/common/http.h"
#include "ota/common/result.h"

namespace ota {

// The prefix libcurl expects before each pinned digest.
inline constexpr char kPinPrefix[] = "sha256//";

// Checks one pin: the standard base64 (44 characters, "=" padded) of a
// 32-byte SHA-256 digest, without the "sha256//" prefix. kInvalidArgument
// says what is wrong.
Status ValidatePinSha256(const std::string& pin);

// Checks settings before any connection: every pin well formed and no pin
// twice; the CA bundle, when set, readable through `fs` and holding at least
// one PEM certificate. kInvalidArgument names the setting and the problem.
Status ValidateTlsSettings(FileSystem& fs, const TlsSettings& settings);

// A client that gives every request `settings` (replacing the request's
// own) and forwards it to `inner`, which must outlive it. Validates the
// settings first (ValidateTlsSettings). Thread-compatible as `inner` is.
Result<std::unique_ptr<HttpClient>> MakeTlsHttpClient(FileSystem& fs, HttpClient& inner,
                                                      TlsSettings settings);

}  // namespace ota

#endif  // OTA_COMMON_TLS_H_
