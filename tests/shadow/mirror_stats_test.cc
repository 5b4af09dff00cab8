// Mirror stats as JSON, merged across app processes, and folded into a
// shadow verdict.
#include <gtest/gtest.h>

#include "ota/shadow/mirror.h"
#include "ota/shadow/report.h"

namespace ota::shadow {
namespace {

using nlohmann::json;

MirrorStats Sample(std::uint64_t replayed, std::size_t positions, double top1,
                   std::uint64_t regressions) {
  MirrorStats s;
  s.offered = replayed * 10;
  s.sampled = replayed;
  s.replayed = replayed;
  s.positions = positions;
  s.same_top1 = top1;
  s.perplexity = 4.0;
  s.compared = replayed;
  s.exact_match_rate = 0.5;
  s.mean_lcp_tokens = 3.0;
  s.checks_applied = replayed;
  s.pass_rate_production = 1.0;
  s.pass_rate_candidate = 1.0 - static_cast<double>(regressions) / static_cast<double>(replayed);
  s.regressions = regressions;
  return s;
}

TEST(MirrorStatsTest, JsonRoundTripsAndRefusesHostileInput) {
  const MirrorStats s = Sample(4, 40, 0.75, 1);
  Result<MirrorStats> back = MirrorStatsFromJson(MirrorStatsToJson(s));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->replayed, 4u);
  EXPECT_EQ(back->positions, 40u);
  EXPECT_EQ(back->same_top1, 0.75);
  EXPECT_EQ(back->regressions, 1u);

  json j = MirrorStatsToJson(s);
  j["request"] = "hello";
  EXPECT_EQ(MirrorStatsFromJson(j).error().message, "mirror stats: unknown field \"request\"");
  j = MirrorStatsToJson(s);
  j["same_top1"] = 1.5;
  EXPECT_EQ(MirrorStatsFromJson(j).error().message,
            "mirror stats: same_top1 must be null or a number from 0 to 1");
  j = MirrorStatsToJson(s);
  j["replayed"] = -1;
  EXPECT_EQ(MirrorStatsFromJson(j).error().message,
            "mirror stats: replayed must be a non-negative integer");
  j = MirrorStatsToJson(s);
  j["replayed"] = 1000;
  EXPECT_EQ(MirrorStatsFromJson(j).error().message, "mirror stats: counts are inconsistent");
  EXPECT_FALSE(MirrorStatsFromJson(json::array()).ok());
}

TEST(MirrorStatsTest, MergeWeightsRatesByTheirDenominators) {
  const MirrorStats m = MergeMirrorStats(Sample(2, 10, 1.0, 0), Sample(6, 30, 0.5, 3));
  EXPECT_EQ(m.replayed, 8u);
  EXPECT_EQ(m.positions, 40u);
  EXPECT_DOUBLE_EQ(*m.same_top1, (10 * 1.0 + 30 * 0.5) / 40);
  EXPECT_DOUBLE_EQ(*m.perplexity, 4.0);
  EXPECT_EQ(m.regressions, 3u);
  EXPECT_DOUBLE_EQ(*m.pass_rate_candidate, (2 * 1.0 + 6 * 0.5) / 8);
  // An empty side changes nothing.
  const MirrorStats e = MergeMirrorStats(MirrorStats{}, Sample(2, 10, 0.9, 0));
  EXPECT_DOUBLE_EQ(*e.same_top1, 0.9);
}

Report PassingReport(std::optional<MirrorPolicy> mirror) {
  Report r;
  r.verdict = Verdict::kPass;
  r.action = Action::kAccept;
  r.reasons = {"every threshold of the equivalence gate holds"};
  r.policy.mirror = mirror;
  return r;
}

TEST(MirrorStatsTest, FoldTurnsPassIntoFailOnlyWithEnoughSamples) {
  MirrorPolicy mp;
  mp.min_samples = 5;
  mp.min_same_top1 = 0.9;
  mp.max_regressions = 0;

  Report r = PassingReport(mp);
  FoldMirror(r, Sample(4, 40, 0.5, 2), 1);  // Too few samples.
  EXPECT_EQ(r.verdict, Verdict::kPass);
  EXPECT_FALSE(r.mirror_gated);
  ASSERT_FALSE(r.notes.empty());
  EXPECT_NE(r.notes.back().find("replayed 4 of the 5"), std::string::npos);
  EXPECT_FALSE(ReportToJson(r)["mirror"]["gated"].get<bool>());

  r = PassingReport(mp);
  FoldMirror(r, Sample(8, 80, 0.95, 0), 1);
  EXPECT_EQ(r.verdict, Verdict::kPass);
  EXPECT_TRUE(r.mirror_gated);
  EXPECT_EQ(ReportToJson(r)["mirror"]["stats"]["replayed"], 8);

  r = PassingReport(mp);
  FoldMirror(r, Sample(8, 80, 0.5, 2), 1);
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_EQ(r.action, Action::kReject);
  ASSERT_EQ(r.reasons.size(), 2u);
  EXPECT_EQ(r.reasons[0], "mirror_same_top1 0.5000 is not >= 0.9000");
  EXPECT_EQ(r.reasons[1], "mirror_regressions 2.0000 is not <= 0.0000");
}

}  // namespace
}  // namespace ota::shadow
