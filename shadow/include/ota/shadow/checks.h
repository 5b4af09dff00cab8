// Checks on model outputs: what an app requires of the text a prompt
// produces (docs/formats.md, "Eval set"). A check is parsed once from
// untrusted JSON and then applied to any number of outputs.
//
// Regular expressions use RE2 (linear time in the input, bounded memory), so
// a hostile pattern cannot hang the caller; patterns and inputs are also
// bounded in size. JSON outputs are parsed with depth and size limits.
//
// Thread-safety: a parsed Check is immutable; Apply may run concurrently.
#ifndef OTA_SHADOW_CHECKS_H_
#define OTA_SHADOW_CHECKS_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "ota/common/result.h"

namespace re2 {
class RE2;
}

namespace ota::shadow {

inline constexpr std::size_t kMaxRegexPatternBytes = 1024;
inline constexpr std::size_t kMaxCheckTextBytes = 4096;
// Outputs longer than this fail every check except max-length (which reports
// the real length): a model that rambles that far is not doing its job.
inline constexpr std::size_t kMaxCheckedOutputBytes = 1u << 20;
inline constexpr std::size_t kMaxSchemaDepth = 16;
inline constexpr std::size_t kMaxSchemaNodes = 1000;

enum class CheckKind {
  kRegex,        // {"kind": "regex", "pattern": P}: RE2 partial match.
  kContains,     // {"kind": "contains", "text": T}
  kNotContains,  // {"kind": "not-contains", "text": T}
  kJson,         // {"kind": "json"}: the whole output is one JSON value.
  kJsonSchema,   // {"kind": "json-schema", "schema": S}: JSON matching S.
  kMaxLength,    // {"kind": "max-length", "bytes": N}
};

std::string_view CheckKindName(CheckKind kind);

// Validates a JSON-schema subset document: keywords "type" (a name or an
// array of names among null, boolean, object, array, number, integer,
// string), "required" (array of unique strings), "properties" (object of
// schemas), "enum" (non-empty array), "items" (a schema), and the annotations
// "title" and "description". Anything else is refused, so an author never
// believes a keyword is enforced when it is not.
// kInvalidArgument naming the path of the offending keyword, e.g.
// "schema.properties.name.type: unknown type \"text\"".
Status ValidateSchema(const nlohmann::json& schema, const std::string& where = "schema");

// Whether `value` matches a schema that passed ValidateSchema. On a
// mismatch, *why (if given) says where, e.g. "$.items[2]: is a string, not a
// number". "integer" accepts numbers with no fractional part.
bool MatchesSchema(const nlohmann::json& schema, const nlohmann::json& value,
                   std::string* why = nullptr);

class Check {
 public:
  ~Check();
  Check(Check&&) noexcept;
  Check& operator=(Check&&) noexcept;

  // Parses one check object. `where` names it in errors, e.g.
  // "prompts[3].checks[0]". kInvalidArgument for unknown kinds or fields,
  // missing or mistyped fields, a pattern RE2 refuses or over
  // kMaxRegexPatternBytes, texts over kMaxCheckTextBytes, an invalid schema.
  static Result<Check> FromJson(const nlohmann::json& json, const std::string& where);

  CheckKind kind() const { return kind_; }
  // A short description for reports, e.g. `contains "error"`.
  std::string Describe() const;
  // True when `output` satisfies the check; otherwise *why says how it failed.
  bool Apply(std::string_view output, std::string* why = nullptr) const;
  nlohmann::json ToJson() const;

 private:
  Check() = default;

  CheckKind kind_ = CheckKind::kContains;
  std::string text_;  // Pattern or text.
  std::size_t max_bytes_ = 0;
  nlohmann::json schema_;
  std::unique_ptr<re2::RE2> regex_;
};

}  // namespace ota::shadow

#endif  // OTA_SHADOW_CHECKS_H_
