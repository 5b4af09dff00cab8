#include "ota/shadow/checks.h"

#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <set>

#include "ota/manifest/canonical_json.h"
#include "text_util.h"

namespace ota::shadow {
namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 7> kTypeNames = {"null",   "boolean", "object", "array",
                                                        "number", "integer", "string"};
// RE2's compiled program may use at most this much memory.
constexpr std::int64_t kRegexMaxMemory = 1 << 20;

Error InvalidCheck(const std::string& message) {
  return MakeError(ErrorCode::kInvalidArgument, message);
}

Status CheckSpecKeys(const json& object, std::initializer_list<std::string_view> known,
                     const std::string& where) {
  for (const auto& item : object.items()) {
    if (std::find(known.begin(), known.end(), item.key()) == known.end()) {
      return InvalidCheck(where + " has the unknown field " + QuoteText(item.key()));
    }
  }
  return Ok();
}

bool HasType(const json& value, std::string_view type) {
  if (type == "null") return value.is_null();
  if (type == "boolean") return value.is_boolean();
  if (type == "object") return value.is_object();
  if (type == "array") return value.is_array();
  if (type == "string") return value.is_string();
  if (type == "number") return value.is_number();
  if (type == "integer") {
    if (value.is_number_integer()) return true;
    if (!value.is_number_float()) return false;
    const double d = value.get<double>();
    return std::isfinite(d) && std::floor(d) == d;
  }
  return false;
}

std::string JsonTypeOf(const json& value) {
  if (value.is_number_integer()) return "an integer";
  if (value.is_number()) return "a number";
  if (value.is_boolean()) return "a boolean";
  if (value.is_null()) return "null";
  const std::string name = value.type_name();
  return (name == "object" || name == "array" ? "an " : "a ") + name;
}

Status ValidateSchemaNode(const json& schema, const std::string& where, std::size_t depth,
                          std::size_t& nodes) {
  if (depth > kMaxSchemaDepth) {
    return InvalidCheck(where + ": nested deeper than " + std::to_string(kMaxSchemaDepth));
  }
  if (++nodes > kMaxSchemaNodes) {
    return InvalidCheck(where + ": the schema has more than " + std::to_string(kMaxSchemaNodes) +
                        " nodes");
  }
  if (!schema.is_object())
    return InvalidCheck(where + " must be an object, not " + JsonTypeOf(schema));
  for (const auto& [key, value] : schema.items()) {
    const std::string at = where + "." + key;
    if (key == "type") {
      std::vector<json> names;
      if (value.is_string()) {
        names.push_back(value);
      } else if (value.is_array() && !value.empty()) {
        names.assign(value.begin(), value.end());
      } else {
        return InvalidCheck(at + " must be a type name or a non-empty array of type names");
      }
      for (const json& n : names) {
        if (!n.is_string() || std::find(kTypeNames.begin(), kTypeNames.end(),
                                        n.get<std::string>()) == kTypeNames.end()) {
          return InvalidCheck(at + ": unknown type " +
                              (n.is_string() ? QuoteText(n.get<std::string>()) : n.dump()));
        }
      }
    } else if (key == "required") {
      if (!value.is_array()) return InvalidCheck(at + " must be an array of strings");
      std::set<std::string> seen;
      for (const json& n : value) {
        if (!n.is_string()) return InvalidCheck(at + " must be an array of strings");
        if (!seen.insert(n.get<std::string>()).second) {
          return InvalidCheck(at + " lists " + QuoteText(n.get<std::string>()) + " twice");
        }
      }
    } else if (key == "properties") {
      if (!value.is_object()) return InvalidCheck(at + " must be an object of schemas");
      for (const auto& [name, sub] : value.items()) {
        OTA_TRY(ValidateSchemaNode(sub, at + "." + name, depth + 1, nodes));
      }
    } else if (key == "items") {
      OTA_TRY(ValidateSchemaNode(value, at, depth + 1, nodes));
    } else if (key == "enum") {
      if (!value.is_array() || value.empty())
        return InvalidCheck(at + " must be a non-empty array");
    } else if (key == "title" || key == "description") {
      if (!value.is_string()) return InvalidCheck(at + " must be a string");
    } else {
      return InvalidCheck(
          where + ": unsupported keyword " + QuoteText(key) +
          " (supported: type, required, properties, enum, items, title, description)");
    }
  }
  return Ok();
}

bool Match(const json& schema, const json& value, const std::string& path, std::string* why) {
  auto fail = [&](const std::string& message) {
    if (why != nullptr) *why = path + ": " + message;
    return false;
  };
  if (auto it = schema.find("type"); it != schema.end()) {
    bool any = false;
    std::string expected;
    const std::vector<json> names =
        it->is_array() ? std::vector<json>(it->begin(), it->end()) : std::vector<json>{*it};
    for (const json& n : names) {
      if (!expected.empty()) expected += " or ";
      expected += n.get<std::string>();
      any = any || HasType(value, n.get<std::string>());
    }
    if (!any) return fail("is " + JsonTypeOf(value) + ", not " + expected);
  }
  if (auto it = schema.find("enum"); it != schema.end()) {
    if (std::find(it->begin(), it->end(), value) == it->end()) {
      return fail("is not one of the enum values");
    }
  }
  if (value.is_object()) {
    if (auto it = schema.find("required"); it != schema.end()) {
      for (const json& name : *it) {
        if (!value.contains(name.get<std::string>())) {
          return fail("lacks the required property " + QuoteText(name.get<std::string>()));
        }
      }
    }
    if (auto it = schema.find("properties"); it != schema.end()) {
      for (const auto& [name, sub] : it->items()) {
        auto member = value.find(name);
        if (member == value.end()) continue;
        if (!Match(sub, *member, path + "." + name, why)) return false;
      }
    }
  }
  if (value.is_array()) {
    if (auto it = schema.find("items"); it != schema.end()) {
      for (std::size_t i = 0; i < value.size(); ++i) {
        if (!Match(*it, value[i], path + "[" + std::to_string(i) + "]", why)) return false;
      }
    }
  }
  return true;
}

Result<std::string> RequireText(const json& j, const char* key, const std::string& where,
                                std::size_t max) {
  auto it = j.find(key);
  const std::string field = where + "." + key;
  if (it == j.end()) return InvalidCheck(field + " is missing");
  if (!it->is_string()) return InvalidCheck(field + " must be a string, not " + JsonTypeOf(*it));
  std::string text = it->get<std::string>();
  if (text.empty()) return InvalidCheck(field + " must not be empty");
  if (text.size() > max) {
    return InvalidCheck(field + " is " + std::to_string(text.size()) +
                        " bytes long, more than the maximum of " + std::to_string(max));
  }
  return text;
}

}  // namespace

