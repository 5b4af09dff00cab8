// The in-process updater of the C API (ota/agent.h, "The in-process
// updater"): an Agent opened in the app's process, driven by the app's
// calls and by one background thread for get_model's background updates.
// No C++ exception crosses the boundary.
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "c_api_internal.h"
#include "device_probe.h"
#include "host_transport.h"
#include "ota/agent/agent.h"
#include "ota/common/crash_points.h"
#include "ota/common/env.h"
#include "ota/common/filesystem.h"
#include "ota/common/log.h"
#include "ota/manifest/canonical_json.h"
#include "ota/manifest/download_policy.h"
#include "state_folder.h"

using ota::agent::capi::Fail;
using ota::agent::capi::Guard;

struct ota_updater {
  std::unique_ptr<ota::OwnedEnv> owned;
  std::unique_ptr<ota::FileSystem> crashing_fs;
  ota::Env env;
  std::unique_ptr<ota::agent::HostTransportClient> transport;
  ota::agent::AgentOptions options;
  std::unique_ptr<ota::agent::Agent> agent;
  ota_agent* app = nullptr;

  // Held while the agent runs (it is driven from one thread at a time), by
  // the thread `runner` names.
  std::mutex run_mu;
  std::atomic<std::thread::id> runner{};
  std::atomic<bool> cancel{false};
  // Raised by every cancel: a call that was waiting for its turn when a
  // cancel came gives up instead of starting.
  std::atomic<std::uint64_t> cancel_epoch{0};
  std::atomic<bool> closing{false};  // Set by close: no cycle starts any more.

  std::mutex conditions_mu;
  std::optional<ota::manifest::HostConditions> conditions;

  // Guards background, background_running and background_result.
  std::mutex background_mu;
  std::condition_variable background_done;
  std::thread background;
  bool background_running = false;
  // How the last background cycle ended, until ota_updater_wait takes it.
  struct CycleResult {
    ota_status status = OTA_OK;
    std::string error;  // ota_last_error() of the cycle's thread, if it failed.
    std::string json;   // Its outcomes; empty when it ended before any.
  };
  std::optional<CycleResult> background_result;
};

namespace {

using ota::ErrorCode;
using ota::MakeError;
using ota::Result;
using ota::Status;

// Written by a clean ota_updater_close, removed by the next open: an app
// that closed its updater and started again is not a crash loop of a
// version in its confirmation window (only starts without it count).
constexpr char kCleanCloseFile[] = "updater.closed";

char* CopyString(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out == nullptr) return nullptr;
  std::memcpy(out, s.c_str(), s.size() + 1);
  return out;
}

// A JSON array of JSON texts.
std::string JsonArray(const std::vector<std::string>& items) {
  std::string out = "[";
  for (const std::string& item : items) out += (out.size() > 1 ? "," : "") + item;
  return out + "]";
}

Status Invalid(const std::string& message) {
  return MakeError(ErrorCode::kInvalidArgument, message);
}

// The first open of a state folder enrolls it with the config's server.
Status EnrollIfNew(ota::Env& env, const ota_updater_config& c) {
  OTA_ASSIGN_OR_RETURN(bool enrolled,
                       env.fs->Exists(ota::JoinPath(c.state_dir, ota::agent::kDbName)));
  if (enrolled) return ota::Ok();
  if (c.server_url == nullptr || c.trusted_root_file == nullptr || c.model_count == 0 ||
      c.models == nullptr) {
    return Invalid(std::string(c.state_dir) +
                   " is not enrolled yet: server_url, trusted_root_file and models are required");
  }
  ota::agent::EnrollOptions e;
  e.state_dir = c.state_dir;
  e.server_url = c.server_url;
  auto root = env.fs->ReadFile(c.trusted_root_file, 1 << 20);
  if (!root.ok()) {
    return Invalid(std::string("trusted_root_file ") + c.trusted_root_file + ": " +
                   root.error().message);
  }
  e.trusted_root_json = *root;
  for (std::size_t i = 0; i < c.model_count; ++i) {
    if (c.models[i] == nullptr) return Invalid("models[" + std::to_string(i) + "] is NULL");
    e.models.emplace_back(c.models[i]);
  }
  if (c.enrollment_token != nullptr) e.enrollment_token = c.enrollment_token;
  if (c.ca_bundle_file != nullptr) e.ca_bundle_file = c.ca_bundle_file;
  return ota::agent::Agent::Enroll(env, e);
}

