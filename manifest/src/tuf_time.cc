// Expiry timestamps. The civil-date arithmetic is done here rather than with
// timegm/strptime, which depend on the C locale and the TZ environment.
#include <cstdint>
#include <cstdio>

#include "ota/manifest/tuf_metadata.h"

namespace ota::manifest {
namespace {

bool IsLeap(std::int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(std::int64_t y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Days since 1970-01-01 of a proleptic Gregorian date. Counts in 400-year
// eras (146097 days each) starting on March 1st, so that the leap day is the
// last day of the counted year.
std::int64_t DaysFromCivil(std::int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const std::int64_t year_of_era = y - era * 400;
  const std::int64_t month_from_march = m > 2 ? m - 3 : m + 9;
  const std::int64_t day_of_year = (153 * month_from_march + 2) / 5 + d - 1;
  const std::int64_t day_of_era =
      year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

struct CivilDate {
  std::int64_t year;
  int month;
  int day;
};

// Inverse of DaysFromCivil.
CivilDate CivilFromDays(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t day_of_era = z - era * 146097;
  const std::int64_t year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const std::int64_t day_of_year =
      day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const std::int64_t mp = (5 * day_of_year + 2) / 153;
  const int day = static_cast<int>(day_of_year - (153 * mp + 2) / 5 + 1);
  const int month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  return CivilDate{year_of_era + era * 400 + (month <= 2 ? 1 : 0), month, day};
}

// Reads `n` ASCII digits; false if any is not a digit.
bool Digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  out = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

std::int64_t FloorDiv(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

}  // namespace

Result<TimePoint> ParseExpires(std::string_view text) {
  auto bad = [&]() -> Error {
    return MakeError(ErrorCode::kInvalidArgument, "expires \"" + std::string(text) +
                                                      "\" is not of the form YYYY-MM-DDTHH:MM:SSZ");
  };
  if (text.size() != 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':' || text[19] != 'Z') {
    return bad();
  }
  int year, month, day, hour, minute, second;
  if (!Digits(text, 0, 4, year) || !Digits(text, 5, 2, month) || !Digits(text, 8, 2, day) ||
      !Digits(text, 11, 2, hour) || !Digits(text, 14, 2, minute) || !Digits(text, 17, 2, second)) {
    return bad();
  }
  if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month) || hour > 23 ||
      minute > 59 || second > 59) {
    return bad();
  }
  const std::int64_t seconds =
      DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
  const auto max_seconds =
      std::chrono::duration_cast<std::chrono::seconds>(TimePoint::max().time_since_epoch()).count();
  const auto min_seconds =
      std::chrono::duration_cast<std::chrono::seconds>(TimePoint::min().time_since_epoch()).count();
  if (seconds >= max_seconds) return TimePoint::max();
  if (seconds <= min_seconds) return TimePoint::min();
  return TimePoint(std::chrono::seconds(seconds));
}

std::string FormatExpires(TimePoint t) {
  const std::int64_t total = std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
  const std::int64_t days = FloorDiv(total, 86400);
  const std::int64_t rest = total - days * 86400;
  const CivilDate date = CivilFromDays(days);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04lld-%02d-%02dT%02d:%02d:%02dZ",
                static_cast<long long>(date.year), date.month, date.day,
                static_cast<int>(rest / 3600), static_cast<int>((rest % 3600) / 60),
                static_cast<int>(rest % 60));
  return buf;
}

}  // namespace ota::manifest
