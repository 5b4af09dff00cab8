#include "ota/manifest/bundle_manifest.h"

#include <algorithm>
#include <array>
#include <set>

#include "ota/common/hex.h"
#include "ota/manifest/canonical_json.h"
#include "rollout_manifest_internal.h"

namespace ota::manifest {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxBundleJsonDepth = 32;
constexpr std::size_t kMaxFormatBytes = 32;
constexpr std::array<std::string_view, 5> kRoles = {"model", "prompt", "tool-schema", "eval",
                                                    "other"};
constexpr std::array<std::string_view, 8> kKnownFields = {
    "schema", "name", "version", "model", "runtime", "app_compat", "description", "files"};

using rollout_internal::Invalid;
using rollout_internal::Quote;

bool IsValidUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      len = 2, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr std::uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

// ASCII controls, DEL, and the C1 controls U+0080..U+009F (UTF-8 C2 80..C2 9F).
bool HasControlCharacter(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return true;
    if (c == 0xc2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) <= 0x9f &&
        static_cast<unsigned char>(s[i + 1]) >= 0x80) {
      return true;
    }
  }
  return false;
}

// [a-z0-9][a-z0-9._-]{0,max-1}
bool IsToken(std::string_view s, std::size_t max) {
  auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (s.empty() || s.size() > max || !lower_alnum(s[0])) return false;
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return lower_alnum(c) || c == '.' || c == '_' || c == '-'; });
}

Status CheckText(const std::string& field, std::string_view value, std::size_t max) {
  if (value.empty()) return Invalid(field + " must not be empty");
  if (value.size() > max) {
    return Invalid(field + " is " + std::to_string(value.size()) +
                   " bytes long, more than the maximum of " + std::to_string(max));
  }
  if (!IsValidUtf8(value)) return Invalid(field + " is not valid UTF-8");
  if (HasControlCharacter(value)) return Invalid(field + " contains a control character");
  return Ok();
}

// Duplicate keys are refused (ParseJsonStrict): another parser might keep a
// different copy of a key than we did.
Result<json> ParseJsonObjectText(std::string_view text) {
  auto j = ParseJsonStrict(text, JsonLimits{kMaxBundleManifestBytes, kMaxBundleJsonDepth});
  if (!j.ok()) return Invalid("bundle.json: " + j.error().message);
  return std::move(*j);
}

std::string FieldName(const std::string& where, std::string_view key) {
  return where.empty() ? std::string(key) : where + "." + std::string(key);
}

Status CheckKnownKeys(const json& object, std::initializer_list<std::string_view> known,
                      const std::string& where) {
  for (const auto& item : object.items()) {
    if (std::find(known.begin(), known.end(), item.key()) == known.end()) {
      return Invalid(where + " has the unknown field " + Quote(item.key()));
    }
  }
  return Ok();
}

Result<const json*> FindTyped(const json& object, std::string_view key, const std::string& where,
                              json::value_t type, bool required) {
  const std::string field = FieldName(where, key);
  auto it = object.find(key);
  if (it == object.end()) {
    if (required) return Invalid(field + " is missing");
    return static_cast<const json*>(nullptr);
  }
  if (it->type() != type) {
    const bool vowel = type == json::value_t::object || type == json::value_t::array;
    return Invalid(field + " must be " + (vowel ? "an " : "a ") + json(type).type_name() +
                   ", not " + it->type_name());
  }
  return &*it;
}

Result<std::string> RequireString(const json& object, std::string_view key,
                                  const std::string& where) {
  OTA_ASSIGN_OR_RETURN(const json* value,
                       FindTyped(object, key, where, json::value_t::string, true));
  return value->get<std::string>();
}

Result<std::optional<std::string>> OptionalString(const json& object, std::string_view key,
                                                  const std::string& where) {
  OTA_ASSIGN_OR_RETURN(const json* value,
                       FindTyped(object, key, where, json::value_t::string, false));
  if (value == nullptr) return std::optional<std::string>();
  return std::optional<std::string>(value->get<std::string>());
}

Result<std::uint64_t> RequireSize(const json& object, const std::string& where) {
  const std::string field = where + ".size";
  auto it = object.find("size");
  if (it == object.end()) return Invalid(field + " is missing");
  if (it->is_number_unsigned()) return it->get<std::uint64_t>();
  if (it->is_number_integer()) {
    return Invalid(field + " must be a non-negative integer, not " + it->dump());
  }
  return Invalid(field + " must be a non-negative integer, not " +
                 (it->is_number_float() ? "a fraction or exponent form" : it->type_name()));
}

