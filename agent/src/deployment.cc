// The deployment state machine: one handler per state, driven by the table
// in lifecycle.cc. Each handler is idempotent, because a restarted agent runs
// the handler of the last saved state again.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>

#include "agent_internal.h"
#include "deployment_driver.h"
#include "deployment_plan.h"
#include "ota/agent/drain.h"
#include "ota/agent/sessions.h"
#include "ota/bundle/bundle.h"
#include "ota/bundle/delta.h"
#include "ota/common/crash_points.h"
#include "ota/common/hash.h"
#include "ota/common/log.h"
#include "ota/manifest/bundle_manifest.h"
#include "ota/verifier/hashing.h"
#include "streamed_unpack.h"

namespace ota::agent {
namespace {

// A deployment saved this many times is in a restart loop: give up on it and
// keep the previous version.
constexpr int kMaxSaves = 64;

// Complete downloads of a signed bundle, each one response from byte 0 of
// exactly the signed length, that may fail their hash check before the
// version is refused for good (docs/architecture.md "Downloads"). Fewer
// would let one bad mirror or proxy answer blacklist a good release; a
// mismatch that repeats over clean transfers is the artifact's.
constexpr int kMaxCleanHashFailures = 3;

// Settings key counting kMaxCleanHashFailures for one bundle digest.
std::string HashFailuresKey(const std::string& sha256) { return "hash_failures/" + sha256; }
// Settings key set to "1" while the bundle's .part file is one clean
// transfer (DownloadStats::clean_transfer). In the database rather than
// beside the part so that a crash can never leave a stray file.
std::string CleanDownloadKey(const std::string& sha256) { return "clean_download/" + sha256; }

StepResult Done() { return StepResult{}; }
StepResult Fail(Error e) { return StepResult{Event::kError, std::move(e)}; }
// The download is discarded and fetched again on a later cycle.
StepResult Refetch(Error e) { return StepResult{Event::kRefetch, std::move(e)}; }
// A transient failure (retry-later, cancelled) waits for a later cycle; any
// other ends the deployment (where to, the table says).
StepResult FromStatus(Status s) {
  if (s.ok()) return Done();
  Error e = std::move(s).error();
  const bool transient = e.code == ErrorCode::kRetryLater || e.code == ErrorCode::kCancelled;
  return StepResult{transient ? Event::kRetryLater : Event::kError, std::move(e)};
}

class Runner : public DeploymentSteps {
 public:
  Runner(AgentContext& ctx, DeploymentRow& row, const DownloadProgress& progress,
         UpdateOutcome& outcome)
      : ctx_(ctx), row_(row), progress_(progress), outcome_(outcome) {}

  StepResult Run(State state) override {
    if (ctx_.options.cancel != nullptr && ctx_.options.cancel->load() && BeforeSwitch(state)) {
      return FromStatus(MakeError(ErrorCode::kCancelled, "update cancelled by the app before " +
                                                             std::string(StateName(state))));
    }
    switch (state) {
      case State::kDownloading:
        return Download();
      case State::kVerifying:
        return Verify();
      case State::kCapabilityCheck:
        return FromStatus(CheckCapability());
      case State::kShadowing:
        return FromStatus(Shadow());
      case State::kSwitching:
        // The drain and the pointer switch are one step (drain.h): under
        // `defer` the switch must happen while nobody holds the old version.
        return FromStatus(DrainAndSwitch());
      case State::kConfirming:
        return Confirm();
      case State::kRollingBack:
        return FromStatus(RollBack());
      case State::kIdle:
      case State::kChecking:
      case State::kCommitted:
      case State::kFailed:
        break;
    }
    return Fail(
        MakeError(ErrorCode::kInternal, "no handler for state " + std::string(StateName(state))));
  }

 private:
  StepResult Download() {
    const std::string part = ctx_.store.DownloadPath(row_.sha256);
    auto installed = ctx_.store.HasVersion(row_.sha256);
    if (!installed.ok()) return FromStatus(installed.error());
    if (*installed) return Done();  // Verified earlier; nothing to fetch.
    if (std::optional<StepResult> delta = TryDelta()) return *delta;
    auto target =
        manifest::ParseTargetFile(nlohmann::json::parse(row_.target_json, nullptr, false));
    if (!target.ok()) return Fail(std::move(target).error());
    TargetFetch fetch;
    fetch.url = ctx_.updater.TargetUrl(row_.target_path, *target);
    fetch.part = part;
    fetch.length = row_.length;
    fetch.container = true;
    fetch.signed_head = SignedHead(*target);
    if (fetch.signed_head) {
      Status started = StartStreamedUnpack(*target);
      if (!started.ok()) return FromStatus(started);
      fetch.checked_sink = streamed_.get();
    }
    DownloadStats stats;
    Status fetched = Fetch(fetch, stats);
    if (!fetched.ok()) {
      streamed_.reset();
      if (fetched.error().code == ErrorCode::kNoSpace) {
        // A full disk: give the space back rather than sit on a partial file.
        (void)ctx_.env.fs->Remove(part);
      }
      return FromStatus(std::move(fetched).error());
    }
    // Whether a hash failure of these bytes may count against the artifact.
    const Status marked =
        ctx_.db.SetSetting(CleanDownloadKey(row_.sha256), stats.clean_transfer ? "1" : "");
    if (!marked.ok()) return FromStatus(marked);
    return Done();
  }

