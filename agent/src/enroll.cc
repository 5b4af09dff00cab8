// Enrollment of a state folder and the changes to its settings made later
// (`ota-agent init`, `ota-agent set-tls`), each recorded in the audit log.
#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "identity.h"
#include "ota/agent/agent.h"
#include "ota/agent/tls.h"
#include "ota/bundle/recipient_keys.h"
#include "ota/common/filesystem.h"
#include "ota/common/hash.h"
#include "ota/common/hex.h"
#include "ota/manifest/tuf_metadata.h"
#include "ota/verifier/updater.h"
#include "private_fs.h"
#include "state_db.h"
#include "state_folder.h"
#include "tls_config.h"
#include "version_store.h"

namespace ota::agent {
namespace {

// A bearer token as the server issues it: printable ASCII without spaces,
// at most 256 bytes.
Status ValidateEnrollmentToken(const std::string& token) {
  const bool printable = std::all_of(token.begin(), token.end(), [](char c) {
    return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
  });
  if (token.size() > 256 || !printable) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "the enrollment token must be 1 to 256 printable characters without spaces");
  }
  return Ok();
}

// The key bundles are decrypted with: a new one, or a fleet key copied in.
// Returns its key id.
Result<std::string> InstallDeviceKey(Env& env, const EnrollOptions& options) {
  Result<bundle::RecipientPrivateKey> key =
      options.recipient_key_file.empty()
          ? bundle::GenerateRecipientKey(*env.random)
          : bundle::LoadRecipientPrivateKey(*env.fs, options.recipient_key_file);
  if (!key.ok()) return std::move(key).error();
  OTA_TRY(
      bundle::SaveRecipientPrivateKey(*env.fs, JoinPath(options.state_dir, kDeviceKeyFile), *key));
  OTA_TRY(bundle::SaveRecipientPublicKey(*env.fs, JoinPath(options.state_dir, kDevicePublicKeyFile),
                                         bundle::RecipientPublicKey{key->public_key, key->key_id}));
  return key->key_id;
}

// SHA-256 of the copy of the CA bundle in the state folder.
Result<std::string> CaBundleDigest(Env& env, const std::string& state_dir) {
  OTA_ASSIGN_OR_RETURN(std::string pem,
                       env.fs->ReadFile(JoinPath(state_dir, kCaBundleFile), 16 << 20));
  return Sha256Hex(pem);
}

std::string NowText(Env& env) { return manifest::FormatExpires(env.clock->Now()); }

}  // namespace

