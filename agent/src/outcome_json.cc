// The JSON forms of check results and update outcomes (docs/formats.md),
// shared by ota-agent's --json output and the C API.
#include <nlohmann/json.hpp>

#include "ota/agent/agent.h"

namespace ota::agent {

const char* OutcomeKindName(UpdateOutcome::Kind k) {
  switch (k) {
    case UpdateOutcome::Kind::kUpToDate:
      return "up-to-date";
    case UpdateOutcome::Kind::kUpdated:
      return "updated";
    case UpdateOutcome::Kind::kFailed:
      return "failed";
    case UpdateOutcome::Kind::kDeferred:
      return "deferred";
  }
  return "unknown";
}

std::string CheckResultJson(const CheckResult& r) {
  nlohmann::json j = {{"model", r.model}, {"update_available", r.update_available}};
  j["active"] = r.active ? nlohmann::json{{"id", r.active->id},
                                          {"version", r.active->version},
                                          {"path", r.active->path}}
                         : nlohmann::json(nullptr);
  j["available_version"] =
      r.available_version ? nlohmann::json(*r.available_version) : nlohmann::json(nullptr);
  j["download_bytes"] = r.download_bytes;
  if (!r.available_variant.empty()) j["variant"] = r.available_variant;
  if (!r.incompatible_reason.empty()) j["incompatible"] = r.incompatible_reason;
  if (r.plan) j["plan"] = nlohmann::json::parse(DeploymentPlanJson(*r.plan));
  return j.dump();
}

std::string UpdateOutcomeJson(const UpdateOutcome& o) {
  nlohmann::json j = {{"model", o.model},
                      {"outcome", o.confirming ? "confirming" : OutcomeKindName(o.kind)},
                      {"from_version", o.from_version},
                      {"to_version", o.to_version},
                      {"bytes_fetched", o.bytes_fetched},
                      {"bytes_resumed", o.bytes_resumed},
                      {"duration_ms", o.duration.count()}};
  if (o.error) {
    j["error_code"] = ErrorCodeName(o.error->code);
    j["error"] = o.error->message;
  }
  return j.dump();
}

}  // namespace ota::agent
