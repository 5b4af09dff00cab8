#include "ota/manifest/version_range.h"

#include <utility>

namespace ota::manifest {
namespace {

Error InvalidRange(std::string_view text, const std::string& problem) {
  return MakeError(ErrorCode::kInvalidArgument,
                   "version range \"" + std::string(text) + "\": " + problem);
}

// Splits on runs of spaces; never yields an empty part.
std::vector<std::string_view> SplitSpaces(std::string_view s) {
  std::vector<std::string_view> parts;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    std::size_t end = i;
    while (end < s.size() && s[end] != ' ') ++end;
    if (end > i) parts.push_back(s.substr(i, end - i));
    i = end;
  }
  return parts;
}

Result<VersionComparator> ParseComparator(std::string_view range_text, std::string_view part) {
  VersionComparator c;
  std::string_view rest = part;
  if (rest.starts_with(">=")) {
    c.op = VersionOp::kGreaterOrEqual, rest.remove_prefix(2);
  } else if (rest.starts_with("<=")) {
    c.op = VersionOp::kLessOrEqual, rest.remove_prefix(2);
  } else if (rest.starts_with(">")) {
    c.op = VersionOp::kGreater, rest.remove_prefix(1);
  } else if (rest.starts_with("<")) {
    c.op = VersionOp::kLess, rest.remove_prefix(1);
  } else if (rest.starts_with("=")) {
    c.op = VersionOp::kEqual, rest.remove_prefix(1);
  }
  Result<Version> v = ParseVersion(rest);
  if (!v.ok()) {
    return InvalidRange(range_text,
                        "\"" + std::string(part) + "\" is not a version: " + v.error().message);
  }
  c.version = std::move(*v);
  return c;
}

bool Holds(const VersionComparator& c, const Version& v) {
  const int cmp = CompareVersions(v, c.version);
  switch (c.op) {
    case VersionOp::kEqual:
      return cmp == 0;
    case VersionOp::kLess:
      return cmp < 0;
    case VersionOp::kLessOrEqual:
      return cmp <= 0;
    case VersionOp::kGreater:
      return cmp > 0;
    case VersionOp::kGreaterOrEqual:
      return cmp >= 0;
  }
  return false;
}

}  // namespace

Result<VersionRange> ParseVersionRange(std::string_view text) {
  if (text.empty()) return InvalidRange(text, "is empty");
  if (text.size() > kMaxVersionRangeLength) {
    return InvalidRange(text.substr(0, 40), "is " + std::to_string(text.size()) +
                                                " characters long, more than the maximum of " +
                                                std::to_string(kMaxVersionRangeLength));
  }
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f)
      return InvalidRange(text, "contains a character outside printable ASCII");
  }
  VersionRange range;
  range.text = std::string(text);
  std::size_t start = 0;
  while (true) {
    const std::size_t bar = text.find("||", start);
    const std::string_view alternative =
        text.substr(start, bar == std::string_view::npos ? std::string_view::npos : bar - start);
    const std::vector<std::string_view> parts = SplitSpaces(alternative);
    if (parts.empty()) return InvalidRange(text, "has an empty alternative");
    std::vector<VersionComparator> set;
    if (parts.size() == 1 && parts[0] == "*") {
      // Any version: the empty conjunction.
    } else {
      for (std::string_view part : parts) {
        if (part == "*") return InvalidRange(text, "\"*\" must stand alone in its alternative");
        OTA_ASSIGN_OR_RETURN(VersionComparator c, ParseComparator(text, part));
        set.push_back(std::move(c));
      }
    }
    range.sets.push_back(std::move(set));
    if (bar == std::string_view::npos) break;
    start = bar + 2;
  }
  return range;
}

bool Satisfies(const Version& version, const VersionRange& range) {
  for (const std::vector<VersionComparator>& set : range.sets) {
    bool all = true;
    for (const VersionComparator& c : set) {
      if (!Holds(c, version)) {
        all = false;
        break;
      }
    }
    if (all) return true;
  }
  return false;
}

}  // namespace ota::manifest