  // The states an app's cancellation stops before: none of them changes
  // what the device runs.
  static bool BeforeSwitch(State state) {
    return state == State::kDownloading || state == State::kVerifying ||
           state == State::kCapabilityCheck || state == State::kShadowing;
  }

  // The agent's download policy under the plan's overrides, and the free
  // space the plan needs.
  Status ApplyDownloadPolicy(TargetFetch& fetch) {
    OTA_ASSIGN_OR_RETURN(PlannedDownload planned, PlannedDownloadTerms(row_.plan_json));
    fetch.policy = planned.policy ? manifest::OverlayDownloadPolicy(ctx_.options.download_policy,
                                                                    *planned.policy)
                                  : ctx_.options.download_policy;
    fetch.space_needed = planned.space_needed;
    return Ok();
  }

  // Downloads a target, counting what came over the network in this
  // deployment's figures whether or not it completed.
  Status Fetch(TargetFetch fetch, DownloadStats& stats) {
    OTA_TRY(ApplyDownloadPolicy(fetch));
    Status s = FetchTarget(
        ctx_, fetch,
        [&](std::uint64_t done, std::uint64_t total) {
          if (progress_) progress_(row_.model, done, total);
        },
        stats);
    outcome_.bytes_fetched += stats.fetched;
    outcome_.bytes_resumed += stats.resumed_from;
    if (stats.fetched > 0) {
      row_.bytes_fetched += stats.fetched;
      (void)ctx_.db.SetBytesFetched(row_.id, row_.bytes_fetched);
    }
    return s;
  }

  // Verifying: a transport fault (a resumed transfer, or one of the first
  // kMaxCleanHashFailures clean ones, that fails the signed length or
  // hashes) goes back to downloading on a later cycle; only repeated
  // failures of clean transfers fail the deployment with kIntegrity.
  StepResult Verify() {
    bool download_rejected = false;
    Status s = VerifyAndUnpack(download_rejected);
    auto clean = ctx_.db.GetSetting(CleanDownloadKey(row_.sha256));
    // It describes the part file, which is consumed or discarded now.
    (void)ctx_.db.SetSetting(CleanDownloadKey(row_.sha256), "");
    if (s.ok()) {
      (void)ctx_.db.SetSetting(HashFailuresKey(row_.sha256), "");
      return Done();
    }
    Error e = std::move(s).error();
    if (e.code != ErrorCode::kIntegrity || !download_rejected) return FromStatus(std::move(e));
    if (!clean.ok()) return FromStatus(clean.error());
    if (!*clean || **clean != "1") {
      return Refetch(MakeError(ErrorCode::kRetryLater,
                               e.message +
                                   "; the bytes did not come from one clean transfer (a resumed "
                                   "transfer, or found on disk): discarded, downloading again "
                                   "from the start"));
    }
    auto counted = ctx_.db.GetSetting(HashFailuresKey(row_.sha256));
    if (!counted.ok()) return FromStatus(counted.error());
    const int failures =
        (*counted && !(*counted)->empty() ? std::atoi((*counted)->c_str()) : 0) + 1;
    Status saved = ctx_.db.SetSetting(HashFailuresKey(row_.sha256), std::to_string(failures));
    if (!saved.ok()) return FromStatus(saved);
    const std::string tally = std::to_string(failures) + " of " +
                              std::to_string(kMaxCleanHashFailures) + " complete downloads failed";
    if (failures >= kMaxCleanHashFailures) {
      return Fail(MakeError(ErrorCode::kIntegrity, e.message + " (" + tally + ")"));
    }
    return Refetch(
        MakeError(ErrorCode::kRetryLater, e.message + " (" + tally + "); downloading again later"));
  }

