// A real-sized model through every step of an update. A model shaped like
// Llama-3.2-1B (16 blocks, width 2048, 32 heads, feed-forward 8192, the Llama
// 3 tokenizer of 128,256 tokens from llama.cpp's vocabulary file; the output
// matrix is a tensor of its own, where that model ties it to the embeddings),
// synthesized as an F16 master and quantized with llama.cpp to Q4_K_M, is installed, then replaced
// by a fine-tuned version (the master with every weight perturbed, quantized again) on an
// in-process agent against a loopback ota-server. For each type:
//   download    first byte written -> staged version (the bundle is verified,
//               decrypted and decompressed while it downloads)
//   shadow+drain  staged -> the switch starts: the shadow test of the new
//               version against the running one with llama.cpp (built-in
//               eval set, behaviour gate: the bundle's default), then the
//               wait for sessions (none here)
//   activation  the switch of the active link
//   load check  after the switch, until the update returns (the new version
//               is loaded once)
// with the shadow test's own time against its budget (the policy's
// time_budget, 10 min by default), its verdict, and the peak resident memory
// of the process during the update (VmHWM, reset before it; the bench's own
// memory is a few MiB).
//
//   model_bench --bin-dir BUILD --vocab FILE [--types f16,q4_k_m] [--work DIR]
//               [--layers N]   (fewer blocks, 1 to 16, for a quick look)
//
// BUILD holds tools/otactl and server/ota-server; FILE is llama.cpp's
// ggml-vocab-llama-bpe.gguf (scripts/setup --print-vocab-dir). Exit 1 when a
// step fails, the new version is not switched to (its shadow test refused
// it), or a shadow test runs past its budget.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_support.h"
#include "ota/agent/agent.h"
#include "ota/common/env.h"

namespace {

using bench::Child;
using bench::Die;
using bench::MsSince;
using bench::PeakMib;
using bench::Run;
using bench::Start;
using bench::SteadyClock;
using bench::Stop;
using bench::TimingFs;

struct Shape {
  int layers = 16, width = 2048, heads = 32, ff = 8192, context = 4096;
};

struct Row {
  std::string type;
  std::uint64_t model_bytes = 0, bundle_bytes = 0;
  double download_ms = 0, shadow_drain_ms = 0, activation_ms = 0, load_check_ms = 0;
  double update_ms = 0, peak_mib = 0;
  double shadow_seconds = 0, budget_seconds = 0;
  std::string verdict;
  bool switched = false;
};

// Starts a new peak: VmHWM is set to the current resident size.
void ResetPeak() { std::ofstream("/proc/self/clear_refs") << "5"; }

std::vector<std::string> SplitTypes(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream in(list);
  for (std::string t; std::getline(in, t, ',');) {
    if (t != "f16" && t != "q4_k_m") Die("--types takes f16 and q4_k_m, not " + t);
    out.push_back(t);
  }
  if (out.empty()) Die("--types is empty");
  return out;
}

class Bench {
 public:
  Bench(std::string bin_dir, std::string vocab, std::string work, int layers)
      : layers_(layers),
        otactl_(bin_dir + "/tools/otactl"),
        server_bin_(bin_dir + "/server/ota-server"),
        vocab_(std::move(vocab)),
        work_(std::move(work)) {}

  void Prepare() {
    for (const char* role : {"root", "targets", "snapshot", "timestamp"}) {
      Run({otactl_, "keygen", "--out", Key(role)});
    }
    Run({otactl_, "repo", "init", "--repo", Repo(), "--root-key", Key("root"), "--targets-key",
         Key("targets"), "--snapshot-key", Key("snapshot"), "--timestamp-key", Key("timestamp")});
    Run({otactl_, "keygen", "--recipient", "--out", Key("fleet")});
    std::filesystem::create_directories(work_ + "/prompts");
    std::ofstream(work_ + "/prompts/chat.txt") << "Answer briefly: {{q}}\n";
    // The master and its fine-tune: every weight moved by 0.2% of its scale.
    Say("synthesizing the F16 master and its fine-tune (" + std::to_string(layers_) + " blocks)");
    Synth(Master(1), {});
    Synth(Master(2), {"--noise", "0.002", "--noise-seed", "2"});
    server_ = Start(
        {server_bin_, "--repo", Repo(), "--port", "0", "--db", work_ + "/server.db", "--quiet"});
    const auto at = server_.first_line.find("http://");
    if (at == std::string::npos) Die("ota-server did not start: " + server_.first_line);
    url_ = server_.first_line.substr(at);
  }

