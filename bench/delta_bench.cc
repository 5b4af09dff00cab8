// Delta benchmark: synthetic GGUF model pairs for the update scenarios a
// fleet sees, coded as ModelOTA delta bundles and by peer tools in the same
// run on the same files (bsdiff/bspatch, xdelta3 -9, zstd --patch-from at
// levels 3 and 19, and zchunk). Every tool runs as a child process so its
// time and peak RSS (wait4 rusage) are measured the same way; every decoded
// output is compared with the target byte for byte. One row is not a decode:
// "zck(delta) est." is zchunk's own dry-run estimate (zck_delta_size) of the
// bytes a client holding the old file would download; it is shown for
// reference and competes with no peer ("best peer" counts decoded deltas only).
// Exits 1 if an output differs from its target or the apply goal is missed.
//
// Apply speed: after each scenario's table an "apply" line compares our
// apply time with plain `zstd -d --patch-from` (the product goal: at most its
// time) and with zstd doing the same work we do ("same work": decode, then
// SHA-256 of the output with `openssl dgst -sha256`, which uses the CPU's SHA
// extensions as we do, then `sync FILE`, an fsync). Every decode runs --runs
// times and its fastest run counts, since the machine may be shared.
//
// Usage: delta_bench [--large | --size-mib N] [--layers N --embd N --ff N --vocab N]
//                    [--scenario NAME]... [--level N] [--runs N] [--ours-only | --zstd-only]
//                    [--kquant-layers N] [--keep] [--work DIR]
//   --size-mib N: about N MiB of F16 model (1024: apply RSS on a 1 GiB model);
//   --kquant-layers N: blocks of the K-quant scenarios' models (default 10:
//   width 512, feed-forward 1536, about 20 MiB at Q4_K_M), which llama.cpp's
//   quantizer makes from synthesized F16 masters (q4_k_m-finetune,
//   q8_0-to-q4_k_m, q4_k_m-q6_k-ends; skipped in a build without llama.cpp);
//   --ours-only: no peers (their memory and time on large models would swamp
//   a shared machine); --level: zstd level of DIFF/LITERAL windows;
//   --runs N: decode/apply runs per tool, fastest counted (default 3);
//   --zstd-only: of the peers, only zstd (apply speed on large models).
//   (internal) delta_bench --encode BASE_DIR TARGET_DIR OUT
//              delta_bench --apply DELTA BASE_DIR OUT_DIR TARGET_DIR
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gguf_synth.h"
#include "ota/bundle/delta.h"
#include "ota/common/filesystem.h"
#include "ota/common/hash.h"
#include "ota/manifest/bundle_manifest.h"
#include "ota/manifest/version.h"
#include "ota/runtime_adapter/model_synth.h"
#include "ota/runtime_adapter/quantize.h"

extern char** environ;

