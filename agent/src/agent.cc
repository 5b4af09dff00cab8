#include "ota/agent/agent.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "agent_internal.h"
#include "identity.h"
#include "ota/bundle/recipient_keys.h"
#include "ota/common/hash.h"
#include "ota/common/log.h"
#include "reporter.h"
#include "rollout_target.h"

namespace ota::agent {
namespace {

constexpr char kDbName[] = "agent.db";
constexpr char kLockName[] = "agent.lock";
constexpr char kMetadataDir[] = "metadata";
// Versions kept on disk per model: the active one and the previous one, for
// instant rollback without a download.
constexpr std::size_t kKeepVersionsPerModel = 2;

std::string TrimSlash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

Status ValidateServerUrl(const std::string& url) {
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "server URL must start with http:// or https:// (got \"" + url + "\")");
  }
  return Ok();
}

// Holds an exclusive flock on the state folder for the agent's lifetime.
class FolderLock {
 public:
  static Result<std::unique_ptr<FolderLock>> Acquire(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return MakeError(ErrorCode::kIo, "cannot open lock file " + path);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      return MakeError(ErrorCode::kRetryLater,
                       "another agent is using this state folder (" + path + " is locked)");
    }
    return std::unique_ptr<FolderLock>(new FolderLock(fd));
  }
  ~FolderLock() { ::close(fd_); }

 private:
  explicit FolderLock(int fd) : fd_(fd) {}
  int fd_;
};

verifier::UpdaterOptions MakeUpdaterOptions(const std::string& state_dir,
                                            const std::string& server_url) {
  verifier::UpdaterOptions o;
  o.metadata_dir = JoinPath(state_dir, kMetadataDir);
  o.metadata_base_url = server_url + "/repo/metadata/";
  o.targets_base_url = server_url + "/repo/targets/";
  return o;
}

class AgentImpl : public Agent {
 public:
  AgentImpl(Env& env, AgentOptions options, std::unique_ptr<FolderLock> lock,
            std::unique_ptr<StateDb> db, std::string server_url, std::string device_id,
            std::vector<std::string> models)
      : env_(env),
        options_(std::move(options)),
        lock_(std::move(lock)),
        db_(std::move(db)),
        store_(*env.fs, options_.state_dir),
        server_url_(std::move(server_url)),
        device_id_(std::move(device_id)),
        models_(std::move(models)),
        updater_(env, MakeUpdaterOptions(options_.state_dir, server_url_)),
        ctx_{env_, options_, server_url_, device_id_, *db_, store_, updater_} {}

  Status Init() { return store_.Init(); }

  // Finishes deployments that a previous run left open, before any network.
  void ResumeOpenDeployments(std::vector<UpdateOutcome>* outcomes, const DownloadProgress& p) {
    for (const std::string& model : models_) {
      auto open = db_->OpenDeployment(model);
      if (!open.ok() || !*open) continue;
      // A deployment that needs the network (downloading) waits for metadata.
      if ((*open)->state == State::kDownloading || (*open)->state == State::kChecking) continue;
      UpdateOutcome o = RunDeployment(ctx_, **open, p);
      if (outcomes) outcomes->push_back(std::move(o));
    }
  }

  Result<std::vector<CheckResult>> Check() override {
    Status refreshed = RefreshMetadata();
    (void)FlushReports();
    OTA_TRY(refreshed);
    std::vector<CheckResult> results;
    for (const std::string& model : models_) {
      OTA_ASSIGN_OR_RETURN(CheckResult r, LocalView(model));
      OTA_ASSIGN_OR_RETURN(auto rejected, RejectedArtifacts());
      auto newest = SelectNewestBundle(*updater_.targets(), model, rejected);
      if (newest) {
        r.available_version = newest->version_text;
        r.update_available = !r.active || r.active->id != newest->sha256;
        r.download_bytes = r.update_available ? newest->file.length : 0;
      }
      results.push_back(std::move(r));
    }
    return results;
  }

