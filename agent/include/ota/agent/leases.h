// Session leases: an app holds a lease on a model version for as long as an
// inference session uses its files, so the agent never switches or removes a
// version under a running session.
//
// Mechanism (docs/architecture.md "Session leases and drain"): one lock file
// per installed version, <state>/leases/<version id>.lock. A lease is one
// open file description of that file holding flock(LOCK_SH). flock locks
// belong to the open file description, so every lease is independent: many
// threads of one process and many processes hold leases side by side, and the
// kernel drops a dead holder's locks with its last descriptor, so a crashed
// app never blocks the agent. The agent takes LOCK_EX (never blocking) on a
// version's lock file to learn that nobody holds it, and keeps it for the
// instant it needs the version to stay unleased: the pointer switch under the
// `defer` policy, and the removal of a version folder. An Acquire that meets
// LOCK_EX re-reads the pointer and retries until its bound, so it never waits
// longer than the bound and never leases a version being removed.
//
// Apps do not take the agent's exclusive state-folder lock (agent.lock); they
// only read the active pointers and bundle.json files and lock lease files.
#ifndef OTA_AGENT_LEASES_H_
#define OTA_AGENT_LEASES_H_

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ota/common/env.h"
#include "ota/common/result.h"

namespace ota::agent {

// How long Acquire may wait while a model switches versions, unless the
// agent's settings or LeaseOptions say otherwise.
inline constexpr std::chrono::milliseconds kDefaultAcquireBound{200};

// One file of a leased bundle.
struct LeaseFile {
  std::string relative_path;  // As bundle.json lists it, e.g. "prompts/chat.txt".
  std::string path;           // Absolute path inside the version folder.
  std::string role;           // "model", "prompt", "tool-schema", "eval" or "other".
};

// What a lease pins: immutable once the version folder exists.
struct LeasedVersion {
  std::string model;
  std::string id;       // sha256 of the bundle; also the version folder's name.
  std::string version;  // Semantic version from bundle.json.
  std::string dir;      // <state>/versions/<id>
  std::string model_path;
  std::vector<LeaseFile> files;
};

// A held lease. Move-only; releases on destruction. The paths it returns stay
// valid (the files are neither replaced nor removed) until Release().
// Not thread-safe itself; hand it to one thread at a time.
class Lease {
 public:
  Lease() = default;
  Lease(Lease&& other) noexcept;
  Lease& operator=(Lease&& other) noexcept;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease();

  bool held() const { return lock_ != nullptr; }
  const LeasedVersion& info() const { return *info_; }
  const std::string& model() const { return info_->model; }
  const std::string& version_id() const { return info_->id; }
  const std::string& version() const { return info_->version; }
  const std::string& model_path() const { return info_->model_path; }
  const std::vector<LeaseFile>& files() const { return info_->files; }
  // Absolute path of the bundle file listed as `relative_path`, if listed.
  std::optional<std::string> FilePath(std::string_view relative_path) const;

  // Ends the lease (idempotent). The paths must not be used afterwards.
  void Release();

 private:
  friend class LeaseManager;
  Lease(std::shared_ptr<const LeasedVersion> info, std::unique_ptr<FileLock> lock)
      : info_(std::move(info)), lock_(std::move(lock)) {}
  std::shared_ptr<const LeasedVersion> info_;
  std::unique_ptr<FileLock> lock_;  // Holds the shared lock while the lease lives.
};

struct LeaseOptions {
  std::string state_dir;
  // Longest an Acquire waits while the model's version is being switched
  // away or removed. Unset: the agent's setting in <state>/leases/settings.json
  // (written by the agent from AgentOptions::lease_acquire_bound), else
  // kDefaultAcquireBound.
  std::optional<std::chrono::milliseconds> acquire_bound;
  // Measures the bound; nullptr uses the system clock.
  Clock* clock = nullptr;
  // Pauses between attempts while a switch is in progress; empty uses
  // std::this_thread::sleep_for. Tests pass one that advances a fake clock.
  std::function<void(std::chrono::microseconds)> pause;
  // The lock files' platform; nullptr uses DefaultPlatform().
  Platform* platform = nullptr;
};

// Hands out leases for one state folder. Thread-safe: any number of threads
// may call Acquire at once. Works in the agent's process and in any other.
class LeaseManager {
 public:
  // kNotFound if the state folder has no active/ folder (not an agent's
  // state folder, or nothing installed yet is fine: active/ is created at
  // enrolment).
  static Result<std::unique_ptr<LeaseManager>> Open(LeaseOptions options);
  ~LeaseManager();

  // Leases the model's active version. Errors:
  //   kInvalidArgument  not a valid model name;
  //   kNotFound         no version of the model is active;
  //   kRetryLater       the model is switching versions and the switch took
  //                     longer than the acquire bound: retry shortly;
  //   kIntegrity        the version folder's bundle.json is unreadable;
  //   kIo               the lease file cannot be opened.
  Result<Lease> Acquire(std::string_view model);

  // The model's active version id, without leasing it (it may change at any
  // moment). nullopt when none is active.
  Result<std::optional<std::string>> ActiveVersionId(std::string_view model) const;

  std::chrono::milliseconds acquire_bound() const { return acquire_bound_; }
  const std::string& state_dir() const { return state_dir_; }

 private:
  LeaseManager(LeaseOptions options, std::chrono::milliseconds bound,
               std::unique_ptr<Clock> owned_clock);
  Result<std::shared_ptr<const LeasedVersion>> Describe(const std::string& model,
                                                        const std::string& id);

  std::string state_dir_;
  std::chrono::milliseconds acquire_bound_;
  std::unique_ptr<Clock> owned_clock_;
  Clock* clock_;
  Platform* platform_;
  std::function<void(std::chrono::microseconds)> pause_;
  std::mutex mu_;  // Guards cache_.
  // Version folders are immutable, so what bundle.json says is cached by id.
  std::map<std::string, std::shared_ptr<const LeasedVersion>> cache_;
};

// The lease folder and the agent's settings file for apps. Called by the
// agent when it opens a state folder.
Status PrepareLeaseFolder(const std::string& state_dir, std::chrono::milliseconds acquire_bound);

}  // namespace ota::agent

#endif  // OTA_AGENT_LEASES_H_
