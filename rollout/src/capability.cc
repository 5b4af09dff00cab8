#include "ota/rollout/capability.h"

#include <algorithm>
#include <cstdio>
#include <limits>

#include "ota/manifest/version_range.h"

namespace ota::rollout {
namespace {

std::string JoinItems(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

bool HasItem(const std::vector<std::string>& items, const std::string& value) {
  return std::find(items.begin(), items.end(), value) != items.end();
}

// a + b + c, saturating: hostile sizes must not wrap around into "fits".
std::uint64_t SaturatingSum(std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  if (a > kMax - b) return kMax;
  if (a + b > kMax - c) return kMax;
  return a + b + c;
}

}  // namespace

std::string FormatBytes(std::uint64_t bytes) {
  constexpr std::uint64_t kKiB = 1024;
  constexpr std::uint64_t kMiB = kKiB * 1024;
  constexpr std::uint64_t kGiB = kMiB * 1024;
  char buf[64];
  if (bytes >= kGiB) {
    std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(bytes) / kGiB);
  } else if (bytes >= kMiB) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / kMiB);
  } else if (bytes >= kKiB) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(bytes) / kKiB);
  } else {
    std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(bytes));
  }
  return buf;
}

std::optional<manifest::Version> LooseVersion(const std::string& text) {
  std::uint64_t parts[3] = {0, 0, 0};
  std::size_t i = 0;
  for (int p = 0; p < 3; ++p) {
    if (i >= text.size() || text[i] < '0' || text[i] > '9') {
      if (p == 0) return std::nullopt;
      break;
    }
    std::uint64_t v = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      const std::uint64_t digit = static_cast<std::uint64_t>(text[i] - '0');
      if (v > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return std::nullopt;
      v = v * 10 + digit;
      ++i;
    }
    parts[p] = v;
    if (p < 2) {
      if (i + 1 < text.size() && text[i] == '.' && text[i + 1] >= '0' && text[i + 1] <= '9') {
        ++i;
      } else {
        break;
      }
    }
  }
  manifest::Version v;
  v.major = parts[0];
  v.minor = parts[1];
  v.patch = parts[2];
  return v;
}

std::optional<std::string> UnmetRequirement(const manifest::VariantRequirements& r,
                                            const DeviceCapabilities& d) {
  if (r.min_ram_bytes && d.total_ram_bytes < *r.min_ram_bytes) {
    return "needs " + FormatBytes(*r.min_ram_bytes) + " of RAM, the device has " +
           FormatBytes(d.total_ram_bytes);
  }
  if (r.min_available_ram_bytes && d.available_ram_bytes < *r.min_available_ram_bytes) {
    return "needs " + FormatBytes(*r.min_available_ram_bytes) +
           " of available RAM, the device has " + FormatBytes(d.available_ram_bytes);
  }
  if (!r.cpu_arch.empty() && !HasItem(r.cpu_arch, d.cpu_arch)) {
    return "needs CPU architecture " + JoinItems(r.cpu_arch) + ", the device is " +
           (d.cpu_arch.empty() ? std::string("unknown") : d.cpu_arch);
  }
  for (const std::string& feature : r.cpu_features) {
    if (d.cpu_features.count(feature) == 0) return "needs CPU feature " + feature;
  }
  if (!r.os.empty() && !HasItem(r.os, d.os)) {
    return "needs OS " + JoinItems(r.os) + ", the device runs " +
           (d.os.empty() ? std::string("an unknown OS") : d.os);
  }
  if (r.os_version) {
    if (!d.os_version)
      return "needs OS version " + manifest::ToString(*r.os_version) +
             ", the device's OS version is unknown";
    if (!manifest::Satisfies(*d.os_version, *r.os_version)) {
      return "needs OS version " + manifest::ToString(*r.os_version) + ", the device has " +
             manifest::ToString(*d.os_version);
    }
  }
  if (!r.accelerators.empty()) {
    const bool any = std::any_of(r.accelerators.begin(), r.accelerators.end(),
                                 [&](const std::string& a) { return d.accelerators.count(a) > 0; });
    if (!any) return "needs an accelerator among " + JoinItems(r.accelerators);
  }
  if (r.runtime) {
    auto it = d.runtimes.find(r.runtime->name);
    if (it == d.runtimes.end()) return "needs runtime " + r.runtime->name + ", not on the device";
    if (r.runtime->version && !manifest::Satisfies(it->second, *r.runtime->version)) {
      return "needs runtime " + r.runtime->name + " " + manifest::ToString(*r.runtime->version) +
             ", the device has " + manifest::ToString(it->second);
    }
  }
  if (r.app_version) {
    if (!d.app_version) {
      return "needs app version " + manifest::ToString(*r.app_version) +
             ", the app did not give its version";
    }
    if (!manifest::Satisfies(*d.app_version, *r.app_version)) {
      return "needs app version " + manifest::ToString(*r.app_version) + ", the app is " +
             manifest::ToString(*d.app_version);
    }
  }
  return std::nullopt;
}

VariantPlan PlanVariant(const std::vector<VariantCandidate>& candidates,
                        const DeviceCapabilities& device, std::uint64_t space_margin_bytes) {
  VariantPlan plan;
  plan.rejections.assign(candidates.size(), "");
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const VariantCandidate& c = candidates[i];
    if (auto unmet = UnmetRequirement(c.info.requirements, device)) {
      plan.rejections[i] = *unmet;
      continue;
    }
    const std::uint64_t unpacked = c.info.unpacked_size.value_or(c.download_bytes);
    const std::uint64_t needed = SaturatingSum(c.download_bytes, unpacked, space_margin_bytes);
    if (needed > device.free_disk_bytes) {
      plan.rejections[i] = "needs " + FormatBytes(needed) + " of free disk space (download " +
                           FormatBytes(c.download_bytes) + ", unpacked " + FormatBytes(unpacked) +
                           ", margin " + FormatBytes(space_margin_bytes) + "), the device has " +
                           FormatBytes(device.free_disk_bytes);
      plan.blocked_by_space = true;
      continue;
    }
    if (!plan.chosen || c.info.rank > candidates[*plan.chosen].info.rank) plan.chosen = i;
  }
  auto name = [&](std::size_t i) {
    return candidates[i].info.variant.empty() ? std::string("the bundle")
                                              : "variant \"" + candidates[i].info.variant + "\"";
  };
  if (plan.chosen) {
    plan.blocked_by_space = false;
    plan.reason = name(*plan.chosen) + " (rank " +
                  std::to_string(candidates[*plan.chosen].info.rank) + ") is the best that fits";
    return plan;
  }
  if (candidates.empty()) {
    plan.reason = "no variant is published";
    return plan;
  }
  plan.reason = "no variant fits: ";
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    if (i > 0) plan.reason += "; ";
    plan.reason += name(i) + ": " + plan.rejections[i];
  }
  return plan;
}

}  // namespace ota::rollout
