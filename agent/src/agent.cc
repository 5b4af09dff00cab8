#include "ota/agent/agent.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "agent_internal.h"
#include "deployment_plan.h"
#include "device_audit.h"
#include "device_probe.h"
#include "identity.h"
#include "json_fields.h"
#include "ota/agent/drain.h"
#include "ota/agent/tls.h"
#include "ota/common/hash.h"
#include "ota/common/log.h"
#include "ota/common/tls.h"
#include "private_fs.h"
#include "reporter.h"
#include "rollout_target.h"
#include "state_folder.h"
#include "tls_config.h"

namespace ota::agent {
namespace {

// Setting: JSON list of bundle digests rolled back by hand, never reinstalled.
constexpr char kRolledBackSetting[] = "rolled_back";

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
  // `tls_http` carries the TLS settings and forwards to env.http; it replaces
  // env.http for everything the agent does (null when env.http is).
  AgentImpl(Env& env, std::unique_ptr<HttpClient> tls_http, AgentOptions options,
            std::unique_ptr<FolderLock> lock, std::unique_ptr<StateDb> db, std::string server_url,
            std::string device_id, std::vector<std::string> models)
      : private_fs_(std::make_unique<PrivateFileSystem>(*env.fs)),
        tls_http_(std::move(tls_http)),
        env_(WithHttp(WithFileSystem(env, private_fs_.get()), tls_http_.get())),
        options_(std::move(options)),
        lock_(std::move(lock)),
        db_(std::move(db)),
        store_(*env_.fs, options_.state_dir),
        server_url_(std::move(server_url)),
        device_id_(std::move(device_id)),
        models_(std::move(models)),
        updater_(env_, MakeUpdaterOptions(options_.state_dir, server_url_)),
        runtimes_(options_.runtimes ? *options_.runtimes
                                    : runtime_adapter::MakeDefaultRuntimeRegistry(env.clock)),
        ctx_{env_, options_, server_url_, device_id_, *db_, store_, updater_, runtimes_} {}

  Status Init() {
    OTA_TRY(store_.Init());
    return PrepareLeaseFolder(options_.state_dir, options_.lease_acquire_bound);
  }

  // Finishes deployments that a previous run left open, before any network.
  void ResumeOpenDeployments(std::vector<UpdateOutcome>* outcomes, const DownloadProgress& p) {
    for (const std::string& model : models_) {
      auto open = db_->OpenDeployment(model);
      if (!open.ok() || !*open) continue;
      // Work that needs fresh metadata, or that may wait for apps' sessions,
      // runs in the update cycle only (the table's attributes).
      const StateInfo& info = Info(ResumeState((*open)->state));
      if (info.needs_network || info.waits_for_sessions) continue;
      UpdateOutcome o = RunDeployment(ctx_, **open, p);
      if (o.kind == UpdateOutcome::Kind::kUpdated) (void)CollectGarbage(model);
      if (outcomes) outcomes->push_back(std::move(o));
    }
  }

  // Counts this start against every deployment it finds confirming: a
  // version that keeps the device (or the agent) restarting is rolled back
  // past options_.confirm_max_restarts (deployment.cc, Confirm).
  Status CountConfirmingStarts() {
    for (const std::string& model : models_) {
      OTA_ASSIGN_OR_RETURN(auto open, db_->OpenDeployment(model));
      if (!open || open->state != State::kConfirming) continue;
      OTA_ASSIGN_OR_RETURN(
          int restarts,
          db_->CountConfirmRestart(open->id, EventJson(ctx_, "confirm-restart", &*open,
                                                       {{"restarts", open->confirm_restarts + 1},
                                                        {"max", options_.confirm_max_restarts}})));
      if (restarts > options_.confirm_max_restarts) {
        Log(LogLevel::kWarning, "agent",
            model + " " + open->version + ": started " + std::to_string(restarts) +
                " times while confirming; rolling back");
      }
    }
    return Ok();
  }

  // Refuses calls that change state when opened read-only.
  Status Writable(const char* what) const {
    if (options_.access != AgentAccess::kReadOnly) return Ok();
    return MakeError(ErrorCode::kInvalidArgument,
                     std::string(what) + " changes the state folder, which was opened read-only");
  }

  Result<std::vector<UpdateOutcome>> Resume() override {
    OTA_TRY(Writable("resume"));
    std::vector<UpdateOutcome> outcomes;
    ResumeOpenDeployments(&outcomes, nullptr);
    FinishRun();  // No request when nothing is queued.
    return outcomes;
  }

