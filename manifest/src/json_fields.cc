#include "json_fields.h"

namespace ota::manifest::internal {

Result<Fields> Fields::Of(const nlohmann::json& obj, std::string what) {
  if (!obj.is_object()) {
    return MakeError(ErrorCode::kInvalidArgument, what + " must be a JSON object");
  }
  return Fields(&obj, std::move(what));
}

Error Fields::Invalid(const std::string& field, const std::string& problem) const {
  return MakeError(ErrorCode::kInvalidArgument, what_ + ": \"" + field + "\" " + problem);
}

Result<const nlohmann::json*> Fields::Get(const char* name) const {
  auto it = obj_->find(name);
  if (it == obj_->end()) return Invalid(name, "is missing");
  return &*it;
}

Result<std::string> Fields::String(const char* name) const {
  OTA_ASSIGN_OR_RETURN(const nlohmann::json* v, Get(name));
  if (!v->is_string()) return Invalid(name, "must be a string");
  return v->get<std::string>();
}

Result<std::uint64_t> Fields::Uint(const char* name) const {
  OTA_ASSIGN_OR_RETURN(const nlohmann::json* v, Get(name));
  if (v->is_number_unsigned()) return v->get<std::uint64_t>();
  // Parsed text stores non-negative numbers as unsigned, but JSON built in
  // code holds signed ones.
  if (v->is_number_integer()) {
    if (v->get<std::int64_t>() < 0) return Invalid(name, "must not be negative");
    return static_cast<std::uint64_t>(v->get<std::int64_t>());
  }
  return Invalid(name, "must be an integer");
}

Result<std::uint64_t> Fields::Positive(const char* name) const {
  OTA_ASSIGN_OR_RETURN(std::uint64_t v, Uint(name));
  if (v < 1) return Invalid(name, "must be at least 1");
  return v;
}

Result<bool> Fields::Bool(const char* name) const {
  OTA_ASSIGN_OR_RETURN(const nlohmann::json* v, Get(name));
  if (!v->is_boolean()) return Invalid(name, "must be true or false");
  return v->get<bool>();
}

Result<const nlohmann::json*> Fields::Object(const char* name) const {
  OTA_ASSIGN_OR_RETURN(const nlohmann::json* v, Get(name));
  if (!v->is_object()) return Invalid(name, "must be an object");
  return v;
}

Result<const nlohmann::json*> Fields::Array(const char* name) const {
  OTA_ASSIGN_OR_RETURN(const nlohmann::json* v, Get(name));
  if (!v->is_array()) return Invalid(name, "must be an array");
  return v;
}

}  // namespace ota::manifest::internal
