// Changing the TLS trust an enrolled agent records (docs/security.md, "TLS"):
// how a device's CA bundle and public-key pins are rotated after `init`.
#ifndef OTA_AGENT_TLS_H_
#define OTA_AGENT_TLS_H_

#include <string>

#include "ota/common/env.h"
#include "ota/common/http.h"
#include "ota/common/result.h"

namespace ota::agent {

// Records new TLS settings for the enrolled state folder `state_dir`, for
// every later run: a non-empty `settings.ca_bundle_file` is copied in as
// ca-bundle.pem (replacing the recorded bundle); non-empty pins replace the
// recorded pins; `clear_pins` removes them (the chain and host checks stay).
// Requires that no agent runs on the folder (kRetryLater otherwise).
// Errors: kNotFound (not enrolled), kInvalidArgument (settings that cannot
// be used, or pins given with clear_pins), kIo.
Status RecordTlsSettings(Env& env, const std::string& state_dir, const TlsSettings& settings,
                         bool clear_pins);

}  // namespace ota::agent

#endif  // OTA_AGENT_TLS_H_
