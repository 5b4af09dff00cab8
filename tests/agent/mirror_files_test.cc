// The live-mirroring files: the agent's announcement and the apps' stats,
// parsed as hostile input and merged per candidate.
#include "mirror_files.h"

#include <gtest/gtest.h>

#include "test_support.h"

namespace ota::agent::mirror_files {
namespace {

const std::string kCandidate(64, 'c');
const std::string kOther(64, 'd');

Announcement Sample() {
  Announcement a;
  a.model = "chat";
  a.deployment_id = 3;
  a.candidate_id = kCandidate;
  a.candidate_version = "1.1.0";
  a.current_id = std::string(64, 'a');
  a.sample_rate = 0.5;
  a.cpu_budget = 0.2;
  return a;
}

std::string StatsText(const std::string& candidate, std::uint64_t replayed) {
  StatsFile s;
  s.model = "chat";
  s.candidate_id = candidate;
  s.pid = 42;
  s.stats.offered = s.stats.sampled = s.stats.replayed = replayed;
  s.stats.positions = replayed * 10;
  s.stats.same_top1 = 0.5;
  return StatsFileToJson(s);
}

TEST(MirrorFilesTest, AnnouncementRoundTripsAndRefusesMalformedFiles) {
  auto a = ParseAnnouncement(AnnouncementToJson(Sample()).dump());
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->candidate_id, kCandidate);
  EXPECT_EQ(a->sample_rate, 0.5);
  EXPECT_EQ(a->context_length, 1024);

  auto with = [](const char* key, nlohmann::json value) {
    nlohmann::json j = AnnouncementToJson(Sample());
    j[key] = std::move(value);
    auto r = ParseAnnouncement(j.dump());
    return r.ok() ? std::string("(ok)") : r.error().message;
  };
  EXPECT_EQ(with("schema", "other"), "mirror announcement: schema must be \"modelota.mirror/1\"");
  EXPECT_EQ(with("model", "../etc"), "mirror announcement: model is not a valid model name");
  EXPECT_EQ(with("candidate_id", "../../x"),
            "mirror announcement: candidate_id and current_id must be 64 lower-case hex digits");
  EXPECT_EQ(with("sample_rate", 3),
            "mirror announcement: sample_rate must be a number from "
            "0.000000 to 1.000000");
  EXPECT_EQ(with("cpu_budget", 0), "mirror announcement: cpu_budget must be above 0");
  EXPECT_EQ(ParseAnnouncement("not json").error().message,
            "mirror announcement: not a JSON object");
}

TEST(MirrorFilesTest, StatsFilesAreCheckedAndMergedPerCandidate) {
  ota::testing::TempDir dir;
  auto fs = MakePosixFileSystem();
  const std::string state = dir.path();
  ASSERT_TRUE(fs->CreateDirs(MirrorDir(state)).ok());
  int files = -1;
  int skipped = -1;
  // No stats yet.
  auto none = CollectStats(*fs, state, "chat", kCandidate, &files, &skipped);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->replayed, 0u);
  EXPECT_EQ(files, 0);

  ota::testing::WriteTestFile(StatsPath(state, "chat", 1), StatsText(kCandidate, 2));
  ota::testing::WriteTestFile(StatsPath(state, "chat", 2), StatsText(kCandidate, 3));
  ota::testing::WriteTestFile(StatsPath(state, "chat", 3), StatsText(kOther, 100));
  ota::testing::WriteTestFile(StatsPath(state, "chat", 4), "{\"schema\": 1}");
  // A text smuggled into the stats is refused with the whole file.
  nlohmann::json smuggled = nlohmann::json::parse(StatsText(kCandidate, 50));
  smuggled["stats"]["request"] = "my private question";
  ota::testing::WriteTestFile(StatsPath(state, "chat", 5), smuggled.dump());
  ota::testing::WriteTestFile(StatsPath(state, "chatter", 6), StatsText(kCandidate, 7));

  auto merged = CollectStats(*fs, state, "chat", kCandidate, &files, &skipped);
  ASSERT_TRUE(merged.ok()) << merged.error().message;
  EXPECT_EQ(merged->replayed, 5u);
  EXPECT_EQ(merged->positions, 50u);
  EXPECT_DOUBLE_EQ(*merged->same_top1, 0.5);
  EXPECT_EQ(files, 2);
  EXPECT_EQ(skipped, 3);  // Other candidate, malformed, smuggled text.

  auto parsed = ParseStatsFile(smuggled.dump());
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().message, "mirror stats file: mirror stats: unknown field \"request\"");
}

}  // namespace
}  // namespace ota::agent::mirror_files
