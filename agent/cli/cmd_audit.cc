// ota-agent audit: print the event log and check its hash chain (read-only;
// exit 1 when the chain was altered).
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"

namespace ota::agent::cli {
namespace {

void PrintJson(const AuditReport& report) {
  nlohmann::json j = {{"intact", report.intact}, {"events", nlohmann::json::array()}};
  if (!report.intact) j["problem"] = report.problem;
  for (const AuditEntry& e : report.entries) {
    auto body = nlohmann::json::parse(e.body, nullptr, /*allow_exceptions=*/false);
    j["events"].push_back({{"seq", e.seq},
                           {"chain", e.chain},
                           {"delivered", e.delivered},
                           {"event", body.is_discarded() ? nlohmann::json(e.body) : body}});
  }
  std::printf("%s\n", j.dump(2).c_str());
}

void PrintText(const AuditReport& report) {
  for (const AuditEntry& e : report.entries) {
    std::printf("%6lld %.12s %s %s\n", static_cast<long long>(e.seq),
                e.chain.empty() ? "(unchained) " : e.chain.c_str(),
                e.delivered ? "sent  " : "queued", e.body.c_str());
  }
  if (report.intact) {
    std::printf("chain intact: %zu events, head %s\n", report.entries.size(),
                report.entries.empty() ? "(none)" : report.entries.back().chain.c_str());
  }
}

int RunAudit(Agent& agent, bool json) {
  auto report = agent.Audit();
  if (!report.ok()) return Fail(report.error());
  if (json) {
    PrintJson(*report);
  } else {
    PrintText(*report);
  }
  if (!report->intact) {
    std::fprintf(stderr, "ota-agent: audit chain broken: %s\n", report->problem.c_str());
    return 1;
  }
  return 0;
}

}  // namespace

void RegisterAuditCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* selected) {
  auto json = std::make_shared<bool>(false);
  auto* audit = app.add_subcommand(
      "audit", "Print the event log and check its hash chain (exit 1 if it was altered)");
  audit->add_flag("--json", *json, "Print JSON");
  audit->callback([json, &global, selected] {
    selected->run = OnAgent(global, AgentAccess::kReadOnly,
                            [json](Env&, Agent& agent) { return RunAudit(agent, *json); });
  });
}

}  // namespace ota::agent::cli
