// Audit exports as an auditor receives them: hostile bytes through the line
// parser and the offline verifier. An export that verifies must still verify
// when read again; nothing may crash.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "fuzz_fixtures.h"
#include "fuzz_support.h"
#include "ota/manifest/audit_log.h"
#include "ota/verifier/audit_verify.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto key = ota::fuzz::AuditKey();
  const std::string text(reinterpret_cast<const char*>(data), size);
  ota::manifest::AuditLineParser parser;
  (void)parser.Parse(text);
  std::istringstream in(text);
  const auto result = ota::verifier::VerifyAuditExport(in, {key->public_key});
  if (result.verdict == ota::verifier::AuditVerdict::kVerified) {
    std::istringstream again(text);
    ota::fuzz::Require(ota::verifier::VerifyAuditExport(again, {key->public_key}).verdict ==
                           ota::verifier::AuditVerdict::kVerified,
                       "a verified export does not verify again");
  } else {
    ota::fuzz::Require(!result.message.empty(), "a refused export has no message");
  }
  return 0;
}
