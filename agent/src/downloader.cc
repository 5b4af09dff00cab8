#include "downloader.h"

#include <algorithm>

#include "ota/common/log.h"

namespace ota::agent {
namespace {

// Parses the first byte position of "bytes a-b/total".
std::optional<std::uint64_t> ContentRangeStart(const std::string& value) {
  const std::string prefix = "bytes ";
  if (value.rfind(prefix, 0) != 0) return std::nullopt;
  std::uint64_t start = 0;
  std::size_t i = prefix.size();
  if (i >= value.size() || value[i] < '0' || value[i] > '9') return std::nullopt;
  for (; i < value.size() && value[i] >= '0' && value[i] <= '9'; ++i) {
    if (start > (UINT64_MAX - 9) / 10) return std::nullopt;
    start = start * 10 + static_cast<std::uint64_t>(value[i] - '0');
  }
  if (i >= value.size() || value[i] != '-') return std::nullopt;
  return start;
}

bool IsTransientStatus(int status) {
  return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

// One HTTP exchange appending to the part file. Returns kRetryLater for
// anything worth another attempt.
Status FetchOnce(Env& env, const std::string& url, const std::string& part_path, std::uint64_t have,
                 std::uint64_t length, const DownloadOptions& options,
                 const ProgressCallback& progress, DownloadStats& stats) {
  OTA_ASSIGN_OR_RETURN(auto file, env.fs->OpenWritable(part_path, /*append=*/true, 0600));
  HttpRequest request;
  request.url = url;
  if (have > 0) request.range_start = have;
  request.max_body_bytes = length - have;
  request.connect_timeout = options.connect_timeout;
  request.low_speed_window = options.stall_timeout;

  std::uint64_t written = have;
  std::uint64_t unsynced = 0;
  auto sink = [&](std::span<const std::uint8_t> data) -> Status {
    OTA_TRY(file->Append(data));
    written += data.size();
    unsynced += data.size();
    stats.fetched += data.size();
    if (unsynced >= options.sync_every_bytes) {
      OTA_TRY(file->Sync());
      unsynced = 0;
    }
    if (progress) progress(written, length);
    return Ok();
  };
  Result<HttpResponse> response = env.http->Fetch(request, sink);
  // Whatever arrived is kept (synced) so the next attempt resumes after it.
  Status synced = file->Sync();
  Status closed = file->Close();
  if (!response.ok()) return std::move(response).error();
  OTA_TRY(synced);
  OTA_TRY(closed);

  const int status = response->status;
  if (status == 200 && have > 0) {
    // The server ignored the Range header and sent the whole file after the
    // bytes we had: the file is now wrong; start over.
    OTA_TRY(env.fs->Remove(part_path));
    return MakeError(ErrorCode::kRetryLater, "server ignored the range request for " + url);
  }
  if (status == 206) {
    auto start = ContentRangeStart(response->Header("content-range").value_or(""));
    if (!start || *start != have) {
      OTA_TRY(env.fs->Remove(part_path));
      return MakeError(ErrorCode::kRetryLater,
                       "server answered a range request for " + url + " with the wrong range");
    }
  } else if (status != 200) {
    ErrorCode code = IsTransientStatus(status) ? ErrorCode::kRetryLater : ErrorCode::kNotFound;
    return MakeError(code, "GET " + url + " returned HTTP " + std::to_string(status));
  }
  if (written != length) {
    return MakeError(ErrorCode::kRetryLater, "download of " + url + " ended at byte " +
                                                 std::to_string(written) + " of " +
                                                 std::to_string(length));
  }
  return Ok();
}

}  // namespace

Result<DownloadStats> DownloadResumable(Env& env, const std::string& url,
                                        const std::string& part_path, std::uint64_t length,
                                        const DownloadOptions& options,
                                        const ProgressCallback& progress) {
  DownloadStats stats;
  std::chrono::milliseconds backoff = options.initial_backoff;
  Error last = MakeError(ErrorCode::kRetryLater, "no download attempt made for " + url);
  bool first = true;
  for (int attempt = 1; attempt <= options.max_attempts; ++attempt) {
    OTA_ASSIGN_OR_RETURN(bool exists, env.fs->Exists(part_path));
    std::uint64_t have = 0;
    if (exists) {
      OTA_ASSIGN_OR_RETURN(have, env.fs->FileSize(part_path));
    }
    if (have > length) {
      // More than the signed length can never be right.
      OTA_TRY(env.fs->Remove(part_path));
      have = 0;
    }
    if (first) {
      stats.resumed_from = have;
      first = false;
    }
    if (have == length) return stats;
    stats.attempts = attempt;
    Status s = FetchOnce(env, url, part_path, have, length, options, progress, stats);
    if (s.ok()) {
      stats.clean_transfer = have == 0;
      return stats;
    }
    last = std::move(s).error();
    if (last.code == ErrorCode::kIntegrity) {
      // More bytes than signed: never keep them, and start the next attempt
      // from a clean file. The artifact is not to blame.
      OTA_TRY(env.fs->Remove(part_path));
      last = MakeError(ErrorCode::kRetryLater, "discarded an over-long answer: " + last.message);
    }
    if (last.code == ErrorCode::kNotFound) {
      // A signed target the server does not have (yet): a mirror may still be
      // syncing, so the deployment waits for the next cycle instead of failing.
      return MakeError(ErrorCode::kRetryLater, last.message);
    }
    if (last.code != ErrorCode::kRetryLater) return last;
    Log(LogLevel::kInfo, "download", last.message + "; retrying");
    if (attempt == options.max_attempts) break;
    // Full jitter keeps a fleet that lost its server from returning in step.
    auto jittered = std::chrono::milliseconds(
        env.random->Uniform(static_cast<std::uint64_t>(backoff.count()) + 1));
    env.clock->SleepFor(jittered);
    backoff = std::min(options.max_backoff, backoff * 2);
  }
  return MakeError(ErrorCode::kRetryLater, "download incomplete after " +
                                               std::to_string(options.max_attempts) +
                                               " attempts: " + last.message);
}

}  // namespace ota::agent
