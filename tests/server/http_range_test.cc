// Unit tests of the pure Range / ETag functions.
#include "ota/server/http_range.h"

#include <gtest/gtest.h>

namespace ota::server {
namespace {

struct RangeCase {
  const char* header;
  std::uint64_t size;
  RangeOutcome outcome;
  std::uint64_t first;
  std::uint64_t last;
};

class EvaluateRangeTest : public ::testing::TestWithParam<RangeCase> {};

TEST_P(EvaluateRangeTest, Decides) {
  const RangeCase& c = GetParam();
  RangeDecision d = EvaluateRange(c.header, c.size);
  EXPECT_EQ(d.outcome, c.outcome) << c.header;
  if (c.outcome == RangeOutcome::kPartial) {
    EXPECT_EQ(d.range.first, c.first) << c.header;
    EXPECT_EQ(d.range.last, c.last) << c.header;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Forms, EvaluateRangeTest,
    ::testing::Values(
        RangeCase{"bytes=0-0", 100, RangeOutcome::kPartial, 0, 0},
        RangeCase{"bytes=10-19", 100, RangeOutcome::kPartial, 10, 19},
        RangeCase{"bytes=10-", 100, RangeOutcome::kPartial, 10, 99},
        RangeCase{"bytes=-5", 100, RangeOutcome::kPartial, 95, 99},
        RangeCase{"bytes=-500", 100, RangeOutcome::kPartial, 0, 99},
        RangeCase{"bytes=90-500", 100, RangeOutcome::kPartial, 90, 99},
        RangeCase{"bytes=99-99", 100, RangeOutcome::kPartial, 99, 99},
        RangeCase{"BYTES = 1-2", 100, RangeOutcome::kPartial, 1, 2},
        RangeCase{"bytes=1-2,", 100, RangeOutcome::kPartial, 1, 2},
        RangeCase{"bytes=0-99999999999999999999999", 100, RangeOutcome::kPartial, 0, 99},
        RangeCase{"bytes=100-", 100, RangeOutcome::kUnsatisfiable, 0, 0},
        RangeCase{"bytes=100-200", 100, RangeOutcome::kUnsatisfiable, 0, 0},
        RangeCase{"bytes=99999999999999999999999-", 100, RangeOutcome::kUnsatisfiable, 0, 0},
        RangeCase{"bytes=-0", 100, RangeOutcome::kUnsatisfiable, 0, 0},
        RangeCase{"bytes=0-", 0, RangeOutcome::kUnsatisfiable, 0, 0},
        RangeCase{"bytes=-1", 0, RangeOutcome::kUnsatisfiable, 0, 0},
        RangeCase{"bytes=5-2", 100, RangeOutcome::kIgnore, 0, 0},
        RangeCase{"bytes=0-1,5-6", 100, RangeOutcome::kIgnore, 0, 0},
        RangeCase{"items=0-1", 100, RangeOutcome::kIgnore, 0, 0},
        RangeCase{"bytes=", 100, RangeOutcome::kIgnore, 0, 0},
        RangeCase{"bytes=-", 100, RangeOutcome::kIgnore, 0, 0},
        RangeCase{"bytes=a-b", 100, RangeOutcome::kIgnore, 0, 0},
        RangeCase{"bytes=1", 100, RangeOutcome::kIgnore, 0, 0},
        RangeCase{"bytes=+1-2", 100, RangeOutcome::kIgnore, 0, 0},
        RangeCase{"0-1", 100, RangeOutcome::kIgnore, 0, 0}));

TEST(ContentRangeTest, Formats) { EXPECT_EQ(ContentRange({10, 19}, 100), "bytes 10-19/100"); }

TEST(EtagTest, IsQuotedLowerHexOfSizeMtimeInode) {
  EXPECT_EQ(MakeEtag(255, 4096, 17), "\"ff-1000-11\"");
  EXPECT_NE(MakeEtag(255, 4096, 17), MakeEtag(255, 4097, 17));
  EXPECT_NE(MakeEtag(255, 4096, 17), MakeEtag(255, 4096, 18));
}

TEST(ConditionalTest, IfNoneMatchUsesWeakComparison) {
  const std::string etag = "\"a-b-c\"";
  EXPECT_TRUE(IfNoneMatchMatches("\"a-b-c\"", etag));
  EXPECT_TRUE(IfNoneMatchMatches("W/\"a-b-c\"", etag));
  EXPECT_TRUE(IfNoneMatchMatches("\"x\", \"a-b-c\"", etag));
  EXPECT_TRUE(IfNoneMatchMatches("*", etag));
  EXPECT_FALSE(IfNoneMatchMatches("\"a-b-d\"", etag));
  EXPECT_FALSE(IfNoneMatchMatches("a-b-c", etag));
  EXPECT_FALSE(IfNoneMatchMatches("", etag));
}

TEST(ConditionalTest, IfRangeNeedsTheSameStrongTag) {
  const std::string etag = "\"a-b-c\"";
  EXPECT_TRUE(IfRangeMatches("\"a-b-c\"", etag));
  EXPECT_TRUE(IfRangeMatches(" \"a-b-c\" ", etag));
  EXPECT_FALSE(IfRangeMatches("W/\"a-b-c\"", etag));
  EXPECT_FALSE(IfRangeMatches("\"a-b-d\"", etag));
  EXPECT_FALSE(IfRangeMatches("Wed, 21 Oct 2015 07:28:00 GMT", etag));
}

}  // namespace
}  // namespace ota::server
