// Fetching a signed target's bytes for a deployment: the download options
// the agent runs with, the target's signed container head, and the server's
// Retry-After kept across runs.
#include <cstdlib>

#include "agent_internal.h"
#include "download_governor.h"
#include "ota/common/log.h"

namespace ota::agent {
namespace {

// Settings key: the Unix time before which the server asked not to be asked
// for downloads again (a Retry-After longer than a run waits).
constexpr char kNotBeforeKey[] = "download_not_before";

}  // namespace

std::optional<manifest::ContainerHead> SignedHead(const manifest::TargetFile& file) {
  // Targets with malformed custom data were skipped when they were chosen.
  auto custom = manifest::ParseTargetCustom(file.custom);
  if (!custom.ok()) return std::nullopt;
  return custom->bundle ? custom->bundle->head : std::nullopt;
}

Status FetchTarget(AgentContext& ctx, const TargetFetch& target, const ProgressCallback& progress,
                   DownloadStats& stats) {
  stats = DownloadStats{};
  OTA_ASSIGN_OR_RETURN(std::optional<std::string> not_before, ctx.db.GetSetting(kNotBeforeKey));
  const std::int64_t now = UnixNow(ctx.env);
  if (not_before && !not_before->empty()) {
    const std::int64_t until = std::strtoll(not_before->c_str(), nullptr, 10);
    if (now < until) {
      return MakeError(ErrorCode::kRetryLater, "the server asked not to download before " +
                                                   std::to_string(until) + " (Unix time; " +
                                                   std::to_string(until - now) + " s from now)");
    }
    OTA_TRY(ctx.db.SetSetting(kNotBeforeKey, ""));
  }
  DownloadRules rules;
  rules.cancel = ctx.options.cancel;
  rules.max_bytes_per_second = target.policy.max_bytes_per_second.value_or(0);
  rules.conditions = ctx.options.conditions;
  rules.policy = target.policy;
  rules.bytes = target.length;
  rules.space_needed = target.space_needed;
  OTA_TRY(DownloadMayStart(rules, *ctx.env.clock));
  GovernedHttpClient governed(*ctx.env.http, *ctx.env.clock, std::move(rules));
  Env env = ctx.env;
  env.http = &governed;
  DownloadOptions options;
  options.max_attempts = ctx.options.download_attempts;
  options.initial_backoff = ctx.options.initial_backoff;
  options.stall_timeout = ctx.options.download_stall_timeout;
  options.container = target.container;
  options.signed_head = target.signed_head;
  options.checked_sink = target.checked_sink;
  Status s =
      DownloadResumable(env, target.url, target.part, target.length, options, progress, stats);
  if (stats.retry_after) {
    OTA_TRY(ctx.db.SetSetting(kNotBeforeKey, std::to_string(now + stats.retry_after->count())));
  }
  if (stats.discarded > 0) {
    Log(LogLevel::kInfo, "agent",
        target.url + ": " + std::to_string(stats.discarded) + " bytes received were discarded");
  }
  return s;
}

}  // namespace ota::agent