  // The delta the plan chose (deployment_plan.h). Deployments started by
  // builds without plans choose from the current metadata.
  std::optional<DeltaTarget> FindDelta() {
    if (row_.previous.empty()) return std::nullopt;
    if (!row_.plan_json.empty()) {
      auto planned = PlannedDelta(row_.plan_json);
      if (planned.ok()) return *planned;
      Log(LogLevel::kWarning, "agent", planned.error().message + "; fetching the full bundle");
      return std::nullopt;
    }
    if (ctx_.updater.targets() == nullptr) return std::nullopt;
    return ChooseDelta(*ctx_.updater.targets(), row_.target_path, row_.sha256, row_.length,
                       row_.previous);
  }

  // Marks that this deployment's delta failed for good: later cycles fetch
  // the full bundle.
  std::string NoDeltaMarker() { return ctx_.store.DownloadPath(row_.sha256) + ".nodelta"; }

  // Installs the version from a delta when one is offered. Returns a step
  // result when the deployment should stop here (installed, or paused), and
  // nullopt to go on with the full bundle.
  std::optional<StepResult> TryDelta() {
    auto marked = ctx_.env.fs->Exists(NoDeltaMarker());
    if (!marked.ok() || *marked) return std::nullopt;
    std::optional<DeltaTarget> delta = FindDelta();
    if (!delta) return std::nullopt;
    auto base_installed = ctx_.store.HasVersion(row_.previous);
    if (!base_installed.ok() || !*base_installed) return std::nullopt;
    const std::string part = ctx_.store.DownloadPath(delta->sha256);
    TargetFetch fetch;
    fetch.url = ctx_.updater.TargetUrl(delta->path, delta->file);
    fetch.part = part;
    fetch.length = delta->file.length;
    fetch.container = !delta->compact;
    fetch.signed_head = delta->head;
    DownloadStats stats;
    Status fetched = Fetch(fetch, stats);
    Status applied = fetched.ok() ? ApplyDelta(*delta, part) : fetched;
    if (applied.ok()) {
      outcome_.used_delta = true;
      (void)ctx_.db.QueueEvent(EventJson(ctx_, "delta-applied", &row_, {{"delta", delta->path}}));
      return Done();
    }
    const Error e = applied.error();
    // A transient network failure pauses: the partial delta resumes next
    // cycle (the full bundle would not download any better now). Anything
    // else rules the delta out for this deployment.
    if (e.code == ErrorCode::kCancelled || e.code == ErrorCode::kRetryLater) {
      return FromStatus(e);
    }
    (void)ctx_.env.fs->Remove(part);
    (void)WriteFileAtomic(*ctx_.env.fs, NoDeltaMarker(), e.message);
    outcome_.delta_fallback = true;
    outcome_.delta_error = e;
    Log(LogLevel::kWarning, "agent",
        "delta " + delta->path + " failed, fetching the full bundle: " + e.message);
    (void)ctx_.db.QueueEvent(EventJson(
        ctx_, "delta-fallback", &row_,
        {{"delta", delta->path}, {"error_code", ErrorCodeName(e.code)}, {"error", e.message}}));
    return std::nullopt;
  }

  // Verifies the downloaded delta against its signed target, rebuilds the
  // version into staging from the installed base, and promotes it.
  Status ApplyDelta(const DeltaTarget& delta, const std::string& part) {
    OTA_TRY(verifier::Updater::VerifyTargetFile(delta.file, part, *ctx_.env.fs));
    const std::string staging = ctx_.store.StagingDir(row_.sha256);
    OTA_TRY(ctx_.env.fs->RemoveAll(staging));
    if (!delta.compact) {
      OTA_ASSIGN_OR_RETURN(bundle::BundleInfo info, bundle::ReadBundleHeader(*ctx_.env.fs, part));
      if (!info.delta || info.delta->target_id != row_.sha256) {
        return MakeError(ErrorCode::kIntegrity,
                         "delta " + delta.path + " does not rebuild " + row_.target_path);
      }
    }
    // What the signed targets metadata says about this delta (FindDelta
    // matched delta_from and delta_to to this deployment).
    const bundle::SignedDeltaFacts facts{row_.previous, row_.sha256, delta.manifest_sha256};
    OTA_ASSIGN_OR_RETURN(std::optional<bundle::RecipientPrivateKey> key, DeviceKey());
    OTA_ASSIGN_OR_RETURN(
        manifest::BundleManifest bundle,
        bundle::ApplyDeltaBundleFile(*ctx_.env.fs, part, ctx_.store.VersionDir(row_.previous),
                                     row_.previous, staging, bundle::UnpackLimits{}, std::move(key),
                                     &facts));
    if (bundle.name != row_.model || manifest::ToString(bundle.version) != row_.version) {
      (void)ctx_.env.fs->RemoveAll(staging);
      return MakeError(ErrorCode::kIntegrity,
                       "delta rebuilds " + bundle.name + " " + manifest::ToString(bundle.version) +
                           " but the signed target says " + row_.model + " " + row_.version);
    }
    OTA_TRY(ctx_.store.PromoteStaging(row_.sha256));
    OTA_TRY(ctx_.db.RecordVersion(
        VersionRow{row_.sha256, row_.model, row_.version, UnixNow(ctx_.env)}));
    (void)ctx_.env.fs->Remove(part);
    return Ok();
  }

