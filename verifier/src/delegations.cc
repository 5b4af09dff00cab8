#include "ota/verifier/delegations.h"

#include <cstddef>
#include <vector>

#include "ota/common/hash.h"
#include "ota/verifier/updater.h"

namespace ota::verifier {
namespace {

std::vector<std::string_view> SplitSlashes(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = s.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, slash - start));
    start = slash + 1;
  }
}

// Wildcard match of one path segment (no '/' on either side). Greedy with one
// backtrack point: linear in practice and never recursive, so hostile
// patterns cannot exhaust the stack.
bool SegmentMatches(std::string_view pattern, std::string_view text) {
  std::size_t p = 0;
  std::size_t t = 0;
  std::size_t star = std::string_view::npos;
  std::size_t star_text = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_text = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++star_text;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace

bool PathPatternMatches(std::string_view pattern, std::string_view target_path) {
  // '/' is never matched by a wildcard, so the slashes of pattern and path
  // must line up one to one: compare segment by segment.
  const std::vector<std::string_view> pattern_parts = SplitSlashes(pattern);
  const std::vector<std::string_view> path_parts = SplitSlashes(target_path);
  if (pattern_parts.size() != path_parts.size()) return false;
  for (std::size_t i = 0; i < path_parts.size(); ++i) {
    if (!SegmentMatches(pattern_parts[i], path_parts[i])) return false;
  }
  return true;
}

bool DelegationCovers(const manifest::DelegatedRole& role, std::string_view target_path) {
  if (role.paths) {
    for (const std::string& pattern : *role.paths) {
      if (PathPatternMatches(pattern, target_path)) return true;
    }
  }
  if (role.path_hash_prefixes) {
    const std::string digest = Sha256Hex(target_path);
    for (const std::string& prefix : *role.path_hash_prefixes) {
      if (digest.starts_with(prefix)) return true;
    }
  }
  return false;
}

std::string RoleFileName(std::string_view role) {
  for (std::string_view top : {manifest::kRootRole, manifest::kTimestampRole,
                               manifest::kSnapshotRole, manifest::kTargetsRole}) {
    if (role == top) return std::string(role) + ".json";
  }
  // The ".json" suffix is the only '.' in the result, and no top-level name
  // contains '%', so encoded names collide neither with each other nor with
  // the top-level files (or their temp siblings).
  return PercentEncodeExcept(role, "-_") + ".json";
}

}  // namespace ota::verifier
