#include "identity.h"

#include <nlohmann/json.hpp>

#include "ota/common/filesystem.h"
#include "ota/common/hash.h"
#include "ota/common/log.h"
#include "ota/manifest/canonical_json.h"

namespace ota::agent {
namespace {
constexpr char kEnrolledSetting[] = "report_key_enrolled_at";
constexpr char kFactsSetting[] = "report_facts_sha256";
}  // namespace

Result<verifier::PrivateKey> LoadOrCreateIdentity(Env& env, const std::string& state_dir) {
  const std::string path = JoinPath(state_dir, kIdentityKeyFile);
  OTA_ASSIGN_OR_RETURN(bool exists, env.fs->Exists(path));
  if (exists) return verifier::LoadPrivateKey(*env.fs, path);
  OTA_ASSIGN_OR_RETURN(verifier::PrivateKey key, verifier::GenerateEd25519Key(*env.random));
  OTA_TRY(verifier::SavePrivateKey(*env.fs, path, key));
  OTA_TRY(env.fs->SyncDir(state_dir));
  return key;
}

Result<std::string> LoadEnrollmentToken(Env& env, const std::string& state_dir) {
  const std::string path = JoinPath(state_dir, kEnrollmentTokenFile);
  OTA_ASSIGN_OR_RETURN(bool exists, env.fs->Exists(path));
  if (!exists) return std::string();
  OTA_TRY(CheckOwnerOnlyFile(path, "enrollment token"));
  OTA_ASSIGN_OR_RETURN(std::string token, env.fs->ReadFile(path, 4096));
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  return token;
}

Status EnsureServerEnrollment(Env& env, StateDb& db, const std::string& server_url,
                              const std::string& device_id, const verifier::PrivateKey& key,
                              const EnrollmentClaims& claims) {
  const std::optional<nlohmann::json>& facts = claims.facts;
  OTA_ASSIGN_OR_RETURN(auto enrolled_at, db.GetSetting(kEnrolledSetting));
  const std::string facts_sha = facts ? Sha256Hex(facts->dump()) : "";
  if (enrolled_at && *enrolled_at == server_url) {
    if (!facts) return Ok();
    OTA_ASSIGN_OR_RETURN(auto sent, db.GetSetting(kFactsSetting));
    if (sent && *sent == facts_sha) return Ok();
  }
  HttpRequest request;
  request.method = "POST";
  request.url = server_url + "/v1/devices";
  request.headers = {{"Content-Type", "application/json"}};
  if (!claims.token.empty()) request.headers.push_back({"Authorization", "Bearer " + claims.token});
  nlohmann::json body = {{"device_id", device_id}, {"public_key", key.public_key.public_value}};
  if (facts) {
    // The server takes facts only signed by the key they come with.
    auto message = manifest::DeviceFactsSigningBytes(device_id, *facts);
    auto signature =
        message.ok() ? verifier::SignBytes(key, *message) : Result<std::string>(message.error());
    if (signature.ok()) {
      body["facts"] = *facts;
      body["facts_signature"] = *signature;
    } else {
      Log(LogLevel::kWarning, "agent",
          "device facts not sent: cannot sign them: " + signature.error().message);
    }
  }
  request.body = body.dump();
  request.max_body_bytes = 64 * 1024;
  OTA_ASSIGN_OR_RETURN(HttpResponse response, env.http->Fetch(request));
  if (response.status == 400 && facts) {
    // A server that refuses these facts (an older one, or stricter limits)
    // must not hold every report back: enroll the key alone. The facts count
    // as sent, so they are offered again only once they change.
    Log(LogLevel::kWarning, "agent",
        "the server refused the device facts: " + response.body.substr(0, 200));
    body.erase("facts");
    body.erase("facts_signature");
    request.body = body.dump();
    OTA_ASSIGN_OR_RETURN(response, env.http->Fetch(request));
  }
  if (response.status == 401 || response.status == 403) {
    return MakeError(ErrorCode::kSecurity,
                     "the server refused to enroll device " + device_id +
                         (claims.token.empty() ? " (this device has no enrollment token)" : "") +
                         ": HTTP " + std::to_string(response.status) + " " +
                         response.body.substr(0, 200));
  }
  if (response.status == 409) {
    return MakeError(ErrorCode::kSecurity, "the server holds another report key for device " +
                                               device_id + ": " + response.body.substr(0, 200));
  }
  if (response.status != 200 && response.status != 201) {
    return MakeError(ErrorCode::kRetryLater, "device enrollment refused with HTTP " +
                                                 std::to_string(response.status) + ": " +
                                                 response.body.substr(0, 200));
  }
  if (facts) OTA_TRY(db.SetSetting(kFactsSetting, facts_sha));
  return db.SetSetting(kEnrolledSetting, server_url);
}

Status ForgetServerEnrollment(StateDb& db) { return db.SetSetting(kEnrolledSetting, ""); }

}  // namespace ota::agent
