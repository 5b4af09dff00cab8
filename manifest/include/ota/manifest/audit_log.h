// The audit log format shared by the agent, the server and the operator
// tools (docs/audit.md): hash-chain links, signed checkpoints, and the lines
// of an audit export (JSON Lines).
//
// A log ("server", or "device/<device id>") is a sequence of records numbered
// from 1. A record's body is a canonical JSON object (canonical_json.h) with at
// least "type" and "time". Its link chains it to the record before:
//   digest = SHA-256(body bytes)                       (lower-case hex)
//   link   = SHA-256(prev_link "\n" seq "\n" digest)   (link version 2)
// where prev_link is the link of record seq-1, or 64 zeros for record 1.
// Device events written before version 2 kept their version 1 link,
//   link   = SHA-256(prev_link "\n" seq "\n" body bytes)
// so a log may start with version 1 records; it never returns to them.
//
// A checkpoint signs a log's head: the canonical JSON of
//   {"head": link, "log": log, "seq": seq, "time": time,
//    "type": "modelota-audit-checkpoint"}
// with Ed25519 (the server's audit key for "server", the device's report key
// for its own log).
//
// An export is one header line, then record, omitted and checkpoint lines,
// then one signed end line over the SHA-256 of every byte before it.
//
// Thread-safety: the functions are pure; AuditExportWriter is not
// thread-safe.
#ifndef OTA_MANIFEST_AUDIT_LOG_H_
#define OTA_MANIFEST_AUDIT_LOG_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "ota/common/result.h"

namespace ota {
class Hasher;
}  // namespace ota

namespace ota::manifest {

inline constexpr char kAuditExportFormat[] = "modelota-audit-export-1";
inline constexpr char kAuditServerLog[] = "server";
// The link before record 1.
inline constexpr std::string_view kAuditGenesis =
    "0000000000000000000000000000000000000000000000000000000000000000";

// "device/<id>" for a device id of [A-Za-z0-9._-]{1,128}.
std::string DeviceAuditLog(std::string_view device_id);
// "server", or "device/" followed by a valid device id.
bool IsValidAuditLogName(std::string_view log);
// 64 lower-case hex digits.
bool IsAuditHash(std::string_view text);

// A link or digest as 64 lower-case hex digits, without allocation.
using AuditHash = std::array<char, 64>;
inline std::string_view View(const AuditHash& h) { return std::string_view(h.data(), h.size()); }

// SHA-256 (hex) of a record body's bytes.
std::string AuditBodyDigest(std::string_view body);
AuditHash AuditBodyDigestOf(std::string_view body);
AuditHash AuditLinkOf(std::string_view prev, std::int64_t seq, std::string_view body_digest);
AuditHash AuditLinkV1Of(std::string_view prev, std::int64_t seq, std::string_view body);
// Link version 2 of record `seq` from the previous link and the body digest.
std::string AuditLink(std::string_view prev, std::int64_t seq, std::string_view body_digest);
// Link version 1 (device events written before version 2).
std::string AuditLinkV1(std::string_view prev, std::int64_t seq, std::string_view body);

// The canonical form of a record body: an object with a non-empty string
// "type" and a string "time". Errors: kInvalidArgument (not an object, a
// missing field, a float).
Result<std::string> AuditBody(const nlohmann::json& body);

struct AuditCheckpoint {
  std::string log;
  std::int64_t seq = 0;   // 0: the empty log (head is the genesis link).
  std::string head;       // The link of record `seq`.
  std::string time;       // RFC 3339 UTC, seconds ("2026-12-06T15:44:17Z").
  std::string keyid;      // TUF key id of the signing key.
  std::string signature;  // Lower-case hex Ed25519 signature.
};

// The bytes a checkpoint's signature covers.
std::string AuditCheckpointSigningBytes(const AuditCheckpoint& c);

// The bytes an export's end line signature covers: the canonical JSON of
// {"file_sha256": .., "lines": .., "source": .., "time": ..,
//  "type": "modelota-audit-export"}.
std::string AuditExportEndSigningBytes(std::string_view source, std::uint64_t lines,
                                       std::string_view file_sha256, std::string_view time);

// ---------------------------------------------------------------------------
// Export lines. Every line is one JSON object with a "kind":
//   header      {"created","filters","format","kind","source"}
//   record      {"body","hash","kind","log","prev","seq"[,"v":1]}
//   omitted     {"digest","hash","kind","log","prev","seq"}   (filtered out)
//   checkpoint  {"head","keyid","kind","log","seq","signature","time"}
//   end         {"file_sha256","keyid","kind","lines","signature","source","time"}
// "lines" counts the lines before the end line.

// Writes an export: the header on construction, then lines in order, then the
// signed end line. `sink` receives each line with its newline; a sink error
// is returned by the next call. `sign` signs bytes with the exporter's key
// and returns {keyid, hex signature}.
class AuditExportWriter {
 public:
  using Sink = std::function<Status(std::string_view)>;
  struct Signature {
    std::string keyid;
    std::string signature;
  };
  using Signer = std::function<Result<Signature>(std::string_view)>;

