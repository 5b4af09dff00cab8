#include "ota/manifest/version_range.h"

#include <string>

#include "test_support.h"

namespace ota::manifest {
namespace {

Version ParsedVersion(const std::string& text) {
  Result<Version> v = ParseVersion(text);
  EXPECT_TRUE(v.ok()) << text;
  return v.ok() ? *v : Version{};
}

VersionRange R(const std::string& text) {
  Result<VersionRange> r = ParseVersionRange(text);
  EXPECT_TRUE(r.ok()) << text << ": " << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : VersionRange{};
}

struct SatisfiesCase {
  const char* range;
  const char* version;
  bool expected;
};

TEST(VersionRangeTest, SatisfiesTable) {
  const SatisfiesCase cases[] = {
      {"1.2.3", "1.2.3", true},
      {"1.2.3", "1.2.4", false},
      {"=1.2.3", "1.2.3+build", true},
      {">=1.0.0", "1.0.0", true},
      {">=1.0.0", "0.9.9", false},
      {">=1.0.0", "1.0.0-rc.1", false},
      {">1.0.0", "1.0.0", false},
      {">1.0.0", "1.0.1", true},
      {"<2.0.0", "1.99.99", true},
      {"<2.0.0", "2.0.0", false},
      {"<2.0.0", "2.0.0-rc.1", true},
      {"<2.0.0-0", "2.0.0-rc.1", false},
      {"<=2.0.0", "2.0.0", true},
      {"<=2.0.0", "2.0.1", false},
      {">=1.4.0 <2.0.0", "1.4.0", true},
      {">=1.4.0 <2.0.0", "1.9.0", true},
      {">=1.4.0 <2.0.0", "2.0.0", false},
      {">=1.4.0 <2.0.0", "1.3.9", false},
      {">=1.4.0   <2.0.0", "1.5.0", true},
      {"1.0.0 || >=3.0.0", "1.0.0", true},
      {"1.0.0 || >=3.0.0", "2.0.0", false},
      {"1.0.0 || >=3.0.0", "3.1.0", true},
      {"1.0.0||>=3.0.0", "3.1.0", true},
      {"*", "0.0.0", true},
      {"*", "99.0.0-alpha", true},
      {"<1.0.0 || *", "5.0.0", true},
  };
  for (const SatisfiesCase& c : cases) {
    EXPECT_EQ(Satisfies(ParsedVersion(c.version), R(c.range)), c.expected)
        << c.range << " vs " << c.version;
  }
}

TEST(VersionRangeTest, KeepsTextForRoundTrips) {
  EXPECT_EQ(ToString(R(">=1.4.0   <2.0.0")), ">=1.4.0   <2.0.0");
  EXPECT_EQ(R("1.0.0 || 2.0.0").sets.size(), 2u);
  EXPECT_EQ(R(">=1.0.0 <2.0.0").sets.at(0).size(), 2u);
  EXPECT_EQ(R("<=1.0.0").sets.at(0).at(0).op, VersionOp::kLessOrEqual);
}

struct ErrorCase {
  const char* range;
  const char* message_part;
};

TEST(VersionRangeTest, RejectsMalformedRanges) {
  const ErrorCase cases[] = {
      {"", "is empty"},
      {"   ", "empty alternative"},
      {"1.0.0 ||", "empty alternative"},
      {"|| 1.0.0", "empty alternative"},
      {"~1.2.3", "\"~1.2.3\" is not a version"},
      {"^1.2.3", "\"^1.2.3\" is not a version"},
      {">= 1.0.0", "\">=\" is not a version"},
      {"1.2", "\"1.2\" is not a version"},
      {"v1.2.3", "\"v1.2.3\" is not a version"},
      {"1.0.0 - 2.0.0", "\"-\" is not a version"},
      {"* <2.0.0", "\"*\" must stand alone"},
      {">=1.0.0\t<2.0.0", "printable ASCII"},
      {"1.0.0 | 2.0.0", "\"|\" is not a version"},
  };
  for (const ErrorCase& c : cases) {
    Result<VersionRange> r = ParseVersionRange(c.range);
    ASSERT_FALSE(r.ok()) << c.range;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find(c.message_part), std::string::npos)
        << c.range << ": " << r.error().message;
  }
  Result<VersionRange> long_range = ParseVersionRange(std::string(kMaxVersionRangeLength + 1, '1'));
  ASSERT_FALSE(long_range.ok());
  EXPECT_NE(long_range.error().message.find("more than the maximum of 256"), std::string::npos);
}

}  // namespace
}  // namespace ota::manifest
