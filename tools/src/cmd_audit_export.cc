// otactl audit export: fetches a signed audit export from ota-server
// (GET /v1/audit/export, docs/server-api.md) and writes it atomically.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "audit_fetch.h"
#include "commands.h"
#include "ota/common/filesystem.h"
#include "ota/common/http.h"
#include "ota/verifier/audit_verify.h"
#include "ota/verifier/keys.h"

namespace ota::tools {
namespace {

using nlohmann::json;

constexpr std::uint64_t kMaxExportBytes = 4ull << 30;

struct ExportArgs {
  OperatorServerArgs conn;
  AuditFilterArgs filters;
  std::string out;
  std::string key_file;
};

int RunExport(const ExportArgs& a) {
  auto text = FetchAudit(a.conn, "/v1/audit/export" + AuditExportQuery(a.filters));
  if (!text.ok()) {
    return text.error().code == ErrorCode::kInvalidArgument ? OperatorUsage(text.error().message)
                                                            : Fail(text.error().message);
  }
  std::uint64_t lines = 0;
  for (char c : *text) lines += c == '\n' ? 1 : 0;
  if (!a.key_file.empty()) {
    auto key = LoadAuditKey(a.key_file);
    if (!key.ok()) return Fail(key.error().message);
    std::istringstream in(*text);
    auto result = verifier::VerifyAuditExport(in, {*key});
    if (result.verdict != verifier::AuditVerdict::kVerified) {
      return Fail("the export does not verify with " + a.key_file + " (line " +
                  std::to_string(result.line) + ": " + result.message + "); not written");
    }
  }
  auto fs = MakePosixFileSystem();
  // Temp file and rename: a reader never sees half an export.
  Status written = WriteFileAtomic(*fs, a.out, *text, 0600);
  if (!written.ok()) return Fail("cannot write " + a.out + ": " + written.error().message);
  std::printf("wrote %llu lines to %s%s\n", static_cast<unsigned long long>(lines), a.out.c_str(),
              a.key_file.empty() ? "" : " (verified)");
  return 0;
}

}  // namespace

std::string AuditExportQuery(const AuditFilterArgs& f) {
  std::string query;
  auto add = [&](const char* name, const std::string& value) {
    if (value.empty()) return;
    query += (query.empty() ? "?" : "&") + std::string(name) + "=" + UrlEncodeQueryValue(value);
  };
  add("since", f.since);
  add("until", f.until);
  add("device", f.device);
  add("model", f.model);
  add("rollout", f.rollout);
  add("actor", f.actor);
  return query;
}

Result<std::string> FetchAudit(const OperatorServerArgs& a, const std::string& path) {
  OTA_ASSIGN_OR_RETURN(std::string url, OperatorServerUrl(a));
  OTA_ASSIGN_OR_RETURN(std::string token, LoadOperatorToken(a));
  {
    auto fs = MakePosixFileSystem();
    Status tls = ValidateTlsSettings(*fs, a.tls);
    if (!tls.ok()) return MakeError(ErrorCode::kInvalidArgument, tls.error().message);
  }
  HttpRequest req;
  req.url = url + path;
  req.tls = a.tls;
  req.headers = {{"Authorization", "Bearer " + token}};
  req.max_body_bytes = kMaxExportBytes;
  req.total_timeout = std::chrono::seconds(3600);
  auto client = MakeCurlHttpClient();
  auto res = client->Fetch(req);
  if (!res.ok()) {
    return MakeError(ErrorCode::kIo, "cannot reach " + url + ": " + res.error().message);
  }
  if (res->status != 200) {
    json answer = json::parse(res->body, nullptr, false);
    const std::string message =
        answer.is_object() && answer.contains("error") && answer["error"].is_string()
            ? answer["error"].get<std::string>()
            : res->body.substr(0, 200);
    return MakeError(ErrorCode::kIo, "HTTP " + std::to_string(res->status) + ": " + message);
  }
  return std::move(res->body);
}

Result<manifest::Key> LoadAuditKey(const std::string& key_file) {
  auto fs = MakePosixFileSystem();
  auto key = verifier::LoadPublicKey(*fs, key_file);
  if (!key.ok()) {
    return MakeError(key.error().code, "audit key " + key_file + ": " + key.error().message);
  }
  return key;
}

CLI::App* AuditGroup(CLI::App& app) {
  CLI::App* audit = app.add_subcommand("audit", "Audit logs: export, query, verify offline");
  audit->require_subcommand(1);
  return audit;
}

void AddAuditFilterOptions(CLI::App& cmd, AuditFilterArgs& f) {
  cmd.add_option("--since", f.since, "Records from this UTC time on (YYYY-MM-DDTHH:MM:SSZ)");
  cmd.add_option("--until", f.until, "Records up to this UTC time");
  cmd.add_option("--device", f.device, "Records about this device, and its event log");
  cmd.add_option("--model", f.model, "Records about this model, and the logs of its devices");
  cmd.add_option("--rollout", f.rollout, "Records about this rollout, and its devices' logs");
  cmd.add_option("--actor", f.actor, "Records by this actor (\"operator:alice\" or \"alice\")");
}

void RegisterAuditExportCommands(CLI::App* audit, CommandRunner* selected) {
  auto args = std::make_shared<ExportArgs>();
  auto* c = audit->add_subcommand(
      "export", "Fetch a signed audit export (JSON Lines) of the server and device logs");
  AddOperatorServerOptions(*c, args->conn);
  AddAuditFilterOptions(*c, args->filters);
  c->add_option("--out", args->out, "File to write (atomically)")->required();
  c->add_option("--key", args->key_file,
                "Server audit public key (ota-server audit-key): verify before writing");
  c->callback([args, selected] { *selected = [args] { return RunExport(*args); }; });
  RegisterAuditQueryCommand(audit, selected);
}

}  // namespace ota::tools
