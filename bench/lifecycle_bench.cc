// Lifecycle benchmark: how long the agent's own steps take on a large model,
// and what an idle agent costs.
//
//   1. staged -> activated: a version of --size-mib MiB (default 1 GiB) is
//      published, downloaded and verified by an in-process agent; the time
//      from the end of verification (the download removed, "staged" next)
//      to the durable switch of the active link, with no session lease held.
//      The pointer switch I/O (symlink, rename, directory fsync) and the
//      bytes the process read or wrote in that span (its /proc/self/io
//      counters: every read and write, SQLite's and llama.cpp's included,
//      not only those through the agent's filesystem seam) are shown apart.
//      Measured twice: with the model-load check off, and on (the device
//      default: the new version is loaded once after the switch; the time
//      until the update returns is shown with it).
//   2. rollback ordered -> previous active: Agent::RollBack by hand, to the
//      switch of the link; and the whole call (audit event, report flush).
//   3. download -> verify -> decrypt -> decompress: the same install's
//      pipeline, from the download's first byte written to the staged
//      version (whole-file hash checked, every chunk decrypted, decompressed,
//      hashed and written, fsynced), against `curl` downloading the same
//      bundle from the same loopback server plus `sha256sum` of it, fastest
//      of 3 (goal: at least 70% of their throughput). The bundle is encrypted
//      to a fleet key the device was enrolled with.
//   4. idle agent: `ota-agentd` (the resident supervisor that runs one
//      `ota-agent daemon --until-idle` check per interval) polling the
//      loopback server: its peak and current resident memory (VmHWM /
//      VmRSS), the CPU time it and its checks used over --idle-seconds, and
//      a check's peak RSS; at the default hourly interval and checking every
//      second (busiest setting). `ota-agent daemon` kept resident is shown
//      for comparison.
// Goals: rollback < 50 ms, activation not dominated by I/O (and no model byte
// touched), pipeline >= 0.7x curl + sha256sum, idle RSS < 10 MiB, idle CPU ~0
// (at most 10 ms of CPU per second idle). Exits 1 if a goal is missed.
//
// Usage: lifecycle_bench --bin-dir BUILD [--size-mib N] [--idle-seconds S] [--work DIR] [--sha512]
//   --sha512: the bundles are published with their SHA-512 listed too
//   (otactl publish --sha512), which the agent then computes as well.
//   BUILD is the build folder holding tools/otactl, server/ota-server,
//   agent/ota-agent and agent/ota-agentd. Everything is made in a temporary folder under --work
//   (default $TMPDIR or /tmp) and removed at the end.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "bench_support.h"
#include "ota/agent/agent.h"
#include "ota/common/env.h"
#include "ota/common/filesystem.h"

namespace {

using bench::Child;
using bench::Die;
using bench::MsSince;
using bench::ProcIo;
using bench::ReadLine;
using bench::Run;
using bench::Start;
using bench::SteadyClock;
using bench::Stop;
using bench::TargetPath;
using bench::TimingFs;

// utime + stime of a process, plus those of the children it waited for
// (cutime + cstime), from /proc/<pid>/stat, in ms.
double CpuMs(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(text.substr(close + 2));
  std::string f;
  long long ticks = 0;
  for (int i = 3; i <= 17 && fields >> f; ++i) {
    if (i >= 14) ticks += std::atoll(f.c_str());
  }
  return static_cast<double>(ticks) * 1000.0 / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// A "VmHWM:" style line of /proc/<pid>/status, in MiB.
double StatusMiB(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::atof(line.c_str() + key.size() + 1) / 1024.0;
  }
  return -1;
}

// A "Pss:" style line of /proc/<pid>/smaps_rollup, in MiB: resident memory
// with each shared page divided among the processes that map it.
double RollupMiB(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::atof(line.c_str() + key.size() + 1) / 1024.0;
  }
  return -1;
}

struct IdleResult {
  double hwm_mib = 0, rss_mib = 0, anon_mib = 0, pss_mib = 0, uss_mib = 0, cpu_ms = 0;
  double tree_peak_mib = 0;  // The process and the checks it ran.
  int checks = 0;            // ota-agentd checks that ended while measured.
};

