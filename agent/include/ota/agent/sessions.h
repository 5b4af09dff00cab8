// Session outcomes: apps say how each inference session on a version went
// (ok, or failed with a message), and the agent reads them later, e.g. during
// the confirmation window after an activation.
//
// Storage: <state>/sessions.db, a SQLite database in WAL mode (schema in
// agent/session_migrations/) written by the app's process and read by the
// agent's. It is separate from agent.db so apps never touch the agent's own
// state, and WAL lets the agent read while apps write.
#ifndef OTA_AGENT_SESSIONS_H_
#define OTA_AGENT_SESSIONS_H_

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ota/common/env.h"
#include "ota/common/result.h"

namespace ota {
class Database;
}

namespace ota::agent {

inline constexpr char kSessionsDbFile[] = "sessions.db";
// Longer messages are cut to this many bytes.
inline constexpr std::size_t kMaxSessionMessageBytes = 4096;

struct SessionOutcome {
  std::string version_id;
  bool ok = false;
  std::string message;
  std::chrono::system_clock::time_point time;  // Millisecond precision.
};

// The app side. Thread-safe (one connection, guarded).
class SessionLog {
 public:
  // Opens (creating) <state>/sessions.db. `clock` stamps reports and must
  // outlive the log; nullptr uses the system clock. kIo if it cannot be opened.
  static Result<std::unique_ptr<SessionLog>> Open(const std::string& state_dir,
                                                  Clock* clock = nullptr);
  ~SessionLog();

  // Records one session's outcome, durably. kInvalidArgument when version_id
  // is not 64 lower-case hex digits; the message is cut to
  // kMaxSessionMessageBytes.
  Status Report(const std::string& version_id, bool ok, const std::string& message);

 private:
  SessionLog(std::unique_ptr<Database> db, std::unique_ptr<Clock> owned, Clock* clock);
  std::mutex mu_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<Clock> owned_clock_;
  Clock* clock_;
};

// The agent side: outcomes reported for `version_id` at or after `since`,
// oldest first. An absent sessions.db means none. Errors: kInvalidArgument for
// a malformed id, kIo / kRestartDeployment when the database is unusable.
Result<std::vector<SessionOutcome>> ReadSessionOutcomes(
    const std::string& state_dir, const std::string& version_id,
    std::chrono::system_clock::time_point since);

// Sessions of one version within one hour: counts only.
struct SessionHourCount {
  std::string version_id;
  std::chrono::system_clock::time_point hour;  // Start of the hour (UTC).
  std::int64_t sessions = 0;
  std::int64_t failed = 0;
};

// Outcomes reported at or after `since` and before `until`, counted per
// version and hour, by hour then version id. An absent sessions.db means
// none. Errors: kIo / kRestartDeployment when the database is unusable.
Result<std::vector<SessionHourCount>> CountSessionsByHour(
    const std::string& state_dir, std::chrono::system_clock::time_point since,
    std::chrono::system_clock::time_point until);

}  // namespace ota::agent

#endif  // OTA_AGENT_SESSIONS_H_
