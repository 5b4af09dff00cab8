// Delivers queued events to the server in sequence order. Events stay queued
// (in SQLite) until the server acknowledges them, so reports made while
// offline arrive later, in order, and none is lost. The server ignores
// duplicates by (device_id, seq), so redelivery after a crash is harmless.
#ifndef OTA_AGENT_SRC_REPORTER_H_
#define OTA_AGENT_SRC_REPORTER_H_

#include <string>

#include "ota/common/env.h"
#include "state_db.h"

namespace ota::agent {

// Sends pending events in batches. Returns how many were delivered; a
// failure leaves the rest queued and is returned as kRetryLater.
Result<int> DeliverEvents(Env& env, StateDb& db, const std::string& events_url,
                          const std::string& device_id);

}  // namespace ota::agent

#endif  // OTA_AGENT_SRC_REPORTER_H_
