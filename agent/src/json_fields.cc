#include "json_fields.h"

#include <limits>

namespace ota::agent {

const nlohmann::json& MemberOrNull(const nlohmann::json& object, std::string_view key) {
  static const nlohmann::json kNull;
  if (!object.is_object()) return kNull;
  auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

std::optional<std::string> StringField(const nlohmann::json& object, std::string_view key) {
  const nlohmann::json& v = MemberOrNull(object, key);
  if (!v.is_string()) return std::nullopt;
  return v.get_ref<const std::string&>();
}

std::string StringFieldOr(const nlohmann::json& object, std::string_view key) {
  return StringField(object, key).value_or("");
}

std::optional<std::int64_t> IntField(const nlohmann::json& object, std::string_view key) {
  const nlohmann::json& v = MemberOrNull(object, key);
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return std::nullopt;
    }
    return static_cast<std::int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<std::int64_t>();
  return std::nullopt;
}

}  // namespace ota::agent
