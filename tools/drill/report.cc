// The drill report: expectations, JSON, the terminal table and the
// timeline picture.
#include <algorithm>
#include <cstdio>
#include <sstream>

#include "drill.h"
#include "fleet.h"

namespace ota::drill {
namespace {

using nlohmann::json;

std::string Seconds(std::optional<std::int64_t> t) {
  return t ? std::to_string(*t) + " s" : std::string("never");
}

std::string Duration(std::int64_t s) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%lldh%02lldm", static_cast<long long>(s / 3600),
                static_cast<long long>((s % 3600) / 60));
  return buf;
}

json Optional(std::optional<std::int64_t> v) { return v ? json(*v) : json(); }

std::string Escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '<') {
      out += "&lt;";
    } else if (c == '>') {
      out += "&gt;";
    } else if (c == '&') {
      out += "&amp;";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::int64_t Percentile(std::vector<std::int64_t> values, int p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  std::size_t rank = (static_cast<std::size_t>(p) * n + 99) / 100;  // Nearest rank, 1-based.
  rank = std::clamp<std::size_t>(rank, 1, n);
  return values[rank - 1];
}

void EvaluateExpectations(const manifest::DrillScenario& s, DrillReport& r) {
  const manifest::DrillExpect& e = s.expect;
  auto add = [&](std::string name, bool passed, std::string detail) {
    r.checks.push_back({std::move(name), passed, std::move(detail)});
  };
  if (e.stopped_before_stage) {
    const bool ok = r.stopped_at && r.stopped_stage &&
                    *r.stopped_stage < static_cast<std::int64_t>(*e.stopped_before_stage);
    add("stopped before stage " + std::to_string(*e.stopped_before_stage), ok,
        r.stopped_at ? r.stopped_state + " in stage " + std::to_string(*r.stopped_stage) +
                           " after " + Duration(*r.stopped_at)
                     : "the rollout was never halted or paused (reached stage " +
                           std::to_string(r.max_stage) + ")");
  }
  if (e.canary_only) {
    add("canary only", r.exposed_outside_canary == 0,
        std::to_string(r.exposed_outside_canary) + " device(s) outside the first stage activated " +
            manifest::ToString(s.to));
  }
  if (e.max_exposed_percent) {
    add("at most " + std::to_string(*e.max_exposed_percent) + "% exposed",
        r.exposed * 100 <= *e.max_exposed_percent * r.devices,
        std::to_string(r.exposed) + " of " + std::to_string(r.devices) + " devices activated " +
            manifest::ToString(s.to));
  }
  if (e.all_back_within_seconds) {
    const std::int64_t worst = Percentile(r.back_after, 100);
    const bool ok =
        r.exposed == 0 || (r.rollback_at && r.never_back == 0 &&
                           worst <= static_cast<std::int64_t>(*e.all_back_within_seconds));
    std::string detail;
    if (r.exposed == 0) {
      detail = "no device activated " + manifest::ToString(s.to);
    } else if (!r.rollback_at) {
      detail = "no rollback was ordered";
    } else {
      detail = std::to_string(r.exposed - r.never_back) + " of " + std::to_string(r.exposed) +
               " back, the last after " + Duration(worst);
    }
    add("all back within " + Duration(static_cast<std::int64_t>(*e.all_back_within_seconds)), ok,
        detail);
  }
  const bool power_loss = std::any_of(
      s.faults.begin(), s.faults.end(),
      [](const manifest::DrillFault& f) { return f.kind == manifest::DrillFaultKind::kPowerLoss; });
  if (power_loss) {
    const auto broken = std::find_if(r.power_cuts.begin(), r.power_cuts.end(),
                                     [](const DrillPowerCut& c) { return !c.verified; });
    std::string detail = std::to_string(r.power_lost_verified) + " of " +
                         std::to_string(r.power_cuts.size()) +
                         " device(s) that lost power mid-update run a verified " +
                         manifest::ToString(s.from) + " or " + manifest::ToString(s.to);
    if (broken != r.power_cuts.end()) {
      detail += "; " + broken->device_id + ": " + broken->after_cut + " after the cut, " +
                broken->at_end + " at the end";
    }
    add("power loss leaves a verified version", broken == r.power_cuts.end(), detail);
  }
  std::string lost = std::to_string(r.reports_lost) + " event(s) undelivered after a final flush";
  if (r.not_starting > 0) {
    lost += "; " + std::to_string(r.not_starting) +
            " device(s) did not start after a power cut, their undelivered events unknown";
  }
  add("no report lost", r.reports_lost == 0 && r.not_starting == 0, lost);
  r.passed =
      std::all_of(r.checks.begin(), r.checks.end(), [](const DrillCheck& c) { return c.passed; });
}

json DrillReport::ToJson() const {
  json timeline_json = json::array();
  for (const DrillSample& s : timeline) {
    timeline_json.push_back(
        {{"t", s.t}, {"on_from", s.on_from}, {"on_to", s.on_to}, {"other", s.other}});
  }
  json marks_json = json::array();
  for (const DrillMark& m : marks) marks_json.push_back({{"t", m.t}, {"what", m.what}});
  json checks_json = json::array();
  for (const DrillCheck& c : checks) {
    checks_json.push_back({{"name", c.name}, {"passed", c.passed}, {"detail", c.detail}});
  }
  json cuts_json = json::array();
  for (const DrillPowerCut& c : power_cuts) {
    cuts_json.push_back({{"device", c.device_id},
                         {"t", c.t},
                         {"operation", c.operation},
                         {"operations", c.operations},
                         {"mid_update", c.mid_update},
                         {"after_cut", c.after_cut},
                         {"at_end", c.at_end},
                         {"verified", c.verified}});
  }
  json stuck_json = json::array();
  for (const auto& [why, n] : stuck) stuck_json.push_back({{"error", why}, {"devices", n}});
  return {
      {"scenario", scenario},
      {"passed", passed},
      {"devices", devices},
      {"simulated_seconds", simulated_seconds},
      {"device_checks", device_checks},
      {"first_failure_at", Optional(first_failure_at)},
      {"stopped_at", Optional(stopped_at)},
      {"stopped_state", stopped_state},
      {"stopped_stage", Optional(stopped_stage)},
      {"rollback_at", Optional(rollback_at)},
      {"max_stage", max_stage},
      {"exposed", exposed},
      {"exposed_percent",
       devices == 0 ? 0.0 : 100.0 * static_cast<double>(exposed) / static_cast<double>(devices)},
      {"exposed_outside_canary", exposed_outside_canary},
      {"back_after_seconds",
       {{"p50", Percentile(back_after, 50)},
        {"p95", Percentile(back_after, 95)},
        {"max", Percentile(back_after, 100)},
        {"count", back_after.size()}}},
      {"never_back", never_back},
      {"on_to_at_end", on_to_at_end},
      {"on_from_at_end", on_from_at_end},
      {"stuck", stuck_json},
      {"reports_lost", reports_lost},
      {"power_lost", power_cuts.size()},
      {"devices_not_starting", not_starting},
      {"power_lost_verified", power_lost_verified},
      {"power_cuts", cuts_json},
      {"bytes",
       {{"total", bytes_total},
        {"per_device_mean", devices == 0 ? 0 : bytes_total / devices},
        {"per_device_max", bytes_max}}},
      {"checks", checks_json},
      {"marks", marks_json},
      {"timeline", timeline_json}};
}

std::string DrillReport::Table() const {
  std::ostringstream out;
  auto row = [&](const std::string& name, const std::string& value) {
    out << "  " << name << std::string(name.size() < 34 ? 34 - name.size() : 1, ' ') << value
        << "\n";
  };
  out << "drill " << scenario << ": " << devices << " devices, " << Duration(simulated_seconds)
      << " simulated, " << device_checks << " device check-ins\n";
  row("first failure reported", Seconds(first_failure_at));
  row("rollout stopped", stopped_at ? stopped_state + " at " + Seconds(stopped_at) + " (stage " +
                                          std::to_string(*stopped_stage) + ")"
                                    : "never (reached stage " + std::to_string(max_stage) + ")");
  row("rollback ordered", Seconds(rollback_at));
  row("devices exposed", std::to_string(exposed) + " (" +
                             std::to_string(devices == 0 ? 0 : exposed * 100 / devices) + "%), " +
                             std::to_string(exposed_outside_canary) + " outside the canary");
  row("back after the order p50/p95/max", std::to_string(Percentile(back_after, 50)) + " / " +
                                              std::to_string(Percentile(back_after, 95)) + " / " +
                                              std::to_string(Percentile(back_after, 100)) + " s");
  row("exposed and never back", std::to_string(never_back));
  row("at the end on the new / old version",
      std::to_string(on_to_at_end) + " / " + std::to_string(on_from_at_end));
  row("reports lost", std::to_string(reports_lost));
  if (!power_cuts.empty()) {
    row("lost power mid-update / verified",
        std::to_string(power_cuts.size()) + " / " + std::to_string(power_lost_verified));
    if (not_starting > 0) row("did not start after the cut", std::to_string(not_starting));
  }
  row("bytes per device mean / max",
      std::to_string(devices == 0 ? 0 : bytes_total / devices) + " / " + std::to_string(bytes_max));
  for (const auto& [why, n] : stuck) row("  stopped with an error", std::to_string(n) + ": " + why);
  out << "expectations:\n";
  for (const DrillCheck& c : checks) {
    out << "  [" << (c.passed ? "pass" : "FAIL") << "] " << c.name << ": " << c.detail << "\n";
  }
  out << (passed ? "PASSED" : "FAILED") << "\n";
  return out.str();
}

std::string DrillReport::TimelineSvg() const {
  const int width = 800, height = 300, left = 50, bottom = 260, top = 20;
  const std::int64_t span = std::max<std::int64_t>(1, simulated_seconds);
  auto x = [&](std::int64_t t) { return left + static_cast<int>((width - left - 20) * t / span); };
  auto y = [&](std::uint64_t n) {
    return bottom - static_cast<int>((bottom - top) * static_cast<double>(n) /
                                     static_cast<double>(std::max<std::uint64_t>(1, devices)));
  };
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" font-family=\"sans-serif\" font-size=\"11\">\n"
      << "<title>drill " << Escape(scenario) << "</title>\n"
      << "<line x1=\"" << left << "\" y1=\"" << bottom << "\" x2=\"" << width - 20 << "\" y2=\""
      << bottom << "\" stroke=\"#444\"/>\n";
  auto polyline = [&](const char* colour, auto count) {
    svg << "<polyline fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"2\" points=\"";
    for (const DrillSample& s : timeline) svg << x(s.t) << "," << y(count(s)) << " ";
    svg << "\"/>\n";
  };
  polyline("#2a7", [](const DrillSample& s) { return s.on_from; });
  polyline("#c33", [](const DrillSample& s) { return s.on_to; });
  for (const DrillMark& m : marks) {
    svg << "<line x1=\"" << x(m.t) << "\" y1=\"" << top << "\" x2=\"" << x(m.t) << "\" y2=\""
        << bottom << "\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>\n"
        << "<text x=\"" << x(m.t) + 3 << "\" y=\"" << top + 10 << "\">" << Escape(m.what)
        << "</text>\n";
  }
  svg << "<text x=\"" << left << "\" y=\"" << bottom + 20 << "\">0</text>\n"
      << "<text x=\"" << width - 80 << "\" y=\"" << bottom + 20 << "\">" << Duration(span)
      << "</text>\n"
      << "<text x=\"" << left << "\" y=\"" << height - 8
      << "\" fill=\"#2a7\">devices on the old version</text>\n"
      << "<text x=\"" << left + 200 << "\" y=\"" << height - 8
      << "\" fill=\"#c33\">devices on the new version</text>\n"
      << "<text x=\"5\" y=\"" << top + 4 << "\">" << devices << "</text>\n"
      << "</svg>\n";
  return svg.str();
}

}  // namespace ota::drill
