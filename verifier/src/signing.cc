#include "ota/verifier/signing.h"

#include <array>
#include <atomic>
#include <cstring>
#include <mutex>
#include <set>

#include "openssl_verify.h"
#include "ota/common/hash.h"
#include "ota/manifest/canonical_json.h"

namespace ota::verifier {
namespace {

// The largest signature any supported scheme produces (RSA at the maximum
// modulus size), in hex digits; longer strings are refused before decoding.
constexpr std::size_t kMaxSignatureHex = 2 * (internal::kMaxRsaBits / 8);

bool IsEcdsaP256(const manifest::Key& key) {
  return (key.keytype == "ecdsa" || key.keytype == "ecdsa-sha2-nistp256") &&
         key.scheme == "ecdsa-sha2-nistp256";
}

bool IsRsaPss(const manifest::Key& key) {
  return key.keytype == "rsa" && key.scheme == "rsassa-pss-sha256";
}

// Signatures that verified, remembered by a digest of the key, the
// signature and the message, so that metadata checked again (an agent
// re-reads its trusted copies at every refresh; many agents in one process
// check the same files) costs a SHA-256 instead of a verification. Only
// successes are kept: a forged signature is checked every time. A hit
// needs the digest of exactly these bytes, so it is as strong as SHA-256's
// collision resistance, which TUF relies on anyway (D54). Bounded: when
// full, it starts again.
class VerifiedSignatures {
 public:
  static constexpr std::size_t kMax = 4096;
  using Digest = std::array<char, 64>;

  static Digest Of(const manifest::Key& key, std::string_view sig_hex, std::string_view message) {
    // Each part's length comes first, so no two inputs share a digest input.
    auto size_of = [](std::string_view part) {
      std::array<char, 8> out{};
      const std::uint64_t n = part.size();
      std::memcpy(out.data(), &n, sizeof n);
      return out;
    };
    const auto a = size_of(key.keytype), b = size_of(key.scheme), c = size_of(key.public_value),
               d = size_of(sig_hex);
    Digest digest;
    Sha256HexParts(
        {std::string_view(a.data(), a.size()), key.keytype, std::string_view(b.data(), b.size()),
         key.scheme, std::string_view(c.data(), c.size()), key.public_value,
         std::string_view(d.data(), d.size()), sig_hex, message},
        std::span<char, 64>(digest));
    return digest;
  }
  bool Has(const Digest& d) {
    std::lock_guard lock(mu_);
    return known_.count(d) != 0;
  }
  void Add(const Digest& d) {
    std::lock_guard lock(mu_);
    if (known_.size() >= kMax) known_.clear();
    known_.insert(d);
  }

