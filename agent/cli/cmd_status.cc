// ota-agent status: installed versions and recent deployments (read-only);
// ota-agent facts: the device facts variants are chosen by.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "ota/agent/device_facts.h"
#include "output.h"

namespace ota::agent::cli {
namespace {

void PrintStatusJson(const AgentStatus& s) {
  nlohmann::json j = {
      {"device_id", s.device_id},          {"server_url", s.server_url},
      {"state_dir", s.state_dir},          {"pending_reports", s.pending_reports},
      {"models", nlohmann::json::array()}, {"deployments", nlohmann::json::array()}};
  for (const CheckResult& r : s.active) j["models"].push_back(ToJson(r));
  for (const DeploymentSummary& d : s.recent_deployments) {
    j["deployments"].push_back({{"id", d.id},
                                {"model", d.model},
                                {"version", d.version},
                                {"state", d.state},
                                {"error", d.error},
                                {"updated_at", FormatTime(d.updated_at)}});
  }
  std::printf("%s\n", j.dump(2).c_str());
}

void PrintStatusText(const AgentStatus& s) {
  std::printf("device    %s\nserver    %s\nstate     %s\n", s.device_id.c_str(),
              s.server_url.c_str(), s.state_dir.c_str());
  for (const CheckResult& r : s.active) {
    if (r.active) {
      std::printf("model     %s  active %s  (%s)\n", r.model.c_str(), r.active->version.c_str(),
                  r.active->path.c_str());
    } else {
      std::printf("model     %s  no version installed\n", r.model.c_str());
    }
  }
  std::printf("reports   %lld queued\n", static_cast<long long>(s.pending_reports));
  if (!s.recent_deployments.empty()) std::printf("recent deployments:\n");
  for (const DeploymentSummary& d : s.recent_deployments) {
    std::printf("  #%lld %s %s %s %s%s\n", static_cast<long long>(d.id),
                FormatTime(d.updated_at).c_str(), d.model.c_str(), d.version.c_str(),
                d.state.c_str(), d.error.empty() ? "" : ("  " + d.error).c_str());
  }
}

int RunStatus(Agent& agent, bool json) {
  auto s = agent.GetStatus();
  if (!s.ok()) return Fail(s.error());
  if (json) {
    PrintStatusJson(*s);
  } else {
    PrintStatusText(*s);
  }
  return 0;
}

int RunFacts(Env& env, const GlobalOptions& g) {
  auto text = DeviceFactsJson(env, g.state_dir);
  if (!text.ok()) return Fail(text.error());
  std::printf("%s\n", text->c_str());
  return 0;
}

}  // namespace

void RegisterStatusCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* selected) {
  auto json = std::make_shared<bool>(false);
  auto* status = app.add_subcommand("status", "Show installed versions and recent deployments");
  status->add_flag("--json", *json, "Print JSON");
  status->callback([json, &global, selected] {
    selected->run = OnAgent(global, AgentAccess::kReadOnly,
                            [json](Env&, Agent& agent) { return RunStatus(agent, *json); });
  });
}

void RegisterFactsCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* selected) {
  auto* facts = app.add_subcommand(
      "facts", "Show the device facts variants are chosen by (probed, then device-facts.json)");
  facts->callback([&global, selected] {
    selected->run = [&global](Env& env) { return RunFacts(env, global); };
  });
}

}  // namespace ota::agent::cli
