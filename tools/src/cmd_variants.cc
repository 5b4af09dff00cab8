// otactl variants build: quantize a master model into several types,
// shadow-test each against the master with the requantization gate, and
// bundle the variants that pass, with the variant set that `otactl publish
// --variants-from` publishes as one release (docs/operator-guide.md,
// "Variants from one master").
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "bundle_build.h"
#include "commands.h"
#include "ota/manifest/canonical_json.h"
#include "ota/manifest/version.h"
#include "ota/runtime_adapter/quantize.h"
#include "ota/runtime_adapter/runtime.h"
#include "ota/shadow/shadow.h"
#include "variant_set.h"

namespace ota::tools {
namespace {

namespace ra = ota::runtime_adapter;

struct VariantFlags {
  std::string master;
  std::string types;
  std::string out_dir;
  int threads = 0;
  int context = 2048;
  std::string thresholds;  // JSON object over every type's gate thresholds.
  bool force = false;
  BundleSpec bundle;
};

// What one requested type came to.
struct VariantRow {
  ra::QuantType type = ra::QuantType::kQ4_K_M;
  std::string model;   // Quantized GGUF.
  std::string bundle;  // Bundle file; empty unless built.
  std::uint64_t model_bytes = 0;
  std::string file_type;
  std::optional<double> mean_kl;
  std::optional<double> same_top1;
  std::uint64_t estimated_bytes = 0;
  std::string verdict;  // "pass", "fail", "inconclusive" or "error".
  std::string why;      // For anything but a pass.
};

// Everything a build needs once the flags are checked.
struct Plan {
  std::vector<ra::QuantType> types;
  nlohmann::json thresholds;  // null: the per-type defaults as they are.
  manifest::BundleManifest base;
  std::string stem;  // "<name>-<version>"
  int threads = 1;   // For the shadow test and the RAM estimate's load.
};

Result<std::vector<ra::QuantType>> ParseTypes(const std::string& list) {
  std::vector<ra::QuantType> types;
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t comma = std::min(list.find(',', start), list.size());
    std::string item = list.substr(start, comma - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (item.empty()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "--types has an empty item; valid types: " + ra::QuantTypeList());
    }
    OTA_ASSIGN_OR_RETURN(ra::QuantType type, ra::ParseQuantType(item));
    if (std::find(types.begin(), types.end(), type) != types.end()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "--types lists " + std::string(ra::QuantTypeName(type)) + " twice");
    }
    types.push_back(type);
    start = comma + 1;
  }
  return types;
}

// The requantization gate for `type`, with the operator's threshold
// overrides on top, checked like any shadow policy.
Result<shadow::Policy> GatePolicy(ra::QuantType type, const nlohmann::json& overrides,
                                  int threads) {
  shadow::Policy base;
  base.gate = shadow::Gate::kRequantization;
  base.thresholds = shadow::RequantizationThresholds(type);
  base.threads = threads;
  nlohmann::json spec = shadow::PolicyToJson(base);
  if (!overrides.is_null()) {
    if (!overrides.is_object()) {
      return MakeError(ErrorCode::kInvalidArgument, "--thresholds must be a JSON object");
    }
    spec["thresholds"].update(overrides);
  }
  auto policy = shadow::ResolvePolicy(&spec, nullptr);
  if (!policy.ok()) {
    std::string message = policy.error().message;
    const std::string prefix = "bundle.json shadow.policy.thresholds";
    if (message.rfind(prefix, 0) == 0) message = "--thresholds" + message.substr(prefix.size());
    return MakeError(ErrorCode::kInvalidArgument, message);
  }
  return policy;
}

std::string ModelPath(const VariantFlags& flags, const Plan& plan, ra::QuantType type) {
  return JoinPath(flags.out_dir, plan.stem + "-" + std::string(ra::QuantTypeName(type)) + ".gguf");
}
std::string BundlePath(const VariantFlags& flags, const Plan& plan, ra::QuantType type) {
  return JoinPath(flags.out_dir, plan.stem + "-" + std::string(ra::QuantTypeName(type)) + ".otab");
}

