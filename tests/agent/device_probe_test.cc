#include "device_probe.h"

#include <sys/stat.h>

#include <string>

#include <gtest/gtest.h>

#include "ota/common/env.h"
#include "test_support.h"

namespace ota::agent {
namespace {

using nlohmann::json;
using ota::testing::TempDir;
using ota::testing::WriteTestFile;

TEST(DeviceProbeTest, ParsesMeminfo) {
  const MemInfo m =
      ParseMeminfo("MemTotal:       16318412 kB\nMemFree:  100 kB\nMemAvailable:    8123456 kB\n");
  EXPECT_EQ(m.total_bytes, 16318412ull * 1024);
  EXPECT_EQ(m.available_bytes, 8123456ull * 1024);
  const MemInfo junk = ParseMeminfo("MemTotal: lots\nMemAvailable: 99999999999999999999999 kB\n:");
  EXPECT_EQ(junk.total_bytes, 0u);
  EXPECT_EQ(junk.available_bytes, 0u);
}

TEST(DeviceProbeTest, ParsesX86AndArmFeatures) {
  const auto x86 = ParseCpuFeatures(
      "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw\n"
      "processor\t: 1\nflags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw\n");
  EXPECT_TRUE(x86.count("avx2"));
  EXPECT_TRUE(x86.count("avx512"));
  EXPECT_TRUE(x86.count("avx512bw"));
  EXPECT_FALSE(x86.count("neon"));
  const auto arm = ParseCpuFeatures("Features\t: fp asimd evtstrm asimdhp asimddp i8mm sve\n");
  EXPECT_TRUE(arm.count("neon"));
  EXPECT_TRUE(arm.count("dotprod"));
  EXPECT_TRUE(arm.count("fp16"));
  EXPECT_TRUE(arm.count("i8mm"));
  EXPECT_TRUE(arm.count("sve"));
  EXPECT_FALSE(arm.count("avx2"));
}

TEST(DeviceProbeTest, NormalisesArchitectures) {
  EXPECT_EQ(NormaliseArch("x86_64"), "x86_64");
  EXPECT_EQ(NormaliseArch("AMD64"), "x86_64");
  EXPECT_EQ(NormaliseArch("arm64"), "aarch64");
  EXPECT_EQ(NormaliseArch("armv7l"), "armv7");
  EXPECT_EQ(NormaliseArch("i686"), "i686");
  EXPECT_EQ(NormaliseArch("riscv64"), "riscv64");
  EXPECT_EQ(NormaliseArch("../x"), "");
}

TEST(DeviceProbeTest, ProbesFixtureSystem) {
  TempDir dir;
  WriteTestFile(dir.Sub("meminfo"), "MemTotal: 4194304 kB\nMemAvailable: 1048576 kB\n");
  WriteTestFile(dir.Sub("cpuinfo"), "Features : fp asimd asimddp\n");
  ASSERT_EQ(::mkdir(dir.Sub("dev").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(dir.Sub("dev/dri").c_str(), 0755), 0);
  WriteTestFile(dir.Sub("dev/dri/renderD128"), "");
  WriteTestFile(dir.Sub("dev/nvidiactl"), "");
  auto owned = MakePosixEnv();
  auto d = ProbeDevice(*owned->env().fs, dir.path(),
                       ProbeSources{dir.Sub("meminfo"), dir.Sub("cpuinfo"), dir.Sub("dev")});
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->total_ram_bytes, 4ull << 30);
  EXPECT_EQ(d->available_ram_bytes, 1ull << 30);
  EXPECT_GT(d->free_disk_bytes, 0u);
  EXPECT_TRUE(d->cpu_features.count("dotprod"));
  EXPECT_EQ(d->accelerators, (std::set<std::string>{"cuda", "gpu"}));
  EXPECT_EQ(d->os, "linux");
  EXPECT_TRUE(d->os_version.has_value());
  EXPECT_FALSE(d->cpu_arch.empty());
}

TEST(DeviceProbeTest, MissingSourcesLeaveFactsUnknown) {
  TempDir dir;
  auto owned = MakePosixEnv();
  auto d =
      ProbeDevice(*owned->env().fs, dir.path(),
                  ProbeSources{dir.Sub("no-meminfo"), dir.Sub("no-cpuinfo"), dir.Sub("no-dev")});
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->total_ram_bytes, 0u);
  EXPECT_TRUE(d->cpu_features.empty());
  EXPECT_TRUE(d->accelerators.empty());
}

TEST(DeviceFactsTest, OverridesReplaceProbedValues) {
  rollout::DeviceCapabilities d;
  d.cpu_features = {"avx2"};
  ASSERT_TRUE(ApplyDeviceFacts(json::parse(R"({
      "total_ram": 6442450944, "cpu_arch": "aarch64", "os": "android", "os_version": "14.0.0",
      "cpu_features": ["neon", "dotprod"], "accelerators": ["gpu"],
      "runtimes": {"llama.cpp": "0.3.1"}, "app_version": "2.1.0"})"),
                               d)
                  .ok());
  EXPECT_EQ(d.total_ram_bytes, 6442450944u);
  EXPECT_EQ(d.cpu_arch, "aarch64");
  EXPECT_EQ(d.cpu_features, (std::set<std::string>{"dotprod", "neon"}));
  EXPECT_EQ(manifest::ToString(d.runtimes.at("llama.cpp")), "0.3.1");
  EXPECT_EQ(manifest::ToString(*d.app_version), "2.1.0");
  const json round = DeviceCapabilitiesToJson(d);
  EXPECT_EQ(round["os_version"], "14.0.0");
  EXPECT_EQ(round["accelerators"], json::array({"gpu"}));
}

