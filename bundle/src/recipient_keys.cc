// X25519 recipient keys and their files (libsodium).
#include "ota/bundle/recipient_keys.h"

#include <sodium.h>

#include <nlohmann/json.hpp>

#include "ota/common/hash.h"
#include "ota/manifest/canonical_json.h"

namespace ota::bundle {
namespace {

constexpr std::uint64_t kMaxKeyFileBytes = 64 * 1024;
constexpr const char* kKeyType = "x25519";

std::string Dump(const nlohmann::json& doc) {
  return doc.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

// Parses a key file; `want_private` selects which kind is expected.
Result<nlohmann::json> ReadKeyFile(FileSystem& fs, const std::string& path, bool want_private) {
  OTA_ASSIGN_OR_RETURN(std::string bytes, fs.ReadFile(path, kMaxKeyFileBytes));
  auto doc = manifest::ParseJsonStrict(bytes);
  auto bad = [&](const std::string& why) {
    return MakeError(ErrorCode::kInvalidArgument, path + ": " + why);
  };
  if (!doc.ok()) return bad(doc.error().message);
  if (!doc->is_object()) return bad("not a JSON object");
  auto type = doc->find("keytype");
  if (type == doc->end() || *type != kKeyType) {
    return bad("not an x25519 recipient key (keytype must be \"x25519\")");
  }
  auto keyval = doc->find("keyval");
  if (keyval == doc->end() || !keyval->is_object()) return bad("keyval is missing");
  auto pub = keyval->find("public");
  if (pub == keyval->end() || !pub->is_string() ||
      !IsLowerHex(pub->get<std::string>(), 2 * kRecipientKeyBytes)) {
    return bad("keyval.public must be 64 lower-case hex digits");
  }
  const bool has_private = keyval->contains("private");
  if (want_private && !has_private) return bad("keyval.private is missing (this is a public key)");
  if (!want_private && has_private) {
    return bad("this file holds a private key; give the public key file (.pub)");
  }
  return std::move(*doc);
}

}  // namespace

std::string RecipientKeyId(std::string_view public_key) { return Sha256Hex(public_key); }

Result<RecipientPrivateKey> RecipientKeyFromPrivate(std::string_view private_key) {
  if (sodium_init() < 0) return MakeError(ErrorCode::kInternal, "libsodium failed to start");
  if (private_key.size() != kRecipientKeyBytes) {
    return MakeError(ErrorCode::kInvalidArgument, "an x25519 private key is 32 bytes, not " +
                                                      std::to_string(private_key.size()));
  }
  unsigned char pub[crypto_scalarmult_BYTES];
  if (crypto_scalarmult_base(pub, reinterpret_cast<const unsigned char*>(private_key.data())) !=
      0) {
    return MakeError(ErrorCode::kInvalidArgument, "degenerate x25519 private key");
  }
  RecipientPrivateKey key;
  key.public_key.assign(reinterpret_cast<const char*>(pub), sizeof(pub));
  key.private_key = std::string(private_key);
  key.key_id = RecipientKeyId(key.public_key);
  sodium_memzero(pub, sizeof(pub));
  return key;
}

Result<RecipientPrivateKey> GenerateRecipientKey(Random& random) {
  std::string secret(kRecipientKeyBytes, '\0');
  random.Fill(std::span(reinterpret_cast<std::uint8_t*>(secret.data()), secret.size()));
  auto key = RecipientKeyFromPrivate(secret);
  sodium_memzero(secret.data(), secret.size());
  if (!key.ok()) return MakeError(ErrorCode::kInternal, key.error().message);
  return key;
}

Status SaveRecipientPrivateKey(FileSystem& fs, const std::string& path,
                               const RecipientPrivateKey& key) {
  if (key.public_key.size() != kRecipientKeyBytes || key.private_key.size() != kRecipientKeyBytes) {
    return MakeError(ErrorCode::kInvalidArgument, "malformed x25519 key pair");
  }
  nlohmann::json doc = {
      {"keytype", kKeyType},
      {"keyid", key.key_id},
      {"keyval", {{"public", HexEncode(key.public_key)}, {"private", HexEncode(key.private_key)}}}};
  return WriteFileAtomic(fs, path, Dump(doc), 0600);
}

Status SaveRecipientPublicKey(FileSystem& fs, const std::string& path,
                              const RecipientPublicKey& key) {
  if (key.public_key.size() != kRecipientKeyBytes) {
    return MakeError(ErrorCode::kInvalidArgument, "malformed x25519 public key");
  }
  nlohmann::json doc = {{"keytype", kKeyType},
                        {"keyid", key.key_id},
                        {"keyval", {{"public", HexEncode(key.public_key)}}}};
  return WriteFileAtomic(fs, path, Dump(doc), 0644);
}

Result<RecipientPrivateKey> LoadRecipientPrivateKey(FileSystem& fs, const std::string& path) {
  OTA_TRY(CheckOwnerOnlyFile(path, "recipient private key"));
  OTA_ASSIGN_OR_RETURN(nlohmann::json doc, ReadKeyFile(fs, path, /*want_private=*/true));
  auto bad = [&](const std::string& why) {
    return MakeError(ErrorCode::kInvalidArgument, path + ": " + why);
  };
  const nlohmann::json& priv = doc["keyval"]["private"];
  if (!priv.is_string() || !IsLowerHex(priv.get<std::string>(), 2 * kRecipientKeyBytes)) {
    return bad("keyval.private must be 64 lower-case hex digits");
  }
  auto secret = HexDecode(priv.get<std::string>());
  if (!secret.ok()) return bad("keyval.private is not hex");
  auto key = RecipientKeyFromPrivate(*secret);
  sodium_memzero(secret->data(), secret->size());
  if (!key.ok()) return bad(key.error().message);
  if (HexEncode(key->public_key) != doc["keyval"]["public"].get<std::string>()) {
    return bad("keyval.public does not match the private key");
  }
  if (auto id = doc.find("keyid"); id != doc.end() && *id != key->key_id) {
    return bad("keyid does not match the public key");
  }
  return key;
}

Result<RecipientPublicKey> LoadRecipientPublicKey(FileSystem& fs, const std::string& path) {
  OTA_ASSIGN_OR_RETURN(nlohmann::json doc, ReadKeyFile(fs, path, /*want_private=*/false));
  auto pub = HexDecode(doc["keyval"]["public"].get<std::string>());
  if (!pub.ok()) return MakeError(ErrorCode::kInvalidArgument, path + ": keyval.public is not hex");
  RecipientPublicKey key{*pub, RecipientKeyId(*pub)};
  if (auto id = doc.find("keyid"); id != doc.end() && *id != key.key_id) {
    return MakeError(ErrorCode::kInvalidArgument, path + ": keyid does not match the public key");
  }
  return key;
}

}  // namespace ota::bundle
