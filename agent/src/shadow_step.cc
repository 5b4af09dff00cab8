// The shadowing state: the candidate version against the version the device
// runs, on the bundle's eval set or the built-in one (shadow::Run; every
// update unless a bundle or rollout skips it, audited), optionally with live
// mirroring from apps (docs/architecture.md "Shadow tests", docs/decisions.md
// D17). The verdict goes to SQLite (shadow_verdicts) together with its
// shadow-result event.

#include <cstdlib>
#include <thread>

#include "agent_internal.h"
#include "mirror_files.h"
#include "ota/agent/drain.h"
#include "ota/common/log.h"
#include "ota/common/thread_priority.h"
#include "ota/manifest/bundle_manifest.h"
#include "ota/shadow/policy.h"
#include "ota/shadow/report.h"
#include "ota/shadow/shadow.h"

namespace ota::agent {
namespace {

constexpr char kAppNeedsRuntime[] = "stopped: the app needed the runtime";

Result<manifest::BundleManifest> ReadManifest(AgentContext& ctx, const std::string& dir) {
  OTA_ASSIGN_OR_RETURN(std::string text,
                       ctx.env.fs->ReadFile(JoinPath(dir, "bundle.json"), 4 << 20));
  return manifest::ParseBundleManifest(text);
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : "; ") + p;
  return out;
}

class ShadowStep {
 public:
  ShadowStep(AgentContext& ctx, const DeploymentRow& row, const std::string& from_version)
      : ctx_(ctx), row_(row), from_version_(from_version) {}

  Status Run() {
    if (row_.previous.empty()) return Ok();  // First install: nothing to compare with.
    OTA_ASSIGN_OR_RETURN(bool kept, ctx_.store.HasVersion(row_.previous));
    if (!kept) return Ok();
    const std::string dir = ctx_.store.VersionDir(row_.sha256);
    OTA_ASSIGN_OR_RETURN(manifest::BundleManifest candidate, ReadManifest(ctx_, dir));
    auto section = shadow::BundleShadowSectionOf(candidate);
    if (!section.ok()) return MakeError(ErrorCode::kIncompatible, section.error().message);
    const std::string previous_dir = ctx_.store.VersionDir(row_.previous);
    OTA_ASSIGN_OR_RETURN(manifest::BundleManifest current, ReadManifest(ctx_, previous_dir));
    // A bundle without a shadow section is tested too (the built-in eval set
    // under the behaviour gate); only an explicit skip goes without one.
    OTA_ASSIGN_OR_RETURN(shadow::Policy policy, EffectivePolicy(*section));
    // The rollout manifest's shadow_policy, or its rollback order
    // (rollout_target.cc): the reason says which.
    if (policy.skip) return RecordSkip(*policy.skip, "rollout manifest");
    if (section->skip) return RecordSkip(*section->skip, "bundle.json shadow.skip");
    auto eval = shadow::LoadBundleEvalSet(*ctx_.env.fs, dir, candidate);
    if (!eval.ok()) return MakeError(ErrorCode::kIncompatible, eval.error().message);
    OTA_ASSIGN_OR_RETURN(auto runtime, ctx_.runtimes.SelectFor(candidate));

    std::optional<shadow::MirrorStats> mirrored;
    if (policy.mirror) {
      OTA_TRY(Announce(policy));
      OTA_ASSIGN_OR_RETURN(mirrored, MirroredSoFar(*policy.mirror));
      if (!mirrored) {
        return MakeError(ErrorCode::kRetryLater, "shadow test waits for mirrored samples: " +
                                                     waiting_ + "; retried next cycle");
      }
    } else {
      OTA_TRY(Unannounce());
    }

    // Attempts per deployment, for a policy that retries inconclusive runs.
    const std::string attempts_key = "shadow_attempts/" + std::to_string(row_.id);
    OTA_ASSIGN_OR_RETURN(auto attempts_text, ctx_.db.GetSetting(attempts_key));
    const int previous_attempts = attempts_text ? std::atoi(attempts_text->c_str()) : 0;
    const int attempt = previous_attempts + 1;
    OTA_TRY(ctx_.db.SetSetting(attempts_key, std::to_string(attempt)));

    // Stops as soon as an app leases the model: the app needs the runtime.
    shadow::CancelToken cancel(kAppNeedsRuntime);
    const std::string state_dir = ctx_.options.state_dir;
    const std::string leased = row_.previous;
    cancel.PollWith([platform = &PlatformOf(ctx_.env), state_dir, leased] {
      auto held = IsHeld(*platform, state_dir, leased);
      return held.ok() && *held;
    });
    std::string priority;
    std::optional<Result<shadow::Report>> ran;
    const std::string current_path = JoinPath(previous_dir, current.model.file);
    const std::string candidate_path = JoinPath(dir, candidate.model.file);
    // A thread of its own, so that the lowered priority ends with the run.
    std::thread worker([&] {
      priority = LowerThisThreadPriority();
      ran = shadow::Run(*runtime, current_path, candidate_path, *eval, policy, *ctx_.env.clock,
                        cancel, attempt);
    });
    worker.join();
    if (!ran->ok()) return std::move(*ran).error();
    shadow::Report report = std::move(**ran);
    if (report.current_unavailable && !section->declared) {
      // The default test needs both models; a current version the runtime
      // no longer loads must not keep the device from its update.
      return RecordSkip("the current version did not load: " + Join(report.reasons), "agent");
    }
    // Stopped by the lease poll (not by the budget or a runtime error while
    // an app happened to start a session afterwards).
    const bool stopped = report.verdict == shadow::Verdict::kInconclusive &&
                         !report.reasons.empty() &&
                         report.reasons.front().find(kAppNeedsRuntime) != std::string::npos;
    if (stopped) {
      // Not an attempt: the app came first; the next cycle runs it again.
      OTA_TRY(ctx_.db.SetSetting(attempts_key, std::to_string(previous_attempts)));
      report.reasons = {kAppNeedsRuntime};
    } else if (mirrored) {
      shadow::FoldMirror(report, *mirrored, attempt);
    }
    const std::string action =
        stopped ? std::string("pause") : std::string(shadow::ActionName(report.action));
    OTA_TRY(Record(report, action, attempt, priority));
    if (stopped) {
      return MakeError(ErrorCode::kRetryLater,
                       "shadow test " + std::string(kAppNeedsRuntime) + "; retried next cycle");
    }
    const std::string reasons = Join(report.reasons);
    switch (report.action) {
      case shadow::Action::kAccept:
        OTA_TRY(Unannounce());
        return Ok();
      case shadow::Action::kRetry:
        return MakeError(ErrorCode::kRetryLater,
                         "shadow test inconclusive (" + reasons + "); retried next cycle");
      case shadow::Action::kReject:
        break;
    }
    OTA_TRY(Unannounce());
    return MakeError(ErrorCode::kIncompatible,
                     "shadow test " + std::string(shadow::VerdictName(report.verdict)) +
                         " against " + from_version_ + ": " + reasons);
  }