  // The device's bundle key; none for state folders enrolled before keys
  // existed (they can still install unencrypted bundles).
  Result<std::optional<bundle::RecipientPrivateKey>> DeviceKey() {
    const std::string path = JoinPath(ctx_.options.state_dir, kDeviceKeyFile);
    OTA_ASSIGN_OR_RETURN(bool exists, ctx_.env.fs->Exists(path));
    if (!exists) return std::optional<bundle::RecipientPrivateKey>();
    OTA_ASSIGN_OR_RETURN(bundle::RecipientPrivateKey key,
                         bundle::LoadRecipientPrivateKey(*ctx_.env.fs, path));
    return std::optional<bundle::RecipientPrivateKey>(std::move(key));
  }

  // A download from byte 0 is unpacked as it arrives (streamed_unpack.h);
  // a resumed one is unpacked after it, from the part file.
  Status StartStreamedUnpack(const manifest::TargetFile& target) {
    streamed_.reset();
    OTA_ASSIGN_OR_RETURN(bool partial, ctx_.env.fs->Exists(ctx_.store.DownloadPath(row_.sha256)));
    if (partial) return Ok();
    const std::string staging = ctx_.store.StagingDir(row_.sha256);
    OTA_TRY(ctx_.env.fs->RemoveAll(staging));
    OTA_ASSIGN_OR_RETURN(std::optional<bundle::RecipientPrivateKey> key, DeviceKey());
    streamed_ = std::make_unique<StreamedUnpack>(*ctx_.env.fs, staging, std::move(key),
                                                 target.hashes.count("sha256") != 0,
                                                 target.hashes.count("sha512") != 0,
                                                 /*threaded=*/!ctx_.env.fs->SingleThreaded());
    return Ok();
  }

  // The streamed unpack's result, if the download streamed: nullopt when it
  // did not (the part file is then verified and unpacked as usual), else
  // the verdict on the whole file and, when it holds, the promotion.
  std::optional<Status> FinishStreamedUnpack(const manifest::TargetFile& target,
                                             bool& download_rejected) {
    if (!streamed_) return std::nullopt;
    std::unique_ptr<StreamedUnpack> streamed = std::move(streamed_);
    auto unpacked = streamed->Finish(row_.length);
    if (!unpacked.ok()) {
      Log(LogLevel::kInfo, "agent",
          row_.model + " " + row_.version + ": unpacking after the download (" +
              unpacked.error().message + ")");
      return std::nullopt;
    }
    const std::string part = ctx_.store.DownloadPath(row_.sha256);
    Status verified = verifier::CheckFileDigests(part, unpacked->length, unpacked->sha256,
                                                 unpacked->sha512, target);
    if (!verified.ok()) {
      (void)ctx_.env.fs->RemoveAll(ctx_.store.StagingDir(row_.sha256));
      (void)ctx_.env.fs->Remove(part);
      download_rejected = true;
      return verified;
    }
    return PromoteUnpacked(unpacked->manifest);
  }