Result<BundleFile> ParseFileEntry(const json& entry, const std::string& where) {
  if (!entry.is_object()) {
    return Invalid(where + " must be an object, not " + std::string(entry.type_name()));
  }
  OTA_TRY(CheckKnownKeys(entry, {"path", "size", "sha256", "role"}, where));
  BundleFile file;
  OTA_ASSIGN_OR_RETURN(file.path, RequireString(entry, "path", where));
  OTA_ASSIGN_OR_RETURN(file.size, RequireSize(entry, where));
  OTA_ASSIGN_OR_RETURN(file.sha256, RequireString(entry, "sha256", where));
  OTA_ASSIGN_OR_RETURN(file.role, RequireString(entry, "role", where));
  return file;
}

Status CheckFiles(const BundleManifest& m) {
  if (m.files.empty()) return Invalid("files must list at least one file");
  if (m.files.size() > kMaxBundleFiles) {
    return Invalid("files has " + std::to_string(m.files.size()) +
                   " entries, more than the maximum of " + std::to_string(kMaxBundleFiles));
  }
  std::set<std::string_view> paths;
  std::set<std::string_view> folders;
  for (std::size_t i = 0; i < m.files.size(); ++i) {
    const BundleFile& f = m.files[i];
    const std::string field = "files[" + std::to_string(i) + "]";
    const std::string path_field = field + ".path " + Quote(f.path);
    if (Status s = ValidateBundlePath(f.path); !s.ok()) {
      return Invalid(path_field + ": " + s.error().message);
    }
    if (f.path == kBundleManifestFileName) {
      return Invalid(path_field + ": the name is reserved for the manifest itself");
    }
    if (paths.count(f.path) != 0) return Invalid(path_field + ": is listed twice");
    if (folders.count(f.path) != 0) return Invalid(path_field + ": is a folder of another file");
    for (std::size_t slash = f.path.find('/'); slash != std::string::npos;
         slash = f.path.find('/', slash + 1)) {
      std::string_view folder = std::string_view(f.path).substr(0, slash);
      if (paths.count(folder) != 0) {
        return Invalid(path_field + ": lies under the file " + Quote(folder));
      }
      folders.insert(folder);
    }
    paths.insert(f.path);
    if (!IsLowerHex(f.sha256, 64)) {
      return Invalid(field + ".sha256 must be 64 lower-case hex digits, not " + Quote(f.sha256));
    }
    if (std::find(kRoles.begin(), kRoles.end(), f.role) == kRoles.end()) {
      return Invalid(field + ".role " + Quote(f.role) +
                     " must be one of model, prompt, tool-schema, eval, other");
    }
  }
  auto model = std::find_if(m.files.begin(), m.files.end(),
                            [&](const BundleFile& f) { return f.path == m.model.file; });
  if (model == m.files.end())
    return Invalid("model.file " + Quote(m.model.file) + " is not in files");
  if (model->role != "model") {
    return Invalid("model.file " + Quote(m.model.file) + " has role " + Quote(model->role) +
                   " in files, not \"model\"");
  }
  return Ok();
}

}  // namespace

Status ValidateBundlePath(std::string_view path) {
  if (path.empty()) return Invalid("is empty");
  if (path.size() > kMaxBundlePathBytes) {
    return Invalid("is " + std::to_string(path.size()) + " bytes long, more than the maximum of " +
                   std::to_string(kMaxBundlePathBytes));
  }
  if (HasControlCharacter(path)) return Invalid("contains a NUL or control character");
  if (!IsValidUtf8(path)) return Invalid("is not valid UTF-8");
  if (path.front() == '/') return Invalid("is absolute (starts with '/')");
  if (path.find('\\') != std::string_view::npos) return Invalid("contains a backslash");
  if (path.back() == '/') return Invalid("ends with '/'");
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(start, end - start);
    if (part.empty()) return Invalid("has an empty component (\"//\")");
    if (part == ".") return Invalid("has a \".\" component");
    if (part == "..") return Invalid("has a \"..\" component");
    start = end + 1;
  }
  return Ok();
}

Status ValidateBundleManifest(const BundleManifest& m) {
  if (!IsToken(m.name, kMaxBundleNameBytes)) {
    return Invalid("name " + Quote(m.name) + " must match [a-z0-9][a-z0-9._-]{0,63}");
  }
  if (Result<Version> v = ParseVersion(ToString(m.version)); !v.ok()) return v.error();
  if (!IsToken(m.model.format, kMaxFormatBytes)) {
    return Invalid("model.format " + Quote(m.model.format) +
                   " must match [a-z0-9][a-z0-9._-]{0,31}");
  }
  if (m.runtime) {
    OTA_TRY(CheckText("runtime.name", m.runtime->name, kMaxRequirementBytes));
    if (!m.runtime->version.empty()) {
      OTA_TRY(CheckText("runtime.version", m.runtime->version, kMaxRequirementBytes));
    }
  }
  if (m.app_compat) OTA_TRY(CheckText("app_compat", *m.app_compat, kMaxRequirementBytes));
  if (m.description && !IsValidUtf8(*m.description)) {
    return Invalid("description is not valid UTF-8");
  }
  OTA_TRY(CheckFiles(m));
  if (!m.extra.is_object()) return Invalid("extra fields must form a JSON object");
  for (const auto& item : m.extra.items()) {
    if (std::find(kKnownFields.begin(), kKnownFields.end(), item.key()) != kKnownFields.end()) {
      return Invalid("extra field " + Quote(item.key()) + " collides with a known field");
    }
  }
  return Ok();
}

