// Key files on disk (securesystemslib-compatible JSON layout).

#include "ed25519.h"
#include "ota/common/hash.h"
#include "ota/manifest/canonical_json.h"
#include "ota/verifier/keys.h"

namespace ota::verifier {
namespace {

// Key files are tiny; anything larger is not one.
constexpr std::uint64_t kMaxKeyFileBytes = 64 * 1024;

Result<nlohmann::json> ReadJsonFile(FileSystem& fs, const std::string& path) {
  OTA_ASSIGN_OR_RETURN(std::string bytes, fs.ReadFile(path, kMaxKeyFileBytes));
  auto doc = manifest::ParseJsonStrict(bytes);
  if (!doc.ok()) {
    return MakeError(ErrorCode::kInvalidArgument, path + ": " + doc.error().message);
  }
  return std::move(*doc);
}

// Key fields come from callers; invalid UTF-8 in them must not throw.
std::string Dump(const nlohmann::json& doc) {
  return doc.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace

Status SavePrivateKey(FileSystem& fs, const std::string& path, const PrivateKey& key) {
  if (key.public_key.keytype != "ed25519" || key.secret_key.size() != 64) {
    return MakeError(ErrorCode::kInvalidArgument, "only Ed25519 private keys can be saved");
  }
  nlohmann::json doc = manifest::ToJson(key.public_key);
  doc["keyid"] = key.keyid;
  doc["keyval"]["private"] = HexEncode(std::string_view(key.secret_key).substr(0, 32));
  return WriteFileAtomic(fs, path, Dump(doc), 0600);
}

Result<PrivateKey> LoadPrivateKey(FileSystem& fs, const std::string& path) {
  OTA_TRY(CheckOwnerOnlyFile(path, "private key"));
  OTA_ASSIGN_OR_RETURN(nlohmann::json doc, ReadJsonFile(fs, path));
  auto bad = [&](const std::string& why) {
    return MakeError(ErrorCode::kInvalidArgument, path + ": " + why);
  };
  auto parsed = manifest::ParseKey(doc);
  if (!parsed.ok()) return bad(parsed.error().message);
  if (parsed->keytype != "ed25519" || parsed->scheme != "ed25519") {
    return bad("only ed25519 private keys are supported, found " + parsed->keytype);
  }
  const nlohmann::json& priv = doc["keyval"]["private"];
  if (!priv.is_string()) return bad("keyval.private is missing");
  auto secret = HexDecode(priv.get<std::string>());
  if (!secret.ok() || (secret->size() != 32 && secret->size() != 64)) {
    return bad("keyval.private must be 64 or 128 hex digits");
  }
  OTA_ASSIGN_OR_RETURN(PrivateKey key,
                       internal::Ed25519KeyFromSeed(std::string_view(*secret).substr(0, 32)));
  if (secret->size() == 64 && secret->substr(32) != key.secret_key.substr(32)) {
    return bad("the public half of keyval.private does not match its seed");
  }
  auto pub = HexDecode(parsed->public_value);
  if (!pub.ok() || HexEncode(*pub) != key.public_key.public_value) {
    return bad("keyval.public does not match the private key");
  }
  if (doc.contains("keyid") &&
      (!doc["keyid"].is_string() || doc["keyid"].get<std::string>() != key.keyid)) {
    return bad("keyid does not match the key (expected " + key.keyid + ")");
  }
  return key;
}

Status SavePublicKey(FileSystem& fs, const std::string& path, const manifest::Key& key) {
  return WriteFileAtomic(fs, path, Dump(manifest::ToJson(key)), 0644);
}

Result<manifest::Key> LoadPublicKey(FileSystem& fs, const std::string& path) {
  OTA_ASSIGN_OR_RETURN(nlohmann::json doc, ReadJsonFile(fs, path));
  // Some tools add the id to the file; it is not part of the key object (and
  // would change the id computed over it).
  if (doc.is_object()) doc.erase("keyid");
  if (doc.is_object() && doc.contains("keyval") && doc["keyval"].is_object() &&
      doc["keyval"].contains("private")) {
    return MakeError(ErrorCode::kInvalidArgument,
                     path + " holds a private key; give the public key file instead");
  }
  auto key = manifest::ParseKey(doc);
  if (!key.ok()) return MakeError(ErrorCode::kInvalidArgument, path + ": " + key.error().message);
  return std::move(*key);
}

}  // namespace ota::verifier
