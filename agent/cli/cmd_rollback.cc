// ota-agent rollback: return a model to the previous version kept on disk,
// without a download. The rolled-back version is never installed again.
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"

namespace ota::agent::cli {
namespace {

int RunRollback(Agent& agent, std::string model) {
  if (model.empty()) {
    auto s = agent.GetStatus();
    if (!s.ok()) return Fail(s.error());
    if (s->models.size() != 1) {
      std::fprintf(stderr, "ota-agent: this device tracks %zu models; say which with --model\n",
                   s->models.size());
      return 2;
    }
    model = s->models[0];
  }
  auto r = agent.RollBack(model);
  if (!r.ok()) return Fail(r.error());
  std::printf("%s: rolled back %s -> %s (kept on disk, nothing downloaded)\n", r->model.c_str(),
              r->from.version.c_str(), r->to.version.c_str());
  return 0;
}

}  // namespace

void RegisterRollbackCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* selected) {
  auto model = std::make_shared<std::string>();
  auto* rollback = app.add_subcommand(
      "rollback", "Return a model to the previous version kept on disk (no download)");
  rollback->add_option("--model", *model, "Model to roll back (default: the only tracked model)");
  rollback->callback([model, &global, selected] {
    selected->run = OnAgent(global, AgentAccess::kCommand,
                            [model](Env&, Agent& agent) { return RunRollback(agent, *model); });
  });
}

}  // namespace ota::agent::cli