Result<BundleManifest> BundleManifestFromJson(const json& j) {
  if (!j.is_object()) {
    return Invalid("bundle.json must be a JSON object, not " + std::string(j.type_name()));
  }
  BundleManifest m;
  OTA_ASSIGN_OR_RETURN(std::string schema, RequireString(j, "schema", ""));
  if (schema != kBundleSchema) {
    return Invalid("schema " + Quote(schema) + " is not supported (expected \"" +
                   std::string(kBundleSchema) + "\")");
  }
  OTA_ASSIGN_OR_RETURN(m.name, RequireString(j, "name", ""));
  OTA_ASSIGN_OR_RETURN(std::string version, RequireString(j, "version", ""));
  OTA_ASSIGN_OR_RETURN(m.version, ParseVersion(version));

  OTA_ASSIGN_OR_RETURN(const json* model, FindTyped(j, "model", "", json::value_t::object, true));
  OTA_TRY(CheckKnownKeys(*model, {"file", "format"}, "model"));
  OTA_ASSIGN_OR_RETURN(m.model.file, RequireString(*model, "file", "model"));
  OTA_ASSIGN_OR_RETURN(m.model.format, RequireString(*model, "format", "model"));

  OTA_ASSIGN_OR_RETURN(const json* runtime,
                       FindTyped(j, "runtime", "", json::value_t::object, false));
  if (runtime != nullptr) {
    OTA_TRY(CheckKnownKeys(*runtime, {"name", "version"}, "runtime"));
    BundleRuntime r;
    OTA_ASSIGN_OR_RETURN(r.name, RequireString(*runtime, "name", "runtime"));
    OTA_ASSIGN_OR_RETURN(std::optional<std::string> range,
                         OptionalString(*runtime, "version", "runtime"));
    if (range && range->empty()) {
      return Invalid("runtime.version must not be empty (leave it out to accept any version)");
    }
    r.version = range.value_or("");
    m.runtime = std::move(r);
  }
  OTA_ASSIGN_OR_RETURN(m.app_compat, OptionalString(j, "app_compat", ""));
  OTA_ASSIGN_OR_RETURN(m.description, OptionalString(j, "description", ""));

  OTA_ASSIGN_OR_RETURN(const json* files, FindTyped(j, "files", "", json::value_t::array, true));
  if (files->size() > kMaxBundleFiles) {
    return Invalid("files has " + std::to_string(files->size()) +
                   " entries, more than the maximum of " + std::to_string(kMaxBundleFiles));
  }
  for (std::size_t i = 0; i < files->size(); ++i) {
    OTA_ASSIGN_OR_RETURN(BundleFile f,
                         ParseFileEntry((*files)[i], "files[" + std::to_string(i) + "]"));
    m.files.push_back(std::move(f));
  }
  for (const auto& item : j.items()) {
    if (std::find(kKnownFields.begin(), kKnownFields.end(), item.key()) == kKnownFields.end()) {
      m.extra[item.key()] = item.value();
    }
  }
  OTA_TRY(ValidateBundleManifest(m));
  return m;
}

Result<BundleManifest> ParseBundleManifest(std::string_view text) {
  if (text.size() > kMaxBundleManifestBytes) {
    return Invalid("bundle.json is " + std::to_string(text.size()) +
                   " bytes, more than the maximum of " + std::to_string(kMaxBundleManifestBytes));
  }
  OTA_ASSIGN_OR_RETURN(json j, ParseJsonObjectText(text));
  return BundleManifestFromJson(j);
}

json BundleManifestToJson(const BundleManifest& m) {
  json j = m.extra.is_object() ? m.extra : json::object();
  j["schema"] = kBundleSchema;
  j["name"] = m.name;
  j["version"] = ToString(m.version);
  j["model"] = {{"file", m.model.file}, {"format", m.model.format}};
  if (m.runtime) {
    json runtime = {{"name", m.runtime->name}};
    if (!m.runtime->version.empty()) runtime["version"] = m.runtime->version;
    j["runtime"] = std::move(runtime);
  }
  if (m.app_compat) j["app_compat"] = *m.app_compat;
  if (m.description) j["description"] = *m.description;
  json files = json::array();
  for (const BundleFile& f : m.files) {
    files.push_back({{"path", f.path}, {"size", f.size}, {"sha256", f.sha256}, {"role", f.role}});
  }
  j["files"] = std::move(files);
  return j;
}

std::string SerializeBundleManifest(const BundleManifest& m) {
  // nlohmann::json objects are std::map-backed, so keys come out sorted.
  return BundleManifestToJson(m).dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace ota::manifest