namespace {

namespace fsys = std::filesystem;
using ota::testing::SynthEdit;
using ota::testing::SynthShape;
using ota::testing::SynthType;

// Version ids as a repository has them: SHA-256 digests (here of each
// version's bundle.json), so the delta header's ids cost what real ones do.
std::string VersionId(const std::string& dir) {
  std::ifstream in(dir + "/bundle.json", std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return ota::Sha256Hex(text);
}

struct Run {
  bool ok = false;
  double seconds = 0;
  long max_rss_kib = 0;
};

// Runs argv (stdout/stderr to /dev/null unless `quiet` is false).
Run Spawn(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  const auto start = std::chrono::steady_clock::now();
  pid_t pid = 0;
  Run r;
  if (posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ) != 0) {
    posix_spawn_file_actions_destroy(&actions);
    return r;
  }
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  struct rusage usage {};
  wait4(pid, &status, 0, &usage);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.max_rss_kib = usage.ru_maxrss;
  r.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  return r;
}

// Runs each command in turn (stopping at a failure): the time is their sum,
// the RSS their largest.
Run SpawnAll(const std::vector<std::vector<std::string>>& argvs) {
  Run total;
  total.ok = true;
  for (const auto& argv : argvs) {
    const Run r = Spawn(argv);
    total.seconds += r.seconds;
    total.max_rss_kib = std::max(total.max_rss_kib, r.max_rss_kib);
    if (!r.ok) {
      total.ok = false;
      break;
    }
  }
  return total;
}

// The fastest of `runs` runs of `commands`, each after `before()`; the peak
// RSS is the largest seen.
template <typename Before>
Run Best(int runs, Before before, const std::vector<std::vector<std::string>>& commands) {
  Run best;
  for (int i = 0; i < runs; ++i) {
    before();
    const Run r = SpawnAll(commands);
    if (!r.ok) return r;
    const long rss = std::max(best.max_rss_kib, r.max_rss_kib);
    if (i == 0 || r.seconds < best.seconds) best = r;
    best.max_rss_kib = rss;
  }
  return best;
}

std::uint64_t Size(const std::string& path) {
  std::error_code ec;
  const auto n = fsys::file_size(path, ec);
  return ec ? 0 : n;
}

bool SameFile(const std::string& a, const std::string& b) {
  if (Size(a) != Size(b)) return false;
  std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
  std::vector<char> ba(1 << 20), bb(1 << 20);
  while (fa && fb) {
    fa.read(ba.data(), ba.size());
    fb.read(bb.data(), bb.size());
    if (fa.gcount() != fb.gcount() || std::memcmp(ba.data(), bb.data(), fa.gcount()) != 0) {
      return false;
    }
  }
  return true;
}

// A version folder as the agent keeps it: model.gguf and bundle.json.
bool MakeVersionDir(ota::FileSystem& fs, const std::string& dir, const std::string& model,
                    const std::string& version) {
  fsys::create_directories(dir);
  const std::string dst = dir + "/model.gguf";
  fsys::remove(dst);
  fsys::create_hard_link(model, dst);
  auto file = fs.OpenReadable(dst);
  if (!file.ok()) return false;
  ota::Hasher hasher(ota::HashAlgorithm::kSha256);
  std::vector<std::uint8_t> piece(1 << 20);
  std::uint64_t offset = 0;
  while (true) {
    auto n = (*file)->ReadAt(offset, piece);
    if (!n.ok()) return false;
    if (*n == 0) break;
    hasher.Update(std::span<const std::uint8_t>(piece.data(), *n));
    offset += *n;
  }
  ota::manifest::BundleManifest m;
  m.name = "bench";
  m.version = *ota::manifest::ParseVersion(version);
  m.model.file = "model.gguf";
  m.model.format = "gguf";
  m.files.push_back({"model.gguf", offset, hasher.FinishHex(), "model"});
  std::ofstream(dir + "/bundle.json") << ota::manifest::SerializeBundleManifest(m);
  return true;
}

int Encode(const std::string& base, const std::string& target, const std::string& out, int level) {
  auto fs = ota::MakePosixFileSystem();
  ota::bundle::DeltaOptions options;
  if (level > 0) options.level = level;
  options.base_id = VersionId(base);
  options.target_id = VersionId(target);
  auto r = ota::bundle::BuildDelta(*fs, base, target, out, options);
  if (!r.ok()) {
    std::fprintf(stderr, "%s\n", r.error().ToString().c_str());
  } else {
    std::fprintf(stderr,
                 "target %llu payload %llu: copied %llu differenced %llu prefixed %llu literal "
                 "%llu, %zu tensors matched\n",
                 static_cast<unsigned long long>(r->target_bytes),
                 static_cast<unsigned long long>(r->payload_bytes),
                 static_cast<unsigned long long>(r->copied),
                 static_cast<unsigned long long>(r->differenced),
                 static_cast<unsigned long long>(r->prefixed),
                 static_cast<unsigned long long>(r->literal), r->tensors_matched);
  }
  return r.ok() ? 0 : 1;
}

// `target` stands in for the repository: the facts a publisher signs for
// the delta come from the target version it rebuilds.
int Apply(const std::string& delta, const std::string& base, const std::string& out,
          const std::string& target) {
  auto fs = ota::MakePosixFileSystem();
  std::ifstream in(target + "/bundle.json", std::ios::binary);
  auto manifest = ota::manifest::ParseBundleManifest(
      std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()));
  if (!manifest.ok()) return 1;
  ota::bundle::SignedDeltaFacts facts{VersionId(base), VersionId(target),
                                      ota::bundle::ManifestSha256(*manifest)};
  auto r = ota::bundle::ApplyDeltaBundleFile(*fs, delta, base, VersionId(base), out, {},
                                             std::nullopt, &facts);
  if (!r.ok()) std::fprintf(stderr, "%s\n", r.error().ToString().c_str());
  return r.ok() ? 0 : 1;
}

