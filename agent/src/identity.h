// The device's report-signing identity: an Ed25519 key pair kept in the
// state folder (identity.key, mode 0600), and its registration with the
// server (POST /v1/devices), which must happen before signed reports are
// accepted. Separate from device.key, the X25519 key bundles are
// decrypted with.
#ifndef OTA_AGENT_SRC_IDENTITY_H_
#define OTA_AGENT_SRC_IDENTITY_H_

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "ota/common/env.h"
#include "ota/common/result.h"
#include "ota/verifier/keys.h"
#include "state_db.h"

namespace ota::agent {

inline constexpr char kIdentityKeyFile[] = "identity.key";
// The fleet enrollment token the operator gave this device (`ota-agent init
// --enrollment-token-file`), mode 0600: presented once, when the server does
// not know the device yet.
inline constexpr char kEnrollmentTokenFile[] = "enrollment.token";

// What the device sends when it enrolls beyond its key.
struct EnrollmentClaims {
  // The device's enrollment facts; nullopt when unknown now.
  std::optional<nlohmann::json> facts;
  // The fleet enrollment token; empty when the device has none.
  std::string token;
};

// The enrollment token in <state_dir>/enrollment.token: empty when the file
// does not exist. kSecurity if group or others can read it, kIo.
Result<std::string> LoadEnrollmentToken(Env& env, const std::string& state_dir);

// Loads <state_dir>/identity.key, creating it (a new key from env.random,
// written atomically with mode 0600) when it does not exist yet, so state
// folders enrolled before identities existed gain one. Errors: kIo,
// kInvalidArgument/kSecurity (a damaged or readable-by-others key file).
Result<verifier::PrivateKey> LoadOrCreateIdentity(Env& env, const std::string& state_dir);

// Registers the identity's public key, with the device's enrollment facts
// (app version, tags, region, attributes, probed basics) and its enrollment
// token as "Authorization: Bearer" (when it has one), with the server at
// `server_url` (remembered in the settings table per server URL, with the
// SHA-256 of the facts sent); idempotent on the server. When `facts` differ
// from those last sent, enrolls again (same key) so the server's copy is
// refreshed; nullopt (facts unknown now) never triggers that. Facts the
// server refuses (400) are dropped from that enrollment (the key alone is
// enrolled) and not offered again until they change. Offline or a
// server error: kRetryLater (try again on the next flush). The server
// holding another key for this device: kSecurity. The server refusing the
// enrollment token (401, 403): kSecurity with its reason (reports stay
// queued until an operator gives the device a valid token).
Status EnsureServerEnrollment(Env& env, StateDb& db, const std::string& server_url,
                              const std::string& device_id, const verifier::PrivateKey& key,
                              const EnrollmentClaims& claims = {});

// Forgets the registration, so that the next flush enrolls again (after the
// server said it does not know the device).
Status ForgetServerEnrollment(StateDb& db);

}  // namespace ota::agent

#endif  // OTA_AGENT_SRC_IDENTITY_H_
