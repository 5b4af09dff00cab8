// Every libsodium signature call of the code base lives in this file.
#include <sodium.h>

#include <array>
#include <cstdint>

#include "ed25519.h"
#include "ota/common/hash.h"
#include "ota/manifest/canonical_json.h"

namespace ota::verifier {

namespace internal {

Result<PrivateKey> Ed25519KeyFromSeed(std::string_view seed) {
  if (seed.size() != crypto_sign_SEEDBYTES) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "an Ed25519 seed is 32 bytes, got " + std::to_string(seed.size()));
  }
  InitCrypto();
  std::array<unsigned char, crypto_sign_PUBLICKEYBYTES> pk;
  std::array<unsigned char, crypto_sign_SECRETKEYBYTES> sk;
  if (crypto_sign_seed_keypair(pk.data(), sk.data(),
                               reinterpret_cast<const unsigned char*>(seed.data())) != 0) {
    return MakeError(ErrorCode::kInternal, "crypto_sign_seed_keypair failed");
  }
  PrivateKey key;
  key.public_key =
      Ed25519PublicKey(std::string_view(reinterpret_cast<const char*>(pk.data()), pk.size()));
  key.secret_key.assign(reinterpret_cast<const char*>(sk.data()), sk.size());
  key.keyid = ComputeKeyId(key.public_key);
  sodium_memzero(sk.data(), sk.size());
  return key;
}

}  // namespace internal

Result<PrivateKey> GenerateEd25519Key(Random& random) {
  std::array<std::uint8_t, crypto_sign_SEEDBYTES> seed;
  random.Fill(seed);
  auto key = internal::Ed25519KeyFromSeed(
      std::string_view(reinterpret_cast<const char*>(seed.data()), seed.size()));
  sodium_memzero(seed.data(), seed.size());
  return key;
}

manifest::Key Ed25519PublicKey(std::string_view public_key_bytes) {
  manifest::Key key;
  key.keytype = "ed25519";
  key.scheme = "ed25519";
  key.public_value = HexEncode(public_key_bytes);
  key.raw = manifest::ToJson(key);
  return key;
}

std::string ComputeKeyId(const manifest::Key& key) {
  const nlohmann::json obj = manifest::ToJson(key);
  auto canonical = manifest::CanonicalJson(obj);
  return Sha256Hex(canonical.ok()
                       ? *canonical
                       : obj.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

Result<std::string> SignBytes(const PrivateKey& key, std::string_view message) {
  if (key.public_key.keytype != "ed25519" || key.secret_key.size() != crypto_sign_SECRETKEYBYTES) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "key " + key.keyid + " is not an Ed25519 secret key");
  }
  InitCrypto();
  std::array<unsigned char, crypto_sign_BYTES> sig;
  if (crypto_sign_detached(sig.data(), nullptr,
                           reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                           reinterpret_cast<const unsigned char*>(key.secret_key.data())) != 0) {
    return MakeError(ErrorCode::kInternal, "crypto_sign_detached failed");
  }
  return HexEncode(std::span<const std::uint8_t>(sig.data(), sig.size()));
}

bool VerifyEd25519(const manifest::Key& key, std::string_view sig_hex, std::string_view message) {
  if (key.keytype != "ed25519" || key.scheme != "ed25519") return false;
  auto pk = HexDecode(key.public_value);
  auto sig = HexDecode(sig_hex);
  if (!pk.ok() || !sig.ok() || pk->size() != crypto_sign_PUBLICKEYBYTES ||
      sig->size() != crypto_sign_BYTES) {
    return false;
  }
  InitCrypto();
  return crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(sig->data()),
                                     reinterpret_cast<const unsigned char*>(message.data()),
                                     message.size(),
                                     reinterpret_cast<const unsigned char*>(pk->data())) == 0;
}

}  // namespace ota::verifier
