#include "variant_set.h"

#include <set>

namespace ota::tools {
namespace {

Error Invalid(const std::string& message) {
  return MakeError(ErrorCode::kInvalidArgument, "variants.json: " + message);
}

Result<VariantSetEntry> ParseEntry(const nlohmann::json& e, const std::string& where) {
  if (!e.is_object()) return Invalid(where + " must be an object");
  VariantSetEntry entry;
  if (!e.contains("variant") || !e["variant"].is_string()) {
    return Invalid(where + ".variant must be a string");
  }
  entry.variant = e["variant"].get<std::string>();
  if (!e.contains("bundle") || !e["bundle"].is_string()) {
    return Invalid(where + ".bundle must be a string");
  }
  entry.bundle = e["bundle"].get<std::string>();
  if (entry.bundle.empty() || entry.bundle == "." || entry.bundle == ".." ||
      entry.bundle.find('/') != std::string::npos || entry.bundle.find('\0') != std::string::npos) {
    return Invalid(where + ".bundle must be a file name in the same folder");
  }
  if (e.contains("rank")) {
    if (!e["rank"].is_number_integer()) return Invalid(where + ".rank must be an integer");
    entry.rank = e["rank"].get<std::int64_t>();
  }
  if (e.contains("requires")) {
    if (!e["requires"].is_object()) return Invalid(where + ".requires must be an object");
    entry.requirements = e["requires"];
  }
  if (e.contains("info")) entry.info = e["info"];
  return entry;
}

}  // namespace

nlohmann::json VariantSetToJson(const VariantSet& set) {
  nlohmann::json variants = nlohmann::json::array();
  for (const VariantSetEntry& e : set.variants) {
    nlohmann::json j = {{"variant", e.variant}, {"rank", e.rank}, {"bundle", e.bundle}};
    if (!e.requirements.is_null()) j["requires"] = e.requirements;
    if (!e.info.is_null()) j["info"] = e.info;
    variants.push_back(std::move(j));
  }
  return {{"schema", kVariantSetSchema},
          {"name", set.name},
          {"version", set.version},
          {"variants", std::move(variants)}};
}

Result<VariantSet> ParseVariantSet(std::string_view text) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return Invalid("not a JSON object");
  if (!j.contains("schema") || j["schema"] != kVariantSetSchema) {
    return Invalid("schema must be \"" + std::string(kVariantSetSchema) + "\"");
  }
  VariantSet set;
  for (const char* key : {"name", "version"}) {
    if (!j.contains(key) || !j[key].is_string() || j[key].get<std::string>().empty()) {
      return Invalid(std::string(key) + " must be a non-empty string");
    }
  }
  set.name = j["name"].get<std::string>();
  set.version = j["version"].get<std::string>();
  if (!j.contains("variants") || !j["variants"].is_array() || j["variants"].empty()) {
    return Invalid("variants must be a non-empty array");
  }
  std::set<std::string> names;
  std::set<std::string> bundles;
  for (std::size_t i = 0; i < j["variants"].size(); ++i) {
    const std::string where = "variants[" + std::to_string(i) + "]";
    OTA_ASSIGN_OR_RETURN(VariantSetEntry entry, ParseEntry(j["variants"][i], where));
    if (!names.insert(entry.variant).second) {
      return Invalid(where + ".variant \"" + entry.variant + "\" is listed twice");
    }
    if (!bundles.insert(entry.bundle).second) {
      return Invalid(where + ".bundle \"" + entry.bundle + "\" is listed twice");
    }
    set.variants.push_back(std::move(entry));
  }
  return set;
}

}  // namespace ota::tools