  // `source`: the log of the exporter ("server" or "device/<id>").
  AuditExportWriter(Sink sink, std::string source, std::string created,
                    const nlohmann::json& filters);
  ~AuditExportWriter();
  AuditExportWriter(const AuditExportWriter&) = delete;
  AuditExportWriter& operator=(const AuditExportWriter&) = delete;

  // `body` is the record's stored body, written as is (canonical JSON for
  // version 2; the original text for version 1).
  Status Record(std::string_view log, std::int64_t seq, std::string_view prev,
                std::string_view hash, std::string_view body, int link_version = 2);
  Status Omitted(std::string_view log, std::int64_t seq, std::string_view prev,
                 std::string_view hash, std::string_view digest);
  Status Checkpoint(const AuditCheckpoint& c);
  // Writes the end line; no line may follow.
  Status Finish(std::string_view time, const Signer& sign);
  std::uint64_t lines() const { return lines_; }

 private:
  Status Write(std::string line);
  Sink sink_;
  std::string source_;
  std::unique_ptr<Hasher> file_hash_;
  std::uint64_t lines_ = 0;
  Status status_;
  bool finished_ = false;
};

inline constexpr std::size_t kAuditLinePadding = 64;

enum class AuditLineKind { kHeader, kRecord, kOmitted, kCheckpoint, kEnd };

// One parsed export line. `body` points into the line passed to
// AuditLineParser::Parse; the other views point into the parser and live
// until its next Parse.
struct AuditLine {
  AuditLineKind kind = AuditLineKind::kRecord;
  std::string_view log;         // record, omitted, checkpoint
  std::int64_t seq = 0;         // record, omitted, checkpoint
  std::string_view prev, hash;  // record, omitted
  std::string_view body;        // record: the body's bytes as written
  int link_version = 2;         // record
  std::string_view digest;      // omitted
  // checkpoint: head, time, keyid, signature; end: file_sha256 in head.
  std::string_view head, time, keyid, signature;
  std::string_view format, source, created;  // header (source also end)
  std::uint64_t lines = 0;                   // end
};

// Parses export lines strictly: valid JSON (RFC 8259, UTF-8), one object, the
// fields of its kind and no other, none twice, hashes as 64 lower-case hex
// digits, log names valid, seq >= 1 (>= 0 for checkpoints). Errors:
// kInvalidArgument with the reason. Never throws. Reusable across lines;
// not thread-safe.
class AuditLineParser {
 public:
  AuditLineParser();
  ~AuditLineParser();
  AuditLineParser(const AuditLineParser&) = delete;
  AuditLineParser& operator=(const AuditLineParser&) = delete;

  // `line` without its newline.
  Result<AuditLine> Parse(std::string_view line);
  // As Parse, for a line followed in memory by at least kAuditLinePadding
  // readable bytes (of any content), which spares a copy.
  Result<AuditLine> ParsePadded(std::string_view line);

 private:
  Result<AuditLine> Read(std::string_view line, bool padded);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ota::manifest

#endif  // OTA_MANIFEST_AUDIT_LOG_H_
