#include "ota/manifest/audit_log.h"

#include <charconv>
#include <string>
#include <utility>

#include "ota/common/hash.h"
#include "ota/manifest/canonical_json.h"

namespace ota::manifest {
namespace {

bool IsDeviceIdChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

AuditHash LinkOf(std::string_view prev, std::int64_t seq, std::string_view payload) {
  char number[24];
  const auto [end, ec] = std::to_chars(number, number + sizeof(number), seq);
  (void)ec;  // 24 bytes hold any int64.
  AuditHash out;
  Sha256HexParts(
      {prev, "\n", std::string_view(number, static_cast<std::size_t>(end - number)), "\n", payload},
      out);
  return out;
}

// Canonical JSON of a string (only '"' and '\' escaped), for lines written
// field by field.
void AppendQuoted(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
}

void AppendField(std::string& out, std::string_view key, std::string_view text) {
  if (out.size() > 1) out.push_back(',');
  AppendQuoted(out, key);
  out.push_back(':');
  AppendQuoted(out, text);
}

void AppendIntField(std::string& out, std::string_view key, std::int64_t value) {
  if (out.size() > 1) out.push_back(',');
  AppendQuoted(out, key);
  out.push_back(':');
  out.append(std::to_string(value));
}

void AppendRawField(std::string& out, std::string_view key, std::string_view raw) {
  if (out.size() > 1) out.push_back(',');
  AppendQuoted(out, key);
  out.push_back(':');
  out.append(raw);
}

// The fields of a record or omitted line after its first ("body" or
// "digest"), in canonical key order.
void AppendChainFields(std::string& out, std::string_view kind, std::string_view log,
                       std::int64_t seq, std::string_view prev, std::string_view hash) {
  AppendField(out, "hash", hash);
  AppendField(out, "kind", kind);
  AppendField(out, "log", log);
  AppendField(out, "prev", prev);
  AppendIntField(out, "seq", seq);
}

}  // namespace

std::string DeviceAuditLog(std::string_view device_id) {
  return "device/" + std::string(device_id);
}

bool IsValidAuditLogName(std::string_view log) {
  if (log == kAuditServerLog) return true;
  constexpr std::string_view kPrefix = "device/";
  if (!log.starts_with(kPrefix)) return false;
  const std::string_view id = log.substr(kPrefix.size());
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (!IsDeviceIdChar(c)) return false;
  }
  return true;
}

bool IsAuditHash(std::string_view text) {
  if (text.size() != 64) return false;
  bool ok = true;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    ok &= (static_cast<unsigned>(u - '0') < 10u) | (static_cast<unsigned>(u - 'a') < 6u);
  }
  return ok;
}

AuditHash AuditBodyDigestOf(std::string_view body) {
  AuditHash out;
  Sha256HexParts({body}, out);
  return out;
}

AuditHash AuditLinkOf(std::string_view prev, std::int64_t seq, std::string_view body_digest) {
  return LinkOf(prev, seq, body_digest);
}

AuditHash AuditLinkV1Of(std::string_view prev, std::int64_t seq, std::string_view body) {
  return LinkOf(prev, seq, body);
}

std::string AuditBodyDigest(std::string_view body) {
  return std::string(View(AuditBodyDigestOf(body)));
}

std::string AuditLink(std::string_view prev, std::int64_t seq, std::string_view body_digest) {
  return std::string(View(LinkOf(prev, seq, body_digest)));
}

std::string AuditLinkV1(std::string_view prev, std::int64_t seq, std::string_view body) {
  return std::string(View(LinkOf(prev, seq, body)));
}

Result<std::string> AuditBody(const nlohmann::json& body) {
  if (!body.is_object()) {
    return MakeError(ErrorCode::kInvalidArgument, "an audit record body must be a JSON object");
  }
  auto type = body.find("type");
  if (type == body.end() || !type->is_string() || type->get_ref<const std::string&>().empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "an audit record body needs a non-empty string \"type\"");
  }
  auto time = body.find("time");
  if (time == body.end() || !time->is_string()) {
    return MakeError(ErrorCode::kInvalidArgument, "an audit record body needs a string \"time\"");
  }
  return CanonicalJson(body);
}

