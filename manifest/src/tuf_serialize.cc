// JSON forms of the TUF metadata model (what the repository tools sign).
#include "ota/manifest/tuf_metadata.h"

namespace ota::manifest {
namespace {

nlohmann::json Common(std::string_view type, const MetadataCommon& m) {
  return {{"_type", std::string(type)},
          {"spec_version", m.spec_version},
          {"version", m.version},
          {"expires", FormatExpires(m.expires)}};
}

}  // namespace

nlohmann::json ToJson(const Key& key) {
  nlohmann::json out = key.raw.is_object() ? key.raw : nlohmann::json::object();
  out["keytype"] = key.keytype;
  out["scheme"] = key.scheme;
  if (!out.contains("keyval") || !out["keyval"].is_object())
    out["keyval"] = nlohmann::json::object();
  out["keyval"].erase("private");
  out["keyval"]["public"] = key.public_value;
  return out;
}

nlohmann::json ToJson(const Root& root) {
  nlohmann::json out = Common(kRootRole, root);
  out["consistent_snapshot"] = root.consistent_snapshot;
  nlohmann::json keys = nlohmann::json::object();
  for (const auto& [id, key] : root.keys) keys[id] = ToJson(key);
  out["keys"] = std::move(keys);
  nlohmann::json roles = nlohmann::json::object();
  for (const auto& [name, role] : root.roles) {
    roles[name] = {{"keyids", role.keyids}, {"threshold", role.threshold}};
  }
  out["roles"] = std::move(roles);
  return out;
}

nlohmann::json ToJson(const MetaFile& meta) {
  nlohmann::json out = {{"version", meta.version}};
  if (meta.length) out["length"] = *meta.length;
  if (!meta.hashes.empty()) out["hashes"] = meta.hashes;
  return out;
}

nlohmann::json ToJson(const Timestamp& timestamp) {
  nlohmann::json out = Common(kTimestampRole, timestamp);
  out["meta"] = {{"snapshot.json", ToJson(timestamp.snapshot)}};
  return out;
}

nlohmann::json ToJson(const Snapshot& snapshot) {
  nlohmann::json out = Common(kSnapshotRole, snapshot);
  nlohmann::json meta = nlohmann::json::object();
  for (const auto& [name, entry] : snapshot.meta) meta[name] = ToJson(entry);
  out["meta"] = std::move(meta);
  return out;
}

nlohmann::json ToJson(const TargetFile& target) {
  nlohmann::json out = {{"length", target.length}, {"hashes", target.hashes}};
  if (!target.custom.is_null()) out["custom"] = target.custom;
  return out;
}

nlohmann::json ToJson(const Delegations& delegations) {
  nlohmann::json keys = nlohmann::json::object();
  for (const auto& [id, key] : delegations.keys) keys[id] = ToJson(key);
  if (delegations.succinct_roles) {
    const SuccinctRoles& s = *delegations.succinct_roles;
    return {{"keys", std::move(keys)},
            {"succinct_roles",
             {{"keyids", s.keyids},
              {"threshold", s.threshold},
              {"bit_length", s.bit_length},
              {"name_prefix", s.name_prefix}}}};
  }
  nlohmann::json roles = nlohmann::json::array();
  for (const DelegatedRole& role : delegations.roles) {
    nlohmann::json r = {{"name", role.name},
                        {"keyids", role.keyids},
                        {"threshold", role.threshold},
                        {"terminating", role.terminating}};
    if (role.paths) r["paths"] = *role.paths;
    if (role.path_hash_prefixes) r["path_hash_prefixes"] = *role.path_hash_prefixes;
    roles.push_back(std::move(r));
  }
  return {{"keys", std::move(keys)}, {"roles", std::move(roles)}};
}

nlohmann::json ToJson(const Targets& targets) {
  nlohmann::json out = Common(kTargetsRole, targets);
  nlohmann::json list = nlohmann::json::object();
  for (const auto& [path, target] : targets.targets) list[path] = ToJson(target);
  out["targets"] = std::move(list);
  if (!targets.delegations.is_null()) {
    out["delegations"] = targets.delegations;
  } else if (targets.parsed_delegations) {
    out["delegations"] = ToJson(*targets.parsed_delegations);
  }
  return out;
}

}  // namespace ota::manifest
