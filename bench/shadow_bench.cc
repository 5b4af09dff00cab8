// Shadow-test cost: wall time and peak resident memory of shadow::Run versus
// eval-set size and model size, with sequential-memory mode on and off.
// Each configuration runs in its own child process, so that the kernel's
// peak-RSS high-water mark belongs to that configuration alone.
//   shadow_bench [--quick]
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "bench_support.h"
#include "ota/runtime_adapter/model_synth.h"
#include "ota/shadow/shadow.h"

namespace {

using bench::PeakMib;
namespace ra = ota::runtime_adapter;
namespace sh = ota::shadow;

struct ModelSize {
  const char* label;
  int layers;
  int width;
};

struct Outcome {
  double seconds = 0;
  double peak_mib = 0;
  std::string verdict;
};

std::string EvalJson(int prompts) {
  static const char* kTexts[] = {"Once upon a time", "The capital of France is",
                                 "def add(a, b):",   "User: hi\\nAssistant:",
                                 "1. apples\\n2.",   "Der schnelle braune Fuchs"};
  std::string j = R"({"schema": "modelota.eval/1", "max_new_tokens": 16, "prompts": [)";
  for (int i = 0; i < prompts; ++i) {
    if (i > 0) j += ",";
    j += R"({"id": "p)" + std::to_string(i) + R"(", "text": ")" + kTexts[i % 6] + " " +
         std::to_string(i) + "\"}";
  }
  j += R"(], "references": [{"text": "The market square filled early with farmers."}]})";
  return j;
}

// Runs one configuration in a child; returns its figures.
Outcome Measure(const std::string& current, const std::string& candidate, int prompts,
                bool sequential) {
  int fds[2];
  if (pipe(fds) != 0) std::abort();
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    Outcome out;
    auto eval = sh::ParseEvalSet(EvalJson(prompts));
    auto clock = ota::MakeSystemClock();
    auto runtime = ra::MakeLlamaRuntime(clock.get());
    if (eval.ok() && runtime.ok()) {
      sh::Policy policy;
      policy.gate = sh::Gate::kRequantization;
      policy.thresholds = sh::DefaultThresholds(policy.gate);
      policy.sequential_memory = sequential;
      policy.context_length = 256;
      sh::CancelToken cancel;
      const auto start = std::chrono::steady_clock::now();
      auto report = sh::Run(**runtime, current, candidate, *eval, policy, *clock, cancel);
      out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      out.verdict = report.ok() ? std::string(sh::VerdictName(report->verdict)) : "error";
    } else {
      out.verdict = "error";
    }
    out.peak_mib = PeakMib();
    const std::string line =
        std::to_string(out.seconds) + " " + std::to_string(out.peak_mib) + " " + out.verdict;
    if (write(fds[1], line.data(), line.size()) < 0) _exit(1);
    _exit(0);
  }
  close(fds[1]);
  char buf[256] = {};
  const ssize_t n = read(fds[0], buf, sizeof buf - 1);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  Outcome out;
  if (n > 0) {
    char verdict[64] = {};
    if (std::sscanf(buf, "%lf %lf %63s", &out.seconds, &out.peak_mib, verdict) == 3) {
      out.verdict = verdict;
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  char dir_template[] = "/tmp/shadow-bench-XXXXXX";
  const char* dir = mkdtemp(dir_template);
  if (dir == nullptr) return 1;
  std::vector<ModelSize> sizes = {{"2x64", 2, 64}, {"4x256", 4, 256}};
  if (!quick) sizes.push_back({"8x512", 8, 512});
  const std::vector<int> prompt_counts =
      quick ? std::vector<int>{4, 16} : std::vector<int>{4, 16, 64};
  std::printf("%-8s %-10s %8s %-11s %9s %10s %10s  %s\n", "model", "file MiB", "prompts", "mode",
              "seconds", "prompts/s", "peak MiB", "verdict");
  for (const ModelSize& size : sizes) {
    ra::SynthOptions o;
    o.layers = size.layers;
    o.width = size.width;
    o.type = ra::TensorType::kF16;
    const std::string current = std::string(dir) + "/current-" + size.label + ".gguf";
    const std::string candidate = std::string(dir) + "/candidate-" + size.label + ".gguf";
    if (!ra::SynthesizeModel(o, current).ok()) return 1;
    o.type = ra::TensorType::kQ8_0;
    if (!ra::SynthesizeModel(o, candidate).ok()) return 1;
    std::ifstream f(current, std::ios::binary | std::ios::ate);
    const double file_mib = static_cast<double>(f.tellg()) / (1 << 20);
    for (int prompts : prompt_counts) {
      for (bool sequential : {true, false}) {
        const Outcome r = Measure(current, candidate, prompts, sequential);
        std::printf("%-8s %-10.2f %8d %-11s %9.3f %10.1f %10.1f  %s\n", size.label, file_mib,
                    prompts, sequential ? "sequential" : "both", r.seconds,
                    r.seconds > 0 ? prompts / r.seconds : 0.0, r.peak_mib, r.verdict.c_str());
      }
    }
    std::remove(current.c_str());
    std::remove(candidate.c_str());
  }
  rmdir(dir);
  return 0;
}
