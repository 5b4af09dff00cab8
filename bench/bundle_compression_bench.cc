// Bundle compression benchmark: packs each given file as a one-file bundle
// with and without byte grouping, unpacks it again, and prints a table of
// sizes, ratios and throughput. A reference size per file (for example
// `zstd -19` of the whole file, as scripts/bench measures) can be given as
// FILE=BYTES to print ratios against it.
//
// Usage: bundle_compression_bench [--level N] [--chunk BYTES] FILE[=REF_BYTES]...
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

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

}  // namespace

int main(int argc, char** argv) {
  PackOptions options;
  options.zstd_level = 19;
  std::vector<Input> inputs;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
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
  if (inputs.empty()) {
    std::fprintf(stderr, "usage: %s [--level N] [--chunk BYTES] FILE[=REF_BYTES]...\n", argv[0]);
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
  (void)fs->RemoveAll(scratch);
  return failures == 0 ? 0 : 1;
}