std::string_view CheckKindName(CheckKind kind) {
  switch (kind) {
    case CheckKind::kRegex:
      return "regex";
    case CheckKind::kContains:
      return "contains";
    case CheckKind::kNotContains:
      return "not-contains";
    case CheckKind::kJson:
      return "json";
    case CheckKind::kJsonSchema:
      return "json-schema";
    case CheckKind::kMaxLength:
      return "max-length";
  }
  return "unknown";
}

Status ValidateSchema(const json& schema, const std::string& where) {
  std::size_t nodes = 0;
  return ValidateSchemaNode(schema, where, 0, nodes);
}

bool MatchesSchema(const json& schema, const json& value, std::string* why) {
  return Match(schema, value, "$", why);
}

Check::~Check() = default;
Check::Check(Check&&) noexcept = default;
Check& Check::operator=(Check&&) noexcept = default;

Result<Check> Check::FromJson(const json& j, const std::string& where) {
  if (!j.is_object()) return InvalidCheck(where + " must be an object, not " + JsonTypeOf(j));
  auto kind_it = j.find("kind");
  if (kind_it == j.end()) return InvalidCheck(where + ".kind is missing");
  if (!kind_it->is_string()) return InvalidCheck(where + ".kind must be a string");
  const std::string kind = kind_it->get<std::string>();
  Check check;
  if (kind == "regex") {
    OTA_TRY(CheckSpecKeys(j, {"kind", "pattern"}, where));
    check.kind_ = CheckKind::kRegex;
    OTA_ASSIGN_OR_RETURN(check.text_, RequireText(j, "pattern", where, kMaxRegexPatternBytes));
    RE2::Options options;
    options.set_log_errors(false);
    options.set_max_mem(kRegexMaxMemory);
    check.regex_ = std::make_unique<RE2>(check.text_, options);
    if (!check.regex_->ok()) {
      return InvalidCheck(where + ".pattern does not compile: " + check.regex_->error());
    }
  } else if (kind == "contains" || kind == "not-contains") {
    OTA_TRY(CheckSpecKeys(j, {"kind", "text"}, where));
    check.kind_ = kind == "contains" ? CheckKind::kContains : CheckKind::kNotContains;
    OTA_ASSIGN_OR_RETURN(check.text_, RequireText(j, "text", where, kMaxCheckTextBytes));
  } else if (kind == "json") {
    OTA_TRY(CheckSpecKeys(j, {"kind"}, where));
    check.kind_ = CheckKind::kJson;
  } else if (kind == "json-schema") {
    OTA_TRY(CheckSpecKeys(j, {"kind", "schema"}, where));
    check.kind_ = CheckKind::kJsonSchema;
    auto it = j.find("schema");
    if (it == j.end()) return InvalidCheck(where + ".schema is missing");
    OTA_TRY(ValidateSchema(*it, where + ".schema"));
    check.schema_ = *it;
  } else if (kind == "max-length") {
    OTA_TRY(CheckSpecKeys(j, {"kind", "bytes"}, where));
    check.kind_ = CheckKind::kMaxLength;
    auto it = j.find("bytes");
    if (it == j.end()) return InvalidCheck(where + ".bytes is missing");
    if (!IsNonNegativeInteger(*it) || it->get<std::uint64_t>() == 0 ||
        it->get<std::uint64_t>() > kMaxCheckedOutputBytes) {
      return InvalidCheck(where + ".bytes must be an integer from 1 to " +
                          std::to_string(kMaxCheckedOutputBytes) + ", not " + it->dump());
    }
    check.max_bytes_ = it->get<std::size_t>();
  } else {
    return InvalidCheck(where + ".kind " + QuoteText(kind) +
                        " must be one of regex, contains, not-contains, json, json-schema, "
                        "max-length");
  }
  return check;
}

