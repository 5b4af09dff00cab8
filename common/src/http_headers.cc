// Reading response headers, and parsing those the downloader acts on. No
// libcurl here (library ota_common): fakes and the server's tests build
// responses without it.
#include <algorithm>
#include <ctime>
#include <optional>
#include <string>

#include "ota/common/http.h"

namespace ota {
namespace {

// Digits only, no sign, no overflow.
std::optional<std::uint64_t> ParseDigits(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

}  // namespace

std::optional<std::string> HttpResponse::Header(const std::string& lower_name) const {
  // Search from the back so that, even for responses built by fakes with
  // repeated names, the last value wins as the contract says.
  for (auto it = headers.rbegin(); it != headers.rend(); ++it) {
    if (it->first == lower_name) return it->second;
  }
  return std::nullopt;
}

std::optional<std::uint64_t> ContentRangeStart(std::string_view value) {
  constexpr std::string_view kPrefix = "bytes ";
  if (value.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  value.remove_prefix(kPrefix.size());
  const std::size_t dash = value.find('-');
  const std::size_t slash = value.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) {
    return std::nullopt;
  }
  const std::optional<std::uint64_t> first = ParseDigits(value.substr(0, dash));
  const std::optional<std::uint64_t> last = ParseDigits(value.substr(dash + 1, slash - dash - 1));
  const std::string_view total = value.substr(slash + 1);
  if (!first || !last || *last < *first || (total != "*" && !ParseDigits(total))) {
    return std::nullopt;
  }
  return first;
}

std::optional<std::chrono::seconds> RetryAfter(const HttpResponse& response,
                                               std::chrono::system_clock::time_point now) {
  const std::optional<std::string> value = response.Header("retry-after");
  if (!value) return std::nullopt;
  if (std::optional<std::uint64_t> seconds = ParseDigits(*value)) {
    // Bounded so that the duration cannot overflow; nobody waits a century.
    constexpr std::uint64_t kCap = 100ull * 365 * 24 * 3600;
    return std::chrono::seconds(static_cast<std::int64_t>(std::min(*seconds, kCap)));
  }
  // IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
  std::tm tm{};
  const char* end = ::strptime(value->c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  const std::time_t at = ::timegm(&tm);
  if (at == static_cast<std::time_t>(-1)) return std::nullopt;
  const auto wait = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::system_clock::from_time_t(at) - now);
  return wait.count() > 0 ? wait : std::chrono::seconds(0);
}

}  // namespace ota