// The host's device facts, checked as the agent reads them, then kept as
// the state folder's device-facts.json.
Status WriteDeviceFacts(ota::Env& env, const std::string& state_dir, const char* json) {
  if (json == nullptr) return ota::Ok();
  auto parsed = ota::manifest::ParseJsonStrict(json);
  if (!parsed.ok()) return Invalid("device_facts_json: " + parsed.error().message);
  ota::rollout::DeviceCapabilities scratch;
  Status applied = ota::agent::ApplyDeviceFacts(*parsed, scratch);
  if (!applied.ok()) return Invalid("device_facts_json: " + applied.error().message);
  return ota::WriteFileAtomic(*env.fs, ota::JoinPath(state_dir, ota::agent::kDeviceFactsFile),
                              parsed->dump());
}

Status Configure(ota_updater& u, const ota_updater_config& c) {
  ota::agent::AgentOptions& o = u.options;
  o.state_dir = c.state_dir;
  if (c.app_version != nullptr) o.app_version = c.app_version;
  if (c.confirm_sessions < -1 || c.confirm_sessions > 1000) {
    return Invalid("confirm_sessions must be -1 (the default) or 0 to 1000");
  }
  if (c.confirm_sessions >= 0) o.confirm_sessions = c.confirm_sessions;
  if (c.confirm_window_seconds < -1 || c.confirm_window_seconds > 30L * 24 * 3600) {
    return Invalid("confirm_window_seconds must be -1 (the default) or 0 to 2592000");
  }
  if (c.confirm_window_seconds >= 0) {
    o.confirm_window = std::chrono::seconds(c.confirm_window_seconds);
  }
  if (c.download_policy_json != nullptr) {
    auto parsed = ota::manifest::ParseJsonStrict(c.download_policy_json);
    if (!parsed.ok()) return Invalid("download_policy_json: " + parsed.error().message);
    OTA_ASSIGN_OR_RETURN(ota::manifest::DownloadPolicy policy,
                         ota::manifest::ParseDownloadPolicy(*parsed, "download_policy_json"));
    o.download_policy =
        ota::manifest::OverlayDownloadPolicy(ota::manifest::DefaultDownloadPolicy(), policy);
  }
  if (c.drain_policy != nullptr) {
    auto policy = ota::agent::ParseDrainPolicy(c.drain_policy);
    if (!policy) {
      return Invalid(std::string("drain_policy must be \"defer\" or \"switch-new-first\" (got \"") +
                     c.drain_policy + "\")");
    }
    o.drain.policy = *policy;
  }
  if (c.drain_deadline_ms < -1 || c.drain_deadline_ms > 24LL * 3600 * 1000) {
    return Invalid("drain_deadline_ms must be -1 (the default) or 0 to 86400000");
  }
  if (c.drain_deadline_ms >= 0) o.drain.deadline = std::chrono::milliseconds(c.drain_deadline_ms);
  o.cancel = &u.cancel;
  ota_updater* self = &u;
  o.conditions = [self]() -> Result<ota::manifest::HostConditions> {
    std::lock_guard<std::mutex> lock(self->conditions_mu);
    return self->conditions.value_or(ota::manifest::HostConditions{});
  };
  return ota::Ok();
}

// One call's turn with the agent: holds run_mu. A call made while its own
// thread holds the turn (from inside a progress callback) would wait for
// itself forever: it is refused instead.
class AgentTurn {
 public:
  explicit AgentTurn(ota_updater& u) : u_(u), entered_epoch_(u.cancel_epoch.load()) {
    if (u.runner.load() == std::this_thread::get_id()) return;
    lock_ = std::unique_lock<std::mutex>(u.run_mu);
    u.runner.store(std::this_thread::get_id());
  }
  ~AgentTurn() {
    if (lock_.owns_lock()) u_.runner.store(std::thread::id());
  }
  AgentTurn(const AgentTurn&) = delete;
  AgentTurn& operator=(const AgentTurn&) = delete;

