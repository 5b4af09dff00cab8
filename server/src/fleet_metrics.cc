// The fleet's gauges for GET /metrics: devices by model, version and state,
// chain alerts, and each rollout's state and stage counts, read when scraped
// (docs/operations.md, "Metrics").
#include <chrono>
#include <string>

#include "fleet_api.h"
#include "metrics.h"

namespace ota::server {
namespace {

using nlohmann::json;

void RolloutGauges(const std::vector<RolloutRecord>& rollouts, MetricsText& out) {
  out.Family("ota_rollout_info", "gauge",
             "One per rollout, labelled with its model, target version and state");
  for (const RolloutRecord& r : rollouts) {
    const manifest::RolloutManifest& m = r.manifest;
    out.Sample("ota_rollout_info",
               {{"rollout", m.rollout_id},
                {"model", m.model},
                {"target_version", manifest::ToString(m.target.bundle_version)},
                {"state", std::string(manifest::RolloutStateName(m.state))}},
               1);
  }
  out.Family("ota_rollout_current_stage", "gauge", "The index of each rollout's current stage");
  for (const RolloutRecord& r : rollouts) {
    out.Sample("ota_rollout_current_stage", {{"rollout", r.manifest.rollout_id}},
               static_cast<double>(r.manifest.current_stage));
  }
}

}  // namespace

Result<std::string> FleetApi::RenderMetrics(const ServerMetrics& process) {
  const auto start = std::chrono::steady_clock::now();
  OTA_ASSIGN_OR_RETURN(std::uint64_t enrolled, store_.DeviceCount());
  OTA_ASSIGN_OR_RETURN(json models, store_.FleetSummary());
  OTA_ASSIGN_OR_RETURN(auto problems, store_.ChainProblems());
  OTA_ASSIGN_OR_RETURN(auto rollouts, store_.ListRollouts());
  MetricsText out;
  process.Render(out);
  out.Family("ota_devices_enrolled", "gauge", "Devices enrolled with the server");
  out.Sample("ota_devices_enrolled", {}, static_cast<double>(enrolled));
  out.Family("ota_devices", "gauge",
             "Devices by model, version and state, from each device's latest report per model");
  for (const auto& [model, versions] : models.items()) {
    for (const auto& [version, phases] : versions.items()) {
      for (const auto& [phase, n] : phases.items()) {
        out.Sample("ota_devices", {{"model", model}, {"version", version}, {"state", phase}},
                   n.get<double>());
      }
    }
  }
  out.Family("ota_device_chain_alerts", "gauge",
             "Devices whose signed event chain the server found broken");
  out.Sample("ota_device_chain_alerts", {}, static_cast<double>(problems.size()));
  const FleetStore::ReportGroupCounts groups = store_.GroupCounts();
  out.Family("ota_report_groups_total", "counter",
             "Report groups committed by this node, by try: cached (one round trip on the "
             "node's cached state), after-miss (the stored state, once the cached try found a "
             "device, rollout or facts changed elsewhere), stored (the stored state from the "
             "start), failed (not committed)");
  for (const auto& [label, n] : {std::pair<const char*, std::uint64_t>{"cached", groups.cached},
                                 {"after-miss", groups.after_miss},
                                 {"stored", groups.stored},
                                 {"failed", groups.failed}}) {
    out.Sample("ota_report_groups_total", {{"try", label}}, static_cast<double>(n));
  }
  RolloutGauges(rollouts, out);
  out.Family("ota_rollout_stage_devices", "gauge",
             "Devices per stage of each active or paused rollout: targeted, and by phase");
  for (const RolloutRecord& r : rollouts) {
    const manifest::RolloutManifest& m = r.manifest;
    if (m.state == manifest::RolloutState::kHalted) continue;
    OTA_ASSIGN_OR_RETURN(auto counts, StageCountsOf(m));
    for (std::size_t stage = 0; stage < m.stages.size(); ++stage) {
      const rollout::StageCounts& c = counts[stage];
      MetricLabels labels = {
          {"rollout", m.rollout_id}, {"stage", std::to_string(stage)}, {"phase", "targeted"}};
      out.Sample("ota_rollout_stage_devices", labels, static_cast<double>(c.targeted));
      for (int p = 0; p < rollout::kDevicePhaseCount; ++p) {
        labels.back().second =
            std::string(rollout::DevicePhaseName(static_cast<rollout::DevicePhase>(p)));
        out.Sample("ota_rollout_stage_devices", labels, static_cast<double>(c.by_phase[p]));
      }
    }
  }
  if (metrics_ != nullptr) {
    metrics_->ObserveDatabase(
        "metrics-read",
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return out.text();
}

}  // namespace ota::server
