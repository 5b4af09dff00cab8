// The signed envelope shared by every metadata file.
#include <utility>

#include "json_fields.h"
#include "ota/manifest/canonical_json.h"
#include "ota/manifest/tuf_metadata.h"

namespace ota::manifest {

Result<Signed> ParseEnvelope(std::string_view bytes, std::size_t max_bytes) {
  JsonLimits limits;
  limits.max_bytes = max_bytes;
  // Metadata nests at most about six levels; custom target data gets room,
  // but not enough to make recursion over the document expensive.
  limits.max_depth = 32;
  OTA_ASSIGN_OR_RETURN(nlohmann::json doc, ParseJsonStrict(bytes, limits));
  OTA_ASSIGN_OR_RETURN(internal::Fields f, internal::Fields::Of(doc, "metadata file"));
  OTA_TRY(f.Object("signed"));
  OTA_ASSIGN_OR_RETURN(const nlohmann::json* sigs, f.Array("signatures"));
  Signed out;
  out.signatures.reserve(sigs->size());
  for (const auto& item : *sigs) {
    OTA_ASSIGN_OR_RETURN(internal::Fields sf, internal::Fields::Of(item, "signature"));
    Signature sig;
    OTA_ASSIGN_OR_RETURN(sig.keyid, sf.String("keyid"));
    OTA_ASSIGN_OR_RETURN(sig.sig, sf.String("sig"));
    out.signatures.push_back(std::move(sig));
  }
  out.signed_json = std::move(doc["signed"]);
  return out;
}

std::string SerializeEnvelope(const Signed& envelope) {
  nlohmann::json sigs = nlohmann::json::array();
  for (const Signature& s : envelope.signatures) {
    sigs.push_back({{"keyid", s.keyid}, {"sig", s.sig}});
  }
  nlohmann::json doc = {{"signatures", std::move(sigs)}, {"signed", envelope.signed_json}};
  // Metadata we write is built by ToJson and holds only valid UTF-8, so dump
  // cannot throw here; the replace handler keeps it that way for any input.
  return doc.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace ota::manifest
