// Event retention (event_retention.cc).
#ifndef OTA_SERVER_EVENT_RETENTION_H_
#define OTA_SERVER_EVENT_RETENTION_H_

#include <cstdint>

#include "ota/common/result.h"
#include "ota/common/sql.h"

namespace ota::server {

struct EventPruneResult {
  std::int64_t events = 0;   // Rows removed.
  std::int64_t devices = 0;  // Per batch, devices whose logs lost a prefix.
};

// Deletes device events received before `before` (Unix seconds), `batch`
// events at most per transaction, each device's as a prefix of its log (up
// to its newest old event), moving the device's chain anchor to the first
// event kept and dropping its checkpoints of removed heads; each batch
// appends a "device-events-pruned" record to the server audit log (at
// `now`). The server audit log itself is not touched (audit prune).
Result<EventPruneResult> PruneDeviceEvents(Database& db, std::int64_t before, std::int64_t now,
                                           std::int64_t batch);

}  // namespace ota::server

#endif  // OTA_SERVER_EVENT_RETENTION_H_
