#include "ota/manifest/version.h"

#include <string>
#include <vector>

#include "test_support.h"

namespace ota::manifest {
namespace {

Version V(const std::string& text) {
  Result<Version> v = ParseVersion(text);
  EXPECT_TRUE(v.ok()) << text << ": " << (v.ok() ? "" : v.error().message);
  return v.ok() ? *v : Version{};
}

TEST(VersionTest, ParsesAllParts) {
  Version v = V("1.22.333-rc.1+build.7");
  EXPECT_EQ(v.major, 1u);
  EXPECT_EQ(v.minor, 22u);
  EXPECT_EQ(v.patch, 333u);
  EXPECT_EQ(v.prerelease, (std::vector<std::string>{"rc", "1"}));
  EXPECT_EQ(v.build, "build.7");
}

TEST(VersionTest, AcceptsValidFormsAndRoundTrips) {
  for (const char* text :
       {"0.0.0", "1.2.3", "1.2.3-0", "1.0.0-alpha", "1.0.0-x-y-z.--", "1.0.0-0A.is.legal",
        "1.0.0+21AF26D3----117B344092BD", "1.0.0+001", "1.0.0-rc.1+b.2", "18446744073709551615.0.0",
        "1.0.0-18446744073709551615"}) {
    Result<Version> v = ParseVersion(text);
    ASSERT_TRUE(v.ok()) << text << ": " << v.error().message;
    EXPECT_EQ(ToString(*v), text);
  }
}

TEST(VersionTest, RejectsWithPreciseMessages) {
  const std::string too_long = "1.0.0-" + std::string(59, 'a');
  ASSERT_EQ(too_long.size(), 65u);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "version is empty"},
      {"1.2", "needs exactly three parts MAJOR.MINOR.PATCH, found 2"},
      {"1.2.3.4", "found 4"},
      {"01.2.3", "major part \"01\" has a leading zero"},
      {"1.02.3", "minor part \"02\" has a leading zero"},
      {"1.2.03", "patch part \"03\" has a leading zero"},
      {"1..3", "minor part is empty"},
      {"v1.2.3", "major part \"v1\" is not a number"},
      {" 1.2.3", "major part \" 1\" is not a number"},
      {"1.2.3 ", "patch part \"3 \" is not a number"},
      {"1.2.x", "patch part \"x\" is not a number"},
      {"1.2.3-", "pre-release identifier 1 is empty"},
      {"1.2.3-a..b", "pre-release identifier 2 is empty"},
      {"1.2.3-01", "pre-release identifier 1 \"01\" has a leading zero"},
      {"1.2.3-a_b", "pre-release identifier 1 \"a_b\" has a character outside [0-9A-Za-z-]"},
      {"1.2.3+", "build identifier 1 is empty"},
      {"1.2.3+a b", "build identifier 1 \"a b\" has a character outside"},
      {"1.2.3+a..b", "build identifier 2 is empty"},
      {"18446744073709551616.0.0", "major part \"18446744073709551616\" does not fit in 64 bits"},
      {"1.0.0-18446744073709551616", "does not fit in 64 bits"},
      {too_long, "version is 65 characters long, more than the maximum of 64"},
  };
  for (const auto& [text, message] : cases) {
    Result<Version> v = ParseVersion(text);
    ASSERT_FALSE(v.ok()) << "accepted \"" << text << "\"";
    EXPECT_EQ(v.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(v.error().message.find(message), std::string::npos)
        << "\"" << text << "\" gave: " << v.error().message;
  }
}

// The precedence examples of SemVer 2.0.0, section 11, in ascending order.
TEST(VersionTest, PrecedenceFollowsTheSpecification) {
  const std::vector<std::string> ascending = {"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
                                              "1.0.0-beta",  "1.0.0-beta.2",  "1.0.0-beta.11",
                                              "1.0.0-rc.1",  "1.0.0",         "2.0.0",
                                              "2.1.0",       "2.1.1"};
  for (std::size_t i = 0; i < ascending.size(); ++i) {
    for (std::size_t j = 0; j < ascending.size(); ++j) {
      const Version a = V(ascending[i]);
      const Version b = V(ascending[j]);
      const int expected = i < j ? -1 : (i > j ? 1 : 0);
      const int c = CompareVersions(a, b);
      EXPECT_EQ((c > 0) - (c < 0), expected) << ascending[i] << " vs " << ascending[j];
      EXPECT_EQ(a < b, i < j) << ascending[i] << " < " << ascending[j];
      EXPECT_EQ(a == b, i == j) << ascending[i] << " == " << ascending[j];
    }
  }
}

TEST(VersionTest, NumericIdentifiersCompareNumericallyAndBeforeAlphanumeric) {
  EXPECT_LT(V("1.0.0-2"), V("1.0.0-10"));
  EXPECT_LT(V("1.0.0-99"), V("1.0.0-a"));
  // '-' sorts before digits in ASCII, yet every numeric identifier comes first.
  EXPECT_LT(V("1.0.0-1"), V("1.0.0--"));
  EXPECT_LT(V("1.0.0-rc.9"), V("1.0.0-rc.-"));
  EXPECT_LT(V("1.0.0-a10"), V("1.0.0-a2"));  // Alphanumeric: ASCII order.
  EXPECT_LT(V("1.0.0-Z"), V("1.0.0-a"));
  EXPECT_LT(V("1.9.0"), V("1.10.0"));
  EXPECT_LT(V("9.0.0"), V("18446744073709551615.0.0"));
}

TEST(VersionTest, BuildMetadataIsIgnoredByPrecedence) {
  const Version a = V("1.0.0+a");
  const Version b = V("1.0.0+b");
  EXPECT_EQ(CompareVersions(a, b), 0);
  EXPECT_TRUE(a == b);
  EXPECT_FALSE(a < b || b < a);
  EXPECT_NE(ToString(a), ToString(b));
  EXPECT_TRUE(V("1.0.0-rc.1+z") < V("1.0.0+a"));
}

}  // namespace
}  // namespace ota::manifest
