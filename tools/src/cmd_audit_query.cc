// otactl audit query: answers from a verified audit export (fetched from
// ota-server, or a file): which versions a device ran in a period, which
// devices ran a version of a model, and the story of one rollout. An export
// that does not verify is refused.
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "audit_fetch.h"
#include "commands.h"
#include "ota/common/filesystem.h"
#include "ota/manifest/audit_log.h"
#include "ota/verifier/audit_verify.h"

namespace ota::tools {
namespace {

using nlohmann::json;

constexpr std::uint64_t kMaxQueryFileBytes = 4ull << 30;

struct QueryArgs {
  OperatorServerArgs conn;
  std::string file;
  std::string key_file;
  std::string device, since, until;
  std::string model, version;
  std::string rollout;
  bool json_output = false;
};

// One record of an export.
struct QueryRecord {
  std::string log;
  std::int64_t seq = 0;
  json body;
};

// A period a device ran one version of a model.
struct RunSpan {
  std::string device, model, version, from, until;  // until "" while current.
  std::int64_t sessions = 0, failed = 0;
};

std::string QueryText(const json& obj, const char* key) {
  if (!obj.is_object() || !obj.contains(key)) return "";
  const json& v = obj[key];
  return v.is_string() ? v.get<std::string>() : v.dump();
}

// A count an event carries (0 when absent or not an integer).
std::int64_t QueryCount(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

// The version an event says the device now runs ("" when it says none).
std::string RunningVersion(const json& e) {
  const std::string type = QueryText(e, "type");
  if (type == "activated" || type == "confirmed") return QueryText(e, "version");
  if (type == "state") {
    const std::string st = QueryText(e, "state");
    if (st == "confirming" || st == "committed") return QueryText(e, "version");
    return "";
  }
  if (type == "rolled-back") {
    // Automatic rollbacks name the version returned to as active_version;
    // manual ones as version (with from_version the one left).
    if (e.contains("active_version")) return QueryText(e, "active_version");
    return QueryText(e, "version");
  }
  return "";
}

// Every device's run spans, from its log's records in order.
std::vector<RunSpan> RunSpans(const std::vector<QueryRecord>& records) {
  std::vector<RunSpan> out;
  std::map<std::pair<std::string, std::string>, std::size_t> open;  // (device, model) -> span
  for (const QueryRecord& r : records) {
    if (!r.log.starts_with("device/")) continue;
    const std::string device = r.log.substr(7);
    const std::string model = QueryText(r.body, "model");
    if (model.empty()) continue;
    const std::string time = QueryText(r.body, "time");
    auto key = std::make_pair(device, model);
    if (QueryText(r.body, "type") == "sessions-hourly") {
      auto it = open.find(key);
      const std::string version = QueryText(r.body, "version");
      if (it == open.end() || out[it->second].version != version) {
        // Sessions of a version no switch event announced: it ran.
        if (it != open.end()) out[it->second].until = time;
        out.push_back({device, model, version, QueryText(r.body, "hour"), "", 0, 0});
        it = open.insert_or_assign(key, out.size() - 1).first;
      }
      out[it->second].sessions += QueryCount(r.body, "sessions");
      out[it->second].failed += QueryCount(r.body, "failed");
      continue;
    }
    const std::string version = RunningVersion(r.body);
    if (version.empty()) continue;
    auto it = open.find(key);
    if (it != open.end() && out[it->second].version == version) continue;
    if (it != open.end()) out[it->second].until = time;
    out.push_back({device, model, version, time, "", 0, 0});
    open.insert_or_assign(key, out.size() - 1);
  }
  return out;
}

bool Overlaps(const RunSpan& s, const std::string& since, const std::string& until) {
  if (!until.empty() && s.from > until) return false;
  if (!since.empty() && !s.until.empty() && s.until < since) return false;
  return true;
}

json SpanJson(const RunSpan& s) {
  return {{"device", s.device},
          {"model", s.model},
          {"version", s.version},
          {"from", s.from},
          {"until", s.until.empty() ? json() : json(s.until)},
          {"sessions", s.sessions},
          {"failed", s.failed}};
}

void PrintSpans(const std::vector<RunSpan>& spans) {
  std::printf("%-24s %-16s %-12s %-21s %-21s %9s %7s\n", "device", "model", "version", "from",
              "until", "sessions", "failed");
  for (const RunSpan& s : spans) {
    std::printf("%-24s %-16s %-12s %-21s %-21s %9lld %7lld\n", s.device.c_str(), s.model.c_str(),
                s.version.c_str(), s.from.c_str(), s.until.empty() ? "(now)" : s.until.c_str(),
                static_cast<long long>(s.sessions), static_cast<long long>(s.failed));
  }
}

// The story of a rollout: its server records in order.
int AnswerRollout(const QueryArgs& a, const std::vector<QueryRecord>& records) {
  json rows = json::array();
  for (const QueryRecord& r : records) {
    if (r.log != manifest::kAuditServerLog || QueryText(r.body, "rollout_id") != a.rollout) {
      continue;
    }
    const json actor = r.body.value("actor", json::object());
    json row = {{"seq", r.seq},
                {"time", QueryText(r.body, "time")},
                {"type", QueryText(r.body, "type")},
                {"actor", QueryText(actor, "role") + ":" + QueryText(actor, "name")},
                {"action", QueryText(r.body, "action")},
                {"reason", QueryText(r.body, "reason")},
                {"version", r.body.value("version", json())}};
    if (r.body.contains("evidence")) row["evidence"] = r.body["evidence"];
    rows.push_back(std::move(row));
  }
  if (a.json_output) {
    std::printf("%s\n", json{{"rollout", a.rollout}, {"story", rows}}
                            .dump(2, ' ', false, json::error_handler_t::replace)
                            .c_str());
    return 0;
  }
  std::printf("%-5s %-21s %-22s %-15s %-4s %s\n", "seq", "time", "actor", "action", "ver",
              "reason / evidence");
  for (const json& r : rows) {
    std::string why = r["reason"].get<std::string>();
    if (r.contains("evidence")) {
      const json& e = r["evidence"];
      why += " [stage " + QueryText(e, "stage") + ": " + QueryText(e, "successes") + " ok, " +
             QueryText(e, "errors") + " errors of " + QueryText(e, "reporting") + " reporting, " +
             QueryText(e, "targeted") + " targeted]";
    }
    std::printf("%-5s %-21s %-22s %-15s %-4s %s\n", r["seq"].dump().c_str(),
                r["time"].get<std::string>().c_str(), r["actor"].get<std::string>().c_str(),
                r["action"].get<std::string>().c_str(), r["version"].dump().c_str(), why.c_str());
  }
  if (rows.empty()) std::printf("(no records of rollout %s)\n", a.rollout.c_str());
  return 0;
}

int AnswerSpans(const QueryArgs& a, const std::vector<QueryRecord>& records) {
  std::vector<RunSpan> matched;
  for (const RunSpan& s : RunSpans(records)) {
    if (!a.device.empty() && s.device != a.device) continue;
    if (!a.model.empty() && s.model != a.model) continue;
    if (!a.version.empty() && s.version != a.version) continue;
    if (!Overlaps(s, a.since, a.until)) continue;
    matched.push_back(s);
  }
  if (a.json_output) {
    json out = json::array();
    for (const RunSpan& s : matched) out.push_back(SpanJson(s));
    std::printf("%s\n",
                json{{"runs", out}}.dump(2, ' ', false, json::error_handler_t::replace).c_str());
    return 0;
  }
  PrintSpans(matched);
  if (matched.empty()) std::printf("(none)\n");
  return 0;
}

// The export text, fetched or read, verified; its records.
Result<std::vector<QueryRecord>> VerifiedRecords(const QueryArgs& a, const std::string& text,
                                                 const manifest::Key& key) {
  std::istringstream in(text);
  auto result = verifier::VerifyAuditExport(in, {key});
  if (result.verdict != verifier::AuditVerdict::kVerified) {
    return MakeError(ErrorCode::kSecurity, "the export does not verify (line " +
                                               std::to_string(result.line) + ": " + result.message +
                                               "); refusing to answer from it");
  }
  (void)a;
  std::vector<QueryRecord> out;
  manifest::AuditLineParser parser;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    auto parsed = parser.Parse(line);
    if (!parsed.ok() || parsed->kind != manifest::AuditLineKind::kRecord) continue;
    json body = json::parse(parsed->body, nullptr, false);
    if (!body.is_object()) continue;
    out.push_back({std::string(parsed->log), parsed->seq, std::move(body)});
  }
  return out;
}

int RunQuery(const QueryArgs& a) {
  const int modes = (a.rollout.empty() ? 0 : 1) + (a.device.empty() ? 0 : 1) +
                    (a.model.empty() || !a.device.empty() ? 0 : 1);
  if (modes != 1) {
    std::fprintf(stderr,
                 "otactl: say what to answer: --device D [--since --until] (versions it ran), "
                 "--model M --version V (devices that ran it) or --rollout R (its story)\n");
    return 2;
  }
  if (!a.model.empty() && a.device.empty() && a.version.empty()) {
    std::fprintf(stderr, "otactl: --model needs --version (or --device)\n");
    return 2;
  }
  std::string text;
  if (!a.file.empty()) {
    if (a.key_file.empty()) {
      std::fprintf(stderr, "otactl: --file needs --key (the server's audit public key)\n");
      return 2;
    }
    auto fs = MakePosixFileSystem();
    auto read = fs->ReadFile(a.file, kMaxQueryFileBytes);
    if (!read.ok()) return Fail("cannot read " + a.file + ": " + read.error().message);
    text = std::move(*read);
  } else {
    AuditFilterArgs f;
    f.device = a.device;
    f.model = a.device.empty() ? a.model : "";
    f.rollout = a.rollout;
    auto fetched = FetchAudit(a.conn, "/v1/audit/export" + AuditExportQuery(f));
    if (!fetched.ok()) return Fail(fetched.error().message);
    text = std::move(*fetched);
  }
  manifest::Key key;
  if (!a.key_file.empty()) {
    auto loaded = LoadAuditKey(a.key_file);
    if (!loaded.ok()) return Fail(loaded.error().message);
    key = *loaded;
  } else {
    // Without --key the server's own word on its key is taken (first use).
    auto served = FetchAudit(a.conn, "/v1/audit/key");
    if (!served.ok()) return Fail("cannot fetch the audit key: " + served.error().message);
    auto parsed = manifest::ParseKey(json::parse(*served, nullptr, false));
    if (!parsed.ok()) return Fail("the server's audit key: " + parsed.error().message);
    key = *parsed;
    std::fprintf(stderr, "otactl: trusting the audit key the server sent (use --key to pin it)\n");
  }
  auto records = VerifiedRecords(a, text, key);
  if (!records.ok()) return Fail(records.error().message);
  if (!a.rollout.empty()) return AnswerRollout(a, *records);
  return AnswerSpans(a, *records);
}

}  // namespace

void RegisterAuditQueryCommand(CLI::App* audit, CommandRunner* selected) {
  auto args = std::make_shared<QueryArgs>();
  auto* c = audit->add_subcommand(
      "query",
      "Answer from a verified export: versions a device ran (--device), devices that ran a "
      "version (--model --version), a rollout's story (--rollout)");
  AddOperatorServerOptions(*c, args->conn);
  c->add_option("--file", args->file, "Answer from this export file instead of the server")
      ->check(CLI::ExistingFile);
  c->add_option("--key", args->key_file, "Server audit public key (ota-server audit-key)")
      ->check(CLI::ExistingFile);
  c->add_option("--device", args->device, "The device whose versions to list");
  c->add_option("--since", args->since, "Period start (UTC YYYY-MM-DDTHH:MM:SSZ)");
  c->add_option("--until", args->until, "Period end");
  c->add_option("--model", args->model, "Model");
  c->add_option("--version", args->version, "Version of --model");
  c->add_option("--rollout", args->rollout, "Rollout whose story to tell");
  c->add_flag("--json", args->json_output, "Print JSON");
  c->callback([args, selected] { *selected = [args] { return RunQuery(*args); }; });
}

}  // namespace ota::tools
