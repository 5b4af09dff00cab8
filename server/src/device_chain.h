// The server's check of each device's event chain as reports arrive
// (docs/server-api.md, "Device audit chains"): every event's "chain" link is
// recomputed from the link before it, so that an edited, missing or forked
// device log shows up when its events are received, not only when an export
// is verified.
//
// Thread-safety: pure functions over the caller's state.
#ifndef OTA_SERVER_DEVICE_CHAIN_H_
#define OTA_SERVER_DEVICE_CHAIN_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "events.h"
#include "ota/manifest/tuf_metadata.h"

namespace ota::server {

// Where a device's chain stands (a row of device_chains).
struct DeviceChainState {
  bool known = false;           // false: no chained event received yet.
  std::int64_t anchor_seq = 0;  // First event checkable from anchor_link.
  std::string anchor_link;      // The link before anchor_seq.
  std::int64_t last_seq = 0;
  std::string last_link;
  std::string problem;  // The first problem; "" while intact.
  std::int64_t problem_seq = 0;
};

// Something to record in the server log about a device's chain.
struct DeviceChainNote {
  bool alert = true;  // false: the chain was anchored on first use at `seq`.
  std::int64_t seq = 0;
  std::string kind;     // "edited", "gap", "fork", "unlinked", "checkpoint".
  std::string problem;  // One sentence.
  std::string event;    // A fork: the refused event as received.
};

// Whether event `e`'s "chain" is its link after `prev` (version 2, else
// version 1); *link_version tells which.
bool EventLinkMatches(const Event& e, const std::string& prev, int* link_version);

// The chain link inside a stored event body ("" when it has none).
std::string StoredEventChain(const std::string& body);

// Advances `state` over the chained events of one report (in seq order).
// `stored_chain(seq)` gives the chain link already stored for an event seq
// (for events at or below the last checked seq), nullopt when none is.
// Returns the notes to record; the state's problem is set by the first alert.
std::vector<DeviceChainNote> CheckDeviceChain(
    DeviceChainState& state, const std::vector<Event>& events,
    const std::function<std::optional<std::string>(std::int64_t)>& stored_chain);

// The chain link stored for event `seq` in `batch` or, failing that, by
// `stored_chain`. Checks a device checkpoint's head against it: "" when the
// checkpoint is good, else the problem.
std::string CheckDeviceCheckpointHead(
    const DeviceCheckpoint& c, const std::vector<Event>& batch,
    const std::function<std::optional<std::string>(std::int64_t)>& stored_chain);

// Reads report.checkpoints (absent: none) into batch->checkpoints: an array
// of at most 100 objects {"seq", "head", "time", "keyid", "signature"} of
// log "device/<device_id>". A checkpoint whose key id is not that of
// `device_key` or whose signature does not verify gets a `problem` (an
// alert, not a refusal). Errors: kInvalidArgument naming the bad field.
Status ParseReportCheckpoints(const nlohmann::json& report, const std::string& device_id,
                              const manifest::Key& device_key, EventBatch* batch);

}  // namespace ota::server

#endif  // OTA_SERVER_DEVICE_CHAIN_H_
