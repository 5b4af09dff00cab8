#include "ota/manifest/version.h"

#include <algorithm>
#include <charconv>

namespace ota::manifest {
namespace {

bool IsDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool IsIdentifierChar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  while (true) {
    std::size_t pos = s.find(sep);
    parts.push_back(s.substr(0, pos));
    if (pos == std::string_view::npos) return parts;
    s.remove_prefix(pos + 1);
  }
}

// Versions come from untrusted documents; non-printable bytes are masked so
// the message stays one readable line.
std::string Printable(std::string_view s) {
  std::string out;
  for (char c : s) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  return out;
}

Error Invalid(std::string_view text, const std::string& why) {
  return MakeError(ErrorCode::kInvalidArgument, "version \"" + Printable(text) + "\": " + why);
}

// Checks a numeric identifier; `what` names it in messages.
Result<std::uint64_t> ParseNumber(std::string_view text, std::string_view part,
                                  const std::string& what) {
  if (part.empty()) return Invalid(text, what + " is empty");
  if (!IsDigits(part)) {
    return Invalid(text, what + " \"" + Printable(part) + "\" is not a number");
  }
  if (part.size() > 1 && part[0] == '0') {
    return Invalid(text, what + " \"" + std::string(part) + "\" has a leading zero");
  }
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
  if (ec != std::errc() || end != part.data() + part.size()) {
    return Invalid(text, what + " \"" + std::string(part) + "\" does not fit in 64 bits");
  }
  return value;
}

// Checks dot-separated identifiers after '-' (pre-release) or '+' (build).
Status CheckIdentifiers(std::string_view text, const std::vector<std::string_view>& ids,
                        const std::string& kind, bool numeric_rules) {
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::string what = kind + " identifier " + std::to_string(i + 1);
    if (ids[i].empty()) return Invalid(text, what + " is empty");
    if (!std::all_of(ids[i].begin(), ids[i].end(), IsIdentifierChar)) {
      return Invalid(text,
                     what + " \"" + Printable(ids[i]) + "\" has a character outside [0-9A-Za-z-]");
    }
    if (numeric_rules && IsDigits(ids[i])) {
      OTA_TRY(ParseNumber(text, ids[i], what));
    }
  }
  return Ok();
}

int CompareNumbers(std::uint64_t a, std::uint64_t b) { return a < b ? -1 : (a > b ? 1 : 0); }

// Numeric identifiers have no leading zeros, so the shorter one is smaller
// and equal lengths compare like strings.
int ComparePrereleaseIdentifier(const std::string& a, const std::string& b) {
  const bool a_num = IsDigits(a);
  const bool b_num = IsDigits(b);
  if (a_num && b_num) {
    if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
    return a.compare(b) < 0 ? -1 : (a == b ? 0 : 1);
  }
  if (a_num != b_num) return a_num ? -1 : 1;
  int c = a.compare(b);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

}  // namespace

Result<Version> ParseVersion(std::string_view text) {
  if (text.empty()) return MakeError(ErrorCode::kInvalidArgument, "version is empty");
  if (text.size() > kMaxVersionLength) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "version is " + std::to_string(text.size()) +
                         " characters long, more than the maximum of " +
                         std::to_string(kMaxVersionLength));
  }
  Version v;
  std::string_view rest = text;
  if (std::size_t plus = rest.find('+'); plus != std::string_view::npos) {
    std::string_view build = rest.substr(plus + 1);
    OTA_TRY(CheckIdentifiers(text, Split(build, '.'), "build", /*numeric_rules=*/false));
    v.build = std::string(build);
    rest = rest.substr(0, plus);
  }
  if (std::size_t dash = rest.find('-'); dash != std::string_view::npos) {
    std::vector<std::string_view> ids = Split(rest.substr(dash + 1), '.');
    OTA_TRY(CheckIdentifiers(text, ids, "pre-release", /*numeric_rules=*/true));
    for (std::string_view id : ids) v.prerelease.emplace_back(id);
    rest = rest.substr(0, dash);
  }
  std::vector<std::string_view> core = Split(rest, '.');
  if (core.size() != 3) {
    return Invalid(
        text, "needs exactly three parts MAJOR.MINOR.PATCH, found " + std::to_string(core.size()));
  }
  OTA_ASSIGN_OR_RETURN(v.major, ParseNumber(text, core[0], "major part"));
  OTA_ASSIGN_OR_RETURN(v.minor, ParseNumber(text, core[1], "minor part"));
  OTA_ASSIGN_OR_RETURN(v.patch, ParseNumber(text, core[2], "patch part"));
  return v;
}

int CompareVersions(const Version& a, const Version& b) {
  if (int c = CompareNumbers(a.major, b.major)) return c;
  if (int c = CompareNumbers(a.minor, b.minor)) return c;
  if (int c = CompareNumbers(a.patch, b.patch)) return c;
  // A release outranks every pre-release of the same core version.
  if (a.prerelease.empty() || b.prerelease.empty()) {
    return CompareNumbers(a.prerelease.empty() ? 1 : 0, b.prerelease.empty() ? 1 : 0);
  }
  const std::size_t n = std::min(a.prerelease.size(), b.prerelease.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (int c = ComparePrereleaseIdentifier(a.prerelease[i], b.prerelease[i])) return c;
  }
  return CompareNumbers(a.prerelease.size(), b.prerelease.size());
}

std::string ToString(const Version& v) {
  std::string out =
      std::to_string(v.major) + "." + std::to_string(v.minor) + "." + std::to_string(v.patch);
  for (std::size_t i = 0; i < v.prerelease.size(); ++i) {
    out += (i == 0 ? "-" : ".") + v.prerelease[i];
  }
  if (!v.build.empty()) out += "+" + v.build;
  return out;
}

bool operator==(const Version& a, const Version& b) { return CompareVersions(a, b) == 0; }

std::weak_ordering operator<=>(const Version& a, const Version& b) {
  const int c = CompareVersions(a, b);
  if (c < 0) return std::weak_ordering::less;
  if (c > 0) return std::weak_ordering::greater;
  return std::weak_ordering::equivalent;
}

}  // namespace ota::manifest