struct Scenario {
  std::string name;
  SynthType type;
  SynthEdit base, target;
  bool kquant = false;  // Made by llama.cpp's quantizer (WriteKQuant), not gguf_synth.
};

namespace rt = ota::runtime_adapter;

// Shape of the K-quant scenarios' masters: rows of 512 and 1536 values, so
// every matrix takes a K-quant (rows must be a multiple of 256).
struct KQuantShape {
  int layers = 10;
  int width = 512;
  int ff = 1536;
};

// One side of a K-quant scenario, made as a fleet makes it: an F16 master
// synthesized from seed 1 (the target of "q4_k_m-finetune" with 1% noise on
// every weight), quantized by llama.cpp.
//   q4_k_m-finetune   Q4_K_M(A) -> Q4_K_M(A + noise)
//   q8_0-to-q4_k_m    Q8_0(A)   -> Q4_K_M(A)
//   q4_k_m-q6_k-ends  Q4_K_M(A) -> Q4_K_M(A) with the first and last blocks at Q6_K
int WriteKQuant(const std::string& path, const std::string& scenario, bool target,
                const KQuantShape& shape) {
  rt::SynthOptions master;
  master.seed = 1;
  master.layers = shape.layers;
  master.width = shape.width;
  master.ff = shape.ff;
  master.type = rt::TensorType::kF16;
  rt::QuantizeOptions q;
  q.threads = 1;
  q.overwrite = true;
  q.type = rt::QuantType::kQ4_K_M;
  if (scenario == "q4_k_m-finetune") {
    if (target) {
      master.noise = 0.01;
      master.noise_seed = 2;
    }
  } else if (scenario == "q8_0-to-q4_k_m") {
    if (!target) q.type = rt::QuantType::kQ8_0;
  } else if (scenario == "q4_k_m-q6_k-ends") {
    if (target) {
      q.tensor_types.push_back({"^blk\\.0\\.", rt::QuantType::kQ6_K});
      q.tensor_types.push_back(
          {"^blk\\." + std::to_string(shape.layers - 1) + "\\.", rt::QuantType::kQ6_K});
    }
  } else {
    return 2;
  }
  const std::string master_path = path + ".master.gguf";
  if (auto st = rt::SynthesizeModel(master, master_path); !st.ok()) {
    std::fprintf(stderr, "%s\n", st.error().ToString().c_str());
    return 1;
  }
  auto r = rt::QuantizeModel(master_path, path, q);
  fsys::remove(master_path);
  if (!r.ok()) std::fprintf(stderr, "%s\n", r.error().ToString().c_str());
  return r.ok() ? 0 : 1;
}