  Result<std::vector<UpdateOutcome>> Update(const DownloadProgress& progress) override {
    std::vector<UpdateOutcome> outcomes;
    ResumeOpenDeployments(&outcomes, progress);
    Status refreshed = RefreshMetadata();
    if (!refreshed.ok()) {
      (void)FlushReports();
      return std::move(refreshed).error();
    }
    for (const std::string& model : models_) {
      OTA_ASSIGN_OR_RETURN(auto open, db_->OpenDeployment(model));
      if (!open) {
        OTA_ASSIGN_OR_RETURN(auto created, StartDeployment(model, &outcomes));
        if (!created) continue;
        open = std::move(created);
      }
      UpdateOutcome o = RunDeployment(ctx_, *open, progress);
      if (o.kind == UpdateOutcome::Kind::kUpdated) (void)CollectGarbage(model);
      outcomes.push_back(std::move(o));
    }
    (void)FlushReports();
    return outcomes;
  }

  Result<AgentStatus> GetStatus() override {
    AgentStatus s;
    s.device_id = device_id_;
    s.server_url = server_url_;
    s.state_dir = options_.state_dir;
    s.models = models_;
    for (const std::string& model : models_) {
      OTA_ASSIGN_OR_RETURN(CheckResult r, LocalView(model));
      s.active.push_back(std::move(r));
    }
    OTA_ASSIGN_OR_RETURN(auto rows, db_->RecentDeployments(10));
    for (const DeploymentRow& row : rows) {
      s.recent_deployments.push_back(DeploymentSummary{
          row.id, row.model, row.version, std::string(StateName(row.state)),
          row.error.empty() ? "" : row.error_code + ": " + row.error, row.updated_at});
    }
    OTA_ASSIGN_OR_RETURN(s.pending_reports, db_->CountPendingEvents());
    return s;
  }

  Result<int> FlushReports() override {
    if (!identity_) {
      OTA_ASSIGN_OR_RETURN(auto key, LoadOrCreateIdentity(env_, options_.state_dir));
      identity_ = std::move(key);
    }
    auto delivered = DeliverEvents(env_, *db_, server_url_, device_id_, *identity_);
    if (!delivered.ok()) {
      Log(LogLevel::kDebug, "agent", "reports stay queued: " + delivered.error().message);
    }
    return delivered;
  }

 private:
  Status RefreshMetadata() {
    Status s = updater_.Refresh();
    if (!s.ok()) {
      (void)db_->QueueEvent(
          EventJson(ctx_, "check-failed", nullptr,
                    {{"error_code", ErrorCodeName(s.error().code)}, {"error", s.error().message}}));
    }
    return s;
  }

  Result<std::vector<std::string>> RejectedArtifacts() {
    OTA_ASSIGN_OR_RETURN(auto rows, db_->RecentDeployments(1000));
    std::vector<std::string> rejected;
    for (const DeploymentRow& row : rows) {
      if (row.state == State::kFailed && row.error_code == ErrorCodeName(ErrorCode::kIntegrity)) {
        rejected.push_back(row.sha256);
      }
    }
    return rejected;
  }

