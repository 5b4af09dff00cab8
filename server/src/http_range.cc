#include "ota/server/http_range.h"

#include <cctype>
#include <cinttypes>
#include <cstdio>
#include <limits>
#include <vector>

namespace ota::server {
namespace {

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// Decimal digits only. Saturates instead of failing on overflow: a position
// beyond 2^64 is simply past the end of any file.
bool ParseDigits(std::string_view s, std::uint64_t& out) {
  if (s.empty()) return false;
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    v = v > (kMax - d) / 10 ? kMax : v * 10 + d;
  }
  out = v;
  return true;
}

std::vector<std::string_view> SplitList(std::string_view s) {
  std::vector<std::string_view> items;
  while (true) {
    std::size_t comma = s.find(',');
    std::string_view item = TrimSpace(s.substr(0, comma));
    if (!item.empty()) items.push_back(item);  // Lists may carry empty elements.
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return items;
}

std::string_view StripWeak(std::string_view tag) {
  if (tag.starts_with("W/")) tag.remove_prefix(2);
  return tag;
}

}  // namespace

RangeDecision EvaluateRange(std::string_view header, std::uint64_t size) {
  RangeDecision ignore;
  std::size_t eq = header.find('=');
  if (eq == std::string_view::npos) return ignore;
  if (!EqualsIgnoreCase(TrimSpace(header.substr(0, eq)), "bytes")) return ignore;
  std::vector<std::string_view> specs = SplitList(header.substr(eq + 1));
  if (specs.size() != 1) return ignore;
  std::string_view spec = specs[0];
  std::size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return ignore;
  std::string_view first_text = TrimSpace(spec.substr(0, dash));
  std::string_view last_text = TrimSpace(spec.substr(dash + 1));

  RangeDecision unsatisfiable{RangeOutcome::kUnsatisfiable, {}};
  if (first_text.empty()) {
    std::uint64_t suffix = 0;
    if (!ParseDigits(last_text, suffix)) return ignore;
    if (suffix == 0 || size == 0) return unsatisfiable;
    std::uint64_t take = suffix < size ? suffix : size;
    return {RangeOutcome::kPartial, {size - take, size - 1}};
  }
  std::uint64_t first = 0;
  if (!ParseDigits(first_text, first)) return ignore;
  std::uint64_t last = std::numeric_limits<std::uint64_t>::max();
  if (!last_text.empty()) {
    if (!ParseDigits(last_text, last)) return ignore;
    if (last < first) return ignore;  // Invalid range-spec: the header is ignored.
  }
  if (first >= size) return unsatisfiable;
  if (last > size - 1) last = size - 1;
  return {RangeOutcome::kPartial, {first, last}};
}

std::string ContentRange(const ByteRange& range, std::uint64_t size) {
  return "bytes " + std::to_string(range.first) + "-" + std::to_string(range.last) + "/" +
         std::to_string(size);
}

std::string MakeEtag(std::uint64_t size, std::uint64_t mtime_ns, std::uint64_t inode) {
  char buf[80];
  std::snprintf(buf, sizeof(buf), "\"%" PRIx64 "-%" PRIx64 "-%" PRIx64 "\"", size, mtime_ns, inode);
  return buf;
}

bool IfNoneMatchMatches(std::string_view header, std::string_view etag) {
  for (std::string_view tag : SplitList(header)) {
    if (tag == "*" || StripWeak(tag) == StripWeak(etag)) return true;
  }
  return false;
}

bool IfRangeMatches(std::string_view header, std::string_view etag) {
  std::string_view value = TrimSpace(header);
  return !value.starts_with("W/") && value.starts_with("\"") && value == etag;
}

}  // namespace ota::server
