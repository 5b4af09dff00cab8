#include "ota/verifier/signing.h"

#include <set>

#include "ota/manifest/canonical_json.h"

namespace ota::verifier {

Result<std::string> SignEnvelope(const nlohmann::json& signed_obj,
                                 const std::vector<const PrivateKey*>& keys) {
  if (keys.empty()) return MakeError(ErrorCode::kInvalidArgument, "no signing keys given");
  OTA_ASSIGN_OR_RETURN(std::string canonical, manifest::CanonicalJson(signed_obj));
  manifest::Signed envelope;
  envelope.signed_json = signed_obj;
  std::set<std::string> signed_by;
  for (const PrivateKey* key : keys) {
    if (key == nullptr) return MakeError(ErrorCode::kInvalidArgument, "null signing key");
    if (!signed_by.insert(key->keyid).second) continue;
    OTA_ASSIGN_OR_RETURN(std::string sig, SignBytes(*key, canonical));
    envelope.signatures.push_back({key->keyid, std::move(sig)});
  }
  return manifest::SerializeEnvelope(envelope);
}

Result<std::string> AddSignature(std::string_view envelope_bytes, const PrivateKey& key) {
  OTA_ASSIGN_OR_RETURN(manifest::Signed envelope, manifest::ParseEnvelope(envelope_bytes));
  OTA_ASSIGN_OR_RETURN(std::string canonical, manifest::CanonicalJson(envelope.signed_json));
  OTA_ASSIGN_OR_RETURN(std::string sig, SignBytes(key, canonical));
  std::erase_if(envelope.signatures,
                [&](const manifest::Signature& s) { return s.keyid == key.keyid; });
  envelope.signatures.push_back({key.keyid, std::move(sig)});
  return manifest::SerializeEnvelope(envelope);
}

Status VerifyRoleSignatures(const manifest::Signed& envelope, const std::string& role_name,
                            const std::map<std::string, manifest::Key>& keys,
                            const manifest::Role& role) {
  auto canonical = manifest::CanonicalJson(envelope.signed_json);
  std::uint64_t valid = 0;
  std::string unsupported;  // Why signatures by authorized keys could not count.
  if (canonical.ok()) {
    const std::set<std::string> authorized(role.keyids.begin(), role.keyids.end());
    std::set<std::string> counted_ids;
    std::vector<const manifest::Key*> counted_keys;
    for (const manifest::Signature& sig : envelope.signatures) {
      if (authorized.count(sig.keyid) == 0 || counted_ids.count(sig.keyid) != 0) continue;
      auto key_it = keys.find(sig.keyid);
      if (key_it == keys.end()) continue;
      const manifest::Key& key = key_it->second;
      // One key listed under two ids must not count twice.
      bool same_material = false;
      for (const manifest::Key* k : counted_keys) same_material |= k->SameMaterial(key);
      if (same_material) continue;
      Status verified = VerifySignature(key, sig.sig, *canonical);
      if (!verified.ok()) {
        if (key.keytype != "ed25519" && unsupported.empty()) {
          unsupported = " (" + verified.error().message + ")";
        }
        continue;
      }
      counted_ids.insert(sig.keyid);
      counted_keys.push_back(&key);
      ++valid;
    }
  }
  if (valid < role.threshold) {
    return MakeError(ErrorCode::kSecurity, role_name + " has " + std::to_string(valid) + " of " +
                                               std::to_string(role.threshold) +
                                               " required signatures" + unsupported);
  }
  return Ok();
}

Status VerifyRoleSignatures(const manifest::Signed& envelope, const std::string& role_name,
                            const manifest::Root& root) {
  auto it = root.roles.find(role_name);
  if (it == root.roles.end()) {
    return MakeError(ErrorCode::kSecurity, "root does not define the " + role_name + " role");
  }
  return VerifyRoleSignatures(envelope, role_name, root.keys, it->second);
}

}  // namespace ota::verifier