TEST(DeviceFactsTest, BadFactsAreRefusedAndChangeNothing) {
  rollout::DeviceCapabilities d;
  d.os = "linux";
  auto err = [&](const char* text) {
    Status s = ApplyDeviceFacts(json::parse(text), d);
    return s.ok() ? std::string("(accepted)") : s.error().message;
  };
  EXPECT_EQ(err(R"({"os": "android", "ram": 1})"), "device-facts.json: unknown field \"ram\"");
  EXPECT_EQ(d.os, "linux");  // The valid part was not applied either.
  EXPECT_EQ(err(R"({"total_ram": -4})"),
            "device-facts.json: total_ram must be a non-negative integer (bytes)");
  EXPECT_EQ(err(R"({"os": "Android"})"),
            "device-facts.json: os must be a name of the form [a-z0-9][a-z0-9._-]{0,63}");
  EXPECT_EQ(err(R"({"cpu_features": "avx2"})"),
            "device-facts.json: cpu_features must be an array of at most 256 names");
  EXPECT_NE(err(R"({"app_version": "2.1"})").find("device-facts.json: app_version: "),
            std::string::npos);
  EXPECT_EQ(err(R"({"runtimes": {"llama.cpp": 3}})"),
            "device-facts.json: runtimes.llama.cpp must be a version string");
  EXPECT_EQ(err("[]"), "device-facts.json: must be a JSON object");
}

TEST(DeviceFactsTest, LoadsTheFactsFileFromTheStateFolder) {
  TempDir dir;
  auto owned = MakePosixEnv();
  FileSystem& fs = *owned->env().fs;
  WriteTestFile(dir.Sub(kDeviceFactsFile), R"({"total_ram": 1024, "app_version": "1.0.0"})");
  auto d = LoadDeviceCapabilities(fs, dir.path(), dir.path(),
                                  {{"llama.cpp", *manifest::ParseVersion("0.5.0")}});
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->total_ram_bytes, 1024u);
  EXPECT_EQ(manifest::ToString(d->runtimes.at("llama.cpp")), "0.5.0");
  WriteTestFile(dir.Sub(kDeviceFactsFile), R"({"total_ram": 1, "total_ram": 2})");
  auto dup = LoadDeviceCapabilities(fs, dir.path(), dir.path());
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().message.rfind("device-facts.json: ", 0), 0u) << dup.error().message;
}

}  // namespace
}  // namespace ota::agent