Status Agent::Enroll(Env& caller_env, const EnrollOptions& options) {
  PrivateFileSystem private_fs(*caller_env.fs);
  Env env = WithFileSystem(caller_env, &private_fs);
  OTA_TRY(ValidateServerUrl(options.server_url));
  if (options.models.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "at least one model to track is required");
  }
  for (const std::string& m : options.models) {
    if (!IsValidModelName(m)) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "invalid model name \"" + m + "\" (use [a-z0-9][a-z0-9._-]{0,63})");
    }
  }
  const TlsSettings tls{options.ca_bundle_file, options.pinned_sha256};
  OTA_TRY(CheckEnrollTls(env, tls));
  OTA_TRY(env.fs->CreateDirs(options.state_dir));
  // A folder made beforehand (by a package, say) becomes private too.
  OTA_TRY(env.fs->SetMode(options.state_dir, kPrivateDirMode));
  OTA_ASSIGN_OR_RETURN(
      auto lock, FolderLock::Acquire(PlatformOf(env), JoinPath(options.state_dir, kLockName)));
  OTA_ASSIGN_OR_RETURN(bool enrolled, env.fs->Exists(JoinPath(options.state_dir, kDbName)));
  if (enrolled) {
    return MakeError(ErrorCode::kInvalidArgument,
                     options.state_dir + " is already enrolled; use a new state folder");
  }
  const std::string metadata_dir = JoinPath(options.state_dir, kMetadataDir);
  // Without agent.db nothing here is trusted yet: an enrolment cut short by a
  // crash starts over instead of tripping over its own root.json.
  OTA_TRY(env.fs->RemoveAll(metadata_dir));
  OTA_TRY(env.fs->CreateDirs(metadata_dir));
  OTA_TRY(verifier::InitTrustedRoot(*env.fs, metadata_dir, options.trusted_root_json));
  OTA_ASSIGN_OR_RETURN(std::string recipient_key_id, InstallDeviceKey(env, options));
  if (!options.enrollment_token.empty()) {
    OTA_TRY(ValidateEnrollmentToken(options.enrollment_token));
    OTA_TRY(WriteFileAtomic(*env.fs, JoinPath(options.state_dir, kEnrollmentTokenFile),
                            options.enrollment_token + "\n", 0600));
  }
  OTA_TRY(InstallCaBundle(env, options.state_dir, tls));
  OTA_ASSIGN_OR_RETURN(verifier::PrivateKey identity, LoadOrCreateIdentity(env, options.state_dir));
  // What the device trusts and which keys speak for it, from its first record.
  nlohmann::json enrolled_event = {{"type", "enrolled"},
                                   {"time", NowText(env)},
                                   {"models", options.models},
                                   {"server_url", TrimSlash(options.server_url)},
                                   {"root_sha256", Sha256Hex(options.trusted_root_json)},
                                   {"report_key", identity.public_key.public_value},
                                   {"report_keyid", identity.keyid},
                                   {"recipient_key_id", recipient_key_id},
                                   {"enrollment_token", !options.enrollment_token.empty()}};
  if (!options.ca_bundle_file.empty()) {
    OTA_ASSIGN_OR_RETURN(std::string ca_digest, CaBundleDigest(env, options.state_dir));
    enrolled_event["tls_ca_bundle_sha256"] = ca_digest;
  }
  if (!options.pinned_sha256.empty()) enrolled_event["tls_pins"] = options.pinned_sha256;
  std::uint8_t id_bytes[16];
  env.random->Fill(id_bytes);
  // The database is created last: its existence marks a complete enrollment.
  const std::string tmp_db = JoinPath(options.state_dir, "agent.db.enrolling");
  (void)env.fs->Remove(tmp_db);
  OTA_TRY(PrecreatePrivateFile(*env.fs, tmp_db));
  {
    OTA_ASSIGN_OR_RETURN(auto db, StateDb::Open(tmp_db, env.fs->Durable()));
    OTA_TRY(db->SetSetting("device_id", HexEncode(std::span<const std::uint8_t>(id_bytes))));
    OTA_TRY(db->SetSetting("server_url", TrimSlash(options.server_url)));
    OTA_TRY(db->SetSetting("models", nlohmann::json(options.models).dump()));
    OTA_TRY(SaveTls(*db, tls));
    OTA_TRY(db->QueueEvent(enrolled_event.dump()));
  }
  // A closed WAL database is a single file again, safe to rename.
  OTA_TRY(env.fs->Rename(tmp_db, JoinPath(options.state_dir, kDbName)));
  return env.fs->SyncDir(options.state_dir);
}

Status RecordTlsSettings(Env& env, const std::string& state_dir, const TlsSettings& settings,
                         bool clear_pins) {
  if (clear_pins && !settings.pinned_sha256.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "give new pins or clear them, not both");
  }
  if (settings.ca_bundle_file.empty() && settings.pinned_sha256.empty() && !clear_pins) {
    return MakeError(ErrorCode::kInvalidArgument, "nothing to record: give a CA bundle or pins");
  }
  OTA_TRY(CheckEnrollTls(env, settings));
  OTA_ASSIGN_OR_RETURN(bool enrolled, env.fs->Exists(JoinPath(state_dir, kDbName)));
  if (!enrolled) {
    return MakeError(ErrorCode::kNotFound, state_dir + " is not an enrolled state folder");
  }
  OTA_ASSIGN_OR_RETURN(auto lock,
                       FolderLock::Acquire(PlatformOf(env), JoinPath(state_dir, kLockName)));
  OTA_ASSIGN_OR_RETURN(auto db, StateDb::Open(JoinPath(state_dir, kDbName), env.fs->Durable()));
  // The settings change and its audit record are one transaction. The CA
  // file itself is replaced (atomically) just before: a crash in between
  // leaves the new bundle in the folder unrecorded, and the next set-tls
  // records it.
  nlohmann::json event = {{"type", "tls-settings-changed"}, {"time", NowText(env)}};
  std::vector<std::pair<std::string, std::string>> changes;
  if (!settings.ca_bundle_file.empty()) {
    OTA_TRY(InstallCaBundle(env, state_dir, settings));
    OTA_ASSIGN_OR_RETURN(std::string ca_digest, CaBundleDigest(env, state_dir));
    event["ca_bundle_sha256"] = ca_digest;
    changes.emplace_back(kTlsCaBundleSetting, kCaBundleFile);
  }
  if (clear_pins) {
    event["pins"] = nlohmann::json::array();
    changes.emplace_back(kTlsPinsSetting, "[]");
  } else if (!settings.pinned_sha256.empty()) {
    event["pins"] = settings.pinned_sha256;
    changes.emplace_back(kTlsPinsSetting, nlohmann::json(settings.pinned_sha256).dump());
  }
  return db->QueueEvents({event.dump()}, changes);
}

}  // namespace ota::agent
