#include "output.h"

#include <cstdio>
#include <ctime>

#include "progress.h"

namespace ota::agent::cli {
nlohmann::json ToJson(const CheckResult& r) { return nlohmann::json::parse(CheckResultJson(r)); }

nlohmann::json ToJson(const UpdateOutcome& o) {
  return nlohmann::json::parse(UpdateOutcomeJson(o));
}

void PrintOutcome(const UpdateOutcome& o) {
  if (o.confirming) {
    // Active, waiting for its confirmation window: not a failure.
    std::printf("%s: confirming %s%s\n", o.model.c_str(), o.to_version.c_str(),
                o.error ? (" (" + o.error->message + ")").c_str() : "");
    return;
  }
  std::string line = o.model + ": " + OutcomeKindName(o.kind);
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
