// Bundle compression benchmark: packs each given file as a one-file bundle
// with and without byte grouping, unpacks it again, and prints a table of
// sizes, ratios and throughput. A reference size per file (for example
// `zstd -19` of the whole file, as scripts/bench measures) can be given as
// FILE=BYTES to print ratios against it.
//
// With --synth, it first writes synthetic llama-shaped GGUF models with
// normally distributed F16 and BF16 weights, measures `zstd -19` of each
// whole file in the same run as the reference, and prints the entropy bound
// of such weights: the Shannon entropy of the 16-bit pattern of N(0, σ)
// values, computed from the distribution (sign 1 bit + exponent entropy +
// mantissa bits, which are close to uniform) and counted in the file. No
// coder that treats elements independently gets below it, so it bounds how
// much smaller than zstd -19 a bundle of such weights can be.
//
// Usage: bundle_compression_bench [--level N] [--chunk BYTES] [--synth]
//                                 [FILE[=REF_BYTES]]...
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <tuple>
#include <vector>

#include "gguf_synth.h"
#include "ota/bundle/bundle.h"
#include "ota/common/filesystem.h"
#include "ota/manifest/bundle_manifest.h"
#include "ota/manifest/version.h"

namespace {

using ota::bundle::PackOptions;

struct Input {
  std::string path;
  std::uint64_t reference = 0;  // 0: none given.
};

struct Measured {
  std::uint64_t bundle_bytes = 0;
  std::uint64_t grouped = 0;
  double pack_seconds = 0;
  double unpack_seconds = 0;
  bool ok = false;
};

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

Measured Measure(ota::FileSystem& fs, const Input& input, const PackOptions& options,
                 const std::string& scratch) {
  Measured m;
  ota::manifest::BundleManifest base;
  base.name = "bench";
  base.version = *ota::manifest::ParseVersion("1.0.0");
  base.model.file = "model.gguf";
  base.model.format = "gguf";
  const std::string out = scratch + "/bench.otab";
  const std::string dir = scratch + "/unpacked";
  (void)fs.RemoveAll(dir);
  auto start = std::chrono::steady_clock::now();
  auto packed =
      ota::bundle::PackBundle(fs, base, {{"model.gguf", input.path, "model"}}, out, options);
  m.pack_seconds = Seconds(start);
  if (!packed.ok()) {
    std::fprintf(stderr, "%s: %s\n", input.path.c_str(), packed.error().ToString().c_str());
    return m;
  }
  auto info = ota::bundle::ReadBundleHeader(fs, out);
  if (!info.ok()) return m;
  m.bundle_bytes = info->file_size;
  m.grouped = info->grouped_bytes;
  start = std::chrono::steady_clock::now();
  auto unpacked = ota::bundle::UnpackBundleFile(fs, out, dir);
  m.unpack_seconds = Seconds(start);
  m.ok = unpacked.ok();
  if (!m.ok)
    std::fprintf(stderr, "%s: %s\n", input.path.c_str(), unpacked.error().ToString().c_str());
  (void)fs.RemoveAll(dir);
  (void)fs.Remove(out);
  return m;
}

// Bits per element of the 16-bit pattern of N(0, sigma) values with
// `exp_bits` exponent and `mant_bits` mantissa bits: 1 (sign) + the
// exponent's entropy + the mantissa bits (taken as uniform within a binade;
// subnormals and the zero class included in the exponent's distribution).
double NormalPatternBits(double sigma, int exp_bits, int mant_bits) {
  const int bias = (1 << (exp_bits - 1)) - 1;
  auto cdf = [&](double x) { return std::erf(x / (sigma * std::sqrt(2.0))); };  // P(|X| < x)
  double h = 0;
  const int max_e = (1 << exp_bits) - 2;
  for (int e = 0; e <= max_e; ++e) {
    const double lo = e == 0 ? 0.0 : std::ldexp(1.0, e - bias);
    const double hi = std::ldexp(1.0, e + 1 - bias);
    const double p = cdf(hi) - cdf(lo);
    if (p > 0) h -= p * std::log2(p);
  }
  return 1.0 + h + mant_bits;
}

// Order-0 Shannon entropy, in bits, of the file's 16-bit little-endian words
// (weights dominate the file; the header and F32 norms are a small share).
double WordEntropyBits(const std::string& path, std::uint64_t& words) {
  std::vector<std::uint64_t> counts(1 << 16);
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return 0;
  std::vector<std::uint8_t> buf(1 << 20);
  words = 0;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) {
    for (std::size_t i = 0; i + 1 < n; i += 2) ++counts[buf[i] | (buf[i + 1] << 8)];
    words += n / 2;
  }
  std::fclose(f);
  double h = 0;
  for (std::uint64_t c : counts) {
    if (c == 0) continue;
    const double p = static_cast<double>(c) / static_cast<double>(words);
    h -= p * std::log2(p);
  }
  return h;
}

