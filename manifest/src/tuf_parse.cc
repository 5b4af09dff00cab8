// Parsers of the TUF 1.0 role metadata ("signed" objects).
#include <set>
#include <utility>

#include "json_fields.h"
#include "ota/manifest/tuf_metadata.h"

namespace ota::manifest {
namespace {

using internal::Fields;

bool IsAllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Accepts "1.x" and "1.x.y" (x, y decimal): the specification promises
// compatibility within a major version, so only the major is checked.
Status CheckSpecVersion(const Fields& f, const std::string& v) {
  const std::size_t dot = v.find('.');
  bool ok = dot != std::string::npos && v.substr(0, dot) == "1";
  if (ok) {
    std::string_view rest = std::string_view(v).substr(dot + 1);
    const std::size_t dot2 = rest.find('.');
    ok = dot2 == std::string_view::npos
             ? IsAllDigits(rest)
             : IsAllDigits(rest.substr(0, dot2)) && IsAllDigits(rest.substr(dot2 + 1));
  }
  if (!ok) return f.Invalid("spec_version", "\"" + v + "\" is not a supported version (1.x)");
  return Ok();
}

// Checks and reads the fields every role has; returns the accessor for the rest.
Result<Fields> ParseCommon(const nlohmann::json& signed_obj, std::string_view type,
                           MetadataCommon& out) {
  OTA_ASSIGN_OR_RETURN(Fields f, Fields::Of(signed_obj, std::string(type)));
  OTA_ASSIGN_OR_RETURN(std::string actual_type, f.String("_type"));
  if (actual_type != type) {
    return f.Invalid("_type", "is \"" + actual_type + "\", expected \"" + std::string(type) + "\"");
  }
  OTA_ASSIGN_OR_RETURN(out.spec_version, f.String("spec_version"));
  OTA_TRY(CheckSpecVersion(f, out.spec_version));
  OTA_ASSIGN_OR_RETURN(out.version, f.Positive("version"));
  OTA_ASSIGN_OR_RETURN(std::string expires, f.String("expires"));
  auto t = ParseExpires(expires);
  if (!t.ok()) return f.Invalid("expires", t.error().message);
  out.expires = *t;
  return f;
}

Result<Hashes> ParseHashes(const Fields& f) {
  OTA_ASSIGN_OR_RETURN(const nlohmann::json* obj, f.Object("hashes"));
  if (obj->empty()) return f.Invalid("hashes", "must list at least one hash");
  Hashes out;
  for (auto it = obj->begin(); it != obj->end(); ++it) {
    std::size_t hex_len = 0;
    if (it.key() == "sha256") {
      hex_len = 64;
    } else if (it.key() == "sha512") {
      hex_len = 128;
    } else {
      return f.Invalid("hashes", "uses unsupported algorithm \"" + it.key() +
                                     "\" (only sha256 and sha512 are accepted)");
    }
    const nlohmann::json& v = it.value();
    if (!v.is_string() || v.get_ref<const std::string&>().size() != hex_len ||
        v.get_ref<const std::string&>().find_first_not_of("0123456789abcdef") !=
            std::string::npos) {
      return f.Invalid("hashes",
                       it.key() + " must be " + std::to_string(hex_len) + " lower-case hex digits");
    }
    out.emplace(it.key(), v.get<std::string>());
  }
  return out;
}

Result<Role> ParseRole(const nlohmann::json& obj, const std::string& what) {
  OTA_ASSIGN_OR_RETURN(Fields f, Fields::Of(obj, what));
  Role role;
  OTA_ASSIGN_OR_RETURN(role.threshold, f.Positive("threshold"));
  OTA_ASSIGN_OR_RETURN(const nlohmann::json* ids, f.Array("keyids"));
  std::set<std::string> seen;
  for (const auto& id : *ids) {
    if (!id.is_string()) return f.Invalid("keyids", "must hold strings");
    if (!seen.insert(id.get<std::string>()).second) {
      return f.Invalid("keyids", "lists " + id.get<std::string>() + " twice");
    }
    role.keyids.push_back(id.get<std::string>());
  }
  return role;
}

}  // namespace

Result<std::string> MetadataType(const nlohmann::json& signed_obj) {
  OTA_ASSIGN_OR_RETURN(Fields f, Fields::Of(signed_obj, "metadata"));
  return f.String("_type");
}

Result<Key> ParseKey(const nlohmann::json& key_obj) {
  OTA_ASSIGN_OR_RETURN(Fields f, Fields::Of(key_obj, "key"));
  Key key;
  OTA_ASSIGN_OR_RETURN(key.keytype, f.String("keytype"));
  OTA_ASSIGN_OR_RETURN(key.scheme, f.String("scheme"));
  OTA_ASSIGN_OR_RETURN(const nlohmann::json* keyval, f.Object("keyval"));
  OTA_ASSIGN_OR_RETURN(Fields kv, Fields::Of(*keyval, "key keyval"));
  OTA_ASSIGN_OR_RETURN(key.public_value, kv.String("public"));
  if (key.keytype == "ed25519" &&
      (key.public_value.size() != 64 ||
       key.public_value.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)) {
    return kv.Invalid("public", "of an ed25519 key must be 64 hex digits");
  }
  key.raw = key_obj;
  key.raw["keyval"].erase("private");
  return key;
}

Result<Root> ParseRoot(const nlohmann::json& signed_obj) {
  Root root;
  OTA_ASSIGN_OR_RETURN(Fields f, ParseCommon(signed_obj, kRootRole, root));
  OTA_ASSIGN_OR_RETURN(root.consistent_snapshot, f.Bool("consistent_snapshot"));
  OTA_ASSIGN_OR_RETURN(const nlohmann::json* keys, f.Object("keys"));
  for (auto it = keys->begin(); it != keys->end(); ++it) {
    auto key = ParseKey(it.value());
    if (!key.ok()) return f.Invalid("keys", it.key() + ": " + key.error().message);
    root.keys.emplace(it.key(), std::move(*key));
  }
  OTA_ASSIGN_OR_RETURN(const nlohmann::json* roles, f.Object("roles"));
  for (auto it = roles->begin(); it != roles->end(); ++it) {
    OTA_ASSIGN_OR_RETURN(Role role, ParseRole(it.value(), "root role " + it.key()));
    for (const std::string& id : role.keyids) {
      if (root.keys.count(id) == 0) {
        return f.Invalid("roles", it.key() + " lists keyid " + id + " that is not in \"keys\"");
      }
    }
    root.roles.emplace(it.key(), std::move(role));
  }
  for (std::string_view name : {kRootRole, kTimestampRole, kSnapshotRole, kTargetsRole}) {
    if (root.roles.count(std::string(name)) == 0) {
      return f.Invalid("roles", "has no " + std::string(name) + " role");
    }
  }
  return root;
}

Result<MetaFile> ParseMetaFile(const nlohmann::json& obj) {
  OTA_ASSIGN_OR_RETURN(Fields f, Fields::Of(obj, "meta entry"));
  MetaFile m;
  OTA_ASSIGN_OR_RETURN(m.version, f.Positive("version"));
  if (f.Has("length")) {
    OTA_ASSIGN_OR_RETURN(m.length, f.Uint("length"));
  }
  if (f.Has("hashes")) {
    OTA_ASSIGN_OR_RETURN(m.hashes, ParseHashes(f));
  }
  return m;
}

Result<Timestamp> ParseTimestamp(const nlohmann::json& signed_obj) {
  Timestamp ts;
  OTA_ASSIGN_OR_RETURN(Fields f, ParseCommon(signed_obj, kTimestampRole, ts));
  OTA_ASSIGN_OR_RETURN(const nlohmann::json* meta, f.Object("meta"));
  if (meta->size() != 1 || !meta->contains("snapshot.json")) {
    return f.Invalid("meta", "must list exactly \"snapshot.json\"");
  }
  auto entry = ParseMetaFile(meta->at("snapshot.json"));
  if (!entry.ok()) return f.Invalid("meta", "snapshot.json: " + entry.error().message);
  ts.snapshot = std::move(*entry);
  return ts;
}

Result<Snapshot> ParseSnapshot(const nlohmann::json& signed_obj) {
  Snapshot snap;
  OTA_ASSIGN_OR_RETURN(Fields f, ParseCommon(signed_obj, kSnapshotRole, snap));
  OTA_ASSIGN_OR_RETURN(const nlohmann::json* meta, f.Object("meta"));
  for (auto it = meta->begin(); it != meta->end(); ++it) {
    auto entry = ParseMetaFile(it.value());
    if (!entry.ok()) return f.Invalid("meta", it.key() + ": " + entry.error().message);
    snap.meta.emplace(it.key(), std::move(*entry));
  }
  return snap;
}

Result<TargetFile> ParseTargetFile(const nlohmann::json& obj) {
  OTA_ASSIGN_OR_RETURN(Fields f, Fields::Of(obj, "target"));
  TargetFile t;
  OTA_ASSIGN_OR_RETURN(t.length, f.Uint("length"));
  OTA_ASSIGN_OR_RETURN(t.hashes, ParseHashes(f));
  if (f.Has("custom")) {
    if (!f.Raw("custom").is_object()) return f.Invalid("custom", "must be an object");
    t.custom = f.Raw("custom");
  }
  return t;
}

namespace {

Result<std::vector<std::string>> StringList(const Fields& f, const char* name) {
  OTA_ASSIGN_OR_RETURN(const nlohmann::json* list, f.Array(name));
  std::vector<std::string> out;
  for (const auto& v : *list) {
    if (!v.is_string()) return f.Invalid(name, "must hold strings");
    out.push_back(v.get<std::string>());
  }
  return out;
}

Result<DelegatedRole> ParseDelegatedRole(const nlohmann::json& obj) {
  OTA_ASSIGN_OR_RETURN(Fields f, Fields::Of(obj, "delegated role"));
  DelegatedRole role;
  OTA_ASSIGN_OR_RETURN(role.name, f.String("name"));
  for (std::string_view top : {kRootRole, kTimestampRole, kSnapshotRole, kTargetsRole}) {
    if (role.name == top) return f.Invalid("name", "\"" + role.name + "\" is a top-level role");
  }
  OTA_ASSIGN_OR_RETURN(Role keys, ParseRole(obj, "delegated role " + role.name));
  role.keyids = std::move(keys.keyids);
  role.threshold = keys.threshold;
  OTA_ASSIGN_OR_RETURN(role.terminating, f.Bool("terminating"));
  if (f.Has("paths") == f.Has("path_hash_prefixes")) {
    return f.Invalid("paths", "exactly one of paths and path_hash_prefixes must be given (role " +
                                  role.name + ")");
  }
  if (f.Has("paths")) {
    OTA_ASSIGN_OR_RETURN(role.paths, StringList(f, "paths"));
  } else {
    OTA_ASSIGN_OR_RETURN(role.path_hash_prefixes, StringList(f, "path_hash_prefixes"));
  }
  return role;
}

}  // namespace

Result<Delegations> ParseDelegations(const nlohmann::json& obj) {
  OTA_ASSIGN_OR_RETURN(Fields f, Fields::Of(obj, "delegations"));
  Delegations out;
  OTA_ASSIGN_OR_RETURN(const nlohmann::json* keys, f.Object("keys"));
  for (auto it = keys->begin(); it != keys->end(); ++it) {
    auto key = ParseKey(it.value());
    if (!key.ok()) return f.Invalid("keys", it.key() + ": " + key.error().message);
    out.keys.emplace(it.key(), std::move(*key));
  }
  if (f.Has("roles") == f.Has("succinct_roles")) {
    return f.Invalid("roles", "exactly one of roles and succinct_roles must be given");
  }
  if (f.Has("succinct_roles")) {
    OTA_ASSIGN_OR_RETURN(const nlohmann::json* obj, f.Object("succinct_roles"));
    OTA_ASSIGN_OR_RETURN(Role keys, ParseRole(*obj, "succinct_roles"));
    OTA_ASSIGN_OR_RETURN(Fields sf, Fields::Of(*obj, "succinct_roles"));
    SuccinctRoles succinct;
    succinct.keyids = std::move(keys.keyids);
    succinct.threshold = keys.threshold;
    OTA_ASSIGN_OR_RETURN(std::uint64_t bits, sf.Uint("bit_length"));
    if (bits < 1 || bits > 32) return sf.Invalid("bit_length", "must be 1 to 32");
    succinct.bit_length = static_cast<std::uint32_t>(bits);
    OTA_ASSIGN_OR_RETURN(succinct.name_prefix, sf.String("name_prefix"));
    out.succinct_roles = std::move(succinct);
    return out;
  }
  OTA_ASSIGN_OR_RETURN(const nlohmann::json* roles, f.Array("roles"));
  std::set<std::string> names;
  for (const auto& entry : *roles) {
    auto role = ParseDelegatedRole(entry);
    if (!role.ok()) return f.Invalid("roles", role.error().message);
    if (!names.insert(role->name).second) {
      return f.Invalid("roles", "lists role \"" + role->name + "\" twice");
    }
    out.roles.push_back(std::move(*role));
  }
  return out;
}

Result<Targets> ParseTargets(const nlohmann::json& signed_obj) {
  Targets targets;
  OTA_ASSIGN_OR_RETURN(Fields f, ParseCommon(signed_obj, kTargetsRole, targets));
  OTA_ASSIGN_OR_RETURN(const nlohmann::json* list, f.Object("targets"));
  for (auto it = list->begin(); it != list->end(); ++it) {
    if (it.key().empty()) return f.Invalid("targets", "has an empty target path");
    auto entry = ParseTargetFile(it.value());
    if (!entry.ok()) return f.Invalid("targets", it.key() + ": " + entry.error().message);
    targets.targets.emplace(it.key(), std::move(*entry));
  }
  if (f.Has("delegations")) {
    if (!f.Raw("delegations").is_object()) return f.Invalid("delegations", "must be an object");
    auto delegations = ParseDelegations(f.Raw("delegations"));
    if (!delegations.ok()) return f.Invalid("delegations", delegations.error().message);
    targets.delegations = f.Raw("delegations");
    targets.parsed_delegations = std::move(*delegations);
  }
  return targets;
}

}  // namespace ota::manifest
