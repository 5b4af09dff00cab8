// otactl drill run SCENARIO.json: a rollback drill on a simulated fleet
// (docs/drills.md). Exit codes: 0 every expectation held, 1 one did not,
// 2 usage, an invalid scenario (its controller policy included) or a work
// folder in use, 3 the drill could not run.
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "commands.h"
#include "drill.h"
#include "ota/common/filesystem.h"
#include "ota/common/log.h"
#include "ota/manifest/drill_scenario.h"

namespace ota::tools {
namespace {

constexpr int kExitFailedExpectations = 1;
constexpr int kExitUsage = 2;
constexpr int kExitCannotRun = 3;

struct DrillArgs {
  std::string scenario;
  std::string work_dir;
  std::string out_dir;
  bool json = false;
  bool keep = false;
  bool real_runtime = false;
};

// A new folder for the drill's fleet: in RAM (/dev/shm) where there is one,
// since thousands of devices write their databases there.
std::string NewWorkDir() {
  std::error_code ec;
  std::string parent = std::filesystem::temp_directory_path(ec).string();
  if (std::filesystem::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0) {
    parent = "/dev/shm";
  }
  std::string pattern = parent + "/otactl-drill-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) return "";
  return pattern;
}

// The running program, to build the releases with.
std::string SelfPath() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("otactl") : p.string();
}

Status WriteOutputs(const drill::DrillReport& report, const std::string& dir) {
  auto fs = MakePosixFileSystem();
  OTA_TRY(fs->CreateDirs(dir));
  OTA_TRY(WriteFileAtomic(*fs, dir + "/report.json", report.ToJson().dump(2) + "\n", 0644));
  OTA_TRY(WriteFileAtomic(*fs, dir + "/report.txt", report.Table(), 0644));
  return WriteFileAtomic(*fs, dir + "/timeline.svg", report.TimelineSvg(), 0644);
}

int RunDrillCommand(const DrillArgs& a) {
  auto fs = MakePosixFileSystem();
  auto text = fs->ReadFile(a.scenario, 2 << 20);
  if (!text.ok()) {
    std::fprintf(stderr, "otactl: %s: %s\n", a.scenario.c_str(), text.error().message.c_str());
    return kExitUsage;
  }
  auto scenario = manifest::ParseDrillScenario(*text);
  if (!scenario.ok()) {
    std::fprintf(stderr, "otactl: %s: %s\n", a.scenario.c_str(), scenario.error().message.c_str());
    return kExitUsage;
  }
  // The simulated devices' own log lines would drown the report.
  SetLogLevel(LogLevel::kError);
  drill::DrillOptions options;
  const bool own_dir = a.work_dir.empty();
  options.work_dir = own_dir ? NewWorkDir() : a.work_dir;
  if (options.work_dir.empty()) {
    std::fprintf(stderr, "otactl: cannot create a work folder for the drill\n");
    return kExitCannotRun;
  }
  options.otactl = SelfPath();
  options.real_runtime = a.real_runtime;
  const auto started = std::chrono::steady_clock::now();
  if (!a.json) {
    options.progress = [started](const std::string& line) {
      const std::chrono::duration<double> wall = std::chrono::steady_clock::now() - started;
      std::fprintf(stderr, "drill: [%6.1f s] %s\n", wall.count(), line.c_str());
    };
  }
  auto report = drill::RunDrill(*scenario, options);
  if (own_dir && !a.keep) {
    std::error_code ec;
    std::filesystem::remove_all(options.work_dir, ec);
  }
  if (!report.ok()) {
    // A policy the controller refuses, a work folder in use: the caller's to fix.
    const bool usage = report.error().code == ErrorCode::kInvalidArgument;
    std::fprintf(stderr, "otactl: %s%s\n",
                 usage ? "" : "the drill could not run: ", report.error().message.c_str());
    return usage ? kExitUsage : kExitCannotRun;
  }
  if (!a.out_dir.empty()) {
    if (Status s = WriteOutputs(*report, a.out_dir); !s.ok()) {
      std::fprintf(stderr, "otactl: %s\n", s.error().message.c_str());
      return kExitCannotRun;
    }
  }
  if (a.json) {
    std::printf("%s\n", report->ToJson().dump(2).c_str());
  } else {
    std::printf("%s", report->Table().c_str());
  }
  return report->passed ? 0 : kExitFailedExpectations;
}

}  // namespace

void RegisterDrillCommands(CLI::App& app, CommandRunner* selected) {
  auto args = std::make_shared<DrillArgs>();
  CLI::App* group = app.add_subcommand("drill", "Rollback drills");
  group->require_subcommand(1);
  CLI::App* run = group->add_subcommand(
      "run", "Play a drill scenario on a simulated fleet against a real server on loopback");
  run->add_option("scenario", args->scenario, "Scenario file (JSON, docs/drills.md)")->required();
  run->add_option("--work-dir", args->work_dir,
                  "Folder for the fleet (must be empty; kept); default: a temporary one");
  run->add_option("--out", args->out_dir, "Write report.json, report.txt and timeline.svg here");
  run->add_flag("--json", args->json, "Print the report as JSON");
  run->add_flag("--keep", args->keep, "Keep the temporary work folder");
  run->add_flag("--real-runtime", args->real_runtime,
                "Devices run llama.cpp on real synthesized models instead of the simulated "
                "runtime (at most " +
                    std::to_string(drill::kRealRuntimeMaxDevices) + " devices)");
  run->callback([args, selected] { *selected = [args] { return RunDrillCommand(*args); }; });
  RegisterDrillLiveCommand(*group, selected);
}

}  // namespace ota::tools
