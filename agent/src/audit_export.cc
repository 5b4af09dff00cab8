// ota-agent audit export: the device's log as an export file an auditor
// verifies offline with the device's public key (verifier/audit_verify.h).
#include <limits>
#include <map>

#include "device_audit.h"
#include "ota/manifest/tuf_metadata.h"

namespace ota::agent {
namespace {

struct ExportFilter {
  std::optional<manifest::TimePoint> since;
  std::optional<manifest::TimePoint> until;
  std::string model;
  nlohmann::json json = nlohmann::json::object();  // As the header states them.
};

Result<ExportFilter> ParseExportFilter(const AuditExportOptions& options) {
  ExportFilter f;
  auto bound = [&](const std::string& text, const char* name,
                   std::optional<manifest::TimePoint>* out) -> Status {
    if (text.empty()) return Ok();
    auto t = manifest::ParseExpires(text);
    if (!t.ok()) {
      return MakeError(ErrorCode::kInvalidArgument, std::string(name) +
                                                        " must be an RFC 3339 UTC time such as "
                                                        "2026-12-06T15:00:00Z (got \"" +
                                                        text + "\")");
    }
    *out = *t;
    f.json[name] = text;
    return Ok();
  };
  OTA_TRY(bound(options.since, "since", &f.since));
  OTA_TRY(bound(options.until, "until", &f.until));
  if (!options.model.empty()) {
    f.model = options.model;
    f.json["model"] = options.model;
  }
  return f;
}

// Whether an event body matches every filter given.
bool MatchesExportFilter(const ExportFilter& f, const std::string& body) {
  if (!f.since && !f.until && f.model.empty()) return true;
  const auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return false;
  if (!f.model.empty()) {
    auto m = j.find("model");
    if (m == j.end() || !m->is_string() || m->get_ref<const std::string&>() != f.model) {
      return false;
    }
  }
  if (f.since || f.until) {
    auto time = j.find("time");
    if (time == j.end() || !time->is_string()) return false;
    auto t = manifest::ParseExpires(time->get_ref<const std::string&>());
    if (!t.ok()) return false;
    if (f.since && *t < *f.since) return false;
    if (f.until && *t >= *f.until) return false;
  }
  return true;
}

// The seq of the checkpoint an export starts from (0: record 1): the newest
// stored checkpoint before the first record the filters show, when it is
// past `natural` (the log's own start).
std::int64_t ExportStart(const ExportFilter& f, const std::vector<PendingEvent>& events,
                         const std::map<std::int64_t, manifest::AuditCheckpoint>& checkpoints,
                         std::int64_t natural) {
  if (!f.since && !f.until && f.model.empty()) return natural;
  std::int64_t first_shown = std::numeric_limits<std::int64_t>::max();
  for (const PendingEvent& e : events) {
    if (!e.chain.empty() && (e.link_version == 1 || MatchesExportFilter(f, e.body))) {
      first_shown = e.seq;
      break;
    }
  }
  auto it = checkpoints.lower_bound(first_shown);
  if (it == checkpoints.begin()) return natural;
  --it;
  return it->first > natural ? it->first : natural;
}

manifest::AuditExportWriter::Signer ExportSigner(const AuditSigner& signer) {
  return [&signer](std::string_view bytes) -> Result<manifest::AuditExportWriter::Signature> {
    OTA_ASSIGN_OR_RETURN(std::string signature, verifier::SignBytes(signer.key, bytes));
    return manifest::AuditExportWriter::Signature{signer.key.keyid, std::move(signature)};
  };
}

}  // namespace

Result<AuditExportSummary> ExportAuditLog(Env& env, StateDb& db, const AuditSigner& signer,
                                          const AuditExportOptions& options,
                                          const AuditSink& sink) {
  OTA_ASSIGN_OR_RETURN(ExportFilter filter, ParseExportFilter(options));
  OTA_ASSIGN_OR_RETURN(std::optional<AuditBreak> broken,
                       db.VerifyAuditChain(signer.key.public_key));
  if (broken) {
    return MakeError(ErrorCode::kSecurity, "the audit log is broken at event " +
                                               std::to_string(broken->seq) + " (" +
                                               broken->message + "): nothing exported");
  }
  OTA_TRY(CheckpointAuditHead(env, db, signer, /*always=*/true));
  OTA_ASSIGN_OR_RETURN(std::vector<PendingEvent> events, db.AllEvents());
  OTA_ASSIGN_OR_RETURN(std::vector<CheckpointRow> rows, db.Checkpoints());
  const std::string log = manifest::DeviceAuditLog(signer.device_id);
  std::map<std::int64_t, manifest::AuditCheckpoint> checkpoints;
  for (CheckpointRow& row : rows) {
    row.checkpoint.log = log;
    checkpoints[row.checkpoint.seq] = std::move(row.checkpoint);
  }
  const std::string now = manifest::FormatExpires(env.clock->Now());
  manifest::AuditExportWriter writer(sink, log, now, filter.json);
  AuditExportSummary summary;
  auto write_checkpoint = [&](std::int64_t seq) -> Status {
    auto it = checkpoints.find(seq);
    if (it == checkpoints.end()) return Ok();
    ++summary.checkpoints;
    return writer.Checkpoint(it->second);
  };
  // Events from before the chain have no link to export: the chained ones
  // start from the genesis link after them, which a checkpoint of the last
  // of them states. A pruned log starts at its anchor checkpoint, a filtered
  // export at the newest checkpoint before the first record it shows.
  std::int64_t unchained = 0;
  for (const PendingEvent& e : events) {
    if (e.chain.empty()) unchained = e.seq;
  }
  const std::int64_t natural = unchained > 0    ? unchained
                               : events.empty() ? 0
                                                : events.front().seq - 1;
  const std::int64_t start = ExportStart(filter, events, checkpoints, natural);
  std::string prev(manifest::kAuditGenesis);
  if (start > natural || (start > 0 && unchained == 0)) {
    prev = checkpoints[start].head;
    OTA_TRY(write_checkpoint(start));
  } else if (unchained > 0) {
    manifest::AuditCheckpoint anchor{log, unchained, prev, now, signer.key.keyid, ""};
    OTA_ASSIGN_OR_RETURN(
        anchor.signature,
        verifier::SignBytes(signer.key, manifest::AuditCheckpointSigningBytes(anchor)));
    OTA_TRY(writer.Checkpoint(anchor));
    ++summary.checkpoints;
  }
  for (const PendingEvent& e : events) {
    if (e.chain.empty() || e.seq <= start) continue;
    if (e.link_version == 1 || MatchesExportFilter(filter, e.body)) {
      // A version 1 link covers the body itself: always written in full.
      OTA_TRY(writer.Record(log, e.seq, prev, e.chain, e.body, e.link_version));
      ++summary.records;
    } else {
      OTA_TRY(writer.Omitted(log, e.seq, prev, e.chain, manifest::AuditBodyDigest(e.body)));
      ++summary.omitted;
    }
    OTA_TRY(write_checkpoint(e.seq));
    prev = e.chain;
    summary.head_seq = e.seq;
  }
  OTA_TRY(writer.Finish(now, ExportSigner(signer)));
  summary.lines = writer.lines();
  return summary;
}

}  // namespace ota::agent
