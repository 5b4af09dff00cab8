// Version ranges: which app or runtime versions a rule applies to, e.g.
// ">=1.4.0 <2.0.0" or "1.2.3 || >=2.0.0".
//
// Grammar (whitespace is one or more spaces):
//   range      := set ( ws? "||" ws? set )*
//   set        := "*" | comparator ( ws comparator )*
//   comparator := op? version        op is one of  >=  <=  >  <  =
// A version without an operator means "=". A set holds when all of its
// comparators hold; a range holds when any of its sets holds. Comparisons use
// SemVer precedence (CompareVersions): pre-release versions take part like
// any other version, so ">=1.0.0" excludes "1.0.0-rc.1" but "<2.0.0" includes
// "2.0.0-rc.1". Write "<2.0.0-0" to exclude the pre-releases of 2.0.0.
//
// Thread-safety: all functions are pure and may be called concurrently.
#ifndef OTA_MANIFEST_VERSION_RANGE_H_
#define OTA_MANIFEST_VERSION_RANGE_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "ota/common/result.h"
#include "ota/manifest/version.h"

namespace ota::manifest {

// Longest accepted range text.
inline constexpr std::size_t kMaxVersionRangeLength = 256;

enum class VersionOp { kEqual, kLess, kLessOrEqual, kGreater, kGreaterOrEqual };

struct VersionComparator {
  VersionOp op = VersionOp::kEqual;
  Version version;
};

struct VersionRange {
  // The text as written; ToString() returns it so that documents round-trip.
  std::string text;
  // Alternatives ("||"); each is a conjunction. An empty conjunction ("*")
  // holds for every version.
  std::vector<std::vector<VersionComparator>> sets;
};

// Parses range text by the grammar above. Errors: kInvalidArgument with a
// message naming the offending part, e.g. `"~1.2" is not a version: ...`.
Result<VersionRange> ParseVersionRange(std::string_view text);

// True if `version` is inside `range`.
bool Satisfies(const Version& version, const VersionRange& range);

inline const std::string& ToString(const VersionRange& range) { return range.text; }

}  // namespace ota::manifest

#endif  // OTA_MANIFEST_VERSION_RANGE_H_
