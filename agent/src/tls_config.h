// The agent's TLS trust settings (docs/formats.md, "Agent state folder"):
// a CA bundle copied into the state folder at enrollment, pins in the
// settings table, and per-run overrides from AgentOptions.
#ifndef OTA_AGENT_SRC_TLS_CONFIG_H_
#define OTA_AGENT_SRC_TLS_CONFIG_H_

#include <string>
#include <vector>

#include "ota/common/env.h"
#include "ota/common/http.h"
#include "ota/common/result.h"
#include "state_db.h"

namespace ota::agent {

// The copy of the enrolled CA bundle in the state folder.
inline constexpr char kCaBundleFile[] = "ca-bundle.pem";
// Settings key naming the enrolled CA bundle (kCaBundleFile), so that a
// bundle gone from the folder is an error, never a silent fall back to the
// system store.
inline constexpr char kTlsCaBundleSetting[] = "tls_ca_bundle";
// Settings key of the enrolled pins: a JSON array of base64 digests.
inline constexpr char kTlsPinsSetting[] = "tls_pins";

// Checks the enrollment's TLS options (kInvalidArgument) before anything is
// written, so a bad option leaves no half-enrolled folder.
Status CheckEnrollTls(Env& env, const TlsSettings& requested);

// Copies the CA bundle (if any) into the state folder as kCaBundleFile.
// Runs before the database exists: the database marks a complete enrollment.
Status InstallCaBundle(Env& env, const std::string& state_dir, const TlsSettings& requested);

// Records the settings (if any) in a new state database.
Status SaveTls(StateDb& db, const TlsSettings& requested);

// What this run trusts: the enrolled settings, each part replaced by the
// run's own when given. kInvalidArgument for settings that cannot be used.
Result<TlsSettings> LoadTls(Env& env, StateDb& db, const std::string& state_dir,
                            const TlsSettings& run_overrides);

}  // namespace ota::agent

#endif  // OTA_AGENT_SRC_TLS_CONFIG_H_
