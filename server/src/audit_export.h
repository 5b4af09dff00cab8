// Audit exports (GET /v1/audit/export, docs/server-api.md): the server log
// and the event logs of the devices in scope as JSON Lines written with
// manifest::AuditExportWriter, read from one consistent snapshot of the
// database on a connection of its own (report ingestion goes on meanwhile).
#ifndef OTA_SERVER_AUDIT_EXPORT_H_
#define OTA_SERVER_AUDIT_EXPORT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "ota/common/result.h"
#include "ota/common/sqlite.h"
#include "ota/manifest/audit_log.h"
#include "ota/verifier/keys.h"

namespace ota::server {

struct AuditExportFilters {
  std::optional<std::int64_t> since, until;   // Unix seconds, inclusive.
  std::string device, model, rollout, actor;  // "" when not given.
  // The given filters, as in the query ({"since": "2026-...Z", ...}).
  nlohmann::json ToJson() const;
};

// Parses the query parameters since, until (UTC YYYY-MM-DDTHH:MM:SSZ),
// device, model, rollout and actor ("operator:alice" or "alice").
// Errors: kInvalidArgument with one precise message (unknown or repeated
// parameter, bad value, since after until).
Result<AuditExportFilters> ParseAuditExportFilters(
    const std::multimap<std::string, std::string>& params);

// Thread-safe: one export at a time per exporter.
class AuditExporter {
 public:
  static Result<std::unique_ptr<AuditExporter>> Open(const std::string& db_path);

  // Writes the lines after the header: the server log up to `fresh` (a
  // checkpoint of its head just taken; matching records as records, others
  // as omitted lines, from record 1 or from the latest checkpoint before the
  // first match), each stored server checkpoint after its record; then the
  // log of every device in scope from its stored events with its stored
  // checkpoints; then `fresh` and the end line signed with `key` at `time`.
  Status Write(const AuditExportFilters& filters, const manifest::AuditCheckpoint& fresh,
               const verifier::PrivateKey& key, const std::string& time,
               manifest::AuditExportWriter& writer);

 private:
  explicit AuditExporter(std::unique_ptr<Database> db) : db_(std::move(db)) {}
  Status WriteLocked(const AuditExportFilters& filters, const manifest::AuditCheckpoint& fresh,
                     const verifier::PrivateKey& key, const std::string& time,
                     manifest::AuditExportWriter& writer);

  std::mutex mu_;
  std::unique_ptr<Database> db_;
};

}  // namespace ota::server

#endif  // OTA_SERVER_AUDIT_EXPORT_H_
