// Power-loss table: a real ota-agent process is killed (SIGKILL) at every
// crash point of an update in turn (each file operation, each database
// commit, each state transition), restarted, and checked:
//   - at the moment of the kill, the model's active link names one complete,
//     verified version (the old one or the new one, never a mix);
//   - after the restart the deployment ends committed with the new version
//     active, the store and the database agree, nothing half-made is left;
//   - bytes already on disk are not fetched again (beyond one chunk).
// Each killed run is traced too: it must die of SIGKILL exactly at the point
// aimed at. Tables: a full update, a third version with the oldest collected,
// an update through a delta, the confirmation window and its rollback; then
// the same update in process through a filesystem that drops unsynced
// changes (with the database as it was at the cut), and a full disk.
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "ota/agent/agent.h"
#include "ota/agent/sessions.h"
#include "ota/common/dropping_fs.h"
#include "ota/common/env.h"
#include "ota/common/hash.h"
#include "ota/manifest/bundle_manifest.h"
#include "test_support.h"

namespace ota {
namespace {

using ota::testing::BinaryPath;
using ota::testing::ChildProcess;
using ota::testing::CommandResult;
using ota::testing::ReadTestFile;
using ota::testing::RunCommand;
using ota::testing::TempDir;

// Allowance for bytes fetched again after a kill: one in-flight chunk.
constexpr std::uint64_t kChunkAllowance = 64 * 1024;

class PowerLossTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs_ = MakePosixFileSystem();
    for (const char* role : {"root", "targets", "snapshot", "timestamp"}) {
      Run({BinaryPath("otactl"), "keygen", "--out", Key(role)});
    }
    Run({BinaryPath("otactl"), "repo", "init", "--repo", dir_.Sub("repo"), "--root-key",
         Key("root"), "--targets-key", Key("targets"), "--snapshot-key", Key("snapshot"),
         "--timestamp-key", Key("timestamp")});
    ota::testing::WriteTestFile(dir_.Sub("prompts/chat.txt"), "Answer briefly: {{q}}\n");
  }

  std::string Key(const std::string& role) { return dir_.Sub("keys/" + role + ".key"); }

  CommandResult Run(const std::vector<std::string>& argv, int expected_exit = 0) {
    CommandResult r = RunCommand(argv);
    EXPECT_EQ(r.exit_code, expected_exit) << argv[0] << " " << argv[1] << ": " << r.err;
    return r;
  }

  // Publishes a version; returns the bundle's sha256 (its id on devices).
  // `synth_extra` goes to `otactl model synth` (e.g. a small perturbation).
  std::string Publish(const std::string& version, int seed,
                      const std::vector<std::string>& synth_extra = {}) {
    const std::string model = dir_.Sub("model-" + version + ".gguf");
    const std::string bundle = dir_.Sub("chat-" + version + ".otab");
    std::vector<std::string> synth = {BinaryPath("otactl"),
                                      "model",
                                      "synth",
                                      "--seed",
                                      std::to_string(seed),
                                      "--layers",
                                      "2",
                                      "--width",
                                      "64",
                                      "--type",
                                      "f16",
                                      "--out",
                                      model};
    synth.insert(synth.end(), synth_extra.begin(), synth_extra.end());
    Run(synth);
    // These tests cut power at every crash point of an update, tens of runs
    // each; the shadow test is not what they cover (its state is crash-safe
    // like any other: the verdict is one transaction), so the bundles skip it.
    Run({BinaryPath("otactl"), "bundle", "build", "--name", "chat", "--version", version, "--model",
         model, "--prompts", dir_.Sub("prompts"), "--shadow-skip",
         "power-loss test: crash points of the install, not the candidate", "--out", bundle});
    Run({BinaryPath("otactl"), "publish", "--repo", dir_.Sub("repo"), "--bundle", bundle,
         "--targets-key", Key("targets"), "--snapshot-key", Key("snapshot"), "--timestamp-key",
         Key("timestamp")});
    auto sha = HashFileHex(bundle, HashAlgorithm::kSha256);
    EXPECT_TRUE(sha.ok());
    sizes_[version] = *fs_->FileSize(bundle);
    return sha.ok() ? *sha : "";
  }