  // OTA_OK, or why this call may not use the agent.
  ota_status Refusal() const {
    if (!lock_.owns_lock()) {
      return Fail(OTA_ERR_INVALID_ARGUMENT,
                  "called from inside the updater's own progress callback, which would wait for "
                  "itself");
    }
    return OTA_OK;
  }
  // Whether a cancel came since the call was made.
  bool CancelledSinceEntry() const { return u_.cancel_epoch.load() != entered_epoch_; }

 private:
  ota_updater& u_;
  const std::uint64_t entered_epoch_;
  std::unique_lock<std::mutex> lock_;
};

// One update cycle in `turn`.
ota_status RunCycle(ota_updater& u, const AgentTurn& turn,
                    const ota::agent::DownloadProgress& progress, std::string* json) {
  if (const ota_status refused = turn.Refusal(); refused != OTA_OK) return refused;
  if (u.closing.load()) return Fail(OTA_ERR_CANCELLED, "the updater is closing");
  if (turn.CancelledSinceEntry()) {
    return Fail(OTA_ERR_CANCELLED, "update cancelled by the app before it started");
  }
  u.cancel.store(false);
  if (turn.CancelledSinceEntry()) {
    // A cancel between the check above and the reset: honour it.
    return Fail(OTA_ERR_CANCELLED, "update cancelled by the app before it started");
  }
  auto outcomes = u.agent->Update(progress);
  if (!outcomes.ok()) return Fail(outcomes.error());
  std::vector<std::string> all;
  std::optional<ota::Error> cancelled;
  for (const ota::agent::UpdateOutcome& o : *outcomes) {
    all.push_back(ota::agent::UpdateOutcomeJson(o));
    if (o.error && o.error->code == ErrorCode::kCancelled && !cancelled) cancelled = o.error;
  }
  if (json != nullptr) *json = JsonArray(all);
  if (cancelled) return Fail(*cancelled);
  return OTA_OK;
}

void JoinFinishedBackground(ota_updater& u) {
  std::thread finished;
  {
    std::lock_guard<std::mutex> lock(u.background_mu);
    if (u.background_running || !u.background.joinable()) return;
    finished = std::move(u.background);
  }
  finished.join();
}

// Starts a background cycle unless one runs.
void StartBackground(ota_updater& u) {
  JoinFinishedBackground(u);
  std::lock_guard<std::mutex> lock(u.background_mu);
  if (u.background_running || u.background.joinable()) return;
  u.background_running = true;
  u.background_result.reset();
  u.background = std::thread([&u] {
    ota_updater::CycleResult result;
    result.status = Guard([&] {
      AgentTurn turn(u);
      return RunCycle(u, turn, nullptr, &result.json);
    });
    if (result.status != OTA_OK) {
      result.error = ota_last_error();
      ota::Log(ota::LogLevel::kInfo, "updater",
               std::string("background update: ") + ota_status_name(result.status) + ": " +
                   result.error);
    }
    std::lock_guard<std::mutex> done(u.background_mu);
    u.background_result = std::move(result);
    u.background_running = false;
    u.background_done.notify_all();
  });
}

}  // namespace