// The size of `zstd -19` of `path` (0 if zstd is not installed).
std::uint64_t Zstd19(const std::string& path) {
  const std::string out = path + ".zst";
  const std::string cmd = "zstd -q -f -19 '" + path + "' -o '" + out + "' 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) return 0;
  std::FILE* f = std::fopen(out.c_str(), "rb");
  if (f == nullptr) return 0;
  std::fseek(f, 0, SEEK_END);
  const long n = std::ftell(f);
  std::fclose(f);
  std::remove(out.c_str());
  return n > 0 ? static_cast<std::uint64_t>(n) : 0;
}

}  // namespace

int main(int argc, char** argv) {
  PackOptions options;
  options.zstd_level = 19;
  std::vector<Input> inputs;
  bool synth = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--synth") {
      synth = true;
      continue;
    }
    if ((arg == "--level" || arg == "--chunk") && i + 1 < argc) {
      const unsigned long long v = std::strtoull(argv[++i], nullptr, 10);
      if (arg == "--level") options.zstd_level = static_cast<int>(v);
      if (arg == "--chunk") options.chunk_size = v;
      continue;
    }
    Input in;
    const auto eq = arg.rfind('=');
    in.path = arg.substr(0, eq);
    if (eq != std::string::npos) in.reference = std::strtoull(arg.c_str() + eq + 1, nullptr, 10);
    inputs.push_back(in);
  }
  const char* tmp_env = std::getenv("TMPDIR");
  const std::string synth_dir =
      std::string(tmp_env != nullptr ? tmp_env : "/tmp") + "/ota-bundle-bench-synth";
  struct Bound {
    std::string path;
    std::size_t input = 0;  // Its file among `inputs` (after the command-line files).
    double analytic = 0, counted = 0;
  };
  std::vector<Bound> bounds;
  if (synth) {
    std::filesystem::create_directories(synth_dir);
    ota::testing::SynthShape shape;  // About 20 MiB of 16-bit weights.
    shape.layers = 4;
    shape.n_embd = 512;
    shape.n_ff = 1024;
    shape.n_vocab = 4096;
    for (auto [type, name, exp_bits, mant_bits] :
         {std::tuple{ota::testing::SynthType::kF16, "synth-f16.gguf", 5, 10},
          std::tuple{ota::testing::SynthType::kBF16, "synth-bf16.gguf", 8, 7}}) {
      shape.weight_type = type;
      Input in;
      in.path = synth_dir + "/" + name;
      if (!ota::testing::WriteSynthGguf(in.path, shape, {})) return 1;
      in.reference = Zstd19(in.path);
      inputs.push_back(in);
      Bound b;
      b.path = name;
      b.input = inputs.size() - 1;
      b.analytic = NormalPatternBits(0.02, exp_bits, mant_bits);
      std::uint64_t words = 0;
      b.counted = WordEntropyBits(in.path, words);
      bounds.push_back(b);
    }
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "usage: %s [--level N] [--chunk BYTES] [--synth] [FILE[=REF_BYTES]]...\n",
                 argv[0]);
    return 2;
  }
  auto fs = ota::MakePosixFileSystem();
  const char* tmp = std::getenv("TMPDIR");
  const std::string scratch = std::string(tmp != nullptr ? tmp : "/tmp") + "/ota-bundle-bench";
  (void)fs->RemoveAll(scratch);
  if (!fs->CreateDirs(scratch).ok()) return 1;

  std::printf("zstd level %d, chunk %llu KiB; sizes in bytes; ratio = bundle / reference\n",
              options.zstd_level, static_cast<unsigned long long>(options.chunk_size >> 10));
  std::printf("%-28s %12s %12s %12s %8s %12s %8s %8s %9s %9s\n", "file", "size", "reference",
              "plain-zstd", "ratio", "grouped", "ratio", "saved", "pack MB/s", "unpk MB/s");
  int failures = 0;
  for (const Input& in : inputs) {
    auto size = fs->FileSize(in.path);
    if (!size.ok()) {
      std::fprintf(stderr, "%s: %s\n", in.path.c_str(), size.error().ToString().c_str());
      ++failures;
      continue;
    }
    PackOptions plain = options;
    plain.byte_grouping = false;
    const Measured without = Measure(*fs, in, plain, scratch);
    const Measured with = Measure(*fs, in, options, scratch);
    if (!without.ok || !with.ok) {
      ++failures;
      continue;
    }
    const double ref = in.reference != 0 ? static_cast<double>(in.reference) : 0;
    auto ratio = [&](std::uint64_t n) { return ref > 0 ? static_cast<double>(n) / ref : 0.0; };
    const double mb = static_cast<double>(*size) / 1e6;
    std::string name = in.path.substr(in.path.rfind('/') + 1);
    std::printf("%-28s %12llu %12llu %12llu %8.3f %12llu %8.3f %7.1f%% %9.1f %9.1f\n", name.c_str(),
                static_cast<unsigned long long>(*size),
                static_cast<unsigned long long>(in.reference),
                static_cast<unsigned long long>(without.bundle_bytes), ratio(without.bundle_bytes),
                static_cast<unsigned long long>(with.bundle_bytes), ratio(with.bundle_bytes),
                ref > 0 ? 100.0 * (1.0 - ratio(with.bundle_bytes)) : 0.0, mb / with.pack_seconds,
                mb / with.unpack_seconds);
  }
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    const Bound& b = bounds[i];
    const Input& in = inputs[b.input];
    auto size = fs->FileSize(in.path);
    if (!size.ok() || in.reference == 0) continue;
    const double bound_bytes = static_cast<double>(*size) * b.counted / 16.0;
    if (i == 0) {
      std::printf(
          "\nentropy bound of N(0, 0.02) weights (bits per 16-bit element): analytic = 1 sign + "
          "exponent entropy + mantissa bits; counted = order-0 entropy of the file's words\n");
      std::printf("%-28s %9s %9s %14s %14s %22s\n", "file", "analytic", "counted", "bound bytes",
                  "zstd-19 bytes", "bound vs zstd-19");
    }
    std::printf("%-28s %9.3f %9.3f %14.0f %14llu %21.1f%%\n", b.path.c_str(), b.analytic, b.counted,
                bound_bytes, static_cast<unsigned long long>(in.reference),
                100.0 * (1.0 - bound_bytes / static_cast<double>(in.reference)));
  }
  if (!bounds.empty()) {
    std::printf(
        "\"bound vs zstd-19\": the most any per-element coder can save against zstd -19 on these "
        "weights.\n");
    std::filesystem::remove_all(synth_dir);
  }
  (void)fs->RemoveAll(scratch);
  return failures == 0 ? 0 : 1;
}