  // Builds the delta bundle from -> to (both published) and publishes it.
  void PublishDelta(const std::string& from, const std::string& to) {
    const std::string delta = dir_.Sub("chat-" + from + "-" + to + ".otad");
    Run({BinaryPath("otactl"), "bundle", "delta", "--from", dir_.Sub("chat-" + from + ".otab"),
         "--to", dir_.Sub("chat-" + to + ".otab"), "--out", delta});
    Run({BinaryPath("otactl"), "publish", "--repo", dir_.Sub("repo"), "--bundle", delta,
         "--targets-key", Key("targets"), "--snapshot-key", Key("snapshot"), "--timestamp-key",
         Key("timestamp")});
  }

  // `ota-agent status --json` of a state folder (null if it failed).
  nlohmann::json Status(const std::string& state) {
    CommandResult status = Agent(state, {}, {"status", "--json"});
    EXPECT_EQ(status.exit_code, 0) << status.err;
    auto st = nlohmann::json::parse(status.out, nullptr, false);
    return st.is_object() ? st : nlohmann::json();
  }

  CommandResult Agent(const std::string& state, const std::vector<std::string>& env_vars,
                      const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"/usr/bin/env"};
    argv.insert(argv.end(), env_vars.begin(), env_vars.end());
    if (embedded_) {
      // The app's in-process updater (ota/agent.h) instead of ota-agent, for
      // `update --json` with or without a confirmation window.
      std::string window = "0";
      std::vector<std::string> rest = args;
      if (rest.size() >= 2 && rest[0] == "--confirm-window") {
        window = rest[1];
        rest.erase(rest.begin(), rest.begin() + 2);
      }
      if (rest == std::vector<std::string>{"update", "--json"}) {
        argv.push_back(BinaryPath("embedded-update"));
        argv.push_back(state);
        argv.push_back(window);
        return RunCommand(argv);
      }
    }
    argv.push_back(BinaryPath("ota-agent"));
    argv.push_back("--state-dir");
    argv.push_back(state);
    // The update table commits at once; tables of the window set their own.
    if (std::find(args.begin(), args.end(), "--confirm-window") == args.end()) {
      argv.push_back("--confirm-window");
      argv.push_back("0");
    }
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  }

  // The crash points an OTA_CRASH_TRACE run passed, in order (each line of
  // the trace is "<n> <point>", n counting from 1).
  std::vector<std::string> TracedPoints(const std::string& path) {
    std::vector<std::string> points;
    const std::string trace = ReadTestFile(path);
    std::size_t start = 0;
    while (start < trace.size()) {
      const std::size_t end = trace.find('\n', start);
      const std::string entry = trace.substr(start, end - start);
      const std::size_t space = entry.find(' ');
      EXPECT_EQ(entry.substr(0, space), std::to_string(points.size() + 1))
          << "trace line " << entry;
      points.push_back(entry.substr(space + 1));
      if (end == std::string::npos) break;
      start = end + 1;
    }
    return points;
  }

  // A run whose power was to be cut (SIGKILL) at a crash point, traced to its
  // own file so that the point it died at is known, not inferred.
  struct KillRun {
    CommandResult result;
    bool killed = false;             // Died of a signal (required: SIGKILL).
    std::vector<std::string> trace;  // The points it passed; if killed, the last is where.
  };

  // Runs `args` on `state` with OTA_CRASH_AT=`at` ("N" or "NAME+N", see
  // ota/common/crash_points.h).
  KillRun RunKilledAt(const std::string& state, const std::string& at,
                      const std::vector<std::string>& args) {
    KillRun run;
    const std::string trace = state + "-trace.txt";
    ota::testing::WriteTestFile(trace, "");
    run.result = Agent(state, {"OTA_CRASH_AT=" + at, "OTA_CRASH_TRACE=" + trace}, args);
    run.trace = TracedPoints(trace);
    run.killed = run.result.exit_code == -1;
    if (run.killed) {
      EXPECT_EQ(run.result.term_signal, SIGKILL) << "died of signal " << run.result.term_signal
                                                 << ", not of the power cut: " << run.result.err;
    }
    return run;
  }

  // Kills runs of `args` (each from a copy of base_) at every point of the
  // clean trace `points` from `anchor` on (and before it too if `from_start`),
  // handing each run to `check(state, run)`, and checks that each died of
  // SIGKILL exactly at the point aimed at (its own trace ends there). The
  // download before `anchor` passes a number of points that varies from run
  // to run (its writes follow the network's segments), so the points from
  // `anchor` on, the same in every run, are aimed at by their distance from
  // `anchor` ("NAME+N"). A last run aimed one point past the end must end by
  // itself. Every kind of point is killed at.
  template <typename Check>
  void KillAtEveryPoint(const std::vector<std::string>& points, const std::string& anchor,
                        bool from_start, const std::vector<std::string>& args,
                        const std::string& prefix, Check check) {
    const auto anchor_it = std::find(points.begin(), points.end(), anchor);
    ASSERT_NE(anchor_it, points.end()) << "no crash point " << anchor;
    const auto anchor_at = static_cast<std::size_t>(anchor_it - points.begin());
    const std::vector<std::string> tail(anchor_it, points.end());
    std::set<std::string> killed_kinds;
    int runs = 0;
    auto run_at = [&](const std::string& at) {
      const std::string state = dir_.Sub(prefix + std::to_string(++runs));
      Run({"/bin/cp", "-a", base_, state});
      KillRun run = RunKilledAt(state, at, args);
      if (run.killed && !run.trace.empty()) killed_kinds.insert(run.trace.back());
      check(state, run);
      return run;
    };
    if (from_start) {
      for (std::size_t k = 1; k <= anchor_at; ++k) {
        SCOPED_TRACE("killed at point " + std::to_string(k));
        const KillRun run = run_at(std::to_string(k));
        ASSERT_TRUE(run.killed) << "the agent was not killed: " << run.result.out;
        EXPECT_EQ(run.trace.size(), k) << "died at point " << run.trace.size() << ", not " << k;
        if (HasFailure()) return;  // The first broken row is enough.
      }
    }
    for (std::size_t d = 0; d <= tail.size(); ++d) {
      const bool past_end = d == tail.size();
      SCOPED_TRACE("aimed " + std::to_string(d) + " points after " + anchor + " (" +
                   (past_end ? std::string("past the end") : tail[d]) + ")");
      const KillRun run = run_at(anchor + "+" + std::to_string(d));
      if (HasFailure()) return;  // The first broken row is enough.
      const auto at = std::find(run.trace.begin(), run.trace.end(), anchor);
      ASSERT_NE(at, run.trace.end()) << "the run never reached " << anchor;
      const std::vector<std::string> run_tail(at, run.trace.end());
      if (past_end) {
        EXPECT_FALSE(run.killed) << "killed past the last point";
        EXPECT_EQ(run_tail, tail) << "the points after " << anchor
                                  << " differ from the clean run's";
      } else {
        ASSERT_TRUE(run.killed) << "the agent was not killed: " << run.result.out;
        ASSERT_EQ(run_tail.size(), d + 1) << "died at another point than aimed at";
        EXPECT_TRUE(std::equal(run_tail.begin(), run_tail.end(), tail.begin()))
            << "the points after " << anchor << " differ from the clean run's";
      }
      if (HasFailure()) return;
    }
    for (const std::string& kind :
         std::set<std::string>(from_start ? points.begin() : anchor_it, points.end())) {
      EXPECT_TRUE(killed_kinds.count(kind)) << "never killed at a point " << kind;
    }
  }

  // The id the active link names, after checking that the folder it names is
  // a complete version: every file of its bundle.json present with its hash.
  std::string VerifiedActiveId(const std::string& state) {
    auto link = fs_->ReadSymlink(state + "/active/chat");
    if (!link.ok()) return "(no active link: " + link.error().message + ")";
    const std::string prefix = "../versions/";
    if (link->rfind(prefix, 0) != 0) return "(bad link " + *link + ")";
    const std::string id = link->substr(prefix.size());
    const std::string folder = state + "/versions/" + id;
    auto text = fs_->ReadFile(folder + "/bundle.json", 1 << 20);
    if (!text.ok()) return "(incomplete version " + id + ": " + text.error().message + ")";
    auto manifest = manifest::ParseBundleManifest(*text);
    if (!manifest.ok()) return "(bad bundle.json in " + id + ")";
    for (const manifest::BundleFile& f : manifest->files) {
      auto sha = HashFileHex(folder + "/" + f.path, HashAlgorithm::kSha256);
      if (!sha.ok() || *sha != f.sha256) return "(file " + f.path + " of " + id + " is damaged)";
    }
    return id;
  }

  std::set<std::string> Listing(const std::string& folder) {
    auto names = fs_->ListDir(folder);
    return names.ok() ? std::set<std::string>(names->begin(), names->end())
                      : std::set<std::string>();
  }

  // The versions table, read directly (read-only) from the agent's database.
  std::set<std::string> DatabaseVersions(const std::string& state) {
    std::set<std::string> ids;
    sqlite3* db = nullptr;
    if (sqlite3_open_v2((state + "/agent.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) !=
        SQLITE_OK) {
      sqlite3_close(db);
      return {"(cannot open agent.db)"};
    }
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT id FROM versions", -1, &stmt, nullptr) == SQLITE_OK) {
      while (sqlite3_step(stmt) == SQLITE_ROW) {
        ids.insert(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
      }
    } else {
      ids.insert("(no versions table)");
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return ids;
  }

  // Serves a repository with 1.0.0, installs it into base_ (a state folder
  // every run starts from a copy of), then publishes 1.1.0.
  void InstallFirstAndPublishSecond() {
    v1_ = Publish("1.0.0", 1);
    const std::string line =
        server_.Start({BinaryPath("ota-server"), "--repo", dir_.Sub("repo"), "--port", "0", "--db",
                       dir_.Sub("server.db"), "--quiet"});
    const auto pos = line.find("http://");
    ASSERT_NE(pos, std::string::npos) << line;
    Run({BinaryPath("ota-agent"), "--state-dir", base_, "--server", line.substr(pos), "init",
         "--root", dir_.Sub("repo/metadata/root.json"), "--model", "chat"});
    CommandResult first = Agent(base_, {}, {"update", "--json"});
    ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
    ASSERT_EQ(VerifiedActiveId(base_), v1_);
    v2_ = Publish("1.1.0", 2);
    target_ = v2_;
    kept_ = {v1_, v2_};
  }

  // After recovery: the target version (1.1.0 unless a table sets another)
  // committed and active, exactly the versions to keep on disk (1.0.0 for
  // rollback), the store and the database agree, no download, unpack or
  // temporary link left over.
  void ExpectRecovered(const std::string& state) {
    ASSERT_EQ(VerifiedActiveId(state), target_);
    const nlohmann::json st = Status(state);
    ASSERT_TRUE(st.is_object());
    ASSERT_FALSE(st["deployments"].empty());
    EXPECT_EQ(st["deployments"][0]["version"], target_version_);
    EXPECT_EQ(st["deployments"][0]["state"], "committed") << st.dump();
    std::set<std::string> dirs = Listing(state + "/versions");
    EXPECT_EQ(dirs, DatabaseVersions(state));
    EXPECT_EQ(dirs, kept_) << "the previous version is kept for rollback, older ones collected";
    EXPECT_EQ(Listing(state + "/downloads"), std::set<std::string>{});
    ExpectNoTemporaryLinks(state);
  }

  // active/ holds the model's link and nothing else (no temporary link of an
  // interrupted switch).
  void ExpectNoTemporaryLinks(const std::string& state) {
    EXPECT_EQ(Listing(state + "/active"), std::set<std::string>{"chat"});
  }

  // One run of the update table: killed (one verified version active, then
  // the update finishes after the restart without fetching again what was
  // on disk) or, aimed past its last point, finished by itself.
  void CheckUpdateRun(const std::string& state, const KillRun& killed, const std::string& old_id,
                      std::map<std::string, int>& outcomes) {
    const std::vector<std::string> update = {"update", "--json"};
    if (!killed.killed) {
      // Fewer points than aimed at: the update ran to its end.
      ASSERT_EQ(killed.result.exit_code, 0) << killed.result.out << killed.result.err;
      ASSERT_NO_FATAL_FAILURE(ExpectRecovered(state));
      return;
    }
    // Power is cut: exactly one verified version is active.
    const std::string active = VerifiedActiveId(state);
    ASSERT_TRUE(active == old_id || active == target_) << active;
    ++outcomes[active == old_id ? "old" : "new"];
    std::uint64_t part_bytes = 0;
    if (auto size = fs_->FileSize(state + "/downloads/" + target_ + ".part"); size.ok()) {
      part_bytes = *size;
    }

    // Power comes back: the same update finishes.
    CommandResult resumed = Agent(state, {}, update);
    ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
    auto json = nlohmann::json::parse(resumed.out, nullptr, false);
    ASSERT_TRUE(json.is_array()) << resumed.out;
    ASSERT_NO_FATAL_FAILURE(ExpectRecovered(state));

    // Bytes on disk at the kill were not fetched again.
    std::uint64_t fetched = 0;
    for (const auto& o : json) fetched += o.value("bytes_fetched", std::uint64_t{0});
    EXPECT_LE(fetched + part_bytes, sizes_[target_version_] + kChunkAllowance)
        << "fetched " << fetched << " after a kill with " << part_bytes << " bytes on disk";
  }

  // The clean run was the process the table is for: the in-process updater
  // leaves the mark of its clean close (updater.closed), ota-agent none.
  void ExpectRanAs(const std::string& state) {
    auto marked = fs_->Exists(state + "/updater.closed");
    ASSERT_TRUE(marked.ok());
    EXPECT_EQ(*marked, embedded_) << (embedded_
                                          ? "embedded-update did not run"
                                          : "the in-process updater ran instead of ota-agent");
  }

  // Traces a clean run of `args` from a copy of base_; returns its points.
  std::vector<std::string> CleanTrace(const std::vector<std::string>& args, int expected_exit) {
    const std::string traced = dir_.Sub("traced");
    Run({"/bin/rm", "-rf", traced, dir_.Sub("trace.txt")});
    Run({"/bin/cp", "-a", base_, traced});
    CommandResult clean = Agent(traced, {"OTA_CRASH_TRACE=" + dir_.Sub("trace.txt")}, args);
    EXPECT_EQ(clean.exit_code, expected_exit) << clean.out << clean.err;
    ExpectRanAs(traced);
    clean_out_ = clean.out;
    return TracedPoints(dir_.Sub("trace.txt"));
  }

  std::unique_ptr<FileSystem> fs_;
  TempDir dir_;
  std::map<std::string, std::uint64_t> sizes_;
  ChildProcess server_;
  std::string base_ = dir_.Sub("base");
  std::string v1_;
  std::string v2_;
  // What ExpectRecovered expects (InstallFirstAndPublishSecond: 1.1.0 over 1.0.0).
  std::string target_;
  std::string target_version_ = "1.1.0";
  std::set<std::string> kept_;
  std::string clean_out_;  // stdout of the last CleanTrace run.
  // Updates run through the C API's in-process updater (embedded-update).
  bool embedded_ = false;
};

// The update tables (a full update, one that collects an old version, one
// through a delta, the confirmation window and its rollback), for the
// daemon's process (ota-agent) and for an app's process running the
// in-process updater of the C API.
class PowerLossUpdateTest : public PowerLossTest, public ::testing::WithParamInterface<bool> {};

TEST_P(PowerLossUpdateTest, KilledAtEveryCrashPointTheUpdateRecovers) {
  embedded_ = GetParam();
  ASSERT_NO_FATAL_FAILURE(InstallFirstAndPublishSecond());

  // Learn the crash points of the update from v1 to v2.
  const std::string traced = dir_.Sub("traced");
  Run({"/bin/cp", "-a", base_, traced});
  CommandResult clean =
      Agent(traced, {"OTA_CRASH_TRACE=" + dir_.Sub("trace.txt")}, {"update", "--json"});
  ASSERT_EQ(clean.exit_code, 0) << clean.out << clean.err;
  ASSERT_EQ(VerifiedActiveId(traced), v2_);
  ExpectRanAs(traced);
  const std::vector<std::string> points = TracedPoints(dir_.Sub("trace.txt"));
  // Every kind of step is on the table.
  const std::set<std::string> kinds(points.begin(), points.end());
  for (const char* expected :
       {"fs.append", "fs.sync", "fs.rename", "fs.syncdir", "fs.symlink", "db.commit", "db.write",
        "state.verifying", "state.switching", "state.committed"}) {
    EXPECT_TRUE(kinds.count(expected)) << "no crash point " << expected;
  }
  ASSERT_GT(points.size(), 20u);

  std::map<std::string, int> outcomes;  // Active version at the kill -> count.
  const std::vector<std::string> update = {"update", "--json"};
  KillAtEveryPoint(points, "state.verifying", /*from_start=*/true, update, "run-",
                   [&](const std::string& state, const KillRun& killed) {
                     CheckUpdateRun(state, killed, v1_, outcomes);
                   });
  // Both sides of the switch were exercised.
  EXPECT_GT(outcomes["old"], 0);
  EXPECT_GT(outcomes["new"], 0);
}

INSTANTIATE_TEST_SUITE_P(Processes, PowerLossUpdateTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return std::string(info.param ? "EmbeddedUpdater" : "Daemon");
                         });

// A third version with two kept (keep_versions 2, the default): the update
// from 1.1.0 to 1.2.0 ends by collecting 1.0.0 from disk and database. A kill
// at every point, the collection's included, recovers to 1.2.0 active with
// exactly 1.1.0 and 1.2.0 kept.
TEST_P(PowerLossUpdateTest, KilledWhileCollectingAnOldVersionTheUpdateRecovers) {
  embedded_ = GetParam();
  ASSERT_NO_FATAL_FAILURE(InstallFirstAndPublishSecond());
  CommandResult second = Agent(base_, {}, {"update", "--json"});
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err;
  ASSERT_EQ(VerifiedActiveId(base_), v2_);
  target_ = Publish("1.2.0", 3);
  target_version_ = "1.2.0";
  kept_ = {v2_, target_};

  const std::vector<std::string> update = {"update", "--json"};
  const std::vector<std::string> points = CleanTrace(update, 0);
  ASSERT_GT(points.size(), 20u);
  // The collection is on the table: the old version's folder is removed
  // after the new one is committed.
  const auto committed = std::find(points.begin(), points.end(), "state.committed");
  ASSERT_NE(committed, points.end());
  EXPECT_NE(std::find(committed, points.end(), "fs.removeall"), points.end())
      << "no removal after the commit";

  std::map<std::string, int> outcomes;
  KillAtEveryPoint(points, "state.verifying", /*from_start=*/false, update, "gc-run-",
                   [&](const std::string& state, const KillRun& killed) {
                     CheckUpdateRun(state, killed, v2_, outcomes);
                   });
  EXPECT_GT(outcomes["old"], 0);
  EXPECT_GT(outcomes["new"], 0);
}

// The delta install path: 1.1.0 is 1.0.0 slightly fine-tuned and published
// with a delta from 1.0.0, so the update fetches the delta and rebuilds
// 1.1.0 from the installed version. A kill at every point recovers to
// 1.1.0 active and 1.0.0 kept.
TEST_P(PowerLossUpdateTest, KilledWhileInstallingThroughADeltaTheUpdateRecovers) {
  embedded_ = GetParam();
  v1_ = Publish("1.0.0", 1);
  const std::string line = server_.Start({BinaryPath("ota-server"), "--repo", dir_.Sub("repo"),
                                          "--port", "0", "--db", dir_.Sub("server.db"), "--quiet"});
  const auto pos = line.find("http://");
  ASSERT_NE(pos, std::string::npos) << line;
  Run({BinaryPath("ota-agent"), "--state-dir", base_, "--server", line.substr(pos), "init",
       "--root", dir_.Sub("repo/metadata/root.json"), "--model", "chat"});
  CommandResult first = Agent(base_, {}, {"update", "--json"});
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  ASSERT_EQ(VerifiedActiveId(base_), v1_);
  v2_ = Publish("1.1.0", 1, {"--noise", "0.001", "--noise-seed", "2"});
  PublishDelta("1.0.0", "1.1.0");
  target_ = v2_;
  kept_ = {v1_, v2_};

  const std::vector<std::string> update = {"update", "--json"};
  const std::vector<std::string> points = CleanTrace(update, 0);
  ASSERT_GT(points.size(), 20u);
  // The clean run did install through the delta.
  const nlohmann::json out = nlohmann::json::parse(clean_out_, nullptr, false);
  ASSERT_TRUE(out.is_array() && out.size() == 1) << clean_out_;
  const std::uint64_t delta_bytes = *fs_->FileSize(dir_.Sub("chat-1.0.0-1.1.0.otad"));
  ASSERT_LT(delta_bytes, sizes_["1.1.0"]);
  EXPECT_EQ(out[0].value("bytes_fetched", std::uint64_t{0}), delta_bytes) << clean_out_;
  std::map<std::string, int> outcomes;
  KillAtEveryPoint(points, "state.verifying", /*from_start=*/true, update, "delta-run-",
                   [&](const std::string& state, const KillRun& killed) {
                     CheckUpdateRun(state, killed, v1_, outcomes);
                   });
  EXPECT_GT(outcomes["old"], 0);
  EXPECT_GT(outcomes["new"], 0);
}

// The confirmation window's writes: the app reported three failed sessions
// on 1.1.0, so the update activates it, confirms nothing and rolls back. A
// kill at every point from `confirming` on (window start, restart count,
// rollback attempts, the switch back, the final state) leaves one verified
// version active, and after the restart 1.0.0 is active, the deployment has
// failed with the confirmation's reason, and the store and database agree.
TEST_P(PowerLossUpdateTest, KilledWhileConfirmingOrRollingBackEndsOnThePreviousVersion) {
  embedded_ = GetParam();
  ASSERT_NO_FATAL_FAILURE(InstallFirstAndPublishSecond());
  {
    // Stamped an hour ahead: after the activation of every run below.
    ota::testing::ManualClock later(std::chrono::system_clock::now() + std::chrono::hours(1));
    auto sessions = agent::SessionLog::Open(base_, &later);
    ASSERT_OK(sessions);
    for (int i = 0; i < 3; ++i) ASSERT_OK((*sessions)->Report(v2_, false, "decode error"));
  }
  const std::vector<std::string> window = {"--confirm-window", "600", "update", "--json"};
  const std::string traced = dir_.Sub("traced");
  Run({"/bin/cp", "-a", base_, traced});
  CommandResult clean = Agent(traced, {"OTA_CRASH_TRACE=" + dir_.Sub("trace.txt")}, window);
  ASSERT_EQ(clean.exit_code, 3) << clean.out << clean.err;
  ASSERT_EQ(VerifiedActiveId(traced), v1_);
  ExpectRanAs(traced);
  const std::vector<std::string> points = TracedPoints(dir_.Sub("trace.txt"));
  const auto first = std::find(points.begin(), points.end(), "state.confirming");
  ASSERT_NE(first, points.end());
  const std::set<std::string> kinds(first, points.end());
  for (const char* expected : {"confirm.start", "state.rolling-back", "rollback.activate",
                               "fs.symlink", "db.write", "state.failed"}) {
    EXPECT_TRUE(kinds.count(expected)) << "no crash point " << expected;
  }
  std::map<std::string, int> outcomes;
  KillAtEveryPoint(
      points, "state.confirming", /*from_start=*/false, window, "confirm-run-",
      [&](const std::string& state, const KillRun& killed) {
        if (killed.killed) {
          const std::string active = VerifiedActiveId(state);
          ASSERT_TRUE(active == v1_ || active == v2_) << active;
          ++outcomes[active == v1_ ? "old" : "new"];
        } else {
          // Fewer points than aimed at: the update ran to its end, rolled back.
          ASSERT_EQ(killed.result.exit_code, 3) << killed.result.out << killed.result.err;
        }
        CommandResult resumed = Agent(state, {}, window);
        ASSERT_TRUE(resumed.exit_code == 0 || resumed.exit_code == 3) << resumed.out << resumed.err;
        ASSERT_EQ(VerifiedActiveId(state), v1_);
        const nlohmann::json st = Status(state);
        ASSERT_TRUE(st.is_object());
        ASSERT_FALSE(st["deployments"].empty());
        EXPECT_EQ(st["deployments"][0]["version"], "1.1.0");
        EXPECT_EQ(st["deployments"][0]["state"], "failed") << st.dump();
        EXPECT_EQ(st["deployments"][0]["error"],
                  "incompatible: confirmation failed: 3 of 3 sessions failed: decode error");
        const std::set<std::string> dirs = Listing(state + "/versions");
        EXPECT_EQ(dirs, DatabaseVersions(state));
        EXPECT_TRUE(dirs.count(v1_));
        ExpectNoTemporaryLinks(state);
      });
  EXPECT_GT(outcomes["old"], 0);
  EXPECT_GT(outcomes["new"], 0);
}

// The same update in process, through a filesystem that forgets every write
// and directory change not yet made durable when the power is cut after the
// n-th file operation: proves the order of fsyncs, not only of steps.
TEST_F(PowerLossTest, UnsyncedWritesLostAtEveryStepNeverBreakTheStore) {
  ASSERT_NO_FATAL_FAILURE(InstallFirstAndPublishSecond());
  auto owned = MakePosixEnv();
  // Runs the update with the power cut after file operation `crash_after`
  // (0: never). At the cut the database is copied as it is, and put back with
  // the unsynced file changes dropped: what the agent commits after the cut
  // is lost, as on a device.
  auto run = [&](const std::string& state, std::uint64_t crash_after) -> std::uint64_t {
    ota::DroppingFileSystem dropping(*owned->env().fs, state + "-aside");
    Env env = owned->env();
    env.fs = &dropping;
    dropping.CrashAfter(crash_after);
    dropping.KeepAtCut({state + "/agent.db", state + "/agent.db-wal"});
    {
      agent::AgentOptions options;
      options.state_dir = state;
      options.download_attempts = 1;
      options.space_margin_bytes = 0;
      options.confirm_window = std::chrono::seconds(0);
      auto a = agent::Agent::Open(env, options);
      if (crash_after == 0) EXPECT_OK(a);
      if (!a.ok()) {
        EXPECT_TRUE(dropping.power_lost()) << a.error().ToString();
        EXPECT_NE(a.error().message.find("power lost"), std::string::npos) << a.error().ToString();
      } else {
        auto outcomes = (*a)->Update(nullptr);
        if (!outcomes.ok()) {
          EXPECT_TRUE(dropping.power_lost()) << outcomes.error().ToString();
          EXPECT_NE(outcomes.error().message.find("power lost"), std::string::npos)
              << outcomes.error().ToString();
        } else {
          EXPECT_EQ(outcomes->size(), 1u);
          for (const agent::UpdateOutcome& o : *outcomes) {
            if (o.kind == agent::UpdateOutcome::Kind::kUpdated) continue;
            EXPECT_TRUE(dropping.power_lost()) << "the update did not finish";
            EXPECT_EQ(o.kind, agent::UpdateOutcome::Kind::kFailed);
            EXPECT_TRUE(o.error.has_value());
            if (o.error) {
              EXPECT_NE(o.error->message.find("power lost"), std::string::npos)
                  << o.error->ToString();
            }
          }
        }
      }
    }
    dropping.CutPower();
    EXPECT_OK(dropping.DropUnsynced());
    // The shared-memory index is rebuilt from the WAL by the next open.
    EXPECT_OK(owned->env().fs->RemoveAll(state + "/agent.db-shm"));
    return dropping.mutations();
  };
  const std::string clean = dir_.Sub("clean");
  Run({"/bin/cp", "-a", base_, clean});
  const std::uint64_t total = run(clean, 0);
  ASSERT_NO_FATAL_FAILURE(ExpectRecovered(clean));  // Everything synced: nothing lost.
  ASSERT_GT(total, 20u);

  for (std::uint64_t n = 1; n < total; ++n) {
    SCOPED_TRACE("power cut after file operation " + std::to_string(n) + " of " +
                 std::to_string(total));
    const std::string state = dir_.Sub("drop-" + std::to_string(n));
    Run({"/bin/cp", "-a", base_, state});
    run(state, n);
    const std::string active = VerifiedActiveId(state);
    ASSERT_TRUE(active == v1_ || active == v2_) << active;
    CommandResult resumed = Agent(state, {}, {"update", "--json"});
    ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
    ASSERT_NO_FATAL_FAILURE(ExpectRecovered(state));
    if (HasFailure()) return;  // The first broken row is enough.
  }
}

// A full disk while downloading and while unpacking: the deployment fails
// with no-space, the active version is intact, the partial download and the
// staging folder are removed, and the update succeeds once space is back.
TEST_F(PowerLossTest, DiskFullFailsCleanlyAndGivesTheSpaceBack) {
  ASSERT_NO_FATAL_FAILURE(InstallFirstAndPublishSecond());
  auto owned = MakePosixEnv();
  const std::uint64_t bundle = sizes_["1.1.0"];
  for (std::uint64_t limit : {bundle / 2, bundle + bundle / 4}) {
    SCOPED_TRACE("space for " + std::to_string(limit) + " bytes, bundle of " +
                 std::to_string(bundle));
    const std::string state = dir_.Sub("full-" + std::to_string(limit));
    Run({"/bin/cp", "-a", base_, state});
    ota::DroppingFileSystem full(*owned->env().fs, state + "-aside");
    full.SetSpaceLimit(limit);
    Env env = owned->env();
    env.fs = &full;
    agent::AgentOptions options;
    options.state_dir = state;
    options.download_attempts = 1;
    options.space_margin_bytes = 0;
    options.confirm_window = std::chrono::seconds(0);
    {
      auto a = agent::Agent::Open(env, options);
      ASSERT_OK(a);
      auto outcomes = (*a)->Update(nullptr);
      ASSERT_OK(outcomes);
      ASSERT_EQ(outcomes->size(), 1u);
      const agent::UpdateOutcome& o = (*outcomes)[0];
      EXPECT_EQ(o.kind, agent::UpdateOutcome::Kind::kFailed);
      ASSERT_TRUE(o.error.has_value());
      EXPECT_EQ(o.error->code, ErrorCode::kNoSpace) << o.error->ToString();
    }
    EXPECT_EQ(VerifiedActiveId(state), v1_);
    EXPECT_TRUE(Listing(state + "/downloads").empty());
    const std::set<std::string> dirs = Listing(state + "/versions");
    EXPECT_EQ(dirs, std::set<std::string>{v1_});
    EXPECT_EQ(DatabaseVersions(state), dirs);

    CommandResult again = Agent(state, {}, {"update", "--json"});
    ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
    ASSERT_NO_FATAL_FAILURE(ExpectRecovered(state));
  }
}

}  // namespace
}  // namespace ota
