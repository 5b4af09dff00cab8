#include "ota/verifier/delegations.h"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
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

// If pattern[at] opens a character class ("[...]" or "[!...]", where a ']'
// right after the opening is a member), returns the index just past its
// closing ']' and sets *matched to whether `c` is in it. Returns npos when the
// '[' has no closing ']': it is then an ordinary character.
std::size_t MatchClass(std::string_view pattern, std::size_t at, char c, bool* matched) {
  std::size_t i = at + 1;
  const bool negated = i < pattern.size() && pattern[i] == '!';
  if (negated) ++i;
  const std::size_t first = i;
  bool in = false;
  while (i < pattern.size() && (pattern[i] != ']' || i == first)) {
    if (i + 2 < pattern.size() && pattern[i + 1] == '-' && pattern[i + 2] != ']') {
      in |= static_cast<unsigned char>(pattern[i]) <= static_cast<unsigned char>(c) &&
            static_cast<unsigned char>(c) <= static_cast<unsigned char>(pattern[i + 2]);
      i += 3;
    } else {
      in |= pattern[i] == c;
      ++i;
    }
  }
  if (i >= pattern.size()) return std::string_view::npos;
  *matched = in != negated;
  return i + 1;
}

// If the pattern element at `p` (one of '?', a class, or a literal) matches
// `c`, returns the index of the next element; otherwise npos. '*' is handled
// by the caller.
// `last_close` is the position of the pattern's last ']' (npos if none): a
// '[' after it cannot open a class, which spares the scan.
std::size_t MatchOne(std::string_view pattern, std::size_t p, char c, std::size_t last_close) {
  if (pattern[p] == '?') return p + 1;
  if (pattern[p] == '[' && last_close != std::string_view::npos && last_close > p + 1) {
    bool matched = false;
    const std::size_t next = MatchClass(pattern, p, c, &matched);
    if (next != std::string_view::npos) return matched ? next : std::string_view::npos;
  }
  return pattern[p] == c ? p + 1 : std::string_view::npos;
}

// Wildcard match of one path segment (no '/' on either side). Greedy with one
// backtrack point: linear in practice and never recursive, so hostile
// patterns cannot exhaust the stack.
bool SegmentMatches(std::string_view pattern, std::string_view text) {
  std::size_t p = 0;
  std::size_t t = 0;
  std::size_t star = std::string_view::npos;
  std::size_t star_text = 0;
  const std::size_t last_close = pattern.rfind(']');
  while (t < text.size()) {
    const std::size_t next = p < pattern.size() && pattern[p] != '*'
                                 ? MatchOne(pattern, p, text[t], last_close)
                                 : std::string_view::npos;
    if (next != std::string_view::npos) {
      p = next;
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

std::string SuccinctRoleFor(const manifest::SuccinctRoles& succinct, std::string_view target_path) {
  // The first 32 bits of the digest, big-endian, keep their top bit_length.
  const std::string digest = Sha256Hex(target_path);
  const std::uint32_t prefix =
      static_cast<std::uint32_t>(std::stoul(digest.substr(0, 8), nullptr, 16));
  const std::uint32_t bin =
      succinct.bit_length >= 32 ? prefix : prefix >> (32 - succinct.bit_length);
  const int width = static_cast<int>((succinct.bit_length + 3) / 4);
  char hex[16];
  std::snprintf(hex, sizeof(hex), "%0*x", width, static_cast<unsigned>(bin));
  return succinct.name_prefix + "-" + hex;
}

bool IsSuccinctRole(const manifest::SuccinctRoles& succinct, std::string_view role) {
  const std::string lead = succinct.name_prefix + "-";
  if (!role.starts_with(lead)) return false;
  const std::string_view digits = role.substr(lead.size());
  const std::size_t width = (succinct.bit_length + 3) / 4;
  if (digits.size() != width) return false;
  std::uint64_t bin = 0;
  for (char c : digits) {
    const bool digit = c >= '0' && c <= '9';
    const bool lower = c >= 'a' && c <= 'f';
    if (!digit && !lower) return false;
    bin = bin * 16 + static_cast<std::uint64_t>(digit ? c - '0' : c - 'a' + 10);
  }
  return bin < (std::uint64_t{1} << succinct.bit_length);
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