Result<Plan> MakePlan(Env& env, const VariantFlags& flags) {
  Plan plan;
  OTA_ASSIGN_OR_RETURN(plan.types, ParseTypes(flags.types));
  std::error_code ec;
  if (!std::filesystem::is_regular_file(flags.master, ec)) {
    return MakeError(ErrorCode::kInvalidArgument, flags.master + ": no such model file");
  }
  if (flags.threads < 0 || flags.threads > 256) {
    return MakeError(ErrorCode::kInvalidArgument, "--threads must be from 0 (all) to 256");
  }
  const unsigned hardware = std::max(1u, std::thread::hardware_concurrency());
  plan.threads = flags.threads > 0 ? flags.threads : static_cast<int>(std::min(hardware, 256u));
  if (!flags.thresholds.empty()) {
    auto parsed = manifest::ParseJsonStrict(flags.thresholds);
    if (!parsed.ok()) {
      return MakeError(ErrorCode::kInvalidArgument, "--thresholds: " + parsed.error().message);
    }
    plan.thresholds = *std::move(parsed);
  }
  for (ra::QuantType type : plan.types) OTA_TRY(GatePolicy(type, plan.thresholds, plan.threads));
  OTA_ASSIGN_OR_RETURN(plan.base, CheckBundleSpec(env, flags.bundle));
  plan.stem = plan.base.name + "-" + manifest::ToString(plan.base.version);
  OTA_TRY(env.fs->CreateDirs(flags.out_dir));
  std::vector<std::string> outputs = {JoinPath(flags.out_dir, std::string(kVariantSetFile))};
  for (ra::QuantType type : plan.types) {
    outputs.push_back(ModelPath(flags, plan, type));
    outputs.push_back(BundlePath(flags, plan, type));
  }
  for (const std::string& path : outputs) {
    OTA_ASSIGN_OR_RETURN(bool exists, env.fs->Exists(path));
    if (exists && !flags.force) {
      return MakeError(ErrorCode::kInvalidArgument,
                       path + " already exists (--force replaces the outputs)");
    }
  }
  return plan;
}

// The first reason of a report that did not pass.
std::string FirstReason(const shadow::Report& report) {
  return report.reasons.empty() ? std::string(shadow::VerdictName(report.verdict))
                                : report.reasons.front();
}

// Quantizes, gates and, if it passes, bundles one type.
VariantRow BuildOne(Env& env, ra::Runtime& runtime, Clock& clock, const shadow::EvalSet& eval,
                    const VariantFlags& flags, const Plan& plan, ra::QuantType type) {
  VariantRow row;
  row.type = type;
  row.model = ModelPath(flags, plan, type);
  row.verdict = "error";
  ra::QuantizeOptions options;
  options.type = type;
  options.threads = flags.threads;
  options.overwrite = flags.force;
  auto quantized = ra::QuantizeModel(flags.master, row.model, options);
  if (!quantized.ok()) {
    row.why = "quantization: " + quantized.error().message;
    return row;
  }
  row.model_bytes = quantized->bytes;
  row.file_type = quantized->file_type;
  auto policy = GatePolicy(type, plan.thresholds, plan.threads);
  shadow::CancelToken cancel;
  auto report = shadow::Run(runtime, flags.master, row.model, eval, *policy, clock, cancel);
  if (!report.ok()) {
    row.why = "shadow test: " + report.error().message;
  } else {
    row.mean_kl = report->metrics.mean_kl;
    row.same_top1 = report->metrics.same_top1;
    row.verdict = std::string(shadow::VerdictName(report->verdict));
    if (report->verdict != shadow::Verdict::kPass) row.why = FirstReason(*report);
  }
  if (row.verdict != "pass") {
    (void)env.fs->Remove(row.model);  // A variant that fails its gate leaves nothing behind.
    return row;
  }
  ra::ModelOpenOptions open;
  open.path = row.model;
  open.context_length = flags.context;
  open.threads = plan.threads;
  auto loaded = runtime.Open(open);
  if (!loaded.ok()) {
    row.verdict = "error";
    row.why = "estimating memory: " + loaded.error().message;
    return row;
  }
  row.estimated_bytes = (*loaded)->Info().estimated_bytes;
  BundleSpec spec = flags.bundle;
  spec.model = row.model;
  spec.out = BundlePath(flags, plan, type);
  auto built = BuildBundle(env, spec);
  if (!built.ok()) {
    row.verdict = "error";
    row.why = "bundle: " + built.error().message;
    return row;
  }
  row.bundle = spec.out;
  return row;
}