std::string Check::Describe() const {
  switch (kind_) {
    case CheckKind::kRegex:
      return "regex " + QuoteText(text_);
    case CheckKind::kContains:
      return "contains " + QuoteText(text_);
    case CheckKind::kNotContains:
      return "not-contains " + QuoteText(text_);
    case CheckKind::kJson:
      return "json";
    case CheckKind::kJsonSchema:
      return "json-schema";
    case CheckKind::kMaxLength:
      return "max-length " + std::to_string(max_bytes_);
  }
  return "unknown";
}

bool Check::Apply(std::string_view output, std::string* why) const {
  auto fail = [&](const std::string& message) {
    if (why != nullptr) *why = message;
    return false;
  };
  if (kind_ == CheckKind::kMaxLength) {
    if (output.size() <= max_bytes_) return true;
    return fail("output is " + std::to_string(output.size()) + " bytes, more than " +
                std::to_string(max_bytes_));
  }
  if (output.size() > kMaxCheckedOutputBytes) return fail("output too long to check");
  switch (kind_) {
    case CheckKind::kRegex:
      if (RE2::PartialMatch(re2::StringPiece(output.data(), output.size()), *regex_)) return true;
      return fail("output does not match the pattern");
    case CheckKind::kContains:
      if (output.find(text_) != std::string_view::npos) return true;
      return fail("output lacks the text");
    case CheckKind::kNotContains:
      if (output.find(text_) == std::string_view::npos) return true;
      return fail("output contains the text");
    case CheckKind::kJson:
    case CheckKind::kJsonSchema: {
      Result<json> value = manifest::ParseJsonStrict(
          output, manifest::JsonLimits{kMaxCheckedOutputBytes, /*max_depth=*/64});
      if (!value.ok()) return fail("output is not JSON: " + value.error().message);
      if (kind_ == CheckKind::kJson) return true;
      std::string mismatch;
      if (MatchesSchema(schema_, *value, &mismatch)) return true;
      return fail("output does not match the schema: " + mismatch);
    }
    case CheckKind::kMaxLength:
      break;
  }
  return true;
}

json Check::ToJson() const {
  json j = {{"kind", CheckKindName(kind_)}};
  switch (kind_) {
    case CheckKind::kRegex:
      j["pattern"] = text_;
      break;
    case CheckKind::kContains:
    case CheckKind::kNotContains:
      j["text"] = text_;
      break;
    case CheckKind::kJsonSchema:
      j["schema"] = schema_;
      break;
    case CheckKind::kMaxLength:
      j["bytes"] = max_bytes_;
      break;
    case CheckKind::kJson:
      break;
  }
  return j;
}

}  // namespace ota::shadow
