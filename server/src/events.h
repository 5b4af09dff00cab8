// Device event reports: request parsing and the SQLite store.
#ifndef OTA_SERVER_EVENTS_H_
#define OTA_SERVER_EVENTS_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ota/common/env.h"
#include "ota/common/result.h"
#include "ota/common/sqlite.h"
#include "ota/manifest/audit_log.h"
#include "ota/rollout/controller.h"

namespace ota::server {

// Generated from server/migrations (SQLite) and server/migrations/postgresql
// by ota_embed_migrations.
std::vector<Migration> ServerMigrations();
std::vector<Migration> ServerPostgresMigrations();

// Opens the fleet database named by `spec`: a postgresql:// URI (PostgreSQL,
// shared by any number of server nodes) or a file path (SQLite, one node),
// applying its migrations. Errors as ota::Database::Open and
// ota::OpenPostgres.
Result<std::unique_ptr<Database>> OpenFleetDatabase(const std::string& spec);

inline constexpr std::size_t kMaxEventsPerBatch = 1000;

struct Event {
  std::int64_t seq = 0;
  std::string type;
  std::string json;  // The whole event object, compact.
  // Read once when the report is parsed (on the request's thread), so that
  // storing needs no second parse: the rollout phase the event puts its
  // device in (rollout::PhaseForEvent) and the model and version it names.
  std::optional<rollout::DevicePhase> phase;
  std::string model;    // Empty when the event names none (or not as a string).
  std::string version;  // Likewise.
  // The device's audit chain link ("chain"), "" when the event has none; and
  // for checking it (manifest/audit_log.h): the SHA-256 of the canonical
  // JSON of the event without "seq" and "chain" (link version 2; "" when it
  // has no canonical form), and that object's compact JSON (version 1).
  std::string chain;
  std::string body_digest;
  std::string v1_body;
};

// A device checkpoint sent in a report (log "device/<id>"). `problem` is set
// when its signature did not verify with the device's report key.
struct DeviceCheckpoint {
  manifest::AuditCheckpoint checkpoint;
  std::string problem;
};

struct EventBatch {
  std::string device_id;
  std::vector<Event> events;
  std::vector<DeviceCheckpoint> checkpoints;  // report.checkpoints, if any.
};

// 1 to 128 characters from [A-Za-z0-9._-].
bool IsValidDeviceId(std::string_view id);

// Parses and validates an event batch {"device_id", "events"} from its JSON
// text. kInvalidArgument with a precise message naming the offending field.
Result<EventBatch> ParseEventBatch(std::string_view body);

// The same for an already parsed object {"device_id", "events"} (other
// members are ignored). Messages name the field, e.g. "events[3].seq ...".
Result<EventBatch> ParseEventBatchJson(const nlohmann::json& doc);

// Reads the events that signed reports stored (FleetStore::IngestReport
// writes them). Thread-safe: every call holds one mutex (one SQLite
// connection).
class EventStore {
 public:
  // Errors as ota::Database::Open.
  static Result<std::unique_ptr<EventStore>> Open(const std::string& path);

  // The stored event objects of a device (compact JSON) in seq order.
  Result<std::vector<std::string>> List(const std::string& device_id);

 private:
  explicit EventStore(std::unique_ptr<Database> db) : db_(std::move(db)) {}

  std::mutex mu_;
  std::unique_ptr<Database> db_;
};

}  // namespace ota::server

#endif  // OTA_SERVER_EVENTS_H_
