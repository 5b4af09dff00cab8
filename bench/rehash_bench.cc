// rehash_bench: what a rollback's re-check of a kept version costs
// (docs/decisions.md D24). Writes a file of --mib MiB (default 1024) of
// pseudo-random bytes, then hashes it --runs times with SHA-256 the way
// VersionStore::VerifyVersion does (1 MiB reads through the Env
// filesystem, ota::Hasher), printing wall and CPU time per run.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "ota/common/filesystem.h"
#include "ota/common/hash.h"

namespace {

double CpuSeconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

int Run(int argc, char** argv) {
  std::uint64_t mib = 1024;
  int runs = 3;
  std::string path = "/tmp/rehash_bench.bin";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string name = argv[i];
    if (name == "--mib") mib = std::strtoull(argv[i + 1], nullptr, 10);
    if (name == "--runs") runs = std::atoi(argv[i + 1]);
    if (name == "--path") path = argv[i + 1];
  }
  auto fs = ota::MakePosixFileSystem();
  {
    auto out = fs->OpenWritable(path, /*append=*/false, 0600);
    if (!out.ok()) return 1;
    std::vector<std::uint8_t> block(1u << 20);
    std::uint64_t x = 0x9e3779b97f4a7c15u;
    for (std::uint64_t m = 0; m < mib; ++m) {
      for (std::size_t i = 0; i < block.size(); ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        block[i] = static_cast<std::uint8_t>(x);
      }
      if (!(*out)->Append(block).ok()) return 1;
    }
    if (!(*out)->Close().ok()) return 1;
  }
  std::vector<std::uint8_t> buffer(1u << 20);
  for (int r = 0; r < runs; ++r) {
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = CpuSeconds();
    auto file = fs->OpenReadable(path);
    if (!file.ok()) return 1;
    ota::Hasher hasher(ota::HashAlgorithm::kSha256);
    std::uint64_t offset = 0;
    while (true) {
      auto n = (*file)->ReadAt(offset, buffer);
      if (!n.ok()) return 1;
      if (*n == 0) break;
      hasher.Update(std::span<const std::uint8_t>(buffer.data(), *n));
      offset += *n;
    }
    const std::string digest = hasher.FinishHex();
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("run %d: %llu MiB re-hashed in %.3f s wall, %.3f s CPU (%.0f MB/s) %s\n", r + 1,
                static_cast<unsigned long long>(mib), wall, CpuSeconds() - cpu_start,
                static_cast<double>(offset) / wall / 1e6, digest.substr(0, 12).c_str());
  }
  (void)fs->Remove(path);
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
