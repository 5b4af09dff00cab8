#include "events.h"

#include <nlohmann/json.hpp>

#include "ota/common/postgres.h"
#include "ota/manifest/canonical_json.h"

#include <chrono>
#include <limits>
#include <utility>

namespace ota::server {
namespace {

using nlohmann::json;

// Deeply nested input would make serialization recurse without bound; events
// are flat records, so a small limit costs nothing.
constexpr int kMaxNestingDepth = 32;

// Nesting depth of a JSON text, skipping string contents. Linear, no
// recursion, so it is safe on hostile input before the real parse.
int NestingDepth(std::string_view text) {
  int depth = 0;
  int max_depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      max_depth = std::max(max_depth, ++depth);
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return max_depth;
}

Error Invalid(std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, std::move(message));
}

Result<Event> ParseEvent(const json& item, std::size_t index) {
  const std::string where = "events[" + std::to_string(index) + "]";
  if (!item.is_object()) return Invalid(where + " must be an object");
  auto seq = item.find("seq");
  if (seq == item.end() || !seq->is_number_integer()) {
    return Invalid(where + ".seq must be an integer >= 1");
  }
  std::int64_t seq_value = 0;
  if (seq->is_number_unsigned()) {
    auto u = seq->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return Invalid(where + ".seq is larger than 9223372036854775807");
    }
    seq_value = static_cast<std::int64_t>(u);
  } else {
    seq_value = seq->get<std::int64_t>();
  }
  if (seq_value < 1) return Invalid(where + ".seq must be an integer >= 1");
  auto type = item.find("type");
  if (type == item.end() || !type->is_string() || type->get_ref<const std::string&>().empty()) {
    return Invalid(where + ".type must be a non-empty string");
  }
  Event event;
  event.seq = seq_value;
  event.type = type->get<std::string>();
  event.json = item.dump();
  event.phase = rollout::PhaseForEvent(item);
  if (auto m = item.find("model"); m != item.end() && m->is_string()) {
    event.model = m->get<std::string>();
  }
  if (auto v = item.find("version"); v != item.end() && v->is_string()) {
    event.version = v->get<std::string>();
  }
  if (auto c = item.find("chain"); c != item.end()) {
    if (!c->is_string() || !manifest::IsAuditHash(c->get_ref<const std::string&>())) {
      return Invalid(where + ".chain must be 64 lower-case hex digits");
    }
    event.chain = c->get<std::string>();
    json body = item;
    body.erase("seq");
    body.erase("chain");
    if (auto canonical = manifest::CanonicalJson(body); canonical.ok()) {
      event.body_digest = manifest::AuditBodyDigest(*canonical);
    }
    event.v1_body = body.dump();
  }
  return event;
}

}  // namespace

bool IsValidDeviceId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<EventBatch> ParseEventBatch(std::string_view body) {
  if (NestingDepth(body) > kMaxNestingDepth) {
    return Invalid("JSON nesting deeper than " + std::to_string(kMaxNestingDepth) + " levels");
  }
  json doc;
  try {
    doc = json::parse(body);
  } catch (const json::exception& e) {
    return Invalid(std::string("invalid JSON: ") + e.what());
  }
  return ParseEventBatchJson(doc);
}

Result<EventBatch> ParseEventBatchJson(const json& doc) {
  if (!doc.is_object()) return Invalid("body must be a JSON object");
  EventBatch batch;
  auto device = doc.find("device_id");
  if (device == doc.end() || !device->is_string() ||
      !IsValidDeviceId(device->get_ref<const std::string&>())) {
    return Invalid("device_id must be a string of 1 to 128 characters from [A-Za-z0-9._-]");
  }
  batch.device_id = device->get<std::string>();
  auto events = doc.find("events");
  if (events == doc.end() || !events->is_array()) return Invalid("events must be an array");
  if (events->size() > kMaxEventsPerBatch) {
    return Invalid("events has " + std::to_string(events->size()) + " entries; at most " +
                   std::to_string(kMaxEventsPerBatch) + " are accepted per request");
  }
  batch.events.reserve(events->size());
  for (std::size_t i = 0; i < events->size(); ++i) {
    OTA_ASSIGN_OR_RETURN(Event event, ParseEvent((*events)[i], i));
    batch.events.push_back(std::move(event));
  }
  return batch;
}

Result<std::unique_ptr<Database>> OpenFleetDatabase(const std::string& spec) {
  if (IsPostgresUri(spec)) return OpenPostgres(spec, ServerPostgresMigrations());
  return Database::Open(spec, ServerMigrations());
}

Result<std::unique_ptr<EventStore>> EventStore::Open(const std::string& path) {
  OTA_ASSIGN_OR_RETURN(auto db, OpenFleetDatabase(path));
  return std::unique_ptr<EventStore>(new EventStore(std::move(db)));
}

Result<std::vector<std::string>> EventStore::List(const std::string& device_id) {
  std::lock_guard lock(mu_);
  OTA_ASSIGN_OR_RETURN(Statement query,
                       db_->Prepare("SELECT body FROM events WHERE device_id = ? ORDER BY seq"));
  query.Bind(1, device_id);
  std::vector<std::string> bodies;
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool row, query.Step());
    if (!row) break;
    bodies.push_back(query.ColumnText(0));
  }
  return bodies;
}

}  // namespace ota::server
