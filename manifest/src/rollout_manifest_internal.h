// Helpers shared by the rollout manifest's parser and validator. Private to
// the manifest module.
#ifndef OTA_MANIFEST_SRC_ROLLOUT_MANIFEST_INTERNAL_H_
#define OTA_MANIFEST_SRC_ROLLOUT_MANIFEST_INTERNAL_H_

#include <algorithm>
#include <string>
#include <string_view>

#include "ota/common/result.h"

namespace ota::manifest::rollout_internal {

inline Error Invalid(const std::string& message) {
  return MakeError(ErrorCode::kInvalidArgument, message);
}

// Quotes untrusted text for a one-line message: control bytes are masked and
// long values shortened.
inline std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s.substr(0, 80)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? '?' : c);
  }
  if (s.size() > 80) out += "...";
  return out + "\"";
}

// [a-z0-9][a-z0-9._-]{0,63}
inline bool IsToken(std::string_view s) {
  auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (s.empty() || s.size() > 64 || !lower_alnum(s[0])) return false;
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return lower_alnum(c) || c == '.' || c == '_' || c == '-'; });
}

inline std::string Index(const std::string& field, std::size_t i) {
  return field + "[" + std::to_string(i) + "]";
}

}  // namespace ota::manifest::rollout_internal

#endif  // OTA_MANIFEST_SRC_ROLLOUT_MANIFEST_INTERNAL_H_