// Runs `argv` for `seconds` once it printed a line starting with `ready`,
// then reads the process's memory and CPU (its children's included).
IdleResult MeasureIdle(const std::vector<std::string>& argv, const std::string& ready,
                       int seconds) {
  Child d = Start(argv);
  std::string line = d.first_line;
  while (!line.empty() && line.rfind(ready, 0) != 0) line = ReadLine(d);
  if (line.empty()) Die(argv[0] + " did not start");
  IdleResult r;
  const double cpu0 = CpuMs(d.pid);
  // The benchmark's own wait: the measured process is another one.
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  r.cpu_ms = CpuMs(d.pid) - cpu0;
  r.hwm_mib = StatusMiB(d.pid, "VmHWM");
  r.rss_mib = StatusMiB(d.pid, "VmRSS");
  r.anon_mib = StatusMiB(d.pid, "RssAnon");
  r.pss_mib = RollupMiB(d.pid, "Pss");
  r.uss_mib = RollupMiB(d.pid, "Private_Clean") + RollupMiB(d.pid, "Private_Dirty");
  std::string output;
  r.tree_peak_mib = Stop(d, &output);
  for (std::size_t at = 0; (at = output.find("ota-agentd: check ", at)) != std::string::npos;
       ++at) {
    ++r.checks;
  }
  return r;
}

// Model synthesis parameters for about `mib` MiB of f16 weights (~24 * width^2
// bytes per block).
std::pair<int, int> LayersAndWidth(int mib) {
  if (mib >= 96) return {std::max(1, (mib + 48) / 96), 2048};
  return {std::max(1, (mib * 2 + 1) / 3), 256};
}

}  // namespace