  // Sets `download_rejected` when the downloaded file failed its signed
  // length or hashes (as opposed to a corrupt inside found while unpacking).
  Status VerifyAndUnpack(bool& download_rejected) {
    const std::string part = ctx_.store.DownloadPath(row_.sha256);
    OTA_ASSIGN_OR_RETURN(bool installed, ctx_.store.HasVersion(row_.sha256));
    if (installed) {
      // Promoted before a restart: finish what came after the rename (both
      // steps are idempotent).
      OTA_ASSIGN_OR_RETURN(auto recorded, ctx_.db.GetVersion(row_.sha256));
      if (!recorded) {
        OTA_TRY(ctx_.db.RecordVersion(
            VersionRow{row_.sha256, row_.model, row_.version, UnixNow(ctx_.env)}));
      }
      (void)ctx_.env.fs->Remove(NoDeltaMarker());
      // Rebuilt from a delta: its download too (ApplyDelta removes it after
      // the promotion, which a power loss may have cut off).
      if (std::optional<DeltaTarget> delta = FindDelta()) {
        (void)ctx_.env.fs->Remove(ctx_.store.DownloadPath(delta->sha256));
      }
      return ctx_.env.fs->Remove(part);
    }
    OTA_ASSIGN_OR_RETURN(
        manifest::TargetFile target,
        manifest::ParseTargetFile(nlohmann::json::parse(row_.target_json, nullptr, false)));
    if (std::optional<Status> streamed = FinishStreamedUnpack(target, download_rejected)) {
      return *streamed;
    }
    Status verified = verifier::Updater::VerifyTargetFile(target, part, *ctx_.env.fs);
    if (!verified.ok()) {
      // Bytes that do not match the signed length and hashes are never kept;
      // Verify() decides whether the artifact or the transfer is to blame.
      (void)ctx_.env.fs->Remove(part);
      download_rejected = true;
      return verified;
    }
    const std::string staging = ctx_.store.StagingDir(row_.sha256);
    OTA_TRY(ctx_.env.fs->RemoveAll(staging));
    OTA_ASSIGN_OR_RETURN(std::optional<bundle::RecipientPrivateKey> key, DeviceKey());
    auto bundle = bundle::UnpackBundleFile(*ctx_.env.fs, part, staging, bundle::UnpackLimits{},
                                           std::move(key));
    if (!bundle.ok()) {
      (void)ctx_.env.fs->RemoveAll(staging);
      const ErrorCode code = bundle.error().code;
      if (code == ErrorCode::kSecurity || code == ErrorCode::kIntegrity ||
          code == ErrorCode::kIncompatible || code == ErrorCode::kNoSpace) {
        // Signed bytes this device can never use (not a recipient, corrupt
        // inside, beyond its limits) would only waste space; on a full disk
        // the space goes back to the device (the deployment fails cleanly).
        // Other I/O errors keep them so a retry does not refetch.
        (void)ctx_.env.fs->Remove(part);
      }
      return std::move(bundle).error();
    }
    return PromoteUnpacked(*bundle);
  }

  // The staging folder holds the verified bundle: checks it is the signed
  // target's model and version, then makes it an installed version.
  Status PromoteUnpacked(const manifest::BundleManifest& bundle) {
    if (bundle.name != row_.model || manifest::ToString(bundle.version) != row_.version) {
      (void)ctx_.env.fs->RemoveAll(ctx_.store.StagingDir(row_.sha256));
      return MakeError(ErrorCode::kIntegrity,
                       "bundle contains " + bundle.name + " " + manifest::ToString(bundle.version) +
                           " but the signed target says " + row_.model + " " + row_.version);
    }
    OTA_TRY(ctx_.store.PromoteStaging(row_.sha256));
    OTA_TRY(ctx_.db.RecordVersion(
        VersionRow{row_.sha256, row_.model, row_.version, UnixNow(ctx_.env)}));
    (void)ctx_.env.fs->Remove(NoDeltaMarker());
    return ctx_.env.fs->Remove(ctx_.store.DownloadPath(row_.sha256));
  }

  Status CheckCapability() {
    OTA_ASSIGN_OR_RETURN(manifest::BundleManifest bundle,
                         ReadManifest(ctx_.store.VersionDir(row_.sha256)));
    // A runtime for the model's format, of the version bundle.json asks for.
    auto runtime = ctx_.runtimes.SelectFor(bundle);
    if (!runtime.ok()) return std::move(runtime).error();
    return Ok();
  }

  Status DrainAndSwitch() {
    DrainOptions drain = ctx_.options.DrainFor(row_.model);
    if (drain.policy == DrainPolicy::kDefer &&
        UnixNow(ctx_.env) - row_.updated_at >= ctx_.options.defer_limit.count()) {
      Log(LogLevel::kWarning, "agent",
          row_.model + ": activation deferred since " + std::to_string(row_.updated_at) +
              "; switching new sessions first");
      drain.policy = DrainPolicy::kSwitchNewFirst;
    }
    OTA_ASSIGN_OR_RETURN(auto old_id, ctx_.store.ActiveId(row_.model));
    OTA_ASSIGN_OR_RETURN(DrainReport report,
                         ActivateWithDrain(ctx_.options.state_dir, row_.model, old_id, row_.sha256,
                                           drain, PlatformOf(ctx_.env), *ctx_.env.clock, [&] {
                                             return ctx_.store.Activate(row_.model, row_.sha256);
                                           }));
    // How the activation met the apps' sessions (docs/audit.md).
    (void)ctx_.db.QueueEvent(EventJson(ctx_, "drained", &row_,
                                       {{"policy", std::string(DrainPolicyName(drain.policy))},
                                        {"deadline_ms", drain.deadline.count()},
                                        {"waited_ms", report.waited.count()},
                                        {"switched", report.switched},
                                        {"old_released", report.old_released}}));
    if (!report.switched) {
      return MakeError(ErrorCode::kRetryLater,
                       "activation deferred: sessions still hold " + row_.model + " " +
                           outcome_.from_version + " after " +
                           std::to_string(drain.deadline.count()) + " ms (drain policy defer); " +
                           row_.version + " stays installed and the next cycle retries");
    }
    if (!report.old_released) {
      Log(LogLevel::kInfo, "agent",
          row_.model + ": switched to " + row_.version +
              "; sessions on the previous version continue and keep it on disk");
    }
    return Ok();
  }