  ~Bench() {
    if (server_.pid > 0) Stop(server_);
  }

  Row Measure(const std::string& type) {
    Row row;
    row.type = type;
    const std::string model = "chat-" + std::string(type == "f16" ? "f16" : "q4km");
    auto owned = ota::MakePosixEnv();
    TimingFs timing(*owned->env().fs);
    ota::Env env = owned->env();
    env.fs = &timing;
    const std::string state = work_ + "/device-" + type;
    auto root = env.fs->ReadFile(Repo() + "/metadata/root.json", 1 << 20);
    if (!root.ok()) Die(root.error().ToString());
    ota::Status enrolled =
        ota::agent::Agent::Enroll(env, {state, url_, *root, {model}, Key("fleet"), "", "", {}});
    if (!enrolled.ok()) Die(enrolled.error().ToString());
    ota::agent::AgentOptions options;
    options.state_dir = state;
    options.space_margin_bytes = 0;
    options.confirm_window = std::chrono::seconds(0);
    auto agent = ota::agent::Agent::Open(env, options);
    if (!agent.ok()) Die(agent.error().ToString());

    Say(type + ": building and publishing 1.0.0");
    Publish(model, "1.0.0", Variant(1, type), nullptr);
    auto first = (*agent)->Update(nullptr);
    if (!first.ok()) Die("install 1.0.0: " + first.error().ToString());
    Say(type + ": building and publishing 1.1.0 (the fine-tune)");
    Publish(model, "1.1.0", Variant(2, type), &row);

    Say(type + ": updating to 1.1.0");
    timing.Reset();
    ResetPeak();
    const auto start = SteadyClock::now();
    auto outcomes = (*agent)->Update(nullptr);
    const auto returned = SteadyClock::now();
    row.peak_mib = PeakMib();
    if (!outcomes.ok()) Die("update to 1.1.0: " + outcomes.error().ToString());
    row.update_ms = MsSince(start, returned);
    for (const auto& o : *outcomes) {
      row.switched |= o.kind == ota::agent::UpdateOutcome::Kind::kUpdated;
    }
    if (!timing.download_started || !timing.staged) Die(type + ": the download was not observed");
    row.download_ms = MsSince(*timing.download_started, *timing.staged);
    if (timing.switch_started && timing.switched) {
      row.shadow_drain_ms = MsSince(*timing.staged, *timing.switch_started);
      row.activation_ms = MsSince(*timing.switch_started, *timing.switched);
      row.load_check_ms = MsSince(*timing.switched, returned);
    } else {
      row.shadow_drain_ms = MsSince(*timing.staged, returned);
    }
    auto verdicts = (*agent)->ShadowResults(model, 1);
    if (!verdicts.ok() || verdicts->empty()) Die(type + ": no shadow verdict was recorded");
    const auto& v = verdicts->front();
    const auto report = nlohmann::json::parse(v.report_json, nullptr, false);
    row.shadow_seconds = report.value("elapsed_seconds", 0.0);
    if (report.contains("policy") && report["policy"].is_object()) {
      row.budget_seconds = report["policy"].value("time_budget_seconds", 0.0);
    }
    if (row.budget_seconds <= 0) row.budget_seconds = 600;  // The policy's default.
    row.verdict = v.verdict + (v.reason.empty() ? "" : " (" + v.reason + ")");
    return row;
  }

 private:
  static void Say(const std::string& line) {
    std::fprintf(stderr, "model_bench: %s\n", line.c_str());
  }
  std::string Key(const std::string& role) const { return work_ + "/keys/" + role + ".key"; }
  std::string Repo() const { return work_ + "/repo"; }
  std::string Master(int v) const { return work_ + "/master-" + std::to_string(v) + ".gguf"; }

  void Synth(const std::string& out, const std::vector<std::string>& extra) {
    Shape s;
    s.layers = layers_;
    std::vector<std::string> args = {otactl_,
                                     "model",
                                     "synth",
                                     "--seed",
                                     "1",
                                     "--layers",
                                     std::to_string(s.layers),
                                     "--width",
                                     std::to_string(s.width),
                                     "--heads",
                                     std::to_string(s.heads),
                                     "--ff",
                                     std::to_string(s.ff),
                                     "--context",
                                     std::to_string(s.context),
                                     "--vocab-from",
                                     vocab_,
                                     "--type",
                                     "f16",
                                     "--name",
                                     "llama-3.2-1b-shaped",
                                     "--out",
                                     out};
    args.insert(args.end(), extra.begin(), extra.end());
    Run(args);
  }