 private:
  std::mutex mu_;
  std::set<Digest> known_;
};

std::atomic<std::uint64_t> g_computed{0};

VerifiedSignatures& Verified() {
  static VerifiedSignatures* verified = new VerifiedSignatures;  // Never destroyed.
  return *verified;
}

Status VerifyUncached(const manifest::Key& key, bool ed25519, std::string_view sig_hex,
                      std::string_view message) {
  if (ed25519) {
    if (VerifyEd25519(key, sig_hex, message)) return Ok();
    return MakeError(ErrorCode::kSecurity, "bad ed25519 signature");
  }
  auto sig = HexDecode(sig_hex);
  if (!sig.ok()) return MakeError(ErrorCode::kSecurity, key.scheme + " signature is not hex");
  if (IsEcdsaP256(key)) return internal::VerifyEcdsaP256Sha256(key.public_value, *sig, message);
  return internal::VerifyRsaPssSha256(key.public_value, *sig, message);
}

Error Unsupported(const manifest::Key& key) {
  return MakeError(ErrorCode::kSecurity, "key type " + key.keytype + " with scheme " + key.scheme +
                                             " is not supported for verification");
}

}  // namespace

Status CheckPublicKey(const manifest::Key& key) {
  if (key.keytype == "ed25519" && key.scheme == "ed25519") {
    auto pk = HexDecode(key.public_value);
    if (!pk.ok() || pk->size() != 32) {
      return MakeError(ErrorCode::kSecurity, "ed25519 public key is not 64 hex digits");
    }
    return Ok();
  }
  if (IsEcdsaP256(key)) return internal::CheckEcdsaP256Key(key.public_value);
  if (IsRsaPss(key)) return internal::CheckRsaKey(key.public_value);
  return Unsupported(key);
}

Status VerifySignature(const manifest::Key& key, std::string_view sig_hex,
                       std::string_view message) {
  const bool ed25519 = key.keytype == "ed25519" && key.scheme == "ed25519";
  if (!ed25519 && !IsEcdsaP256(key) && !IsRsaPss(key)) return Unsupported(key);
  if (sig_hex.size() > kMaxSignatureHex) {
    return MakeError(ErrorCode::kSecurity, key.scheme + " signature is longer than " +
                                               std::to_string(kMaxSignatureHex) + " hex digits");
  }
  const VerifiedSignatures::Digest digest = VerifiedSignatures::Of(key, sig_hex, message);
  if (Verified().Has(digest)) return Ok();
  g_computed.fetch_add(1, std::memory_order_relaxed);
  OTA_TRY(VerifyUncached(key, ed25519, sig_hex, message));
  Verified().Add(digest);
  return Ok();
}

std::uint64_t SignatureVerificationsComputed() { return g_computed.load(); }

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

Result<std::vector<std::string>> RoleSigners(const manifest::Signed& envelope,
                                             const std::string& role_name,
                                             const std::map<std::string, manifest::Key>& keys,
                                             const manifest::Role& role) {
  // The specification requires each key id to appear at most once in
  // "signatures"; metadata that repeats one is malformed, whatever else it
  // carries.
  std::set<std::string> seen_ids;
  for (const manifest::Signature& sig : envelope.signatures) {
    if (!seen_ids.insert(sig.keyid).second) {
      return MakeError(ErrorCode::kSecurity,
                       role_name + " lists more than one signature by key " + sig.keyid);
    }
  }
  auto canonical = manifest::CanonicalJson(envelope.signed_json);
  std::vector<std::string> signers;
  std::string unsupported;  // Why signatures by authorized keys could not count.
  if (canonical.ok()) {
    const std::set<std::string> authorized(role.keyids.begin(), role.keyids.end());
    std::vector<const manifest::Key*> counted_keys;
    for (const manifest::Signature& sig : envelope.signatures) {
      if (authorized.count(sig.keyid) == 0) continue;
      auto key_it = keys.find(sig.keyid);
      if (key_it == keys.end()) continue;
      const manifest::Key& key = key_it->second;
      // One key listed under two ids must not count twice.
      bool same_material = false;
      for (const manifest::Key* k : counted_keys) same_material |= k->SameMaterial(key);
      if (same_material) continue;
      Status verified = VerifySignature(key, sig.sig, *canonical);
      if (!verified.ok()) {
        // A bad signature is ordinary noise; a key that cannot verify
        // anything (unsupported type, malformed PEM) is worth naming.
        if (unsupported.empty()) {
          if (Status usable = CheckPublicKey(key); !usable.ok()) {
            unsupported = " (" + usable.error().message + ")";
          }
        }
        continue;
      }
      counted_keys.push_back(&key);
      signers.push_back(sig.keyid);
    }
  }
  if (signers.size() < role.threshold) {
    return MakeError(ErrorCode::kSecurity, role_name + " has " + std::to_string(signers.size()) +
                                               " of " + std::to_string(role.threshold) +
                                               " required signatures" + unsupported);
  }
  return signers;
}

Status VerifyRoleSignatures(const manifest::Signed& envelope, const std::string& role_name,
                            const std::map<std::string, manifest::Key>& keys,
                            const manifest::Role& role) {
  auto signers = RoleSigners(envelope, role_name, keys, role);
  if (!signers.ok()) return std::move(signers).error();
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
