#include "output.h"

#include <cstdio>
#include <ctime>

#include "progress.h"

namespace ota::agent::cli {
namespace {

const char* KindName(UpdateOutcome::Kind k) {
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

}  // namespace

nlohmann::json ToJson(const CheckResult& r) {
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
  return j;
}

nlohmann::json ToJson(const UpdateOutcome& o) {
  nlohmann::json j = {{"model", o.model},
                      {"outcome", o.confirming ? "confirming" : KindName(o.kind)},
                      {"from_version", o.from_version},
                      {"to_version", o.to_version},
                      {"bytes_fetched", o.bytes_fetched},
                      {"bytes_resumed", o.bytes_resumed},
                      {"duration_ms", o.duration.count()}};
  if (o.error) {
    j["error_code"] = ErrorCodeName(o.error->code);
    j["error"] = o.error->message;
  }
  return j;
}

void PrintOutcome(const UpdateOutcome& o) {
  if (o.confirming) {
    // Active, waiting for its confirmation window: not a failure.
    std::printf("%s: confirming %s%s\n", o.model.c_str(), o.to_version.c_str(),
                o.error ? (" (" + o.error->message + ")").c_str() : "");
    return;
  }
  std::string line = o.model + ": " + KindName(o.kind);
  if (o.kind == UpdateOutcome::Kind::kUpdated) {
    line += " " + (o.from_version.empty() ? std::string("(none)") : o.from_version) + " -> " +
            o.to_version + ", fetched " + HumanBytes(o.bytes_fetched);
    if (o.bytes_resumed > 0) line += " (resumed after " + HumanBytes(o.bytes_resumed) + ")";
    line += " in " + std::to_string(o.duration.count()) + " ms";
  } else if (o.kind == UpdateOutcome::Kind::kUpToDate) {
    line += o.to_version.empty() ? " (nothing published)" : " at " + o.to_version;
  } else {
    line += " (target " + o.to_version + ")";
  }
  if (o.error) line += ": " + o.error->ToString();
  std::printf("%s\n", line.c_str());
}

std::string FormatTime(std::int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace ota::agent::cli
