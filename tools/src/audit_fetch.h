// Shared by otactl audit export and otactl audit query: the connection to
// ota-server's audit endpoints (docs/server-api.md, "Audit") and the export
// filters.
#ifndef OTA_TOOLS_AUDIT_FETCH_H_
#define OTA_TOOLS_AUDIT_FETCH_H_

#include <CLI/CLI.hpp>

#include <string>

#include "ota/common/result.h"
#include "ota/common/tls.h"
#include "ota/manifest/tuf_metadata.h"
#include "server_args.h"

namespace ota::tools {

struct AuditFilterArgs {
  std::string since, until, device, model, rollout, actor;
};

// --since, --until, --device, --model, --rollout, --actor.
void AddAuditFilterOptions(CLI::App& cmd, AuditFilterArgs& f);

// The query string ("?since=...&device=...", "" for none) of the filters.
std::string AuditExportQuery(const AuditFilterArgs& f);

// GET `path` (with the operator token); the body of a 200 answer, else an
// error with the server's message. Errors: kInvalidArgument (usage: no
// server, no token), kIo (unreachable, refused).
Result<std::string> FetchAudit(const OperatorServerArgs& a, const std::string& path);

// The trusted audit key: the TUF key JSON file `key_file`.
Result<manifest::Key> LoadAuditKey(const std::string& key_file);

// Adds the `audit` group to `app`.
CLI::App* AuditGroup(CLI::App& app);

}  // namespace ota::tools

#endif  // OTA_TOOLS_AUDIT_FETCH_H_
