// Semantic versions (SemVer 2.0.0, https://semver.org) for bundles, runtimes
// and apps.
//
// Thread-safety: all functions are pure and may be called concurrently.
#ifndef OTA_MANIFEST_VERSION_H_
#define OTA_MANIFEST_VERSION_H_

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ota/common/result.h"

namespace ota::manifest {

// MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD].
struct Version {
  std::uint64_t major = 0;
  std::uint64_t minor = 0;
  std::uint64_t patch = 0;
  // Dot-separated pre-release identifiers, e.g. {"rc", "1"} for "-rc.1".
  // Empty for a release.
  std::vector<std::string> prerelease;
  // Build metadata without the '+' (e.g. "sha.5114f85"). Kept so that
  // ToString() round-trips, but ignored by every comparison.
  std::string build;
};

// Longest accepted version string. Versions travel in file names, URLs and
// database keys, so an unbounded length buys nothing.
inline constexpr std::size_t kMaxVersionLength = 64;

// Parses a version strictly by SemVer 2.0.0: exactly three numeric core parts,
// no leading zeros in numeric identifiers, identifiers made of [0-9A-Za-z-]
// and never empty, no leading "v", no surrounding spaces. Every numeric
// identifier (core and pre-release) must fit in 64 bits.
// Errors: kInvalidArgument with a message naming the offending part.
Result<Version> ParseVersion(std::string_view text);

// SemVer precedence: negative if a < b, 0 if equal, positive if a > b.
// Pre-release versions sort before the release; numeric identifiers compare
// numerically and before alphanumeric ones; build metadata is ignored.
int CompareVersions(const Version& a, const Version& b);

// The canonical text, e.g. "1.2.0-rc.1+build.7". ParseVersion(ToString(v))
// gives back v.
std::string ToString(const Version& v);

// Precedence comparisons (CompareVersions). Equality is precedence equality:
// "1.0.0+a" == "1.0.0+b". Compare ToString() results to tell builds apart.
bool operator==(const Version& a, const Version& b);
std::weak_ordering operator<=>(const Version& a, const Version& b);

}  // namespace ota::manifest

#endif  // OTA_MANIFEST_VERSION_H_