  // Creates a deployment if the signed metadata offers something newer.
  Result<std::optional<DeploymentRow>> StartDeployment(const std::string& model,
                                                       std::vector<UpdateOutcome>* outcomes) {
    OTA_ASSIGN_OR_RETURN(CheckResult local, LocalView(model));
    OTA_ASSIGN_OR_RETURN(auto rejected, RejectedArtifacts());
    // A signed rollout manifest, if the model has one, decides the version.
    OTA_ASSIGN_OR_RETURN(
        auto newest, ChooseBundle(ctx_, model,
                                  local.active ? std::optional<std::string>(local.active->version)
                                               : std::nullopt,
                                  rejected));
    if (!newest || (local.active && local.active->id == newest->sha256)) {
      UpdateOutcome o;
      o.model = model;
      o.kind = UpdateOutcome::Kind::kUpToDate;
      if (local.active) o.from_version = o.to_version = local.active->version;
      outcomes->push_back(std::move(o));
      return std::optional<DeploymentRow>();
    }
    DeploymentRow row;
    row.model = model;
    row.target_path = newest->path;
    row.version = newest->version_text;
    row.sha256 = newest->sha256;
    row.length = newest->file.length;
    row.target_json = manifest::ToJson(newest->file).dump();
    row.previous = local.active ? local.active->id : "";
    row.state = State::kDownloading;
    OTA_ASSIGN_OR_RETURN(bool installed, store_.HasVersion(row.sha256));
    if (!installed) {
      // Plan before acting: refuse early if the bundle and its unpacked
      // copy cannot fit, rather than failing halfway with a full disk.
      OTA_ASSIGN_OR_RETURN(std::uint64_t free_bytes, env_.fs->FreeSpace(options_.state_dir));
      const std::uint64_t needed = 2 * row.length + options_.space_margin_bytes;
      if (free_bytes < needed) {
        UpdateOutcome o;
        o.model = model;
        o.to_version = row.version;
        o.kind = UpdateOutcome::Kind::kDeferred;
        o.error = MakeError(ErrorCode::kIncompatible, "not enough free space: need " +
                                                          std::to_string(needed) + " bytes, have " +
                                                          std::to_string(free_bytes));
        (void)db_->QueueEvent(EventJson(ctx_, "insufficient-space", &row,
                                        {{"needed", needed}, {"free", free_bytes}}));
        outcomes->push_back(std::move(o));
        return std::optional<DeploymentRow>();
      }
    }
    const std::int64_t now = UnixNow(env_);
    OTA_ASSIGN_OR_RETURN(
        row.id, db_->CreateDeployment(
                    row, now, EventJson(ctx_, "state", &row, {{"state", StateName(row.state)}})));
    row.saves = 1;
    row.created_at = row.updated_at = now;
    return std::optional<DeploymentRow>(std::move(row));
  }

  Result<CheckResult> LocalView(const std::string& model) {
    CheckResult r;
    r.model = model;
    OTA_ASSIGN_OR_RETURN(auto active, store_.ActiveId(model));
    if (active) {
      OTA_ASSIGN_OR_RETURN(auto row, db_->GetVersion(*active));
      r.active = VersionInfo{*active, row ? row->version : "unknown", store_.VersionDir(*active)};
    }
    return r;
  }

  // Keeps the active version and the newest others up to the retention
  // count; removes the rest from disk and from the database.
  Status CollectGarbage(const std::string& model) {
    OTA_ASSIGN_OR_RETURN(auto active, store_.ActiveId(model));
    OTA_ASSIGN_OR_RETURN(auto versions, db_->ListVersions());
    std::vector<VersionRow> mine;
    for (VersionRow& v : versions) {
      if (v.model == model) mine.push_back(std::move(v));
    }
    std::sort(mine.begin(), mine.end(), [](const VersionRow& a, const VersionRow& b) {
      return a.installed_at > b.installed_at;
    });
    std::size_t kept = 0;
    for (const VersionRow& v : mine) {
      const bool is_active = active && *active == v.id;
      if (is_active || kept < kKeepVersionsPerModel - 1) {
        if (!is_active) ++kept;
        continue;
      }
      OTA_TRY(store_.RemoveVersion(v.id));
      OTA_TRY(db_->ForgetVersion(v.id));
    }
    return Ok();
  }

  Env& env_;
  AgentOptions options_;
  std::unique_ptr<FolderLock> lock_;
  std::unique_ptr<StateDb> db_;
  VersionStore store_;
  std::string server_url_;
  std::string device_id_;
  std::vector<std::string> models_;
  verifier::Updater updater_;
  AgentContext ctx_;
  std::optional<verifier::PrivateKey> identity_;  // Report signing key, loaded on first use.
};

}  // namespace