  bool CandidateActive() override {
    auto active = ctx_.store.ActiveId(row_.model);
    return active.ok() && *active && **active == row_.sha256;
  }

  // The candidate against the active version (shadow_step.cc).
  Status Shadow() { return RunShadowStep(ctx_, row_, outcome_.from_version); }

  Result<manifest::BundleManifest> ReadManifest(const std::string& dir) {
    OTA_ASSIGN_OR_RETURN(std::string text,
                         ctx_.env.fs->ReadFile(JoinPath(dir, "bundle.json"), 4 << 20));
    return manifest::ParseBundleManifest(text);
  }

  // The switch took effect and the new version loads in its runtime (once,
  // when the window opens), then the confirmation window: the app's session
  // reports decide (docs/architecture.md, "Confirmation"). A version that
  // does not load, whose sessions fail, or that keeps the device restarting
  // is rolled back and never installed again (kIncompatible).
  // A rejection is the event confirmation-failed; errors of the step itself
  // are errors, and an open window is retry-later.
  StepResult Confirm() {
    Status s = ConfirmStep();
    if (s.ok()) return Done();
    if (rejected_) return StepResult{Event::kConfirmationFailed, std::move(s).error()};
    return FromStatus(std::move(s));
  }

  Status ConfirmStep() {
    OTA_ASSIGN_OR_RETURN(auto active, ctx_.store.ActiveId(row_.model));
    if (!active || *active != row_.sha256) {
      return MakeError(ErrorCode::kRestartDeployment, "activation did not take effect");
    }
    const AgentOptions& o = ctx_.options;
    if (row_.confirm_restarts > o.confirm_max_restarts) {
      return RejectConfirmation(
          "crash-loop", 0, 0,
          "crash loop: " + std::to_string(row_.confirm_restarts) + " restarts while confirming");
    }
    // A first install has nothing to return to: waiting would change nothing.
    const bool windowed = o.confirm_window.count() > 0 && !row_.previous.empty();
    if (row_.activated_at_ms == 0) {
      OTA_TRY(CheckModelLoads());
      if (!windowed) return Confirmed("immediate", 0, 0);
      const std::int64_t now = NowMs();
      if (CrashPointsEnabled()) CrashPoint("confirm.start");
      OTA_ASSIGN_OR_RETURN(row_.activated_at_ms,
                           ctx_.db.StartConfirmation(
                               row_.id, now,
                               EventJson(ctx_, "confirmation-started", &row_,
                                         {{"activated_at", manifest::FormatExpires(ToTime(now))},
                                          {"confirm_sessions", o.confirm_sessions},
                                          {"confirm_window_s", o.confirm_window.count()},
                                          {"confirm_max_failures", o.confirm_max_failures}})));
    }
    if (!windowed) return Confirmed("immediate", 0, 0);
    OTA_ASSIGN_OR_RETURN(
        std::vector<SessionOutcome> sessions,
        ReadSessionOutcomes(o.state_dir, row_.sha256, ToTime(row_.activated_at_ms)));
    // Reports in order: whichever count reaches its threshold first decides.
    int ok = 0;
    int failed = 0;
    std::string last_failure;
    for (const SessionOutcome& s : sessions) {
      if (s.ok) {
        ++ok;
      } else {
        ++failed;
        last_failure = s.message;
      }
      if (failed >= o.confirm_max_failures) {
        return RejectConfirmation("sessions", ok, failed,
                                  "confirmation failed: " + std::to_string(failed) + " of " +
                                      std::to_string(ok + failed) +
                                      " sessions failed: " + last_failure);
      }
      if (o.confirm_sessions > 0 && ok >= o.confirm_sessions) {
        return Confirmed("sessions", ok, failed);
      }
    }
    const std::int64_t window_ms = o.confirm_window.count() * 1000;
    const std::int64_t elapsed = NowMs() - row_.activated_at_ms;
    if (elapsed >= window_ms) {
      if (failed == 0) return Confirmed("window", ok, failed);
      return RejectConfirmation(
          "window", ok, failed,
          "confirmation failed: " + std::to_string(failed) + " of " + std::to_string(ok + failed) +
              " sessions failed by the end of the " + std::to_string(o.confirm_window.count()) +
              " s window: " + last_failure);
    }
    const std::int64_t left_s = (window_ms - elapsed + 999) / 1000;
    return MakeError(ErrorCode::kRetryLater,
                     "confirming " + row_.model + " " + row_.version + ": " + std::to_string(ok) +
                         " of " + std::to_string(o.confirm_sessions) + " sessions ok, " +
                         std::to_string(failed) + " failed; window ends in " +
                         std::to_string(left_s) + " s");
  }