std::vector<Scenario> Scenarios(const SynthShape& shape) {
  std::vector<Scenario> out;
  SynthEdit e;
  e.chat_template = "<|system|>{{ system }}<|end|><|user|>{{ messages }}<|assistant|>";
  out.push_back({"metadata-edit", SynthType::kF16, {}, e});
  e = {};
  e.changed_layers = {1, shape.layers / 2};
  e.lora_rank = 8;
  out.push_back({"lora-merge", SynthType::kF16, {}, e});
  e = {};
  for (int l = shape.layers - std::max(1, shape.layers / 4); l < shape.layers; ++l) {
    e.changed_layers.insert(l);
  }
  e.nudge = 0.002f;
  out.push_back({"partial-finetune", SynthType::kF16, {}, e});
  e = {};
  e.all_tensors = true;
  e.nudge = 0.001f;
  out.push_back({"full-finetune", SynthType::kF16, {}, e});
  e = {};
  e.all_tensors = true;
  e.nudge = 0.0005f;
  out.push_back({"requantize-q8_0", SynthType::kQ8_0, {}, e});
  e = {};
  e.extra_vocab = std::max(32, shape.n_vocab / 16);
  out.push_back({"vocab-extend", SynthType::kF16, {}, e});
  e = {};
  e.changed_layers = {0, shape.layers - 1};
  e.nudge = 0.002f;
  out.push_back({"q4_0-few-layers", SynthType::kQ4_0, {}, e});
  if (rt::ModelSynthesisAvailable()) {
    for (const char* name : {"q4_k_m-finetune", "q8_0-to-q4_k_m", "q4_k_m-q6_k-ends"}) {
      out.push_back({name, SynthType::kF16, {}, {}, true});
    }
  }
  return out;
}

struct Result {
  std::string tool;
  std::uint64_t bytes = 0;
  Run enc, dec;
  bool exact = false;
  bool estimate = false;  // Bytes estimated by the tool, nothing decoded or compared.
};

std::string Long(std::uint64_t size) {
  int n = 10;
  while (n < 31 && (std::uint64_t{1} << n) < size) ++n;
  return std::to_string(n);
}