// Higher precision ranks higher: a device takes the most precise variant
// whose requirements (RAM) it meets.
std::int64_t RankOf(ra::QuantType type) {
  const auto& all = ra::AllQuantTypes();
  const auto index = std::find(all.begin(), all.end(), type) - all.begin();
  return static_cast<std::int64_t>(all.size() - static_cast<std::size_t>(index)) * 10;
}

Status WriteVariantSet(Env& env, const VariantFlags& flags, const Plan& plan,
                       const std::vector<VariantRow>& rows) {
  VariantSet set;
  set.name = plan.base.name;
  set.version = manifest::ToString(plan.base.version);
  for (const VariantRow& row : rows) {
    if (row.bundle.empty()) continue;
    VariantSetEntry entry;
    entry.variant = std::string(ra::QuantTypeName(row.type));
    entry.rank = RankOf(row.type);
    entry.bundle = std::filesystem::path(row.bundle).filename().string();
    entry.requirements = {{"min_ram", row.estimated_bytes}};
    entry.info = {{"file_type", row.file_type},
                  {"model_bytes", row.model_bytes},
                  {"estimated_bytes", row.estimated_bytes},
                  {"context_length", flags.context},
                  {"gate", "requantization"},
                  {"mean_kl", row.mean_kl ? nlohmann::json(*row.mean_kl) : nlohmann::json()},
                  {"same_top1", row.same_top1 ? nlohmann::json(*row.same_top1) : nlohmann::json()}};
    set.variants.push_back(std::move(entry));
  }
  const std::string path = JoinPath(flags.out_dir, std::string(kVariantSetFile));
  if (set.variants.empty()) {
    (void)env.fs->Remove(path);  // Never leave a set from an earlier run beside no bundle.
    return Ok();
  }
  return WriteFileAtomic(*env.fs, path, VariantSetToJson(set).dump(2) + "\n");
}

std::string Figure(const std::optional<double>& v, const char* format) {
  if (!v) return "-";
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), format, *v);
  return buffer;
}

void PrintTable(const std::vector<VariantRow>& rows) {
  std::printf("%-8s %12s %10s %9s %12s  %-12s %s\n", "type", "file bytes", "mean_kl", "same_top1",
              "min_ram", "verdict", "bundle");
  for (const VariantRow& row : rows) {
    const std::string min_ram = row.bundle.empty() ? "-" : std::to_string(row.estimated_bytes);
    std::printf(
        "%-8s %12llu %10s %9s %12s  %-12s %s\n", std::string(ra::QuantTypeName(row.type)).c_str(),
        static_cast<unsigned long long>(row.model_bytes), Figure(row.mean_kl, "%.6f").c_str(),
        Figure(row.same_top1, "%.4f").c_str(), min_ram.c_str(), row.verdict.c_str(),
        row.bundle.empty() ? "-" : row.bundle.c_str());
  }
  for (const VariantRow& row : rows) {
    if (!row.why.empty()) {
      std::printf("%s: %s\n", std::string(ra::QuantTypeName(row.type)).c_str(), row.why.c_str());
    }
  }
}