extern "C" {

void ota_updater_config_init(ota_updater_config* config) {
  if (config == nullptr) return;
  *config = ota_updater_config{};
  config->confirm_sessions = -1;
  config->confirm_window_seconds = -1;
  config->drain_deadline_ms = -1;
}

ota_status ota_updater_open(const ota_updater_config* config, ota_updater** out) {
  if (config == nullptr || out == nullptr || config->state_dir == nullptr) {
    return Fail(OTA_ERR_INVALID_ARGUMENT, "config, config->state_dir and out must not be NULL");
  }
  *out = nullptr;
  return Guard([&] {
    auto u = std::make_unique<ota_updater>();
    u->owned = ota::MakePosixEnv();
    u->env = u->owned->env();
    if (ota::CrashPointsEnabled()) {
      // Power-loss tests: every mutating file operation is a crash point.
      u->crashing_fs = ota::MakeCrashingFileSystem(*u->env.fs);
      u->env.fs = u->crashing_fs.get();
    }
    if (config->transport != nullptr) {
      if (config->transport->fetch == nullptr) {
        return Fail(OTA_ERR_INVALID_ARGUMENT, "transport->fetch must not be NULL");
      }
      u->transport = std::make_unique<ota::agent::HostTransportClient>(*config->transport);
      u->env.http = u->transport.get();
    }
    Status s = EnrollIfNew(u->env, *config);
    if (s.ok()) s = WriteDeviceFacts(u->env, config->state_dir, config->device_facts_json);
    if (s.ok()) s = Configure(*u, *config);
    if (!s.ok()) return Fail(s.error());
    const std::string marker = ota::JoinPath(config->state_dir, kCleanCloseFile);
    auto closed = u->env.fs->Exists(marker);
    if (!closed.ok()) return Fail(closed.error());
    if (*closed) {
      Status removed = u->env.fs->Remove(marker);
      if (removed.ok()) removed = u->env.fs->SyncDir(config->state_dir);
      if (!removed.ok()) return Fail(removed.error());
      // Finishes what is open, but is no restart of a crashed process.
      u->options.access = ota::agent::AgentAccess::kCommand;
    }
    auto agent = ota::agent::Agent::Open(u->env, u->options);
    u->options.access = ota::agent::AgentAccess::kUpdate;
    if (!agent.ok()) return Fail(agent.error());
    u->agent = std::move(*agent);
    const ota_status app = ota_agent_open(config->state_dir, &u->app);
    if (app != OTA_OK) return app;
    *out = u.release();
    return OTA_OK;
  });
}

void ota_updater_close(ota_updater* updater) {
  if (updater == nullptr) return;
  updater->closing.store(true);
  ota_updater_cancel(updater);
  std::thread background;
  {
    std::lock_guard<std::mutex> lock(updater->background_mu);
    background = std::move(updater->background);
  }
  if (background.joinable()) background.join();
  ota_agent_close(updater->app);
  (void)Guard([&] {
    std::lock_guard<std::mutex> run(updater->run_mu);
    updater->agent.reset();
    const Status s = ota::WriteFileAtomic(
        *updater->env.fs, ota::JoinPath(updater->options.state_dir, kCleanCloseFile), "");
    return s.ok() ? OTA_OK : Fail(s.error());
  });
  delete updater;
}

ota_agent* ota_updater_agent(ota_updater* updater) {
  return updater == nullptr ? nullptr : updater->app;
}

ota_status ota_updater_set_conditions(ota_updater* updater, const char* conditions_json) {
  if (updater == nullptr || conditions_json == nullptr) {
    return Fail(OTA_ERR_INVALID_ARGUMENT, "updater and conditions_json must not be NULL");
  }
  return Guard([&] {
    auto parsed = ota::manifest::ParseHostConditions(conditions_json);
    if (!parsed.ok()) return Fail(parsed.error());
    std::lock_guard<std::mutex> lock(updater->conditions_mu);
    updater->conditions = *parsed;
    return OTA_OK;
  });
}

ota_status ota_updater_check(ota_updater* updater, char** json_out) {
  if (updater == nullptr || json_out == nullptr) {
    return Fail(OTA_ERR_INVALID_ARGUMENT, "updater and json_out must not be NULL");
  }
  *json_out = nullptr;
  return Guard([&] {
    AgentTurn turn(*updater);
    if (const ota_status refused = turn.Refusal(); refused != OTA_OK) return refused;
    auto results = updater->agent->Check();
    if (!results.ok()) return Fail(results.error());
    std::vector<std::string> all;
    for (const ota::agent::CheckResult& r : *results) {
      all.push_back(ota::agent::CheckResultJson(r));
    }
    *json_out = CopyString(JsonArray(all));
    return *json_out == nullptr ? Fail(OTA_ERR_INTERNAL, "out of memory") : OTA_OK;
  });
}

ota_status ota_updater_update(ota_updater* updater, ota_progress_callback progress, void* user,
                              char** json_out) {
  if (updater == nullptr) return Fail(OTA_ERR_INVALID_ARGUMENT, "updater must not be NULL");
  if (json_out != nullptr) *json_out = nullptr;
  return Guard([&] {
    ota::agent::DownloadProgress on_progress;
    if (progress != nullptr) {
      on_progress = [progress, user](const std::string& model, std::uint64_t done,
                                     std::uint64_t total) {
        progress(model.c_str(), done, total, user);
      };
    }
    std::string json;
    ota_status s;
    {
      AgentTurn turn(*updater);
      s = RunCycle(*updater, turn, on_progress, &json);
    }
    if (json_out != nullptr && !json.empty()) {
      *json_out = CopyString(json);
      if (*json_out == nullptr) return Fail(OTA_ERR_INTERNAL, "out of memory");
    }
    return s;
  });
}

void ota_updater_cancel(ota_updater* updater) {
  if (updater == nullptr) return;
  updater->cancel_epoch.fetch_add(1);
  updater->cancel.store(true);
}

ota_status ota_updater_get_model(ota_updater* updater, const char* model, ota_model_policy policy,
                                 ota_lease** out) {
  if (updater == nullptr || model == nullptr || out == nullptr) {
    return Fail(OTA_ERR_INVALID_ARGUMENT, "updater, model and out must not be NULL");
  }
  *out = nullptr;
  // A C caller may pass any int: it is read as one, never as the enum.
  std::underlying_type_t<ota_model_policy> raw = 0;
  static_assert(sizeof raw == sizeof policy);
  std::memcpy(&raw, &policy, sizeof raw);
  using Raw = decltype(raw);
  if (raw != static_cast<Raw>(OTA_MODEL_LOCAL_ONLY) &&
      raw != static_cast<Raw>(OTA_MODEL_LOCAL_THEN_BACKGROUND) &&
      raw != static_cast<Raw>(OTA_MODEL_LATEST)) {
    return Fail(OTA_ERR_INVALID_ARGUMENT, "unknown model policy");
  }
  return Guard([&] {
    if (policy == OTA_MODEL_LOCAL_ONLY) return ota_lease_acquire(updater->app, model, out);
    if (policy == OTA_MODEL_LOCAL_THEN_BACKGROUND) {
      const ota_status local = ota_lease_acquire(updater->app, model, out);
      if (local != OTA_ERR_NOT_FOUND) {
        if (local == OTA_OK) StartBackground(*updater);
        return local;
      }
      // Nothing installed yet: wait for the first version.
    }
    ota_status cycle;
    {
      AgentTurn turn(*updater);
      cycle = RunCycle(*updater, turn, nullptr, nullptr);
    }
    if (cycle == OTA_ERR_CANCELLED || cycle == OTA_ERR_INVALID_ARGUMENT) return cycle;
    const std::string why = cycle == OTA_OK ? "" : ota_last_error();
    const ota_status leased = ota_lease_acquire(updater->app, model, out);
    if (leased == OTA_ERR_NOT_FOUND && cycle != OTA_OK) {
      // Nothing to fall back on: the update's failure is the answer.
      return Fail(cycle, why.c_str());
    }
    return leased;
  });
}

ota_status ota_updater_wait(ota_updater* updater, char** json_out) {
  if (updater == nullptr) return Fail(OTA_ERR_INVALID_ARGUMENT, "updater must not be NULL");
  if (json_out != nullptr) *json_out = nullptr;
  if (updater->runner.load() == std::this_thread::get_id()) {
    return Fail(OTA_ERR_INVALID_ARGUMENT,
                "called from inside the updater's own progress callback, which would wait for "
                "itself");
  }
  return Guard([&] {
    std::optional<ota_updater::CycleResult> result;
    {
      std::unique_lock<std::mutex> lock(updater->background_mu);
      updater->background_done.wait(lock, [&] { return !updater->background_running; });
      result.swap(updater->background_result);
    }
    if (!result) return OTA_OK;
    if (json_out != nullptr && !result->json.empty()) {
      *json_out = CopyString(result->json);
      if (*json_out == nullptr) return Fail(OTA_ERR_INTERNAL, "out of memory");
    }
    return result->status == OTA_OK ? OTA_OK : Fail(result->status, result->error.c_str());
  });
}

void ota_free_string(char* s) { std::free(s); }

}  // extern "C"