  Status CheckModelLoads() {
    if (!ctx_.options.check_model_loads) return Ok();
    const std::string dir = ctx_.store.VersionDir(row_.sha256);
    OTA_ASSIGN_OR_RETURN(manifest::BundleManifest bundle, ReadManifest(dir));
    OTA_ASSIGN_OR_RETURN(auto runtime, ctx_.runtimes.SelectFor(bundle));
    runtime_adapter::ModelOpenOptions open;
    open.path = JoinPath(dir, bundle.model.file);
    open.context_length = 64;
    auto loaded = runtime->Open(open);
    if (!loaded.ok()) {
      return MakeError(ErrorCode::kIncompatible, "version " + row_.version + " does not load in " +
                                                     std::string(runtime->Name()) + ": " +
                                                     loaded.error().message);
    }
    return Ok();
  }

  Status Confirmed(const char* reason, int ok, int failed) {
    OTA_TRY(ctx_.db.QueueEvent(
        EventJson(ctx_, "confirmed", &row_,
                  {{"reason", reason}, {"sessions_ok", ok}, {"sessions_failed", failed}})));
    return Ok();
  }

  Status RejectConfirmation(const char* reason, int ok, int failed, const std::string& message) {
    rejected_ = true;
    Log(LogLevel::kWarning, "agent", row_.model + " " + row_.version + ": " + message);
    OTA_TRY(ctx_.db.QueueEvent(EventJson(ctx_, "confirmation-failed", &row_,
                                         {{"reason", reason},
                                          {"sessions_ok", ok},
                                          {"sessions_failed", failed},
                                          {"restarts", row_.confirm_restarts},
                                          {"error", message}})));
    return MakeError(ErrorCode::kIncompatible, message);
  }

  std::int64_t NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               ctx_.env.clock->Now().time_since_epoch())
        .count();
  }
  static std::chrono::system_clock::time_point ToTime(std::int64_t ms) {
    return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
  }

  // Returns to the previous version, in at most max_rollback_attempts
  // attempts counted in the database before each one runs (a crash during an
  // attempt counts too). Past the cap the deployment ends failed with
  // whichever verified version is active: the switch is atomic, so that is
  // the previous version or the candidate, never a mix.
  Status RollBack() {
    const int cap = std::max(1, ctx_.options.max_rollback_attempts);
    while (true) {
      const int next = row_.rollback_attempts + 1;
      OTA_ASSIGN_OR_RETURN(
          row_.rollback_attempts,
          ctx_.db.CountRollbackAttempt(row_.id, EventJson(ctx_, "rollback-attempt", &row_,
                                                          {{"attempt", next}, {"of", cap}})));
      if (row_.rollback_attempts > cap) return AbandonRollBack(cap, std::nullopt);
      Status back = RollBackOnce();
      if (back.ok()) return Ok();
      // The previous version's bytes changed on disk: another attempt would
      // find the same, and switching to them is worse than staying.
      if (back.error().code == ErrorCode::kIntegrity) return AbandonRollBack(cap, back.error());
      Log(LogLevel::kWarning, "agent",
          "rollback of " + row_.model + ", attempt " + std::to_string(row_.rollback_attempts) +
              " of " + std::to_string(cap) + ": " + back.error().message);
      if (row_.rollback_attempts >= cap) return AbandonRollBack(cap, back.error());
    }
  }

  Status AbandonRollBack(int cap, const std::optional<Error>& last) {
    auto active = ctx_.store.ActiveId(row_.model);
    const std::string active_id = active.ok() && *active ? **active : "";
    const std::string message = "rollback abandoned after " + std::to_string(cap) + " attempts" +
                                (last ? ": " + last->message : "") + "; " +
                                (active_id.empty() ? std::string("no version active")
                                                   : "version " + active_id + " stays active");
    Log(LogLevel::kError, "agent", row_.model + ": " + message);
    (void)ctx_.db.QueueEvent(
        EventJson(ctx_, "rollback-abandoned", &row_,
                  {{"attempts", cap},
                   {"active_id", active_id},
                   {"error", last ? last->message : "restarted during rollback"}}));
    return MakeError(last ? last->code : ErrorCode::kRestartDeployment, message);
  }