int main(int argc, char** argv) {
  int size_mib = 1024;
  int idle_seconds = 10;
  std::string bin_dir;
  std::string work_root = std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp";
  bool sha512 = false;  // Targets list their SHA-512 too (otactl publish --sha512).
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--size-mib") {
      size_mib = std::atoi(next().c_str());
    } else if (a == "--idle-seconds") {
      idle_seconds = std::atoi(next().c_str());
    } else if (a == "--bin-dir") {
      bin_dir = next();
    } else if (a == "--work") {
      work_root = next();
    } else if (a == "--sha512") {
      sha512 = true;
    } else {
      Die("unknown argument " + a +
          " (usage: --bin-dir BUILD [--size-mib N] [--idle-seconds S] [--work DIR] [--sha512])");
    }
  }
  if (bin_dir.empty()) Die("--bin-dir BUILD is required");
  if (size_mib < 1 || size_mib > 16384) Die("--size-mib must be from 1 to 16384");
  if (idle_seconds < 1 || idle_seconds > 3600) Die("--idle-seconds must be from 1 to 3600");
  const std::string otactl = bin_dir + "/tools/otactl";
  const std::string server_bin = bin_dir + "/server/ota-server";
  const std::string agent_bin = bin_dir + "/agent/ota-agent";
  const std::string agentd_bin = bin_dir + "/agent/ota-agentd";
  for (const std::string& b : {otactl, server_bin, agent_bin, agentd_bin}) {
    if (::access(b.c_str(), X_OK) != 0) Die(b + " is not built");
  }

  std::string pattern = work_root + "/lifecycle-bench-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) Die("cannot create a folder under " + work_root);
  const std::string work = pattern;
  struct Cleanup {
    std::string dir;
    ~Cleanup() { std::filesystem::remove_all(dir); }
  } cleanup{work};
  auto key = [&](const std::string& role) { return work + "/keys/" + role + ".key"; };
  for (const char* role : {"root", "targets", "snapshot", "timestamp"}) {
    Run({otactl, "keygen", "--out", key(role)});
  }
  const std::string repo = work + "/repo";
  Run({otactl, "repo", "init", "--repo", repo, "--root-key", key("root"), "--targets-key",
       key("targets"), "--snapshot-key", key("snapshot"), "--timestamp-key", key("timestamp")});
  std::filesystem::create_directories(work + "/prompts");
  std::ofstream(work + "/prompts/chat.txt") << "Answer briefly: {{q}}\n";
  // Bundles are encrypted to a fleet key the device is enrolled with.
  Run({otactl, "keygen", "--recipient", "--out", key("fleet")});
  // Returns the model's and the bundle's sizes.
  auto publish = [&](const std::string& version, int seed, int layers, int width) {
    const std::string model = work + "/model-" + version + ".gguf";
    const std::string bundle = work + "/chat-" + version + ".otab";
    Run({otactl, "model", "synth", "--seed", std::to_string(seed), "--layers",
         std::to_string(layers), "--width", std::to_string(width), "--type", "f16", "--out",
         model});
    Run({otactl, "bundle", "build", "--name", "chat", "--version", version, "--model", model,
         "--prompts", work + "/prompts", "--level", "1", "--recipient", key("fleet") + ".pub",
         // Random weights of another shape each time: what is timed here
         // are the steps around the shadow test (shadow_bench times it).
         "--shadow-skip", "lifecycle benchmark: random weights", "--out", bundle});
    std::vector<std::string> publish_args = {
        otactl,           "publish",       "--repo",          repo,
        "--bundle",       bundle,          "--targets-key",   key("targets"),
        "--snapshot-key", key("snapshot"), "--timestamp-key", key("timestamp")};
    if (sha512) publish_args.push_back("--sha512");
    Run(publish_args);
    const std::uint64_t bytes = std::filesystem::file_size(model);
    const std::uint64_t bundle_bytes = std::filesystem::file_size(bundle);
    std::filesystem::remove(model);
    std::filesystem::remove(bundle);
    return std::pair{bytes, bundle_bytes};
  };
  publish("1.0.0", 1, 1, 64);

  Child server =
      Start({server_bin, "--repo", repo, "--port", "0", "--db", work + "/server.db", "--quiet"});
  const auto at = server.first_line.find("http://");
  if (at == std::string::npos) Die("ota-server did not start: " + server.first_line);
  const std::string url = server.first_line.substr(at);

  auto owned = ota::MakePosixEnv();
  TimingFs timing(*owned->env().fs);
  ota::Env env = owned->env();
  env.fs = &timing;
  const std::string state = work + "/device";
  {
    auto root = env.fs->ReadFile(repo + "/metadata/root.json", 1 << 20);
    if (!root.ok()) Die(root.error().ToString());
    ota::Status enrolled =
        ota::agent::Agent::Enroll(env, {state, url, *root, {"chat"}, key("fleet"), "", "", {}});
    if (!enrolled.ok()) Die(enrolled.error().ToString());
  }
  ota::agent::AgentOptions options;
  options.state_dir = state;
  options.space_margin_bytes = 0;
  options.check_model_loads = false;  // The first activation without it; a later one with it.
  options.confirm_window = std::chrono::seconds(0);
  auto opened = ota::agent::Agent::Open(env, options);
  if (!opened.ok()) Die(opened.error().ToString());
  std::unique_ptr<ota::agent::Agent> agent = std::move(*opened);
  auto update = [&](const char* what) {
    auto outcomes = agent->Update(nullptr);
    if (!outcomes.ok()) Die(std::string(what) + ": " + outcomes.error().ToString());
    for (const auto& o : *outcomes) {
      if (o.kind != ota::agent::UpdateOutcome::Kind::kUpdated) {
        Die(std::string(what) + ": not updated" + (o.error ? ": " + o.error->ToString() : ""));
      }
    }
  };
  update("install 1.0.0");

  const auto [layers, width] = LayersAndWidth(size_mib);
  std::fprintf(stderr, "lifecycle_bench: synthesizing and publishing a %d MiB model...\n",
               size_mib);
  const auto [model_bytes, bundle_bytes] = publish("1.1.0", 2, layers, width);
  timing.Reset();
  const auto update_start = SteadyClock::now();
  update("install 1.1.0");
  const double install_ms = MsSince(update_start, SteadyClock::now());
  if (!timing.download_removed || !timing.switched) Die("the activation was not observed");
  if (!timing.download_started || !timing.staged) Die("the download pipeline was not observed");
  const double pipeline_ms = MsSince(*timing.download_started, *timing.staged);
  // The peer: curl downloads the same bundle from the same server, then
  // sha256sum reads it back; fastest of 3.
  const std::string bundle_url = url + "/repo/targets/" + TargetPath(repo + "/targets", "1.1.0");
  const std::string fetched = work + "/curl.out";
  double peer_ms = 0;
  for (int run = 0; run < 3; ++run) {
    std::filesystem::remove(fetched);
    const auto start = SteadyClock::now();
    Run({"/usr/bin/curl", "-s", "-f", "-o", fetched, bundle_url});
    Run({"/usr/bin/sha256sum", fetched});
    const double ms = MsSince(start, SteadyClock::now());
    if (std::filesystem::file_size(fetched) != bundle_bytes) Die("curl fetched another size");
    peer_ms = run == 0 ? ms : std::min(peer_ms, ms);
  }
  std::filesystem::remove(fetched);
  const double activation_ms = MsSince(*timing.download_removed, *timing.switched);
  const double activation_switch_ms = timing.switch_io_ms;
  const std::uint64_t activation_bytes = timing.bytes_at_switch - timing.bytes_at_removed;
  const ProcIo activation_io = timing.io_at_switch.Since(timing.io_at_removed);

  timing.Reset();
  const std::uint64_t written0 = timing.bytes_written, read0 = timing.bytes_read;
  const auto ordered = SteadyClock::now();
  auto back = agent->RollBack("chat");
  const auto returned = SteadyClock::now();
  if (!back.ok()) Die("rollback: " + back.error().ToString());
  if (!timing.switched) Die("the rollback switch was not observed");
  const double rollback_ms = MsSince(ordered, *timing.switched);
  const double rollback_call_ms = MsSince(ordered, returned);
  const double rollback_switch_ms = timing.switch_io_ms;
  const std::uint64_t rollback_bytes =
      (timing.bytes_written - written0) + (timing.bytes_read - read0);

  // Again with the model-load check on, as devices run: a third version.
  std::fprintf(stderr, "lifecycle_bench: the same with the model-load check on...\n");
  publish("1.2.0", 3, layers, width);
  agent.reset();
  options.check_model_loads = true;
  opened = ota::agent::Agent::Open(env, options);
  if (!opened.ok()) Die(opened.error().ToString());
  agent = std::move(*opened);
  timing.Reset();
  update("install 1.2.0 with the load check");
  const auto loaded_returned = SteadyClock::now();
  if (!timing.download_removed || !timing.switched) Die("the checked activation was not observed");
  const double checked_ms = MsSince(*timing.download_removed, *timing.switched);
  const ProcIo checked_io = timing.io_at_switch.Since(timing.io_at_removed);
  const double checked_until_return_ms = MsSince(*timing.switched, loaded_returned);
  const ProcIo checked_return_io = ProcIo::Now().Since(timing.io_at_switch);
  agent.reset();  // Releases the state folder for the daemon.

  // The resident supervisor (what a device runs) and, for comparison, the
  // agent kept resident with everything loaded.
  struct IdleCase {
    const char* name;
    bool supervisor;
    int interval;
    IdleResult r;
  };
  std::vector<IdleCase> idle_cases = {{"ota-agentd at the default interval", true, 3600, {}},
                                      {"ota-agentd checking every 1 s", true, 1, {}},
                                      {"ota-agent daemon (all resident), default", false, 3600, {}},
                                      {"ota-agent daemon (all resident), every 1 s", false, 1, {}}};
  for (IdleCase& c : idle_cases) {
    const std::string interval = std::to_string(c.interval);
    c.r = c.supervisor ? MeasureIdle({agentd_bin, "--interval", interval, "--jitter", "0", "--",
                                      "--state-dir", state},
                                     "ota-agentd: check 1 ", idle_seconds)
                       : MeasureIdle({agent_bin, "--state-dir", state, "daemon", "--interval",
                                      interval, "--jitter", "0"},
                                     "", idle_seconds);
  }
  Stop(server);

  auto row = [](const char* what, const std::string& value, const char* goal, const char* met) {
    std::printf("%-50s %14s  %-32s %s\n", what, value.c_str(), goal, met);
  };
  auto fmt = [](double v, const char* unit) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.2f %s", v, unit);
    return std::string(buf);
  };
  bool all_met = true;
  auto verdict = [&all_met](bool ok) {
    all_met = all_met && ok;
    return ok ? "met" : "MISSED";
  };
  auto mib = [](std::uint64_t bytes) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.2f MiB", static_cast<double>(bytes) / (1 << 20));
    return std::string(buf);
  };
  std::printf("model: %.1f MiB f16 GGUF (%d blocks, width %d), no leases held\n",
              static_cast<double>(model_bytes) / (1 << 20), layers, width);
  std::printf("%-50s %14s  %-32s %s\n", "measurement", "value", "goal", "");
  row("install 1.1.0 (download, verify, unpack, activate)", fmt(install_ms, "ms"), "(context)", "");
  const double pipeline_ratio = peer_ms / pipeline_ms;  // Throughput, ours / theirs.
  std::printf("%-50s %14s  %-32s %s\n", "", "", "", "");
  row("download -> verify -> decrypt -> decompress", fmt(pipeline_ms, "ms"), "(see ratio)", "");
  row("  curl download + sha256sum of the bundle", fmt(peer_ms, "ms"), "(peer, fastest of 3)", "");
  row("  throughput vs curl + sha256sum",
      fmt(pipeline_ratio, "x") + " (" +
          fmt(static_cast<double>(bundle_bytes) / (1 << 20) / (pipeline_ms / 1000), "MiB/s") + ")",
      ">= 0.70x", verdict(pipeline_ratio >= 0.7));
  // "No model-size I/O": under 1 MiB read + written by the whole process
  // (read/write calls of every library), not only through the agent's seam.
  row("staged -> activated, load check off", fmt(activation_ms, "ms"),
      "drain-bound; no model-size I/O", verdict(activation_io.Syscall() < (1u << 20)));
  row("  of which pointer switch I/O", fmt(activation_switch_ms, "ms"),
      "symlink + rename + dir fsync", "");
  row("  of which state saves, checks, drain (no leases)",
      fmt(activation_ms - activation_switch_ms, "ms"), "SQLite commits, no model I/O", "");
  row("  bytes through the agent's filesystem seam", std::to_string(activation_bytes) + " B",
      "independent of model size", "");
  row("  process read + write calls (rchar + wchar)", mib(activation_io.Syscall()), "< 1 MiB", "");
  row("  process storage I/O (read_bytes + write_bytes)", mib(activation_io.Storage()), "(context)",
      "");
  row("staged -> activated, load check on (default)", fmt(checked_ms, "ms"),
      "drain-bound; no model-size I/O", verdict(checked_io.Syscall() < (1u << 20)));
  row("  process read + write calls (rchar + wchar)", mib(checked_io.Syscall()), "< 1 MiB", "");
  row("  process storage I/O (read_bytes + write_bytes)", mib(checked_io.Storage()), "(context)",
      "");
  row("  then the load check, until the update returns", fmt(checked_until_return_ms, "ms"),
      "(context: after the switch)", "");
  row("  its read + write calls (rchar + wchar)", mib(checked_return_io.Syscall()),
      "(context: model mmapped)", "");
  row("rollback ordered -> previous active", fmt(rollback_ms, "ms"), "< 50 ms",
      verdict(rollback_ms < 50));
  row("  of which pointer switch I/O", fmt(rollback_switch_ms, "ms"), "", "");
  row("  RollBack() call (audit event, report flush)", fmt(rollback_call_ms, "ms"), "", "");
  row("  bytes read + written by the rollback", std::to_string(rollback_bytes) + " B",
      "independent of model size", verdict(rollback_bytes < (1u << 20)));
  for (const IdleCase& c : idle_cases) {
    const IdleResult& r = c.r;
    // The goal applies to the resident process a device runs.
    const char* goal = c.supervisor ? "< 10 MiB" : "(comparison)";
    auto met = [&](bool ok) { return c.supervisor ? verdict(ok) : ""; };
    std::printf("%s (--interval %d, %d s measured after the first check):\n", c.name, c.interval,
                idle_seconds);
    row("  peak RSS (VmHWM)", fmt(r.hwm_mib, "MiB"), goal, met(r.hwm_mib < 10));
    row("  RSS (VmRSS)", fmt(r.rss_mib, "MiB"), goal, met(r.rss_mib < 10));
    row("  of which private memory (RssAnon)", fmt(r.anon_mib, "MiB"),
        "the rest: shared library pages", "");
    row("  proportional share (PSS)", fmt(r.pss_mib, "MiB"), "", "");
    row("  unique to the process (USS, private pages)", fmt(r.uss_mib, "MiB"), "", "");
    if (c.supervisor) {
      row("  peak RSS of a check (ota-agent, while it runs)", fmt(r.tree_peak_mib, "MiB"),
          "(context)", "");
    }
    if (c.interval > idle_seconds) {
      // ~0: at most 10 ms of CPU per idle second (1%).
      const double threshold_ms = 10.0 * idle_seconds;
      const std::string goal_text = "~0 (<= " + fmt(threshold_ms, "ms") + ", 10 ms/s)";
      const bool ok = r.cpu_ms <= threshold_ms;
      row(c.supervisor ? "  CPU time (no check due)" : "  CPU time while idle", fmt(r.cpu_ms, "ms"),
          goal_text.c_str(), c.supervisor ? verdict(ok) : (ok ? "met" : "MISSED"));
    } else {
      // Checks are due all the time: the cost is per check, not idling.
      row("  CPU time, checks included", fmt(r.cpu_ms, "ms"), "(context)", "");
      if (c.supervisor && r.checks > 0) {
        row("  CPU per check (agent start + one poll)", fmt(r.cpu_ms / r.checks, "ms"), "(context)",
            "");
      }
    }
  }
  struct rusage usage {};
  ::getrusage(RUSAGE_CHILDREN, &usage);
  std::printf("children in total (getrusage): max RSS %.1f MiB\n",
              static_cast<double>(usage.ru_maxrss) / 1024.0);
  std::printf("goals: %s\n", all_met ? "met" : "NOT met");
  return all_met ? 0 : 1;
}
