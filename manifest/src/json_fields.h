// Typed access to the fields of untrusted JSON objects, with errors that name
// the document and the field. Private to the manifest module.
#ifndef OTA_MANIFEST_SRC_JSON_FIELDS_H_
#define OTA_MANIFEST_SRC_JSON_FIELDS_H_

#include <cstdint>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "ota/common/result.h"

namespace ota::manifest::internal {

class Fields {
 public:
  // `what` names the object in messages, e.g. "root" or "targets[\"a.bin\"]".
  // Fails unless `obj` is a JSON object.
  static Result<Fields> Of(const nlohmann::json& obj, std::string what);

  bool Has(const char* name) const { return obj_->contains(name); }
  const nlohmann::json& Raw(const char* name) const { return obj_->at(name); }

  Result<std::string> String(const char* name) const;
  // A non-negative integer (bools and floats are refused).
  Result<std::uint64_t> Uint(const char* name) const;
  // An integer >= 1.
  Result<std::uint64_t> Positive(const char* name) const;
  Result<bool> Bool(const char* name) const;
  Result<const nlohmann::json*> Object(const char* name) const;
  Result<const nlohmann::json*> Array(const char* name) const;

  Error Invalid(const std::string& field, const std::string& problem) const;
  const std::string& what() const { return what_; }

 private:
  Fields(const nlohmann::json* obj, std::string what) : obj_(obj), what_(std::move(what)) {}
  Result<const nlohmann::json*> Get(const char* name) const;

  const nlohmann::json* obj_;
  std::string what_;
};

}  // namespace ota::manifest::internal

#endif  // OTA_MANIFEST_SRC_JSON_FIELDS_H_