Result<shadow::EvalSet> LoadEvalSet(Env& env, const std::string& path) {
  if (path.empty()) return shadow::BuiltinEvalSet();
  OTA_ASSIGN_OR_RETURN(std::string text, env.fs->ReadFile(path, shadow::kMaxEvalSetBytes));
  auto eval = shadow::ParseEvalSet(text);
  if (!eval.ok()) return MakeError(ErrorCode::kInvalidArgument, path + ": " + eval.error().message);
  return eval;
}

int RunVariantsBuild(const VariantFlags& flags) {
  auto owned = MakePosixEnv();
  Env& env = owned->env();
  auto plan = MakePlan(env, flags);
  if (!plan.ok()) return Fail("variants build: " + plan.error().message);
  auto eval = LoadEvalSet(env, flags.bundle.eval);
  if (!eval.ok()) return Fail("variants build: " + eval.error().message);
  std::unique_ptr<Clock> clock = MakeSystemClock();
  auto runtime = ra::MakeLlamaRuntime(clock.get());
  if (!runtime.ok()) return Fail("variants build: " + runtime.error().message);
  std::vector<VariantRow> rows;
  for (ra::QuantType type : plan->types) {
    rows.push_back(BuildOne(env, **runtime, *clock, *eval, flags, *plan, type));
  }
  PrintTable(rows);
  if (Status written = WriteVariantSet(env, flags, *plan, rows); !written.ok()) {
    return Fail("variants build: " + written.error().message);
  }
  std::string failed;
  for (const VariantRow& row : rows) {
    if (row.bundle.empty()) {
      failed += (failed.empty() ? "" : ", ") + std::string(ra::QuantTypeName(row.type)) + " (" +
                row.verdict + ")";
    }
  }
  if (!failed.empty()) return Fail("variants build: not built: " + failed);
  std::printf("variant set %s: publish with otactl publish --variants-from %s\n",
              JoinPath(flags.out_dir, std::string(kVariantSetFile)).c_str(), flags.out_dir.c_str());
  return 0;
}

}  // namespace

void RegisterVariantsCommands(CLI::App& app, CommandRunner* selected) {
  CLI::App* group = app.add_subcommand("variants", "Build the variants of a release");
  group->require_subcommand(1);
  auto flags = std::make_shared<VariantFlags>();
  CLI::App* build = group->add_subcommand(
      "build",
      "Quantize a master model into each type, shadow-test every variant against the master "
      "with the requantization gate, and bundle those that pass. Exit 1 if any type is not "
      "built.");
  build->add_option("--master", flags->master, "Master model (GGUF, F32/F16/BF16)")->required();
  build
      ->add_option("--types", flags->types,
                   "Comma-separated quantization types, e.g. q4_k_m,q5_k_m,q8_0 (valid: " +
                       ra::QuantTypeList() + ")")
      ->required();
  build
      ->add_option("--out-dir", flags->out_dir,
                   "Folder for the variant models, bundles and variants.json (created)")
      ->required();
  build->add_option("--threads", flags->threads, "Threads (0: one per hardware thread)")
      ->capture_default_str();
  build
      ->add_option("--context", flags->context,
                   "Context length the apps run the model with: sizes the KV cache in the RAM "
                   "requirement")
      ->check(CLI::Range(8, 1048576))
      ->capture_default_str();
  build->add_option("--thresholds", flags->thresholds,
                    "JSON object of gate thresholds over every type's defaults, e.g. "
                    "'{\"max_mean_kl\": 0.05}' (docs/formats.md, \"Shadow policy\")");
  build->add_flag("--force", flags->force, "Replace outputs of an earlier build");
  AddBundleOptions(*build, flags->bundle);
  build->callback([flags, selected] { *selected = [flags] { return RunVariantsBuild(*flags); }; });
}

}  // namespace ota::tools