  // Whatever ended the step other than a pause: apps stop mirroring.
  void Cleanup() { (void)Unannounce(); }

 private:
  // The bundle's policy under the rollout manifest's override, if the
  // deployment came from one.
  Result<shadow::Policy> EffectivePolicy(const shadow::BundleShadowSection& section) {
    OTA_ASSIGN_OR_RETURN(auto override_text, ctx_.db.GetSetting(ShadowPolicyKey(row_.id)));
    std::optional<nlohmann::json> rollout;
    if (override_text) {
      rollout = nlohmann::json::parse(*override_text, nullptr, false);
      if (rollout->is_discarded()) {
        return MakeError(ErrorCode::kIncompatible, "the rollout's shadow_policy is not JSON");
      }
    }
    // A malformed bundle policy rules the bundle out for good; a malformed
    // rollout override only fails this deployment (kInvalidArgument is not
    // remembered as a rejected artifact), so a corrected manifest applies.
    if (rollout) {
      auto alone = shadow::ResolvePolicy(nullptr, &*rollout);
      if (!alone.ok()) return MakeError(ErrorCode::kInvalidArgument, alone.error().message);
    }
    auto policy = shadow::ResolvePolicy(section.policy ? &*section.policy : nullptr,
                                        rollout ? &*rollout : nullptr);
    if (!policy.ok()) return MakeError(ErrorCode::kIncompatible, policy.error().message);
    return policy;
  }

  Status Announce(const shadow::Policy& policy) {
    mirror_files::Announcement a;
    a.model = row_.model;
    a.deployment_id = row_.id;
    a.candidate_id = row_.sha256;
    a.candidate_version = row_.version;
    a.current_id = row_.previous;
    a.sample_rate = policy.mirror->sample_rate;
    a.cpu_budget = policy.mirror->cpu_budget;
    a.max_new_tokens = policy.mirror->max_new_tokens;
    a.context_length = policy.context_length;
    a.threads = policy.threads;
    const std::string text = mirror_files::AnnouncementToJson(a).dump();
    const std::string path = mirror_files::AnnouncementPath(ctx_.options.state_dir, row_.model);
    auto existing = ctx_.env.fs->ReadFile(path, mirror_files::kMaxFileBytes);
    if (existing.ok() && *existing == text) return Ok();
    OTA_TRY(ctx_.env.fs->CreateDirs(mirror_files::MirrorDir(ctx_.options.state_dir)));
    return WriteFileAtomic(*ctx_.env.fs, path, text);
  }

