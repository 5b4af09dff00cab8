#include "ota/rollout/capability.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace ota::rollout {
namespace {

using manifest::VariantInfo;
using manifest::VariantRequirements;

constexpr std::uint64_t kGiB = 1ull << 30;
constexpr std::uint64_t kMiB = 1ull << 20;

manifest::Version CapabilityVersion(const char* text) { return *manifest::ParseVersion(text); }
manifest::VersionRange CapabilityRange(const char* text) {
  return *manifest::ParseVersionRange(text);
}

DeviceCapabilities Laptop() {
  DeviceCapabilities d;
  d.total_ram_bytes = 16 * kGiB;
  d.available_ram_bytes = 8 * kGiB;
  d.free_disk_bytes = 100 * kGiB;
  d.cpu_arch = "x86_64";
  d.cpu_features = {"avx2", "fma"};
  d.os = "linux";
  d.os_version = CapabilityVersion("6.1.0");
  d.runtimes = {{"llama.cpp", CapabilityVersion("0.2.0")}};
  d.app_version = CapabilityVersion("2.3.0");
  return d;
}

TEST(UnmetRequirementTest, EachConditionFailsWithItsOwnReason) {
  const DeviceCapabilities d = Laptop();
  EXPECT_EQ(UnmetRequirement({}, d), std::nullopt);

  VariantRequirements r;
  r.min_ram_bytes = 32 * kGiB;
  EXPECT_EQ(UnmetRequirement(r, d), "needs 32.0 GiB of RAM, the device has 16.0 GiB");
  r = {};
  r.min_available_ram_bytes = 9 * kGiB;
  EXPECT_EQ(UnmetRequirement(r, d), "needs 9.0 GiB of available RAM, the device has 8.0 GiB");
  r = {};
  r.cpu_arch = {"aarch64", "armv7"};
  EXPECT_EQ(UnmetRequirement(r, d), "needs CPU architecture aarch64, armv7, the device is x86_64");
  r = {};
  r.cpu_features = {"avx2", "avx512"};
  EXPECT_EQ(UnmetRequirement(r, d), "needs CPU feature avx512");
  r = {};
  r.os = {"android"};
  EXPECT_EQ(UnmetRequirement(r, d), "needs OS android, the device runs linux");
  r = {};
  r.os_version = CapabilityRange(">=6.5.0");
  EXPECT_EQ(UnmetRequirement(r, d), "needs OS version >=6.5.0, the device has 6.1.0");
  r = {};
  r.accelerators = {"cuda", "metal"};
  EXPECT_EQ(UnmetRequirement(r, d), "needs an accelerator among cuda, metal");
  r = {};
  r.runtime = manifest::RuntimeRequirement{"onnxruntime", std::nullopt};
  EXPECT_EQ(UnmetRequirement(r, d), "needs runtime onnxruntime, not on the device");
  r.runtime = manifest::RuntimeRequirement{"llama.cpp", CapabilityRange(">=0.3.0")};
  EXPECT_EQ(UnmetRequirement(r, d), "needs runtime llama.cpp >=0.3.0, the device has 0.2.0");
  r = {};
  r.app_version = CapabilityRange("<2.0.0");
  EXPECT_EQ(UnmetRequirement(r, d), "needs app version <2.0.0, the app is 2.3.0");
}

TEST(UnmetRequirementTest, UnknownFactsNeverSatisfyACondition) {
  DeviceCapabilities d;  // Nothing known.
  VariantRequirements r;
  r.os_version = CapabilityRange(">=1.0.0");
  EXPECT_EQ(UnmetRequirement(r, d), "needs OS version >=1.0.0, the device's OS version is unknown");
  r = {};
  r.app_version = CapabilityRange(">=1.0.0");
  EXPECT_EQ(UnmetRequirement(r, d), "needs app version >=1.0.0, the app did not give its version");
  r = {};
  r.cpu_arch = {"x86_64"};
  EXPECT_EQ(UnmetRequirement(r, d), "needs CPU architecture x86_64, the device is unknown");
}

TEST(UnmetRequirementTest, MetConditionsPass) {
  VariantRequirements r;
  r.min_ram_bytes = 16 * kGiB;  // Exactly enough.
  r.cpu_arch = {"aarch64", "x86_64"};
  r.cpu_features = {"avx2"};
  r.os = {"linux"};
  r.os_version = CapabilityRange(">=5.10.0");
  r.runtime = manifest::RuntimeRequirement{"llama.cpp", CapabilityRange(">=0.1.0")};
  r.app_version = CapabilityRange(">=2.0.0 <3.0.0");
  EXPECT_EQ(UnmetRequirement(r, Laptop()), std::nullopt);
}

VariantCandidate Candidate(const char* name, std::int64_t rank, std::uint64_t min_ram,
                           std::uint64_t bytes = 100 * kMiB) {
  VariantCandidate c;
  c.target_path = std::string("bundles/m/1.0.0-") + name + ".otab";
  c.info.variant = name;
  c.info.rank = rank;
  if (min_ram > 0) c.info.requirements.min_ram_bytes = min_ram;
  c.download_bytes = bytes;
  return c;
}

TEST(PlanVariantTest, PicksTheHighestRankThatFits) {
  // Q4_0 for devices under 6 GiB, Q8_0 above, F16 for devices with a GPU.
  std::vector<VariantCandidate> c = {Candidate("q4", 0, 0), Candidate("q8", 10, 6 * kGiB),
                                     Candidate("f16", 20, 6 * kGiB)};
  c[2].info.requirements.accelerators = {"gpu"};

  DeviceCapabilities phone = Laptop();
  phone.total_ram_bytes = 4 * kGiB;
  VariantPlan p = PlanVariant(c, phone, 0);
  ASSERT_EQ(p.chosen, 0u);
  EXPECT_EQ(p.rejections[1], "needs 6.0 GiB of RAM, the device has 4.0 GiB");

  p = PlanVariant(c, Laptop(), 0);
  ASSERT_EQ(p.chosen, 1u);
  EXPECT_EQ(p.reason, "variant \"q8\" (rank 10) is the best that fits");
  EXPECT_EQ(p.rejections[2], "needs an accelerator among gpu");

  DeviceCapabilities workstation = Laptop();
  workstation.accelerators = {"gpu"};
  EXPECT_EQ(PlanVariant(c, workstation, 0).chosen, 2u);
}

TEST(PlanVariantTest, TiesGoToTheEarliestCandidate) {
  std::vector<VariantCandidate> c = {Candidate("a", 5, 0), Candidate("b", 5, 0)};
  EXPECT_EQ(PlanVariant(c, Laptop(), 0).chosen, 0u);
}

TEST(PlanVariantTest, NoneFitsNamesEveryFailedRequirement) {
  std::vector<VariantCandidate> c = {Candidate("q8", 10, 64 * kGiB), Candidate("q4", 0, 32 * kGiB)};
  VariantPlan p = PlanVariant(c, Laptop(), 0);
  EXPECT_FALSE(p.chosen.has_value());
  EXPECT_EQ(p.reason,
            "no variant fits: variant \"q8\": needs 64.0 GiB of RAM, the device has 16.0 GiB; "
            "variant \"q4\": needs 32.0 GiB of RAM, the device has 16.0 GiB");
  EXPECT_FALSE(p.blocked_by_space);
  EXPECT_EQ(PlanVariant({}, Laptop(), 0).reason, "no variant is published");
}

TEST(PlanVariantTest, SpaceCheckCountsDownloadUnpackedAndMargin) {
  DeviceCapabilities d = Laptop();
  d.free_disk_bytes = 1000 * kMiB;
  std::vector<VariantCandidate> c = {Candidate("big", 10, 0, 400 * kMiB)};
  c[0].info.unpacked_size = 500 * kMiB;
  EXPECT_EQ(PlanVariant(c, d, 100 * kMiB).chosen, 0u);  // 400 + 500 + 100 = 1000: fits.
  VariantPlan p = PlanVariant(c, d, 101 * kMiB);
  EXPECT_FALSE(p.chosen.has_value());
  EXPECT_EQ(p.rejections[0],
            "needs 1001.0 MiB of free disk space (download 400.0 MiB, unpacked 500.0 MiB, margin "
            "101.0 MiB), the device has 1000.0 MiB");
  EXPECT_TRUE(p.blocked_by_space);
  // Without unpacked_size the bundle is assumed to unpack to its own size.
  c[0].info.unpacked_size.reset();
  EXPECT_EQ(PlanVariant(c, d, 200 * kMiB).chosen, 0u);
  // Hostile sizes saturate instead of wrapping around into "fits".
  c[0].info.unpacked_size = ~0ull;
  EXPECT_FALSE(PlanVariant(c, d, 0).chosen.has_value());
}

TEST(LooseVersionTest, ReadsLeadingNumbers) {
  EXPECT_EQ(manifest::ToString(*LooseVersion("6.1.0-13-amd64")), "6.1.0");
  EXPECT_EQ(manifest::ToString(*LooseVersion("14")), "14.0.0");
  EXPECT_EQ(manifest::ToString(*LooseVersion("10.0.19045.3570")), "10.0.19045");
  EXPECT_EQ(manifest::ToString(*LooseVersion("5.15.")), "5.15.0");
  EXPECT_FALSE(LooseVersion("").has_value());
  EXPECT_FALSE(LooseVersion("v1.2").has_value());
  EXPECT_FALSE(LooseVersion("99999999999999999999999").has_value());
}

TEST(FormatBytesTest, PicksAUnit) {
  EXPECT_EQ(FormatBytes(17), "17 bytes");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(512 * kMiB), "512.0 MiB");
  EXPECT_EQ(FormatBytes(4 * kGiB), "4.0 GiB");
}

}  // namespace
}  // namespace ota::rollout
