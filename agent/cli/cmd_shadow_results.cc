// ota-agent shadow-results: the shadow-test verdicts recorded on this device,
// newest first (read-only).
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.h"
#include "output.h"

namespace ota::agent::cli {
namespace {

struct ShadowResultsArgs {
  std::string model;
  int limit = 20;
  bool json = false;
};

void PrintJson(const std::vector<ShadowVerdict>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const ShadowVerdict& v : rows) {
    auto report = nlohmann::json::parse(v.report_json, nullptr, /*allow_exceptions=*/false);
    out.push_back({{"id", v.id},
                   {"deployment_id", v.deployment_id},
                   {"model", v.model},
                   {"candidate_id", v.candidate_id},
                   {"candidate_version", v.candidate_version},
                   {"current_id", v.current_id},
                   {"current_version", v.current_version},
                   {"verdict", v.verdict},
                   {"action", v.action},
                   {"gate", v.gate},
                   {"reason", v.reason},
                   {"attempt", v.attempt},
                   {"time", v.created_at},
                   {"report", report.is_discarded() ? nlohmann::json(nullptr) : report}});
  }
  std::printf("%s\n", out.dump(2).c_str());
}

void PrintText(const std::vector<ShadowVerdict>& rows) {
  if (rows.empty()) std::printf("no shadow tests recorded\n");
  for (const ShadowVerdict& v : rows) {
    std::printf("%s  %s %s vs %s  %s (%s, %s gate, attempt %d): %s\n",
                FormatTime(v.created_at).c_str(), v.model.c_str(), v.candidate_version.c_str(),
                v.current_version.c_str(), v.verdict.c_str(), v.action.c_str(), v.gate.c_str(),
                v.attempt, v.reason.c_str());
  }
}

int RunShadowResults(Agent& agent, const ShadowResultsArgs& args) {
  auto rows = agent.ShadowResults(args.model, args.limit);
  if (!rows.ok()) return Fail(rows.error());
  if (args.json) {
    PrintJson(*rows);
  } else {
    PrintText(*rows);
  }
  return 0;
}

}  // namespace

void RegisterShadowResultsCommand(CLI::App& app, const GlobalOptions& global,
                                  CommandRunner* selected) {
  auto args = std::make_shared<ShadowResultsArgs>();
  auto* cmd = app.add_subcommand("shadow-results",
                                 "Show shadow-test verdicts recorded on this device, newest first");
  cmd->add_option("--model", args->model, "Only this model");
  cmd->add_option("--limit", args->limit, "At most this many verdicts")
      ->check(CLI::Range(1, 10000));
  cmd->add_flag("--json", args->json, "Print JSON, with each full report");
  cmd->callback([args, &global, selected] {
    selected->run = OnAgent(global, AgentAccess::kReadOnly,
                            [args](Env&, Agent& agent) { return RunShadowResults(agent, *args); });
  });
}

}  // namespace ota::agent::cli
