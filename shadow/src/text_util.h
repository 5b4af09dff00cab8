// Small text helpers for one-line error messages. Private to the shadow module.
#ifndef OTA_SHADOW_SRC_TEXT_UTIL_H_
#define OTA_SHADOW_SRC_TEXT_UTIL_H_

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace ota::shadow {

// Quotes untrusted text: control bytes masked, long values shortened.
inline std::string QuoteText(std::string_view s) {
  std::string out = "\"";
  for (char c : s.substr(0, 80)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? '?' : c);
  }
  if (s.size() > 80) out += "...";
  return out + "\"";
}

// A JSON integer >= 0, however it was built (parsed positive integers are
// unsigned, integers built in code are signed).
inline bool IsNonNegativeInteger(const nlohmann::json& v) {
  return v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0);
}

}  // namespace ota::shadow

#endif  // OTA_SHADOW_SRC_TEXT_UTIL_H_