std::int64_t UnixNow(const Env& env) {
  return std::chrono::duration_cast<std::chrono::seconds>(env.clock->Now().time_since_epoch())
      .count();
}

std::string EventJson(const AgentContext& ctx, const std::string& type, const DeploymentRow* row,
                      const nlohmann::json& extra) {
  nlohmann::json e = {{"type", type}, {"time", manifest::FormatExpires(ctx.env.clock->Now())}};
  if (row != nullptr) {
    e["model"] = row->model;
    e["version"] = row->version;
    e["target"] = row->target_path;
    if (row->id != 0) e["deployment_id"] = row->id;
  }
  if (extra.is_object()) {
    for (auto it = extra.begin(); it != extra.end(); ++it) e[it.key()] = it.value();
  }
  return e.dump();
}

std::optional<BundleTarget> SelectNewestBundle(const manifest::Targets& targets,
                                               const std::string& model,
                                               const std::vector<std::string>& rejected) {
  std::optional<BundleTarget> best;
  for (const auto& [path, file] : targets.targets) {
    const nlohmann::json& custom = file.custom;
    if (!custom.is_object() || !custom.contains("modelota")) continue;
    const nlohmann::json& info = custom["modelota"];
    if (!info.is_object() || info.value("name", "") != model || !info.contains("version") ||
        !info["version"].is_string()) {
      continue;
    }
    auto sha = file.hashes.find("sha256");
    if (sha == file.hashes.end() || !IsLowerHex(sha->second, 64)) continue;
    if (std::find(rejected.begin(), rejected.end(), sha->second) != rejected.end()) continue;
    auto version = manifest::ParseVersion(info["version"].get<std::string>());
    if (!version.ok()) continue;
    if (best && manifest::CompareVersions(*version, best->version) <= 0) continue;
    best = BundleTarget{path, *version, info["version"].get<std::string>(), file, sha->second};
  }
  return best;
}

namespace {

// The key bundles are decrypted with: a new one, or a fleet key copied in.
Status InstallDeviceKey(Env& env, const EnrollOptions& options) {
  Result<bundle::RecipientPrivateKey> key =
      options.recipient_key_file.empty()
          ? bundle::GenerateRecipientKey(*env.random)
          : bundle::LoadRecipientPrivateKey(*env.fs, options.recipient_key_file);
  if (!key.ok()) return std::move(key).error();
  OTA_TRY(
      bundle::SaveRecipientPrivateKey(*env.fs, JoinPath(options.state_dir, kDeviceKeyFile), *key));
  return bundle::SaveRecipientPublicKey(*env.fs, JoinPath(options.state_dir, kDevicePublicKeyFile),
                                        bundle::RecipientPublicKey{key->public_key, key->key_id});
}

}  // namespace

