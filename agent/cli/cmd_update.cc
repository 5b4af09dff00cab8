// ota-agent check: refresh signed metadata and show what would change;
// ota-agent update: one full update cycle. Exit code 3 when an update ran
// but a model failed or was deferred (one in its confirmation window is not).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "commands.h"
#include "output.h"
#include "progress.h"

namespace ota::agent::cli {
namespace {

struct UpdateArgs {
  bool no_progress = false;
  bool json = false;
};

int RunCheck(Agent& agent, bool json) {
  auto results = agent.Check();
  if (!results.ok()) return Fail(results.error());
  if (json) {
    nlohmann::json j = nlohmann::json::array();
    for (const CheckResult& r : *results) j.push_back(ToJson(r));
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  for (const CheckResult& r : *results) {
    std::printf("%s: active %s, newest signed %s%s\n", r.model.c_str(),
                r.active ? r.active->version.c_str() : "(none)",
                r.available_version ? r.available_version->c_str() : "(none)",
                r.update_available
                    ? (", update available (" + HumanBytes(r.download_bytes) + ")").c_str()
                    : "");
    if (!r.incompatible_reason.empty()) {
      std::printf("  cannot install it here: %s\n", r.incompatible_reason.c_str());
    }
    if (const auto& p = r.plan) {
      std::printf(
          "  plan: %s%s", p->variant.empty() ? "" : ("variant " + p->variant + ", ").c_str(),
          p->delta_path.empty() ? ("full bundle " + HumanBytes(p->bundle_bytes)).c_str()
                                : ("delta " + HumanBytes(p->delta_bytes) + " (full bundle " +
                                   HumanBytes(p->bundle_bytes) + " if it fails)")
                                      .c_str());
      std::printf(", needs %s free", HumanBytes(p->space_needed).c_str());
      if (!p->rollback_version.empty()) {
        std::printf(", returns to %s on failure", p->rollback_version.c_str());
      }
      std::printf("\n");
    }
  }
  return 0;
}

int RunUpdate(Agent& agent, const UpdateArgs& args) {
  ProgressPrinter printer(stderr, isatty(STDERR_FILENO) != 0);
  DownloadProgress progress;
  if (!args.no_progress && !args.json) {
    progress = [&](const std::string& m, std::uint64_t d, std::uint64_t t) {
      printer.Update(m, d, t);
    };
  }
  auto outcomes = agent.Update(progress);
  printer.Finish();
  if (!outcomes.ok()) return Fail(outcomes.error());
  int rc = 0;
  nlohmann::json all = nlohmann::json::array();
  for (const UpdateOutcome& o : *outcomes) {
    if (args.json) {
      all.push_back(ToJson(o));
    } else {
      PrintOutcome(o);
    }
    if (o.kind == UpdateOutcome::Kind::kFailed ||
        (o.kind == UpdateOutcome::Kind::kDeferred && !o.confirming))
      rc = 3;
  }
  if (args.json) std::printf("%s\n", all.dump(2).c_str());
  return rc;
}

}  // namespace

void RegisterUpdateCommands(CLI::App& app, const GlobalOptions& global, CommandRunner* selected) {
  auto check_json = std::make_shared<bool>(false);
  auto* check = app.add_subcommand("check", "Refresh signed metadata and show what would change");
  check->add_flag("--json", *check_json, "Print JSON");
  check->callback([check_json, &global, selected] {
    selected->run = OnAgent(global, AgentAccess::kUpdate, [check_json](Env&, Agent& agent) {
      return RunCheck(agent, *check_json);
    });
  });

  auto args = std::make_shared<UpdateArgs>();
  auto* update = app.add_subcommand("update", "Run one full update cycle");
  update->add_flag("--no-progress", args->no_progress, "Do not print download progress");
  update->add_flag("--json", args->json, "Print the outcomes as JSON (implies --no-progress)");
  update->callback([args, &global, selected] {
    selected->run = OnAgent(global, AgentAccess::kUpdate,
                            [args](Env&, Agent& agent) { return RunUpdate(agent, *args); });
  });
}

}  // namespace ota::agent::cli