double Mib(double b) { return b / (1 << 20); }

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() >= 4 && args[0] == "--encode") {
    return Encode(args[1], args[2], args[3], args.size() > 4 ? std::atoi(args[4].c_str()) : 0);
  }
  if (args.size() == 5 && args[0] == "--apply") return Apply(args[1], args[2], args[3], args[4]);
  if (args.size() == 5 && args[0] == "--write-kquant") {
    KQuantShape sh;
    sh.layers = std::atoi(args[4].c_str());
    return WriteKQuant(args[1], args[2], args[3] == "target", sh);
  }
  if (args.size() == 8 && args[0] == "--write-model") {
    SynthShape sh;
    sh.layers = std::atoi(args[4].c_str());
    sh.n_embd = std::atoi(args[5].c_str());
    sh.n_ff = std::atoi(args[6].c_str());
    sh.n_vocab = std::atoi(args[7].c_str());
    for (const Scenario& s : Scenarios(sh)) {
      if (s.name != args[2]) continue;
      sh.weight_type = s.type;
      return ota::testing::WriteSynthGguf(args[1], sh, args[3] == "base" ? s.base : s.target) ? 0
                                                                                              : 1;
    }
    return 2;
  }
  SynthShape shape;
  // About 7 MiB of F16 weights: zstd -19 and bsdiff take about a minute
  // each per scenario on two shared cores.
  shape.layers = 4;
  shape.n_embd = 256;
  shape.n_ff = 512;
  shape.n_vocab = 2048;
  std::vector<std::string> only;
  std::string level = "0";  // 0: the DeltaOptions default.
  bool keep = false;        // Keep each scenario's files (for inspection).
  bool ours_only = false;   // Skip the peers (large models: RSS and time of ours).
  int runs = 3;             // Decode/apply runs per tool; the fastest counts.
  bool zstd_only = false;   // Of the peers, only zstd.
  KQuantShape kquant;       // Blocks of the K-quant scenarios' masters.
  std::string work = (fsys::temp_directory_path() / "ota-delta-bench").string();
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const bool has = i + 1 < args.size();
    if (a == "--large") {
      shape.layers = 8;
      shape.n_embd = 2048;
      shape.n_ff = 5632;
      shape.n_vocab = 32000;
    } else if (a == "--layers" && has) {
      shape.layers = std::atoi(args[++i].c_str());
    } else if (a == "--embd" && has) {
      shape.n_embd = std::atoi(args[++i].c_str());
    } else if (a == "--ff" && has) {
      shape.n_ff = std::atoi(args[++i].c_str());
    } else if (a == "--vocab" && has) {
      shape.n_vocab = std::atoi(args[++i].c_str());
    } else if (a == "--scenario" && has) {
      only.push_back(args[++i]);
    } else if (a == "--size-mib" && has) {
      // About N MiB of F16 model: llama-like widths, layers to fit.
      const double mib = std::atof(args[++i].c_str());
      shape.n_embd = mib >= 512 ? 2048 : 256;
      shape.n_ff = mib >= 512 ? 5632 : 512;
      shape.n_vocab = mib >= 512 ? 32000 : 2048;
      const double e = shape.n_embd, f = shape.n_ff, v = shape.n_vocab;
      const double per_layer = (4 * e * e + 3 * e * f) * 2 / (1 << 20);
      const double fixed = 2 * v * e * 2 / (1 << 20);
      shape.layers = std::max(1, static_cast<int>(std::lround((mib - fixed) / per_layer)));
    } else if (a == "--kquant-layers" && has) {
      kquant.layers = std::max(2, std::atoi(args[++i].c_str()));
    } else if (a == "--ours-only") {
      ours_only = true;
    } else if (a == "--keep") {
      keep = true;
    } else if (a == "--level" && has) {
      level = args[++i];
    } else if (a == "--zstd-only") {
      zstd_only = true;
    } else if (a == "--runs" && has) {
      runs = std::max(1, std::atoi(args[++i].c_str()));
    } else if (a == "--work" && has) {
      work = args[++i];
    } else {
      std::fprintf(stderr,
                   "usage: delta_bench [--large | --size-mib N] [--layers N --embd N --ff N "
                   "--vocab N] [--scenario NAME]... [--level N] [--runs N] [--ours-only | "
                   "--zstd-only] [--kquant-layers N] [--keep] [--work DIR]\n");
      return 2;
    }
  }
  const std::string self = fsys::canonical("/proc/self/exe").string();
  auto fs = ota::MakePosixFileSystem();
  fsys::create_directories(work);
  std::printf("%-17s %8s | %-15s %9s %7s %8s %8s %8s %8s %s\n", "scenario", "target", "tool",
              "bytes", "ratio", "enc s", "dec s", "encRSS", "decRSS", "exact");
  std::printf("%s\n", std::string(112, '-').c_str());
  bool failed = false;
  for (const Scenario& s : Scenarios(shape)) {
    if (!only.empty() && std::find(only.begin(), only.end(), s.name) == only.end()) continue;
    const std::string dir = work + "/" + s.name;
    fsys::remove_all(dir);
    fsys::create_directories(dir);
    const std::string old_file = dir + "/old.gguf", new_file = dir + "/new.gguf";
    // Written by a child: a large model's generation would otherwise raise
    // this process's peak RSS, which Linux hands on to every child it
    // spawns (ru_maxrss survives exec), and every tool would seem to use it.
    auto write = [&](const std::string& path, const char* side) {
      if (s.kquant) {
        return Spawn({self, "--write-kquant", path, s.name, side, std::to_string(kquant.layers)})
            .ok;
      }
      return Spawn({self, "--write-model", path, s.name, side, std::to_string(shape.layers),
                    std::to_string(shape.n_embd), std::to_string(shape.n_ff),
                    std::to_string(shape.n_vocab)})
          .ok;
    };
    if (!write(old_file, "base") || !write(new_file, "target") ||
        !MakeVersionDir(*fs, dir + "/base", old_file, "1.0.0") ||
        !MakeVersionDir(*fs, dir + "/target", new_file, "1.1.0")) {
      std::fprintf(stderr, "cannot write the %s models\n", s.name.c_str());
      return 1;
    }
    const std::uint64_t target_size = Size(new_file);
    const std::string lg = "--long=" + Long(target_size);
    std::vector<Result> results;
    auto peer = [&](const std::string& tool, const std::vector<std::string>& enc,
                    const std::vector<std::string>& dec, const std::string& patch,
                    const std::string& decoded) {
      Result r;
      r.tool = tool;
      fsys::remove(patch);
      fsys::remove(decoded);
      r.enc = Spawn(enc);
      r.bytes = Size(patch);
      if (r.enc.ok && !dec.empty()) {
        r.dec = Best(runs, [&] { fsys::remove(decoded); }, {dec});
        r.exact = r.dec.ok && SameFile(decoded, new_file);
      }
      results.push_back(r);
    };
    const std::string d = dir + "/";
    {
      Result ours;
      ours.tool = "modelota";
      fsys::remove_all(d + "out");
      ours.enc = Spawn({self, "--encode", d + "base", d + "target", d + "delta.otad", level});
      ours.bytes = Size(d + "delta.otad");
      if (ours.enc.ok) {
        ours.dec = Best(runs, [&] { fsys::remove_all(d + "out"); },
                        {{self, "--apply", d + "delta.otad", d + "base", d + "out", d + "target"}});
        ours.exact = ours.dec.ok && SameFile(d + "out/model.gguf", new_file);
      }
      results.push_back(ours);
    }
    if (!ours_only) {
      peer("zstd-3",
           {"zstd", "-q", "-f", "-3", lg, "--patch-from=" + old_file, new_file, "-o", d + "p.zst3"},
           {"zstd", "-q", "-f", "-d", lg, "--patch-from=" + old_file, d + "p.zst3", "-o",
            d + "o.zst3"},
           d + "p.zst3", d + "o.zst3");
      peer("zstd-19",
           {"zstd", "-q", "-f", "-19", lg, "--patch-from=" + old_file, new_file, "-o",
            d + "p.zst19"},
           {"zstd", "-q", "-f", "-d", lg, "--patch-from=" + old_file, d + "p.zst19", "-o",
            d + "o.zst19"},
           d + "p.zst19", d + "o.zst19");
      // zstd doing what an apply does beyond decoding: verify the output's
      // SHA-256 and make it durable.
      if (results.back().enc.ok) {
        Result same;
        same.tool = "zstd-19+work";
        same.enc = results.back().enc;
        same.bytes = results.back().bytes;
        same.dec = Best(runs, [&] { fsys::remove(d + "o.work"); },
                        {{"zstd", "-q", "-f", "-d", lg, "--patch-from=" + old_file, d + "p.zst19",
                          "-o", d + "o.work"},
                         {"openssl", "dgst", "-sha256", "-out", "/dev/null", d + "o.work"},
                         {"sync", d + "o.work"}});
        same.exact = same.dec.ok && SameFile(d + "o.work", new_file);
        results.push_back(same);
      }
    }
    if (!ours_only && !zstd_only) {
      peer("xdelta3-9", {"xdelta3", "-9", "-f", "-e", "-s", old_file, new_file, d + "p.xd3"},
           {"xdelta3", "-f", "-d", "-s", old_file, d + "p.xd3", d + "o.xd3"}, d + "p.xd3",
           d + "o.xd3");
      if (target_size <= (std::uint64_t{256} << 20)) {  // bsdiff needs ~17x the file in RAM.
        peer("bsdiff", {"bsdiff", old_file, new_file, d + "p.bsd"},
             {"bspatch", old_file, d + "o.bsd", d + "p.bsd"}, d + "p.bsd", d + "o.bsd");
      }
      // zchunk: compressed size of the new file, and the bytes a client
      // holding the old .zck must download (zck_delta_size).
      {
        Result z;
        z.tool = "zck(full)";
        fsys::remove(d + "old.gguf.zck");
        fsys::remove(d + "new.gguf.zck");
        Spawn({"zck", "-o", d + "old.gguf.zck", old_file});
        z.enc = Spawn({"zck", "-o", d + "new.gguf.zck", new_file});
        z.bytes = Size(d + "new.gguf.zck");
        fsys::remove(d + "o.zck");
        z.dec = Spawn({"sh", "-c", "unzck -c '" + d + "new.gguf.zck' > '" + d + "o.zck'"});
        z.exact = z.dec.ok && SameFile(d + "o.zck", new_file);
        results.push_back(z);
        Result zd;
        zd.tool = "zck(delta) est.";
        zd.estimate = true;
        std::string out_path = d + "zck_delta.txt";
        std::string cmd =
            "zck_delta_size " + d + "old.gguf.zck " + d + "new.gguf.zck > " + out_path;
        zd.enc = Spawn({"sh", "-c", cmd});
        std::ifstream in(out_path);
        std::string line, all;
        while (std::getline(in, line)) all += line + "\n";
        // "Would download N of M bytes"
        auto pos = all.find("download ");
        if (pos != std::string::npos) zd.bytes = std::strtoull(all.c_str() + pos + 9, nullptr, 10);
        results.push_back(zd);
      }
    }
    std::uint64_t best_peer = 0;
    for (const Result& r : results) {
      if (r.tool != "modelota" && r.tool != "zck(full)" && r.tool != "zstd-19+work" &&
          !r.estimate && r.enc.ok && r.exact && r.bytes > 0 &&
          (best_peer == 0 || r.bytes < best_peer)) {
        best_peer = r.bytes;
      }
    }
    bool first = true;
    for (const Result& r : results) {
      std::printf("%-17s %7.1fM | %-15s %9llu %7.3f %8.2f %8.2f %7.1fM %7.1fM %s\n",
                  first ? s.name.c_str() : "", Mib(static_cast<double>(target_size)),
                  r.tool.c_str(), static_cast<unsigned long long>(r.bytes),
                  best_peer ? static_cast<double>(r.bytes) / static_cast<double>(best_peer) : 0.0,
                  r.enc.seconds, r.dec.seconds, r.enc.max_rss_kib / 1024.0,
                  r.dec.max_rss_kib / 1024.0,
                  !r.enc.ok    ? "ENCODE-FAILED"
                  : r.estimate ? (r.bytes > 0 ? "estimate" : "NO ESTIMATE")
                  : r.exact    ? "yes"
                               : "NO");
      if (!r.enc.ok || (!r.estimate && !r.exact)) failed = true;
      first = false;
    }
    // The apply-speed goal: our apply against plain zstd -d --patch-from
    // (the faster of its -3 and -19 patches) and against the same work.
    auto dec_of = [&](const std::string& tool) -> const Result* {
      for (const Result& r : results) {
        if (r.tool == tool && r.dec.ok) return &r;
      }
      return nullptr;
    };
    const Result* ours_r = dec_of("modelota");
    const Result* z3 = dec_of("zstd-3");
    const Result* z19 = dec_of("zstd-19");
    const Result* work = dec_of("zstd-19+work");
    if (ours_r != nullptr && (z3 != nullptr || z19 != nullptr)) {
      const Result* plain =
          z3 == nullptr || (z19 != nullptr && z19->dec.seconds < z3->dec.seconds) ? z19 : z3;
      std::printf(
          "%-17s apply %.3f s | zstd -d --patch-from (-%s patch) %.3f s: %.2fx of its "
          "time, goal <= 1.00x %s",
          "", ours_r->dec.seconds, plain->tool.c_str() + 5, plain->dec.seconds,
          ours_r->dec.seconds / plain->dec.seconds,
          ours_r->dec.seconds <= plain->dec.seconds ? "met" : "NOT met");
      if (ours_r->dec.seconds > plain->dec.seconds) failed = true;
      if (work != nullptr) {
        std::printf(" | same work (+sha256 +fsync) %.3f s: %.2fx", work->dec.seconds,
                    ours_r->dec.seconds / work->dec.seconds);
      }
      std::printf("\n");
    }
    std::fflush(stdout);
    if (!keep) fsys::remove_all(dir);
  }
  std::printf(
      "ratio: bytes / smallest decoded peer delta (zck(full) is not a delta and zck(delta) est.\n"
      "is not decoded: both excluded);\n"
      "zck(delta) est.: zchunk's dry-run estimate (zck_delta_size) of the bytes a client with the\n"
      "old file downloads, not a decoded output;\n"
      "zstd-19+work: zstd -d --patch-from, then openssl dgst -sha256 and sync of the output\n"
      "(what modelota's apply also does); dec s: fastest of %d runs.\n",
      runs);
  std::printf("verdict: %s\n", failed ? "FAILED (an output differs or the apply goal is missed)"
                                      : "every output exact, apply goal met");
  return failed ? 1 : 0;
}
