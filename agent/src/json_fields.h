// Type-checked reads of JSON that comes from outside the agent: server
// answers and the custom data of signed targets. nlohmann's value(), get<>
// and operator[] throw (or assert) when a field has another type than
// expected; these never do. A missing field and a field of the wrong type
// both read as "absent".
#ifndef OTA_AGENT_SRC_JSON_FIELDS_H_
#define OTA_AGENT_SRC_JSON_FIELDS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace ota::agent {

// The string at `key` of `object`, if `object` is an object holding a string
// there.
std::optional<std::string> StringField(const nlohmann::json& object, std::string_view key);

// StringField, or "" when absent: for comparisons with a non-empty expected
// value.
std::string StringFieldOr(const nlohmann::json& object, std::string_view key);

// The integer at `key` of `object`, if it is an integer that fits in int64
// (floats such as 1e18, and unsigned values above INT64_MAX, are absent).
std::optional<std::int64_t> IntField(const nlohmann::json& object, std::string_view key);

// The member at `key` of `object`, or null when `object` is not an object or
// has no such member. Never inserts (unlike operator[] on a non-const json).
const nlohmann::json& MemberOrNull(const nlohmann::json& object, std::string_view key);

}  // namespace ota::agent

#endif  // OTA_AGENT_SRC_JSON_FIELDS_H_