  Status RollBackOnce() {
    if (!row_.previous.empty()) {
      OTA_ASSIGN_OR_RETURN(bool kept, ctx_.store.HasVersion(row_.previous));
      if (kept) {
        // Never re-activate bytes that no longer match their bundle.json.
        OTA_TRY(ctx_.store.VerifyVersion(row_.previous));
        // Back at once: sessions on the candidate finish on it (it stays on
        // disk while leased), new ones get the previous version.
        DrainOptions now{DrainPolicy::kSwitchNewFirst, std::chrono::milliseconds(0)};
        OTA_ASSIGN_OR_RETURN(auto active, ctx_.store.ActiveId(row_.model));
        if (CrashPointsEnabled()) CrashPoint("rollback.activate");
        auto back = ActivateWithDrain(
            ctx_.options.state_dir, row_.model, active, row_.previous, now, PlatformOf(ctx_.env),
            *ctx_.env.clock, [&] { return ctx_.store.Activate(row_.model, row_.previous); });
        if (!back.ok()) return std::move(back).error();
        return Ok();
      }
    }
    // Nothing was active before: make sure the candidate is not left active.
    OTA_ASSIGN_OR_RETURN(auto active, ctx_.store.ActiveId(row_.model));
    if (active && *active == row_.sha256) {
      // Without a previous version there is nothing to return to; keeping the
      // verified candidate is safer than leaving the app without a model.
      Log(LogLevel::kWarning, "agent", "rollback of " + row_.model + ": no previous version kept");
    }
    return Ok();
  }

  AgentContext& ctx_;
  DeploymentRow& row_;
  const DownloadProgress& progress_;
  UpdateOutcome& outcome_;
  // A full bundle unpacking while it downloads, between Download and Verify.
  std::unique_ptr<StreamedUnpack> streamed_;
  bool rejected_ = false;  // Confirm() rejected the version.
};

// Saves each state in the state database with its "state" event, behind a
// crash point for the power-loss tests.
class DbJournal : public DeploymentJournal {
 public:
  DbJournal(AgentContext& ctx, DeploymentRow& row) : ctx_(ctx), row_(row) {}
  Status Save(State state, bool terminal, const std::optional<Error>& failure) override {
    if (CrashPointsEnabled()) CrashPoint(("state." + std::string(StateName(state))).c_str());
    nlohmann::json extra = {{"state", StateName(state)}};
    // Bytes fetched so far (a delta, a resumed download or none for a kept
    // version are told apart from the length).
    extra["bytes_fetched"] = row_.bytes_fetched;
    if (failure) {
      extra["error_code"] = ErrorCodeName(failure->code);
      extra["error"] = failure->message;
    }
    row_.state = state;
    OTA_TRY(ctx_.db.SaveState(row_.id, state, terminal,
                              failure ? std::string(ErrorCodeName(failure->code)) : "",
                              failure ? failure->message : "", UnixNow(ctx_.env),
                              EventJson(ctx_, "state", &row_, extra)));
    row_.updated_at = UnixNow(ctx_.env);
    return Ok();
  }

 private:
  AgentContext& ctx_;
  DeploymentRow& row_;
};

}  // namespace

UpdateOutcome RunDeployment(AgentContext& ctx, DeploymentRow row,
                            const DownloadProgress& progress) {
  const auto started = ctx.env.clock->Monotonic();
  UpdateOutcome outcome;
  outcome.model = row.model;
  outcome.to_version = row.version;
  if (!row.previous.empty()) {
    auto prev = ctx.db.GetVersion(row.previous);
    if (prev.ok() && *prev) outcome.from_version = (*prev)->version;
  }
  Runner runner(ctx, row, progress, outcome);
  DbJournal journal(ctx, row);
  const DriveResult driven = DriveDeployment(row.state, row.saves, kMaxSaves, runner, journal);
  if (driven.paused) {
    outcome.kind = UpdateOutcome::Kind::kDeferred;
    outcome.error = driven.error;
    outcome.confirming = driven.state == State::kConfirming;
  } else {
    if (driven.returned) {
      // After the final state, so the fleet counts the device as rolled
      // back (an error), not as failed with an incompatible version.
      (void)ctx.db.QueueEvent(EventJson(ctx, "rolled-back", &row,
                                        {{"reason", driven.error        ? driven.error->message
                                                    : row.error.empty() ? "rollback"
                                                                        : row.error},
                                         {"active_version", outcome.from_version},
                                         {"active_id", row.previous}}));
    }
    outcome.kind = driven.state == State::kCommitted ? UpdateOutcome::Kind::kUpdated
                                                     : UpdateOutcome::Kind::kFailed;
    outcome.error = driven.error;
  }
  outcome.duration =
      std::chrono::duration_cast<std::chrono::milliseconds>(ctx.env.clock->Monotonic() - started);
  return outcome;
}

}  // namespace ota::agent
