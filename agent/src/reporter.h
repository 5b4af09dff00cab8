// Delivers queued events to the server in sequence order. Events stay queued
// (in SQLite) until the server acknowledges them, so reports made while
// offline arrive later, in order, and none is lost. The server ignores
// duplicates by (device_id, seq), so redelivery after a crash is harmless.
#ifndef OTA_AGENT_SRC_REPORTER_H_
#define OTA_AGENT_SRC_REPORTER_H_

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "identity.h"
#include "ota/common/env.h"
#include "ota/verifier/keys.h"
#include "state_db.h"

namespace ota::agent {

// Sends pending events in signed reports (POST <server_url>/v1/reports,
// docs/server-api.md): each batch is one report whose seq is the last event
// seq it carries, signed with the device's identity key over the canonical
// JSON of the report. Each event is its stored body plus "seq" and "chain";
// the unsent signed checkpoints of the audit log whose seq is at most the
// report's go with it as "checkpoints" ([{"seq","head","time","keyid",
// "signature"}]), marked sent with the events (a server that refuses the
// field gets the report again without it). Enrolls the identity with the
// server first if needed (with `claims`: facts and enrollment token), and
// again when the facts (EnrollmentFacts) changed since they were last sent.
// Events count as delivered only on an answer that acknowledges exactly
// this report (200 with `last_seq` equal to its seq and `accepted` equal to
// its event count), or on a 409 replay whose `last_seq` covers the report
// and is not above the highest seq this device ever sent. Every field of an
// answer is type-checked: a malformed answer is an error value, never an
// exception. Returns how many events were delivered; a failure leaves the
// rest queued and is returned as kRetryLater (kSecurity if the server holds
// another key or refuses the enrollment token).
Result<int> DeliverEvents(Env& env, StateDb& db, const std::string& server_url,
                          const std::string& device_id, const verifier::PrivateKey& identity,
                          const EnrollmentClaims& claims = {});

}  // namespace ota::agent

#endif  // OTA_AGENT_SRC_REPORTER_H_
