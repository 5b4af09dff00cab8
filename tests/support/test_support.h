// Shared helpers for all test binaries.
#ifndef OTA_TESTS_SUPPORT_TEST_SUPPORT_H_
#define OTA_TESTS_SUPPORT_TEST_SUPPORT_H_

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "ota/common/env.h"
#include "ota/common/result.h"

namespace ota::testing {

// Where simulated fleets live: /dev/shm (RAM) where there is one, else the
// system's temporary folder. Every device makes dozens of fsyncs per update
// (SQLite commits, version folders); on a disk shared with builds 50 devices
// took about a minute instead of about ten seconds, with nothing to learn
// from it in those tests: power_loss_test covers durability.
std::string FleetParentDir();

// A fresh directory under the test temp root, removed by the destructor.
class TempDir {
 public:
  TempDir();
  // A folder under `parent` instead of the system's temporary folder.
  explicit TempDir(const std::string& parent);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A clock that only moves when told to. SleepFor advances it instantly.
class ManualClock : public Clock {
 public:
  explicit ManualClock(
      std::chrono::system_clock::time_point start =
          std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000)));
  std::chrono::system_clock::time_point Now() const override { return now_; }
  std::chrono::steady_clock::time_point Monotonic() const override { return mono_; }
  void SleepFor(std::chrono::milliseconds d) override { Advance(d); }
  void Advance(std::chrono::milliseconds d) {
    now_ += d;
    mono_ += d;
  }
  void Set(std::chrono::system_clock::time_point t) { now_ = t; }

 private:
  std::chrono::system_clock::time_point now_;
  std::chrono::steady_clock::time_point mono_;
};

// Writes bytes to a file (test setup only; aborts the test on failure).
void WriteTestFile(const std::string& path, const std::string& bytes);
// n bytes of a xorshift stream from `seed`: the same bytes on every platform.
std::vector<std::uint8_t> PseudoBytes(std::size_t n, std::uint64_t seed);

std::string ReadTestFile(const std::string& path);

// Path of a built executable (by target name) in the build tree.
std::string BinaryPath(const std::string& target_name);

struct CommandResult {
  int exit_code = -1;   // -1 if it did not exit normally.
  int term_signal = 0;  // The signal that ended it (0 if it exited or was not reaped).
  std::string out;
  std::string err;
};

// Runs a program to completion with no shell involved, capturing output.
CommandResult RunCommand(const std::vector<std::string>& argv);

// Runs the built otactl with `args`; a test failure if it does not exit with
// `expected_exit` (its stderr is shown).
CommandResult RunOtactl(std::vector<std::string> args, int expected_exit = 0);

// Creates a token in the ota-server database `db_path` with the built
// ota-server: `kind` "token" (operator) or "enrollment-token" (what new
// devices enroll with). Returns the token text.
std::string CreateServerToken(const std::string& db_path, const std::string& kind,
                              const std::string& name);

// Under `dir`: keys/<role>.key for root, targets, snapshot, timestamp and
// `extra_roles`; repo/ initialised and signed with the first four; and
// prompts/chat.txt for bundles to carry. `consistent_snapshot`: files are
// also written under version- and hash-prefixed names, so a reader holding
// older metadata never meets a file rewritten in place.
void InitSignedRepository(const TempDir& dir, const std::vector<std::string>& extra_roles = {},
                          bool consistent_snapshot = false);

// A long-running child process (e.g. ota-server). Start() returns once the
// child printed its first stdout line (its readiness signal), so tests need
// no sleeps. The destructor sends SIGTERM and reaps the child.
class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Starts argv[0] and returns its first stdout line (empty on failure).
  std::string Start(const std::vector<std::string>& argv);
  // The next stdout line (blocks until it comes; empty at end of output).
  std::string ReadLine();
  // SIGTERM, then wait; returns the exit code (-1 if killed by a signal).
  int Stop();
  // SIGKILL, then wait.
  void Kill();
  int pid() const { return pid_; }

 private:
  int pid_ = -1;
  int stdout_fd_ = -1;
};

}  // namespace ota::testing

// gtest assertions for Result/Status.
#define ASSERT_OK(expr)                                                  \
  do {                                                                   \
    const auto& ota_assert_r_ = (expr);                                  \
    ASSERT_TRUE(ota_assert_r_.ok()) << ota_assert_r_.error().ToString(); \
  } while (false)
#define EXPECT_OK(expr)                                                  \
  do {                                                                   \
    const auto& ota_expect_r_ = (expr);                                  \
    EXPECT_TRUE(ota_expect_r_.ok()) << ota_expect_r_.error().ToString(); \
  } while (false)

#endif  // OTA_TESTS_SUPPORT_TEST_SUPPORT_H_
