// What the agent knows about the device it runs on, for `ota-agent facts`
// and app integrations: probed RAM, disk, CPU, OS and accelerators, with the
// state folder's device-facts.json applied over them (docs/operator-guide.md,
// "Device facts").
#ifndef OTA_AGENT_DEVICE_FACTS_H_
#define OTA_AGENT_DEVICE_FACTS_H_

#include <string>

#include "ota/common/env.h"
#include "ota/common/result.h"

namespace ota::agent {

// The facts as pretty JSON text. Does not need (or take) the agent's lock.
// Errors: kInvalidArgument for a malformed device-facts.json, kIo otherwise.
Result<std::string> DeviceFactsJson(Env& env, const std::string& state_dir);

}  // namespace ota::agent

#endif  // OTA_AGENT_DEVICE_FACTS_H_