  Status Unannounce() {
    const std::string path = mirror_files::AnnouncementPath(ctx_.options.state_dir, row_.model);
    auto existing = ctx_.env.fs->ReadFile(path, mirror_files::kMaxFileBytes);
    if (!existing.ok()) return Ok();
    auto a = mirror_files::ParseAnnouncement(*existing);
    // Only this deployment's announcement (or a malformed one) goes.
    if (a.ok() && a->candidate_id != row_.sha256) return Ok();
    OTA_TRY(ctx_.env.fs->Remove(path));
    // Stats files of this model are for the withdrawn candidate (apps remove
    // their own when they see it go; these are from apps that ended).
    auto names = ctx_.env.fs->ListDir(mirror_files::MirrorDir(ctx_.options.state_dir));
    if (!names.ok()) return Ok();
    const std::string prefix = row_.model + ".";
    const std::string suffix = ".stats.json";
    for (const std::string& name : *names) {
      if (name.size() > prefix.size() + suffix.size() && name.rfind(prefix, 0) == 0 &&
          name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
        (void)ctx_.env.fs->Remove(JoinPath(mirror_files::MirrorDir(ctx_.options.state_dir), name));
      }
    }
    return Ok();
  }

  // The apps' merged aggregates once there are enough of them (or the wait
  // is over); nullopt to keep waiting, with waiting_ saying how far it is.
  Result<std::optional<shadow::MirrorStats>> MirroredSoFar(const shadow::MirrorPolicy& mp) {
    const std::string since_key = "shadow_mirror_since/" + std::to_string(row_.id);
    OTA_ASSIGN_OR_RETURN(auto since_text, ctx_.db.GetSetting(since_key));
    const std::int64_t now = UnixNow(ctx_.env);
    std::int64_t since = now;
    if (since_text) {
      since = std::atoll(since_text->c_str());
    } else {
      OTA_TRY(ctx_.db.SetSetting(since_key, std::to_string(now)));
    }
    int files = 0;
    int skipped = 0;
    OTA_ASSIGN_OR_RETURN(shadow::MirrorStats stats,
                         mirror_files::CollectStats(*ctx_.env.fs, ctx_.options.state_dir,
                                                    row_.model, row_.sha256, &files, &skipped));
    if (skipped > 0) {
      Log(LogLevel::kWarning, "agent",
          row_.model + ": ignored " + std::to_string(skipped) + " unusable mirror stats file(s)");
    }
    if (stats.replayed >= mp.min_samples || now - since >= mp.max_wait.count()) {
      return std::optional<shadow::MirrorStats>(stats);
    }
    waiting_ = std::to_string(stats.replayed) + " of " + std::to_string(mp.min_samples) +
               " replayed by " + std::to_string(files) + " app process(es)";
    return std::optional<shadow::MirrorStats>();
  }

  // An update that goes without a shadow test leaves an audited event that
  // says why and who decided.
  Status RecordSkip(const std::string& reason, const std::string& decided_by) {
    Log(LogLevel::kInfo, "agent",
        row_.model + " " + row_.version + ": shadow test skipped (" + decided_by + "): " + reason);
    return ctx_.db.QueueEvent(EventJson(
        ctx_, "shadow-skipped", &row_,
        {{"reason", reason}, {"decided_by", decided_by}, {"current_version", from_version_}}));
  }

  Status Record(const shadow::Report& report, const std::string& action, int attempt,
                const std::string& priority) {
    nlohmann::json json_report = shadow::ReportToJson(report);
    ShadowVerdict v;
    v.deployment_id = row_.id;
    v.model = row_.model;
    v.candidate_id = row_.sha256;
    v.candidate_version = row_.version;
    v.current_id = row_.previous;
    v.current_version = from_version_;
    v.verdict = shadow::VerdictName(report.verdict);
    v.action = action;
    v.gate = shadow::GateName(report.applied_gate);
    v.reason = Join(report.reasons);
    v.report_json = json_report.dump();
    v.attempt = attempt;
    v.created_at = UnixNow(ctx_.env);
    return ctx_.db.RecordShadowVerdict(v, EventJson(ctx_, "shadow-result", &row_,
                                                    {{"verdict", v.verdict},
                                                     {"action", action},
                                                     {"attempt", attempt},
                                                     {"priority", priority},
                                                     {"report", std::move(json_report)}}));
  }

  AgentContext& ctx_;
  const DeploymentRow& row_;
  const std::string& from_version_;
  std::string waiting_;
};

}  // namespace

Status RunShadowStep(AgentContext& ctx, const DeploymentRow& row, const std::string& from_version) {
  ShadowStep step(ctx, row, from_version);
  Status s = step.Run();
  if (!s.ok() && s.error().code != ErrorCode::kRetryLater &&
      s.error().code != ErrorCode::kCancelled) {
    step.Cleanup();
  }
  return s;
}

}  // namespace ota::agent
