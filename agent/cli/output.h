// Printing shared by several ota-agent commands: a model's check result as
// JSON (check, status), an update outcome (update, daemon) and timestamps.
#ifndef OTA_AGENT_CLI_OUTPUT_H_
#define OTA_AGENT_CLI_OUTPUT_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "ota/agent/agent.h"

namespace ota::agent::cli {

nlohmann::json ToJson(const CheckResult& r);
nlohmann::json ToJson(const UpdateOutcome& o);

// One line on stdout, e.g. "m: updated 1.0.0 -> 1.1.0, fetched 3.2 MiB in 812 ms".
void PrintOutcome(const UpdateOutcome& o);

// UTC, "2024-05-01T12:00:00Z".
std::string FormatTime(std::int64_t unix_seconds);

}  // namespace ota::agent::cli

#endif  // OTA_AGENT_CLI_OUTPUT_H_
