// Session outcome reports and "new version active" notifications.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <vector>

#include "lease_test_util.h"
#include "ota/agent/notify.h"
#include "ota/agent/sessions.h"
#include "test_support.h"

namespace ota::agent {
namespace {

using namespace std::chrono_literals;
using ota::testing::ManualClock;
using ota::testing::TempDir;
using testing::Id;

TEST(SessionOutcomeTest, ReportedOutcomesAreReadBackPerVersionAndTime) {
  TempDir dir;
  ManualClock clock;
  auto empty = ReadSessionOutcomes(dir.path(), Id('a'), clock.Now());
  ASSERT_OK(empty);
  EXPECT_TRUE(empty->empty());  // No database yet: nothing reported.

  auto log = SessionLog::Open(dir.path(), &clock);
  ASSERT_OK(log);
  ASSERT_OK((*log)->Report(Id('a'), true, ""));
  clock.Advance(1000ms);
  const auto since = clock.Now();
  ASSERT_OK((*log)->Report(Id('a'), false, "answer was not valid JSON"));
  ASSERT_OK((*log)->Report(Id('b'), true, "other version"));
  clock.Advance(5ms);
  ASSERT_OK((*log)->Report(Id('a'), true, std::string(10000, 'x')));

  auto all = ReadSessionOutcomes(dir.path(), Id('a'), since - 1h);
  ASSERT_OK(all);
  ASSERT_EQ(all->size(), 3u);
  EXPECT_TRUE((*all)[0].ok);
  auto recent = ReadSessionOutcomes(dir.path(), Id('a'), since);
  ASSERT_OK(recent);
  ASSERT_EQ(recent->size(), 2u);
  EXPECT_FALSE((*recent)[0].ok);
  EXPECT_EQ((*recent)[0].message, "answer was not valid JSON");
  EXPECT_EQ((*recent)[0].time, since);
  EXPECT_EQ((*recent)[0].version_id, Id('a'));
  EXPECT_EQ((*recent)[1].message.size(), kMaxSessionMessageBytes);
  EXPECT_EQ((*recent)[1].time, since + 5ms);
}

TEST(SessionOutcomeTest, RejectsMalformedVersionIds) {
  TempDir dir;
  auto log = SessionLog::Open(dir.path());
  ASSERT_OK(log);
  auto bad = (*log)->Report("1.0.0", true, "");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  auto read = ReadSessionOutcomes(dir.path(), "'; DROP TABLE x; --", {});
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().code, ErrorCode::kInvalidArgument);
}

TEST(SessionOutcomeTest, TwoWritersShareTheDatabase) {
  TempDir dir;
  auto first = SessionLog::Open(dir.path());
  auto second = SessionLog::Open(dir.path());
  ASSERT_OK(first);
  ASSERT_OK(second);
  ASSERT_OK((*first)->Report(Id('a'), true, "one"));
  ASSERT_OK((*second)->Report(Id('a'), false, "two"));
  auto read = ReadSessionOutcomes(dir.path(), Id('a'), {});
  ASSERT_OK(read);
  EXPECT_EQ(read->size(), 2u);
}

// Collects callbacks; Wait blocks on a condition variable (bounded only as
// a failure guard), never sleeps.
class Events {
 public:
  void Add(const std::string& model, const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    seen_.push_back(model + "=" + id);
    cv_.notify_all();
  }
  std::vector<std::string> WaitFor(std::size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, 10s, [&] { return seen_.size() >= n; });
    return seen_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> seen_;
};

// The watch of the default platform (inotify here) and a polling one, as on
// systems without rename notices.
class ActiveVersionWatcherTest : public ::testing::TestWithParam<std::string> {
 protected:
  Platform* P() { return GetParam() == "Polling" ? polling_.get() : &DefaultPlatform(); }
  std::unique_ptr<Platform> polling_ = MakePollingPlatform(std::chrono::milliseconds(5));
};

INSTANTIATE_TEST_SUITE_P(Platforms, ActiveVersionWatcherTest,
                         ::testing::Values("Notices", "Polling"),
                         [](const auto& info) { return info.param; });

TEST_P(ActiveVersionWatcherTest, ReportsEachSwitchOnce) {
  TempDir dir;
  testing::MakeStateDir(dir.path());
  testing::PointAt(dir.path(), "chat", Id('a'));
  Events events;
  auto watcher = ActiveVersionWatcher::Start(
      dir.path(), [&](const std::string& m, const std::string& id) { events.Add(m, id); }, P());
  ASSERT_OK(watcher);
  testing::PointAt(dir.path(), "chat", Id('a'));  // Same version: no event.
  testing::PointAt(dir.path(), "chat", Id('b'));
  testing::PointAt(dir.path(), "tools", Id('c'));
  auto seen = events.WaitFor(2);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], "chat=" + Id('b'));
  EXPECT_EQ(seen[1], "tools=" + Id('c'));
  (*watcher)->Stop();
  (*watcher)->Stop();  // Idempotent.

  // Nothing after Stop: a second watcher, still running, witnesses two more
  // switches; by the time it has seen both, a watcher left running would
  // have reported the first.
  Events witness;
  auto second = ActiveVersionWatcher::Start(
      dir.path(), [&](const std::string& m, const std::string& id) { witness.Add(m, id); }, P());
  ASSERT_OK(second);
  testing::PointAt(dir.path(), "chat", Id('a'));
  testing::PointAt(dir.path(), "tools", Id('d'));
  ASSERT_EQ(witness.WaitFor(2).size(), 2u);
  EXPECT_EQ(events.WaitFor(0), seen) << "reported after Stop";
}

TEST_P(ActiveVersionWatcherTest, MissingFolderIsNotFound) {
  TempDir dir;
  auto watcher = ActiveVersionWatcher::Start(
      dir.path(), [](const std::string&, const std::string&) {}, P());
  ASSERT_FALSE(watcher.ok());
  EXPECT_EQ(watcher.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace ota::agent