  // Version `v`'s model file of `type`: the master itself, or quantized.
  std::string Variant(int v, const std::string& type) {
    if (type == "f16") return Master(v);
    const std::string out = work_ + "/" + type + "-" + std::to_string(v) + ".gguf";
    if (!std::filesystem::exists(out)) {
      Run({otactl_, "model", "quantize", "--in", Master(v), "--out", out, "--type", type});
    }
    return out;
  }

  void Publish(const std::string& model, const std::string& version, const std::string& file,
               Row* row) {
    const std::string bundle = work_ + "/" + model + "-" + version + ".otab";
    Run({otactl_, "bundle", "build", "--name", model, "--version", version, "--model", file,
         "--prompts", work_ + "/prompts", "--level", "1", "--recipient", Key("fleet") + ".pub",
         "--out", bundle});
    Run({otactl_, "publish", "--repo", Repo(), "--bundle", bundle, "--targets-key", Key("targets"),
         "--snapshot-key", Key("snapshot"), "--timestamp-key", Key("timestamp")});
    if (row != nullptr) {
      row->model_bytes = std::filesystem::file_size(file);
      row->bundle_bytes = std::filesystem::file_size(bundle);
    }
    std::filesystem::remove(bundle);
  }

  int layers_;
  std::string otactl_, server_bin_, vocab_, work_, url_;
  Child server_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string bin_dir, vocab, types = "f16,q4_k_m";
  int layers = Shape{}.layers;
  std::string work_root = std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) Die(a + " needs a value");
    const std::string value = argv[++i];
    if (a == "--bin-dir") {
      bin_dir = value;
    } else if (a == "--vocab") {
      vocab = value;
    } else if (a == "--types") {
      types = value;
    } else if (a == "--work") {
      work_root = value;
    } else if (a == "--layers") {
      layers = std::atoi(value.c_str());
      if (layers < 1 || layers > Shape{}.layers) Die("--layers must be from 1 to 16");
    } else {
      Die("unknown argument " + a +
          " (usage: --bin-dir BUILD --vocab FILE [--types f16,q4_k_m] [--work DIR] [--layers N])");
    }
  }
  if (bin_dir.empty() || vocab.empty()) Die("--bin-dir BUILD and --vocab FILE are required");
  if (!std::filesystem::is_regular_file(vocab)) Die(vocab + " is not a file");
  const std::vector<std::string> type_list = SplitTypes(types);
  std::string pattern = work_root + "/model-bench-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) Die("cannot create a folder under " + work_root);
  struct Cleanup {
    std::string dir;
    ~Cleanup() { std::filesystem::remove_all(dir); }
  } cleanup{pattern};

  std::vector<Row> rows;
  {
    Bench bench(bin_dir, vocab, pattern, layers);
    bench.Prepare();
    for (const std::string& t : type_list) rows.push_back(bench.Measure(t));
  }
  bool within = true, all_switched = true;
  std::printf("%-7s %9s %9s %10s %11s %10s %10s %9s %10s %14s  %s\n", "type", "model MB",
              "bundle MB", "download s", "shadow+drn", "activate", "load chk", "update s",
              "peak MiB", "shadow/budget", "verdict");
  for (const Row& r : rows) {
    std::printf("%-7s %9.0f %9.0f %10.1f %11.1f %8.0fms %9.1fs %9.1f %10.0f %7.0f/%-6.0f  %s\n",
                r.type.c_str(), static_cast<double>(r.model_bytes) / 1e6,
                static_cast<double>(r.bundle_bytes) / 1e6, r.download_ms / 1000,
                r.shadow_drain_ms / 1000, r.activation_ms, r.load_check_ms / 1000,
                r.update_ms / 1000, r.peak_mib, r.shadow_seconds, r.budget_seconds,
                (r.verdict + (r.switched ? "" : "; NOT switched")).c_str());
    within &= r.shadow_seconds <= r.budget_seconds;
    all_switched &= r.switched;
  }
  std::printf("shadow test within its budget on %u cores: %s\n",
              std::thread::hardware_concurrency(), within ? "yes" : "NO");
  if (!all_switched) std::printf("a new version was not switched to\n");
  return within && all_switched ? 0 : 1;
}