  Result<std::vector<CheckResult>> Check() override {
    OTA_TRY(Writable("check"));
    Status refreshed = RefreshMetadata();
    FinishRun();
    OTA_TRY(refreshed);
    std::vector<CheckResult> results;
    for (const std::string& model : models_) {
      OTA_ASSIGN_OR_RETURN(CheckResult r, LocalView(model));
      OTA_ASSIGN_OR_RETURN(Selection selected, SelectBundle(model));
      if (const auto& newest = selected.target) {
        r.available_version = newest->version_text;
        r.available_variant = newest->variant.variant;
        r.update_available = !r.active || r.active->id != newest->sha256;
        if (r.update_available) {
          r.plan = Plan(*newest, r, selected).first;
          r.download_bytes = r.plan->download_bytes;
        }
      } else if (selected.published) {
        r.available_version = selected.version_text;
        r.incompatible_reason = selected.plan.reason;
      }
      results.push_back(std::move(r));
    }
    return results;
  }

  Result<std::vector<UpdateOutcome>> Update(const DownloadProgress& progress) override {
    OTA_TRY(Writable("update"));
    std::vector<UpdateOutcome> outcomes;
    ResumeOpenDeployments(&outcomes, progress);
    Status refreshed = RefreshMetadata();
    if (!refreshed.ok()) {
      FinishRun();
      return std::move(refreshed).error();
    }
    for (const std::string& model : models_) {
      OTA_ASSIGN_OR_RETURN(auto open, db_->OpenDeployment(model));
      const bool checked_now = std::any_of(outcomes.begin(), outcomes.end(), [&](const auto& o) {
        return o.model == model && o.confirming;
      });
      if (open && open->state == State::kConfirming && checked_now) continue;  // Once a cycle.
      if (!open) {
        OTA_ASSIGN_OR_RETURN(auto created, StartDeployment(model, &outcomes));
        if (!created) {
          // Nothing to install: a collection cut off by a power loss after
          // the last commit finishes now instead of at the next update.
          (void)CollectGarbage(model);
          continue;
        }
        open = std::move(created);
      }
      UpdateOutcome o = RunDeployment(ctx_, *open, progress);
      if (o.kind == UpdateOutcome::Kind::kUpdated) (void)CollectGarbage(model);
      outcomes.push_back(std::move(o));
    }
    FinishRun();
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

  Result<RollbackResult> RollBack(const std::string& model) override {
    OTA_TRY(Writable("rollback"));
    if (std::find(models_.begin(), models_.end(), model) == models_.end()) {
      return MakeError(ErrorCode::kNotFound, "model " + model + " is not tracked here");
    }
    OTA_ASSIGN_OR_RETURN(auto open, db_->OpenDeployment(model));
    if (open && open->state == State::kConfirming && !open->previous.empty()) {
      OTA_ASSIGN_OR_RETURN(bool kept, store_.HasVersion(open->previous));
      if (kept) return RollBackConfirming(std::move(*open));
    }
    if (open) {
      return MakeError(ErrorCode::kRetryLater,
                       "a deployment of " + model + " " + open->version + " is in progress (" +
                           std::string(StateName(open->state)) + "); try again when it ends");
    }
    OTA_ASSIGN_OR_RETURN(CheckResult local, LocalView(model));
    if (!local.active)
      return MakeError(ErrorCode::kNotFound, "no version of " + model + " is active");
    OTA_ASSIGN_OR_RETURN(auto versions, db_->ListVersions());
    OTA_ASSIGN_OR_RETURN(std::vector<std::string> rolled_back, RolledBack());
    std::optional<VersionRow> previous;
    for (const VersionRow& v : versions) {
      if (v.model != model || v.id == local.active->id) continue;
      if (std::find(rolled_back.begin(), rolled_back.end(), v.id) != rolled_back.end()) continue;
      OTA_ASSIGN_OR_RETURN(bool kept, store_.HasVersion(v.id));
      if (kept && (!previous || v.installed_at > previous->installed_at)) previous = v;
    }
    if (!previous) {
      return MakeError(ErrorCode::kNotFound,
                       "no other version of " + model + " is kept on this device (it keeps " +
                           std::to_string(options_.keep_versions) + " per model)");
    }
    // Kept bytes are re-checked before they serve again (outside any switch,
    // so apps are not held while it hashes): corrupt bytes are refused and
    // the active version stays.
    OTA_TRY(store_.VerifyVersion(previous->id));
    // Remember the rejection first: a crash after it leaves the old version
    // active at worst, never a reinstall of the one rolled back.
    if (std::find(rolled_back.begin(), rolled_back.end(), local.active->id) == rolled_back.end()) {
      rolled_back.push_back(local.active->id);
    }
    OTA_TRY(db_->SetSetting(kRolledBackSetting, nlohmann::json(rolled_back).dump()));
    // Back at once: sessions on the version left finish on it (it stays on
    // disk while leased), new ones get the kept version.
    DrainOptions now{DrainPolicy::kSwitchNewFirst, std::chrono::milliseconds(0)};
    OTA_ASSIGN_OR_RETURN(DrainReport back,
                         ActivateWithDrain(options_.state_dir, model, local.active->id,
                                           previous->id, now, PlatformOf(env_), *env_.clock,
                                           [&] { return store_.Activate(model, previous->id); }));
    (void)back;
    RollbackResult result{
        model, *local.active,
        VersionInfo{previous->id, previous->version, store_.VersionDir(previous->id)}};
    (void)db_->QueueEvent(EventJson(ctx_, "rolled-back", nullptr,
                                    {{"model", model},
                                     {"reason", "manual"},
                                     {"from_version", result.from.version},
                                     {"from_id", result.from.id},
                                     {"version", result.to.version},
                                     {"id", result.to.id}}));
    FinishRun();
    return result;
  }

  Result<std::vector<ShadowVerdict>> ShadowResults(const std::string& model, int limit) override {
    return db_->ShadowVerdicts(model, limit);
  }

  // A rollback by hand during the confirmation window ends that deployment:
  // the version is rejected as a failed confirmation would be, and the
  // deployment's own rollback (bounded attempts) switches back.
  Result<RollbackResult> RollBackConfirming(DeploymentRow open) {
    OTA_ASSIGN_OR_RETURN(CheckResult before, LocalView(open.model));
    OTA_ASSIGN_OR_RETURN(std::vector<std::string> rolled_back, RolledBack());
    if (std::find(rolled_back.begin(), rolled_back.end(), open.sha256) == rolled_back.end()) {
      rolled_back.push_back(open.sha256);
    }
    OTA_TRY(db_->SetSetting(kRolledBackSetting, nlohmann::json(rolled_back).dump()));
    const Error reason =
        MakeError(ErrorCode::kIncompatible, "rolled back by hand while confirming");
    const std::string code(ErrorCodeName(reason.code));
    const State next = NextState(open.state, Event::kRollbackOrdered).to;
    OTA_TRY(db_->SaveState(
        open.id, next, IsTerminal(next), code, reason.message, UnixNow(env_),
        EventJson(ctx_, "state", &open,
                  {{"state", StateName(next)}, {"error_code", code}, {"error", reason.message}})));
    open.state = next;
    open.error_code = code;
    open.error = reason.message;
    UpdateOutcome outcome = RunDeployment(ctx_, open, nullptr);
    OTA_ASSIGN_OR_RETURN(CheckResult after, LocalView(open.model));
    if (!after.active || after.active->id != open.previous) {
      return MakeError(ErrorCode::kIo, "could not return " + open.model +
                                           " to its previous version" +
                                           (outcome.error ? ": " + outcome.error->message : ""));
    }
    RollbackResult result{
        open.model, before.active ? *before.active : VersionInfo{open.sha256, open.version, ""},
        *after.active};
    // The deployment queued its own "rolled-back" event (reason: by hand).
    FinishRun();
    return result;
  }

  Result<AuditReport> Audit() override {
    // Read-only: the key is read when it exists, never created.
    std::optional<manifest::Key> key;
    const std::string path = JoinPath(options_.state_dir, kIdentityKeyFile);
    OTA_ASSIGN_OR_RETURN(bool has_key, env_.fs->Exists(path));
    if (has_key) {
      OTA_ASSIGN_OR_RETURN(verifier::PrivateKey identity, verifier::LoadPrivateKey(*env_.fs, path));
      key = identity.public_key;
    }
    return BuildAuditReport(*db_, key);
  }

  Result<AuditExportSummary> ExportAudit(const AuditExportOptions& options,
                                         const AuditSink& sink) override {
    OTA_TRY(Writable("audit export"));
    OTA_ASSIGN_OR_RETURN(const verifier::PrivateKey* key, Identity());
    return ExportAuditLog(env_, *db_, AuditSigner{device_id_, *key}, options, sink);
  }

  Result<std::string> AuditPublicKey() override {
    const std::string path = JoinPath(options_.state_dir, kIdentityKeyFile);
    OTA_ASSIGN_OR_RETURN(verifier::PrivateKey identity, verifier::LoadPrivateKey(*env_.fs, path));
    return manifest::ToJson(identity.public_key).dump(2) + "\n";
  }

  Result<AuditPruneResult> PruneAudit(std::int64_t before_seq) override {
    OTA_TRY(Writable("audit prune"));
    OTA_ASSIGN_OR_RETURN(const verifier::PrivateKey* key, Identity());
    return PruneAuditLog(env_, *db_, AuditSigner{device_id_, *key}, before_seq);
  }

  Result<int> FlushReports() override {
    OTA_TRY(Writable("sending reports"));
    OTA_TRY(Identity());
    // Enrollment facts: a malformed facts file must not hold reports back, so
    // then the server keeps the facts it has.
    EnrollmentClaims claims;
    if (auto device = DeviceNow(); device.ok()) claims.facts = EnrollmentFacts(*device);
    auto token = LoadEnrollmentToken(env_, options_.state_dir);
    if (token.ok()) {
      claims.token = std::move(*token);
    } else {
      Log(LogLevel::kWarning, "agent", "enrollment token not used: " + token.error().message);
    }
    auto delivered = DeliverEvents(env_, *db_, server_url_, device_id_, *identity_, claims);
    if (!delivered.ok()) {
      Log(LogLevel::kDebug, "agent", "reports stay queued: " + delivered.error().message);
    }
    return delivered;
  }

 private:
  // The report key, loaded (or created) on first use.
  Result<const verifier::PrivateKey*> Identity() {
    if (!identity_) {
      OTA_ASSIGN_OR_RETURN(auto key, LoadOrCreateIdentity(env_, options_.state_dir));
      identity_ = std::move(key);
    }
    return &*identity_;
  }

  // The end of a run (a cycle, a resume, a rollback): the hours of sessions
  // completed since the last run, a signed checkpoint of the audit log when
  // its head moved, then the reports. Failures leave the next run to retry.
  void FinishRun() {
    if (Status s = RecordSessionHours(env_, *db_, options_.state_dir); !s.ok()) {
      Log(LogLevel::kWarning, "agent", "session counts not recorded: " + s.error().message);
    }
    auto key = Identity();
    auto checkpoint = key.ok() ? CheckpointAuditHead(env_, *db_, AuditSigner{device_id_, **key},
                                                     /*always=*/false)
                               : Result<std::optional<manifest::AuditCheckpoint>>(key.error());
    if (!checkpoint.ok()) {
      Log(LogLevel::kWarning, "agent",
          "audit checkpoint not signed: " + checkpoint.error().message);
    }
    (void)FlushReports();
  }

  Status RefreshMetadata() {
    Status s = updater_.Refresh();
    if (!s.ok()) {
      (void)db_->QueueEvent(
          EventJson(ctx_, "check-failed", nullptr,
                    {{"error_code", ErrorCodeName(s.error().code)}, {"error", s.error().message}}));
      return s;
    }
    if (options_.access != AgentAccess::kReadOnly) {
      if (Status r = RecordVerifiedMetadata(env_, *db_, updater_); !r.ok()) {
        Log(LogLevel::kWarning, "agent", "verified metadata not recorded: " + r.error().message);
      }
    }
    return s;
  }

  Result<std::vector<std::string>> RolledBack() {
    OTA_ASSIGN_OR_RETURN(std::optional<std::string> text, db_->GetSetting(kRolledBackSetting));
    std::vector<std::string> ids;
    if (!text) return ids;
    auto list = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (!list.is_array()) return ids;
    for (const auto& id : list) {
      if (id.is_string()) ids.push_back(id.get<std::string>());
    }
    return ids;
  }

  Result<std::vector<std::string>> RejectedArtifacts() {
    OTA_ASSIGN_OR_RETURN(auto rows, db_->RecentDeployments(1000));
    OTA_ASSIGN_OR_RETURN(std::vector<std::string> rejected, RolledBack());
    for (const DeploymentRow& row : rows) {
      // Bytes that are corrupt, or that this device cannot run (no runtime,
      // the model does not load), fail the same way every time.
      if (row.state == State::kFailed &&
          (row.error_code == ErrorCodeName(ErrorCode::kIntegrity) ||
           row.error_code == ErrorCodeName(ErrorCode::kIncompatible))) {
        rejected.push_back(row.sha256);
      }
    }
    return rejected;
  }

  // Creates a deployment if the signed metadata offers something newer.
  Result<std::optional<DeploymentRow>> StartDeployment(const std::string& model,
                                                       std::vector<UpdateOutcome>* outcomes) {
    OTA_ASSIGN_OR_RETURN(CheckResult local, LocalView(model));
    OTA_ASSIGN_OR_RETURN(Selection selected, SelectBundle(model));
    if (selected.published && !selected.target) {
      // Planned before any download: no variant of the newest version fits.
      UpdateOutcome o;
      o.model = model;
      o.to_version = selected.version_text;
      if (local.active) o.from_version = local.active->version;
      const char* event = selected.plan.blocked_by_space ? "insufficient-space" : "incompatible";
      o.kind = selected.plan.blocked_by_space ? UpdateOutcome::Kind::kDeferred
                                              : UpdateOutcome::Kind::kFailed;
      o.error = MakeError(ErrorCode::kIncompatible, selected.plan.reason);
      (void)db_->QueueEvent(EventJson(ctx_, event, nullptr,
                                      {{"model", model},
                                       {"version", selected.version_text},
                                       {"error_code", ErrorCodeName(ErrorCode::kIncompatible)},
                                       {"error", selected.plan.reason}}));
      outcomes->push_back(std::move(o));
      return std::optional<DeploymentRow>();
    }
    const std::optional<BundleTarget>& newest = selected.target;
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
    const auto [plan, delta] = Plan(*newest, local, selected);
    row.plan_json = SavePlan(plan, delta);
    row.state = NextState(State::kChecking, Event::kUpdateFound).to;
    const std::int64_t now = UnixNow(env_);
    // The plan and the capability decision behind it, recorded with the
    // deployment they start.
    nlohmann::json capability = {{"variant", newest->variant.variant},
                                 {"reason", selected.plan.reason},
                                 {"rejected", nlohmann::json::array()}};
    for (const std::string& r : selected.plan.rejections) {
      if (!r.empty()) capability["rejected"].push_back(r);
    }
    OTA_ASSIGN_OR_RETURN(
        row.id,
        db_->CreateDeployment(row, now,
                              {EventJson(ctx_, "planned", &row,
                                         {{"plan", PlanJson(plan)}, {"capability", capability}}),
                               EventJson(ctx_, "state", &row, {{"state", StateName(row.state)}})}));
    row.saves = 1;
    row.created_at = row.updated_at = now;
    if (selected.shadow_policy) {
      // The shadowing state applies the rollout's override of the bundle's policy.
      OTA_TRY(db_->SetSetting(ShadowPolicyKey(row.id), selected.shadow_policy->dump()));
    }
    return std::optional<DeploymentRow>(std::move(row));
  }

  // Probed capabilities, device-facts.json, then the app version override.
  Result<rollout::DeviceCapabilities> DeviceNow() {
    OTA_ASSIGN_OR_RETURN(rollout::DeviceCapabilities device,
                         LoadDeviceCapabilities(*env_.fs, options_.state_dir, options_.state_dir,
                                                RuntimeVersions(runtimes_)));
    OTA_TRY(ApplyAppVersionOverride(options_.app_version, device));
    return device;
  }

  // What the newest signed version of `model` offers this device.
  struct Selection {
    bool published = false;              // Some bundle of the model is signed.
    std::string version_text;            // Its newest version.
    std::optional<BundleTarget> target;  // The variant to install, if any fits.
    rollout::VariantPlan plan;
    std::optional<nlohmann::json> shadow_policy;              // The rollout manifest's override.
    std::optional<manifest::DownloadPolicy> download_policy;  // Also the manifest's.
  };

  // The deployment plan for installing `target` over what `local` shows
  // active, and the delta it chose (deployment_plan.h).
  std::pair<DeploymentPlan, std::optional<DeltaTarget>> Plan(const BundleTarget& target,
                                                             const CheckResult& local,
                                                             const Selection& selected) {
    PlanInputs in;
    in.version = target.version_text;
    in.variant = target.variant.variant;
    in.target_path = target.path;
    in.target_id = target.sha256;
    in.bundle_bytes = target.file.length;
    in.unpacked_bytes = target.variant.unpacked_size;
    if (local.active) {
      in.previous_id = local.active->id;
      in.previous_version = local.active->version;
      in.delta = ChooseDelta(*updater_.targets(), target.path, target.sha256, target.file.length,
                             local.active->id);
    }
    in.space_margin_bytes = options_.space_margin_bytes;
    in.shadow_policy = selected.shadow_policy;
    in.bundle_download_policy = target.download_policy;
    in.rollout_download_policy = selected.download_policy;
    return {MakePlan(in), in.delta};
  }

  // Plans the variant before anything is downloaded: requirements against the
  // device's capabilities (probed, then device-facts.json), and free space for
  // the download, the unpacked copy and the margin.
  Result<Selection> SelectBundle(const std::string& model) {
    OTA_ASSIGN_OR_RETURN(auto rejected, RejectedArtifacts());
    Selection selected;
    const manifest::Targets& targets = *updater_.targets();
    std::vector<manifest::Version> versions = BundleVersions(targets, model, rejected);
    if (versions.empty()) return selected;
    OTA_ASSIGN_OR_RETURN(rollout::DeviceCapabilities device, DeviceNow());
    OTA_ASSIGN_OR_RETURN(std::vector<std::string> installed, store_.InstalledIds());
    auto plan = [&](const manifest::Version& v) {
      std::vector<BundleTarget> variants = BundleVariants(targets, model, v, rejected);
      return std::make_pair(
          variants, PlanBundleVariant(variants, device, installed, options_.space_margin_bytes));
    };
    // A version is runnable here when one of its variants fits.
    std::vector<manifest::Version> runnable;
    for (const manifest::Version& v : versions) {
      if (plan(v).second.chosen) runnable.push_back(v);
    }
    OTA_ASSIGN_OR_RETURN(CheckResult local, LocalView(model));
    OTA_ASSIGN_OR_RETURN(
        VersionChoice choice,
        ChooseVersion(
            ctx_, model,
            local.active ? std::optional<std::string>(local.active->version) : std::nullopt,
            runnable, device));
    std::optional<manifest::Version> wanted;
    if (!choice.from_manifest) {
      wanted = versions.front();  // No rollout manifest: the newest signed version.
    } else if (choice.version) {
      wanted = choice.version;
    }
    if (!wanted) return selected;  // The rollout keeps this device where it is.
    auto [variants, variant_plan] = plan(*wanted);
    if (variants.empty()) return selected;
    selected.published = true;
    selected.version_text = variants.front().version_text;
    if (choice.from_manifest) {
      selected.shadow_policy = choice.shadow_policy;
      selected.download_policy = choice.download_policy;
    }
    selected.plan = std::move(variant_plan);
    if (selected.plan.chosen) selected.target = variants[*selected.plan.chosen];
    return selected;
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
    // Newest first: ListVersions orders by install time, then by the order
    // of recording, so two versions installed within one second (the time's
    // resolution) keep their order and the previous one is the one kept.
    std::reverse(mine.begin(), mine.end());
    std::size_t kept = 0;
    const auto keep_others = static_cast<std::size_t>(std::max(options_.keep_versions, 1) - 1);
    for (const VersionRow& v : mine) {
      const bool is_active = active && *active == v.id;
      if (is_active || kept < keep_others) {
        if (!is_active) ++kept;
        continue;
      }
      // A version an app still has leased stays until a later collection.
      OTA_ASSIGN_OR_RETURN(bool removed,
                           RemoveIfUnheld(PlatformOf(env_), options_.state_dir, v.id,
                                          [&] { return store_.RemoveVersion(v.id); }));
      if (!removed) {
        Log(LogLevel::kInfo, "agent", model + " " + v.version + " is leased; kept for now");
        continue;
      }
      OTA_TRY(db_->ForgetVersion(
          v.id, EventJson(ctx_, "version-removed", nullptr,
                          {{"model", v.model},
                           {"version", v.version},
                           {"id", v.id},
                           {"reason", "retention: keep_versions " +
                                          std::to_string(options_.keep_versions)}})));
    }
    return Ok();
  }

  static Env WithHttp(Env env, HttpClient* http) {
    env.http = http;
    return env;
  }

  // Everything the agent creates in the state folder is private (0750/0640).
  std::unique_ptr<PrivateFileSystem> private_fs_;
  std::unique_ptr<HttpClient> tls_http_;
  Env env_;
  AgentOptions options_;
  std::unique_ptr<FolderLock> lock_;
  std::unique_ptr<StateDb> db_;
  VersionStore store_;
  std::string server_url_;
  std::string device_id_;
  std::vector<std::string> models_;
  verifier::Updater updater_;
  runtime_adapter::RuntimeRegistry runtimes_;
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
    // The signed digest and length of what this deployment installs.
    if (!row->sha256.empty()) e["sha256"] = row->sha256;
    if (row->length != 0) e["length"] = row->length;
    if (row->id != 0) e["deployment_id"] = row->id;
  }
  if (extra.is_object()) {
    // Canonical JSON has no floats (a shadow report's metrics): their text.
    for (auto it = extra.begin(); it != extra.end(); ++it) e[it.key()] = WithoutFloats(it.value());
  }
  return e.dump();
}

Result<std::unique_ptr<Agent>> Agent::Open(Env& env, const AgentOptions& options) {
  if (options.keep_versions < 1 || options.keep_versions > 100) {
    return MakeError(ErrorCode::kInvalidArgument, "keep_versions must be from 1 to 100 (got " +
                                                      std::to_string(options.keep_versions) + ")");
  }
  auto in_range = [](const char* name, long long value, long long low, long long high) -> Status {
    if (value >= low && value <= high) return Ok();
    return MakeError(ErrorCode::kInvalidArgument,
                     std::string(name) + " must be from " + std::to_string(low) + " to " +
                         std::to_string(high) + " (got " + std::to_string(value) + ")");
  };
  OTA_TRY(in_range("confirm_sessions", options.confirm_sessions, 0, 1000000));
  OTA_TRY(in_range("confirm_window", options.confirm_window.count(), 0, 30LL * 24 * 3600));
  OTA_TRY(in_range("confirm_max_failures", options.confirm_max_failures, 1, 1000000));
  OTA_TRY(in_range("confirm_max_restarts", options.confirm_max_restarts, 0, 1000));
  OTA_TRY(in_range("max_rollback_attempts", options.max_rollback_attempts, 1, 100));
  rollout::DeviceCapabilities app_check;
  OTA_TRY(ApplyAppVersionOverride(options.app_version, app_check));
  OTA_ASSIGN_OR_RETURN(bool enrolled, env.fs->Exists(JoinPath(options.state_dir, kDbName)));
  if (!enrolled) {
    return MakeError(ErrorCode::kNotFound, options.state_dir +
                                               " is not an enrolled state folder "
                                               "(run `ota-agent init` first)");
  }
  OTA_ASSIGN_OR_RETURN(
      auto lock, FolderLock::Acquire(PlatformOf(env), JoinPath(options.state_dir, kLockName)));
  OTA_ASSIGN_OR_RETURN(auto db,
                       StateDb::Open(JoinPath(options.state_dir, kDbName), env.fs->Durable()));
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
  OTA_ASSIGN_OR_RETURN(TlsSettings tls, LoadTls(env, *db, options.state_dir,
                                                {options.ca_bundle_file, options.pinned_sha256}));
  // Settings are checked even without a client (an offline Env): a bad
  // setting must show up at Open, not at the first network cycle.
  OTA_TRY(ValidateTlsSettings(*env.fs, tls));
  std::unique_ptr<HttpClient> tls_http;
  if (env.http != nullptr) {
    OTA_ASSIGN_OR_RETURN(tls_http, MakeTlsHttpClient(*env.fs, *env.http, std::move(tls)));
  }
  auto agent = std::make_unique<AgentImpl>(env, std::move(tls_http), options, std::move(lock),
                                           std::move(db), url, *device_id, std::move(model_list));
  if (options.access == AgentAccess::kReadOnly) {
    // Nothing is created, counted or resumed: status during a confirmation
    // window must not look like a restart of the updating process.
    return std::unique_ptr<Agent>(std::move(agent));
  }
  OTA_TRY(agent->Init());
  if (options.access == AgentAccess::kUpdate) OTA_TRY(agent->CountConfirmingStarts());
  // Activation and rollback need no network: finish them now, so the store
  // is consistent before anyone reads it.
  agent->ResumeOpenDeployments(nullptr, nullptr);
  return std::unique_ptr<Agent>(std::move(agent));
}

}  // namespace ota::agent
