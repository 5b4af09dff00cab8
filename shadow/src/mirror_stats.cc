// Mirror statistics as JSON, and merging the stats of several mirrors (one
// per app process) into one.
#include <cmath>
#include <string>

#include "ota/shadow/mirror.h"

namespace ota::shadow {
namespace {

using nlohmann::json;

json OptionalStat(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

Error InvalidMirrorStats(const std::string& message) {
  return MakeError(ErrorCode::kInvalidArgument, "mirror stats: " + message);
}

constexpr const char* kCounts[] = {"offered",  "sampled",       "dropped",   "too_large",
                                   "replayed", "failed",        "positions", "regressions",
                                   "compared", "checks_applied"};
constexpr const char* kRates[] = {"same_top1", "exact_match_rate", "pass_rate_production",
                                  "pass_rate_candidate"};
constexpr const char* kReals[] = {"perplexity", "mean_lcp_tokens"};

// Weighted mean of two optional rates.
std::optional<double> Weighted(const std::optional<double>& a, double wa,
                               const std::optional<double>& b, double wb) {
  const double w = (a ? wa : 0) + (b ? wb : 0);
  if (w <= 0) return a ? a : b;
  return ((a ? *a * wa : 0) + (b ? *b * wb : 0)) / w;
}

}  // namespace

json MirrorStatsToJson(const MirrorStats& s) {
  return {{"offered", s.offered},
          {"sampled", s.sampled},
          {"dropped", s.dropped},
          {"too_large", s.too_large},
          {"replayed", s.replayed},
          {"failed", s.failed},
          {"positions", s.positions},
          {"same_top1", OptionalStat(s.same_top1)},
          {"perplexity", OptionalStat(s.perplexity)},
          {"exact_match_rate", OptionalStat(s.exact_match_rate)},
          {"mean_lcp_tokens", OptionalStat(s.mean_lcp_tokens)},
          {"pass_rate_production", OptionalStat(s.pass_rate_production)},
          {"pass_rate_candidate", OptionalStat(s.pass_rate_candidate)},
          {"regressions", s.regressions},
          {"busy_seconds", s.busy_seconds},
          {"compared", s.compared},
          {"checks_applied", s.checks_applied}};
}

Result<MirrorStats> MirrorStatsFromJson(const json& j) {
  if (!j.is_object()) return InvalidMirrorStats("must be an object");
  for (const auto& [key, value] : j.items()) {
    (void)value;
    bool known = key == "busy_seconds";
    for (const char* k : kCounts) known = known || key == k;
    for (const char* k : kRates) known = known || key == k;
    for (const char* k : kReals) known = known || key == k;
    if (!known) return InvalidMirrorStats("unknown field \"" + key.substr(0, 64) + "\"");
  }
  auto count = [&](const char* key) -> Result<std::uint64_t> {
    auto it = j.find(key);
    if (it == j.end()) return InvalidMirrorStats(std::string("missing ") + key);
    if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<std::int64_t>() >= 0)) {
      return InvalidMirrorStats(std::string(key) + " must be a non-negative integer");
    }
    return it->get<std::uint64_t>();
  };
  auto real = [&](const char* key, double hi) -> Result<std::optional<double>> {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::optional<double>();
    if (!it->is_number() || !std::isfinite(it->get<double>()) || it->get<double>() < 0 ||
        it->get<double>() > hi) {
      return InvalidMirrorStats(std::string(key) + " must be null or a number from 0 to " +
                                (hi == 1 ? "1" : "1e300"));
    }
    return std::optional<double>(it->get<double>());
  };
  MirrorStats s;
  OTA_ASSIGN_OR_RETURN(s.offered, count("offered"));
  OTA_ASSIGN_OR_RETURN(s.sampled, count("sampled"));
  OTA_ASSIGN_OR_RETURN(s.dropped, count("dropped"));
  OTA_ASSIGN_OR_RETURN(s.too_large, count("too_large"));
  OTA_ASSIGN_OR_RETURN(s.replayed, count("replayed"));
  OTA_ASSIGN_OR_RETURN(s.failed, count("failed"));
  OTA_ASSIGN_OR_RETURN(std::uint64_t positions, count("positions"));
  s.positions = static_cast<std::size_t>(positions);
  OTA_ASSIGN_OR_RETURN(s.regressions, count("regressions"));
  OTA_ASSIGN_OR_RETURN(s.compared, count("compared"));
  OTA_ASSIGN_OR_RETURN(s.checks_applied, count("checks_applied"));
  OTA_ASSIGN_OR_RETURN(s.same_top1, real("same_top1", 1));
  OTA_ASSIGN_OR_RETURN(s.exact_match_rate, real("exact_match_rate", 1));
  OTA_ASSIGN_OR_RETURN(s.pass_rate_production, real("pass_rate_production", 1));
  OTA_ASSIGN_OR_RETURN(s.pass_rate_candidate, real("pass_rate_candidate", 1));
  OTA_ASSIGN_OR_RETURN(s.perplexity, real("perplexity", 1e300));
  OTA_ASSIGN_OR_RETURN(s.mean_lcp_tokens, real("mean_lcp_tokens", 1e300));
  OTA_ASSIGN_OR_RETURN(std::optional<double> busy, real("busy_seconds", 1e300));
  s.busy_seconds = busy.value_or(0);
  if (s.sampled > s.offered || s.replayed > s.sampled || s.regressions > s.checks_applied) {
    return InvalidMirrorStats("counts are inconsistent");
  }
  return s;
}

MirrorStats MergeMirrorStats(const MirrorStats& a, const MirrorStats& b) {
  MirrorStats m;
  m.offered = a.offered + b.offered;
  m.sampled = a.sampled + b.sampled;
  m.dropped = a.dropped + b.dropped;
  m.too_large = a.too_large + b.too_large;
  m.replayed = a.replayed + b.replayed;
  m.failed = a.failed + b.failed;
  m.positions = a.positions + b.positions;
  m.regressions = a.regressions + b.regressions;
  m.busy_seconds = a.busy_seconds + b.busy_seconds;
  m.compared = a.compared + b.compared;
  m.checks_applied = a.checks_applied + b.checks_applied;
  const double pa = static_cast<double>(a.positions);
  const double pb = static_cast<double>(b.positions);
  m.same_top1 = Weighted(a.same_top1, pa, b.same_top1, pb);
  // Perplexity: the weighted mean of log-perplexities (per-token NLL).
  std::optional<double> la, lb;
  if (a.perplexity && *a.perplexity > 0) la = std::log(*a.perplexity);
  if (b.perplexity && *b.perplexity > 0) lb = std::log(*b.perplexity);
  if (std::optional<double> l = Weighted(la, pa, lb, pb)) m.perplexity = std::exp(*l);
  const double ca = static_cast<double>(a.compared);
  const double cb = static_cast<double>(b.compared);
  m.exact_match_rate = Weighted(a.exact_match_rate, ca, b.exact_match_rate, cb);
  m.mean_lcp_tokens = Weighted(a.mean_lcp_tokens, ca, b.mean_lcp_tokens, cb);
  const double ka = static_cast<double>(a.checks_applied);
  const double kb = static_cast<double>(b.checks_applied);
  m.pass_rate_production = Weighted(a.pass_rate_production, ka, b.pass_rate_production, kb);
  m.pass_rate_candidate = Weighted(a.pass_rate_candidate, ka, b.pass_rate_candidate, kb);
  return m;
}

}  // namespace ota::shadow
