// Offline verification of an audit export (docs/audit.md, "Verifying an
// export"): every record's link, the continuity of every log, every
// checkpoint's signature and head, and the signed end line over the whole
// file. Needs only public keys.
//
// Trust: the keys given by the auditor may sign the end line and the
// checkpoints of any log. A device's report key is also trusted for its own
// log's checkpoints once a verified server record of type "device-enrolled"
// names it ({"device_id": .., "public_key": <64 hex>}).
//
// Thread-safety: pure; one call per input.
#ifndef OTA_VERIFIER_AUDIT_VERIFY_H_
#define OTA_VERIFIER_AUDIT_VERIFY_H_

#include <cstdint>
#include <istream>
#include <map>
#include <string>
#include <vector>

#include "ota/manifest/tuf_metadata.h"

namespace ota::verifier {

enum class AuditVerdict {
  kVerified,    // Every check passed.
  kTampered,    // The file is an export, but something in it was altered.
  kUnreadable,  // Not an export: unreadable, empty, or no valid header.
};

struct AuditLogSummary {
  std::int64_t first_seq = 0;  // Of the first record or omitted line.
  std::int64_t last_seq = 0;
  std::string head;                  // Link of last_seq.
  std::int64_t checkpoint_seq = -1;  // Last signed checkpoint; -1: none.
  std::uint64_t records = 0;         // Record lines (omitted lines not counted).
  std::uint64_t omitted = 0;
};

struct AuditVerifyResult {
  AuditVerdict verdict = AuditVerdict::kUnreadable;
  std::uint64_t records = 0;  // Record lines verified.
  std::uint64_t line = 0;     // 1-based line of the first problem; 0: none.
  std::string message;        // The first problem, "" when verified.
  std::string source;         // The exporter's log.
  std::map<std::string, AuditLogSummary> logs;
};

// Reads the export from `in` to its end.
AuditVerifyResult VerifyAuditExport(std::istream& in, const std::vector<manifest::Key>& trusted);

}  // namespace ota::verifier

#endif  // OTA_VERIFIER_AUDIT_VERIFY_H_