Status Agent::Enroll(Env& env, const EnrollOptions& options) {
  OTA_TRY(ValidateServerUrl(options.server_url));
  if (options.models.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "at least one model to track is required");
  }
  for (const std::string& m : options.models) {
    if (!IsValidModelName(m)) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "invalid model name \"" + m + "\" (use [a-z0-9][a-z0-9._-]{0,63})");
    }
  }
  OTA_TRY(env.fs->CreateDirs(options.state_dir));
  OTA_ASSIGN_OR_RETURN(auto lock, FolderLock::Acquire(JoinPath(options.state_dir, kLockName)));
  OTA_ASSIGN_OR_RETURN(bool enrolled, env.fs->Exists(JoinPath(options.state_dir, kDbName)));
  if (enrolled) {
    return MakeError(ErrorCode::kInvalidArgument,
                     options.state_dir + " is already enrolled; use a new state folder");
  }
  const std::string metadata_dir = JoinPath(options.state_dir, kMetadataDir);
  // Without agent.db nothing here is trusted yet: an enrolment cut short by a
  // crash starts over instead of tripping over its own root.json.
  OTA_TRY(env.fs->RemoveAll(metadata_dir));
  OTA_TRY(env.fs->CreateDirs(metadata_dir));
  OTA_TRY(verifier::InitTrustedRoot(*env.fs, metadata_dir, options.trusted_root_json));
  OTA_TRY(InstallDeviceKey(env, options));
  {
    auto identity = LoadOrCreateIdentity(env, options.state_dir);
    if (!identity.ok()) return std::move(identity).error();
  }
  std::uint8_t id_bytes[16];
  env.random->Fill(id_bytes);
  // The database is created last: its existence marks a complete enrollment.
  const std::string tmp_db = JoinPath(options.state_dir, "agent.db.enrolling");
  (void)env.fs->Remove(tmp_db);
  {
    OTA_ASSIGN_OR_RETURN(auto db, StateDb::Open(tmp_db));
    OTA_TRY(db->SetSetting("device_id", HexEncode(std::span<const std::uint8_t>(id_bytes))));
    OTA_TRY(db->SetSetting("server_url", TrimSlash(options.server_url)));
    OTA_TRY(db->SetSetting("models", nlohmann::json(options.models).dump()));
    OTA_TRY(db->QueueEvent(nlohmann::json({{"type", "enrolled"},
                                           {"time", manifest::FormatExpires(env.clock->Now())},
                                           {"models", options.models}})
                               .dump()));
  }
  // A closed WAL database is a single file again, safe to rename.
  OTA_TRY(env.fs->Rename(tmp_db, JoinPath(options.state_dir, kDbName)));
  return env.fs->SyncDir(options.state_dir);
}

Result<std::unique_ptr<Agent>> Agent::Open(Env& env, const AgentOptions& options) {
  OTA_ASSIGN_OR_RETURN(bool enrolled, env.fs->Exists(JoinPath(options.state_dir, kDbName)));
  if (!enrolled) {
    return MakeError(ErrorCode::kNotFound, options.state_dir +
                                               " is not an enrolled state folder "
                                               "(run `ota-agent init` first)");
  }
  OTA_ASSIGN_OR_RETURN(auto lock, FolderLock::Acquire(JoinPath(options.state_dir, kLockName)));
  OTA_ASSIGN_OR_RETURN(auto db, StateDb::Open(JoinPath(options.state_dir, kDbName)));
  OTA_ASSIGN_OR_RETURN(auto device_id, db->GetSetting("device_id"));
  OTA_ASSIGN_OR_RETURN(auto server_url, db->GetSetting("server_url"));
  OTA_ASSIGN_OR_RETURN(auto models_json, db->GetSetting("models"));
  if (!device_id || !server_url || !models_json) {
    return MakeError(ErrorCode::kRestartDeployment, "state database is missing enrollment data");
  }
  std::string url =
      options.server_url_override.empty() ? *server_url : TrimSlash(options.server_url_override);
  OTA_TRY(ValidateServerUrl(url));
  auto models = nlohmann::json::parse(*models_json, nullptr, false);
  if (!models.is_array()) {
    return MakeError(ErrorCode::kRestartDeployment, "state database has a malformed model list");
  }
  std::vector<std::string> model_list;
  for (const auto& m : models) {
    if (m.is_string() && IsValidModelName(m.get<std::string>())) {
      model_list.push_back(m.get<std::string>());
    }
  }
  auto agent = std::make_unique<AgentImpl>(env, options, std::move(lock), std::move(db), url,
                                           *device_id, std::move(model_list));
  OTA_TRY(agent->Init());
  // Activation and rollback need no network: finish them now, so the store
  // is consistent before anyone reads it.
  agent->ResumeOpenDeployments(nullptr, nullptr);
  return std::unique_ptr<Agent>(std::move(agent));
}

}  // namespace ota::agent
