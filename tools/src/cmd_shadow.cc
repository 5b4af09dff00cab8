// otactl shadow run: a shadow test of a candidate model against the current
// one on this machine, with the verdict a device would reach
// (docs/operator-guide.md, "Shadow tests").
//
// Exit codes: 0 pass, 3 fail, 4 inconclusive, 2 usage error (bad flags, a
// missing file, an invalid eval set), 1 any other error.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include "commands.h"
#include "ota/runtime_adapter/runtime.h"
#include "ota/shadow/shadow.h"

namespace ota::tools {
namespace {

constexpr int kExitFail = 3;
constexpr int kExitInconclusive = 4;
constexpr int kShadowExitUsage = 2;

struct ShadowFlags {
  std::string current;
  std::string candidate;
  std::string eval;
  std::string gate = "equivalence";
  int budget_seconds = 600;
  bool sequential = false;
  bool json = false;
  int threads = 1;
  int context = 1024;
};

int ShadowUsage(const std::string& message) {
  std::fprintf(stderr, "otactl: shadow run: %s\n", message.c_str());
  return kShadowExitUsage;
}

int RunShadow(const ShadowFlags& flags) {
  for (const std::string* path : {&flags.current, &flags.candidate}) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(*path, ec))
      return ShadowUsage(*path + ": no such model file");
  }
  Result<shadow::Gate> gate = shadow::ParseGate(flags.gate);
  if (!gate.ok()) return ShadowUsage("--gate: " + gate.error().message);
  if (flags.budget_seconds < 1 || flags.budget_seconds > 86400) {
    return ShadowUsage("--budget-seconds must be from 1 to 86400");
  }
  Result<shadow::EvalSet> eval = shadow::BuiltinEvalSet();
  if (!flags.eval.empty()) {
    std::ifstream in(flags.eval, std::ios::binary);
    if (!in) return ShadowUsage(flags.eval + ": cannot be read");
    std::string text;
    text.resize(shadow::kMaxEvalSetBytes + 1);
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    eval = shadow::ParseEvalSet(text);
    if (!eval.ok()) return ShadowUsage(flags.eval + ": " + eval.error().message);
  }
  shadow::Policy policy;
  policy.gate = *gate;
  policy.thresholds = shadow::DefaultThresholds(*gate);
  policy.time_budget = std::chrono::seconds(flags.budget_seconds);
  policy.sequential_memory = flags.sequential;
  policy.threads = flags.threads;
  policy.context_length = flags.context;

  std::unique_ptr<Clock> clock = MakeSystemClock();
  auto runtime = runtime_adapter::MakeLlamaRuntime(clock.get());
  if (!runtime.ok()) return Fail("shadow run: " + runtime.error().ToString());
  shadow::CancelToken cancel;
  Result<shadow::Report> report =
      shadow::Run(**runtime, flags.current, flags.candidate, *eval, policy, *clock, cancel);
  if (!report.ok()) return ShadowUsage(report.error().message);
  if (flags.json) {
    std::cout << shadow::ReportToJson(*report).dump(2) << "\n";
  } else {
    std::cout << shadow::FormatReportTable(*report);
  }
  switch (report->verdict) {
    case shadow::Verdict::kPass:
      return 0;
    case shadow::Verdict::kFail:
      return kExitFail;
    case shadow::Verdict::kInconclusive:
      return kExitInconclusive;
  }
  return 1;
}

}  // namespace

void RegisterShadowCommands(CLI::App& app, CommandRunner* selected) {
  CLI::App* shadow = app.add_subcommand("shadow", "Shadow tests of candidate models");
  shadow->require_subcommand(1);
  auto flags = std::make_shared<ShadowFlags>();
  CLI::App* run = shadow->add_subcommand(
      "run",
      "Compare a candidate model with the current one on an eval set and print the verdict. "
      "Exit codes: 0 pass, 3 fail, 4 inconclusive, 2 usage error, 1 other error.");
  run->add_option("--current", flags->current, "The model devices run now (GGUF)")->required();
  run->add_option("--candidate", flags->candidate, "The model to test (GGUF)")->required();
  run->add_option("--eval", flags->eval,
                  "Eval set JSON (modelota.eval/1); default: the built-in generic set");
  run->add_option("--gate", flags->gate, "equivalence, requantization or behaviour")
      ->capture_default_str();
  run->add_option("--budget-seconds", flags->budget_seconds, "Time budget; then inconclusive")
      ->capture_default_str();
  run->add_flag("--sequential", flags->sequential,
                "Never load both models at once (cache the current model's outputs)");
  run->add_option("--threads", flags->threads, "Compute threads per model")->capture_default_str();
  run->add_option("--context", flags->context, "Context length per model")->capture_default_str();
  run->add_flag("--json", flags->json, "Print the report as JSON with a top-level \"verdict\"");
  run->callback([flags, selected] { *selected = [flags] { return RunShadow(*flags); }; });
}

}  // namespace ota::tools