std::string AuditCheckpointSigningBytes(const AuditCheckpoint& c) {
  std::string out = "{";
  AppendField(out, "head", c.head);
  AppendField(out, "log", c.log);
  AppendIntField(out, "seq", c.seq);
  AppendField(out, "time", c.time);
  AppendField(out, "type", "modelota-audit-checkpoint");
  out.push_back('}');
  return out;
}

std::string AuditExportEndSigningBytes(std::string_view source, std::uint64_t lines,
                                       std::string_view file_sha256, std::string_view time) {
  std::string out = "{";
  AppendField(out, "file_sha256", file_sha256);
  AppendIntField(out, "lines", static_cast<std::int64_t>(lines));
  AppendField(out, "source", source);
  AppendField(out, "time", time);
  AppendField(out, "type", "modelota-audit-export");
  out.push_back('}');
  return out;
}

AuditExportWriter::AuditExportWriter(Sink sink, std::string source, std::string created,
                                     const nlohmann::json& filters)
    : sink_(std::move(sink)),
      source_(std::move(source)),
      file_hash_(std::make_unique<Hasher>(HashAlgorithm::kSha256)) {
  std::string line = "{";
  AppendField(line, "created", created);
  auto canonical_filters = CanonicalJson(filters.is_object() ? filters : nlohmann::json::object());
  AppendRawField(line, "filters", canonical_filters.ok() ? *canonical_filters : "{}");
  AppendField(line, "format", kAuditExportFormat);
  AppendField(line, "kind", "header");
  AppendField(line, "source", source_);
  line.push_back('}');
  status_ = Write(std::move(line));
}

AuditExportWriter::~AuditExportWriter() = default;

Status AuditExportWriter::Write(std::string line) {
  if (finished_) return MakeError(ErrorCode::kInternal, "audit export already finished");
  line.push_back('\n');
  file_hash_->Update(line);
  ++lines_;
  return sink_(line);
}

Status AuditExportWriter::Record(std::string_view log, std::int64_t seq, std::string_view prev,
                                 std::string_view hash, std::string_view body, int link_version) {
  OTA_TRY(status_);
  std::string line = "{";
  AppendRawField(line, "body", body);
  AppendChainFields(line, "record", log, seq, prev, hash);
  if (link_version == 1) AppendIntField(line, "v", 1);
  line.push_back('}');
  return status_ = Write(std::move(line));
}

Status AuditExportWriter::Omitted(std::string_view log, std::int64_t seq, std::string_view prev,
                                  std::string_view hash, std::string_view digest) {
  OTA_TRY(status_);
  std::string line = "{";
  AppendField(line, "digest", digest);
  AppendChainFields(line, "omitted", log, seq, prev, hash);
  line.push_back('}');
  return status_ = Write(std::move(line));
}

Status AuditExportWriter::Checkpoint(const AuditCheckpoint& c) {
  OTA_TRY(status_);
  std::string line = "{";
  AppendField(line, "head", c.head);
  AppendField(line, "keyid", c.keyid);
  AppendField(line, "kind", "checkpoint");
  AppendField(line, "log", c.log);
  AppendIntField(line, "seq", c.seq);
  AppendField(line, "signature", c.signature);
  AppendField(line, "time", c.time);
  line.push_back('}');
  return status_ = Write(std::move(line));
}

Status AuditExportWriter::Finish(std::string_view time, const Signer& sign) {
  OTA_TRY(status_);
  const std::uint64_t lines = lines_;
  const std::string digest = file_hash_->FinishHex();
  OTA_ASSIGN_OR_RETURN(Signature sig,
                       sign(AuditExportEndSigningBytes(source_, lines, digest, time)));
  std::string line = "{";
  AppendField(line, "file_sha256", digest);
  AppendField(line, "keyid", sig.keyid);
  AppendField(line, "kind", "end");
  AppendIntField(line, "lines", static_cast<std::int64_t>(lines));
  AppendField(line, "signature", sig.signature);
  AppendField(line, "source", source_);
  AppendField(line, "time", time);
  line.push_back('}');
  line.push_back('\n');
  finished_ = true;
  ++lines_;
  return status_ = sink_(line);
}

}  // namespace ota::manifest
