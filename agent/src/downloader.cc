#include "downloader.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "ota/bundle/bundle.h"
#include "ota/common/log.h"

namespace ota::agent {
namespace {

bool IsTransientStatus(int status) {
  return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

// What one exchange ended with, beyond its status.
struct Exchange {
  bool piece_failed = false;  // The checker refused a piece (see failure()).
  std::optional<std::chrono::seconds> retry_after;
};

// Feeds the part file's bytes [checker.fed(), end) to `checker`, in pieces
// that never cross a piece's end. A kIntegrity error is a failed piece.
Status FeedFromDisk(ReadableFile& file, bundle::DownloadChecker& checker, std::uint64_t end) {
  std::vector<std::uint8_t> buffer(1u << 20);
  while (checker.fed() < end) {
    const std::uint64_t n = std::min<std::uint64_t>(
        {end - checker.fed(), checker.piece_end() - checker.fed(), buffer.size()});
    OTA_ASSIGN_OR_RETURN(std::size_t got,
                         file.ReadAt(checker.fed(), std::span<std::uint8_t>(buffer.data(), n)));
    if (got == 0) return MakeError(ErrorCode::kIo, "a partial download shrank while read");
    OTA_TRY(checker.Feed(std::span<const std::uint8_t>(buffer.data(), got)));
  }
  return Ok();
}

// Brings a fresh `checker` level with the `have` bytes of the part file: the
// head is checked again, whole chunks before the last are taken as checked
// when they were written, and the last one (partial, or whole but perhaps
// unchecked when the process died between writing and checking it) is
// hashed again. A piece that fails is cut off the file. Returns the bytes
// kept.
Result<std::uint64_t> RestoreChecker(Env& env, const std::string& part, std::uint64_t have,
                                     bundle::DownloadChecker& checker, DownloadStats& stats) {
  if (have == 0) return have;
  OTA_ASSIGN_OR_RETURN(auto file, env.fs->OpenReadable(part));
  // The head: the preamble, then the rest once its length is known.
  Status s = FeedFromDisk(*file, checker, std::min(have, checker.piece_end()));
  if (s.ok() && checker.checked() == 0) {
    s = FeedFromDisk(*file, checker, std::min(have, checker.piece_end()));
  }
  if (s.ok() && checker.checked() > 0 && checker.fed() < have) {
    const std::optional<std::uint64_t> last = checker.ChunkStartOf(have - 1);
    if (last && *last > checker.fed()) OTA_TRY(checker.SkipCheckedTo(*last));
    s = FeedFromDisk(*file, checker, have);
  }
  if (s.ok()) return have;
  if (s.error().code != ErrorCode::kIntegrity) return std::move(s).error();
  Log(LogLevel::kInfo, "download",
      "partial download " + part + ": " + s.error().message + "; fetching that piece again");
  OTA_TRY(env.fs->Truncate(part, checker.fed()));
  stats.discarded += have - checker.fed();
  return checker.fed();
}

// One HTTP exchange appending to the part file. Returns kRetryLater for
// anything worth another attempt.
// `stream`: the checked sink to hand the pieces to (this exchange starts at
// byte 0 with a signed head), or null.
Status FetchOnce(Env& env, const std::string& url, const std::string& part_path, std::uint64_t have,
                 std::uint64_t length, const DownloadOptions& options,
                 const ProgressCallback& progress, bundle::DownloadChecker* checker,
                 CheckedSink* stream, DownloadStats& stats, Exchange& exchange) {
  OTA_ASSIGN_OR_RETURN(auto file, env.fs->OpenWritable(part_path, /*append=*/true, 0600));
  HttpRequest request;
  request.url = url;
  if (have > 0) request.range_start = have;
  request.max_body_bytes = length - have;
  request.connect_timeout = options.connect_timeout;
  request.low_speed_window = options.stall_timeout;

  std::uint64_t written = have;
  std::uint64_t unsynced = 0;
  std::vector<std::uint8_t> unchecked;  // The piece in progress, for `stream`.
  auto sink = [&](std::span<const std::uint8_t> data) -> Status {
    while (!data.empty()) {
      // A piece is written, then checked; a failed one is cut off after.
      std::size_t n = data.size();
      if (checker != nullptr) {
        n = static_cast<std::size_t>(
            std::min<std::uint64_t>(n, checker->piece_end() - checker->fed()));
      }
      const std::span<const std::uint8_t> piece = data.first(n);
      OTA_TRY(file->Append(piece));
      written += n;
      unsynced += n;
      stats.fetched += n;
      if (checker != nullptr) {
        Status checked = checker->Feed(piece);
        if (!checked.ok()) {
          exchange.piece_failed = checked.error().code == ErrorCode::kIntegrity;
          return checked;
        }
        if (stream != nullptr) {
          unchecked.insert(unchecked.end(), piece.begin(), piece.end());
          if (checker->checked() == written) {
            stream->Take(std::move(unchecked));
            unchecked = {};
          }
        }
      }
      data = data.subspan(n);
    }
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
    // The server does not do ranges: only a download from byte 0 works.
    OTA_TRY(env.fs->Remove(part_path));
    return MakeError(ErrorCode::kRetryLater, "server ignored the range request for " + url);
  }
  if (status == 206) {
    if (ContentRangeStart(response->Header("content-range").value_or("")) != have) {
      // Nothing of it was kept (the client stops such an answer before its
      // body); a server that cannot answer ranges right is asked from byte 0.
      OTA_TRY(env.fs->Remove(part_path));
      return MakeError(ErrorCode::kRetryLater,
                       "server answered a range request for " + url + " with the wrong range");
    }
  } else if (status != 200) {
    if (status == 429 || status == 503)
      exchange.retry_after = RetryAfter(*response, env.clock->Now());
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

Status DownloadResumable(Env& env, const std::string& url, const std::string& part_path,
                         std::uint64_t length, const DownloadOptions& options,
                         const ProgressCallback& progress, DownloadStats& stats) {
  stats = DownloadStats{};
  std::unique_ptr<bundle::DownloadChecker> checker;
  bool checking = options.container;
  auto fresh_checker = [&] {
    checker.reset();
    if (checking) checker = std::make_unique<bundle::DownloadChecker>(length, options.signed_head);
  };
  fresh_checker();
  std::optional<bundle::DownloadChecker::Failure> previous_failure;
  std::chrono::milliseconds backoff = options.initial_backoff;
  Error last = MakeError(ErrorCode::kRetryLater, "no download attempt made for " + url);
  // The checked sink takes the pieces of one exchange that streams the whole
  // file from byte 0; the first sign of anything else abandons it.
  CheckedSink* stream = checking && options.signed_head ? options.checked_sink : nullptr;
  auto end_stream = [&stream] {
    if (stream != nullptr) stream->Abandon();
    stream = nullptr;
  };
  if (stream == nullptr && options.checked_sink != nullptr) options.checked_sink->Abandon();
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
    if (checker && checker->fed() != have) {
      fresh_checker();
      OTA_ASSIGN_OR_RETURN(have, RestoreChecker(env, part_path, have, *checker, stats));
    }
    if (attempt == 1) stats.resumed_from = have;
    if (have != 0) end_stream();
    if (have == length) return Ok();
    stats.attempts = attempt;
    Exchange exchange;
    Status s = FetchOnce(env, url, part_path, have, length, options, progress, checker.get(),
                         stream, stats, exchange);
    if (s.ok()) {
      stats.clean_transfer = have == 0;
      return Ok();
    }
    end_stream();
    last = std::move(s).error();
    if (exchange.piece_failed) {
      const bundle::DownloadChecker::Failure failure = *checker->failure();
      OTA_ASSIGN_OR_RETURN(std::uint64_t size, env.fs->FileSize(part_path));
      OTA_TRY(env.fs->Truncate(part_path, failure.start));
      stats.discarded += size - failure.start;
      if (previous_failure == failure) {
        // The server sends these bytes every time: the artifact (or the
        // server's copy) is at fault, not the transfer. Fetch the whole file
        // from a clean start without piece checks, so that the signed hash
        // decides as for any complete download.
        Log(LogLevel::kWarning, "download",
            url + ": the same bytes failed twice (" + last.message +
                "); downloading the whole file again from the start");
        checking = false;
        fresh_checker();
        OTA_TRY(env.fs->Remove(part_path));
      } else {
        Log(LogLevel::kInfo, "download", url + ": " + last.message + "; fetching that piece again");
      }
      previous_failure = failure;
      last = MakeError(ErrorCode::kRetryLater, "a piece failed its check: " + last.message);
      continue;  // The transfer itself worked: no backoff.
    }
    if (last.code == ErrorCode::kIntegrity) {
      // More bytes than signed: keep only the checked pieces (a file that is
      // not a container: nothing). The artifact is not to blame.
      const std::uint64_t keep = checker ? checker->checked() : 0;
      OTA_ASSIGN_OR_RETURN(std::uint64_t size, env.fs->FileSize(part_path));
      if (keep == 0) {
        OTA_TRY(env.fs->Remove(part_path));
      } else {
        OTA_TRY(env.fs->Truncate(part_path, keep));
      }
      stats.discarded += size - keep;
      last = MakeError(ErrorCode::kRetryLater, "discarded an over-long answer: " + last.message);
    }
    if (last.code == ErrorCode::kNotFound) {
      // A signed target the server does not have (yet): a mirror may still be
      // syncing, so the deployment waits for the next cycle instead of failing.
      return MakeError(ErrorCode::kRetryLater, last.message);
    }
    if (last.code != ErrorCode::kRetryLater) return last;
    if (exchange.retry_after && *exchange.retry_after > options.max_retry_after_wait) {
      stats.retry_after = exchange.retry_after;
      return MakeError(ErrorCode::kRetryLater, last.message + "; the server asked to wait " +
                                                   std::to_string(exchange.retry_after->count()) +
                                                   " s");
    }
    Log(LogLevel::kInfo, "download", last.message + "; retrying");
    if (attempt == options.max_attempts) break;
    // Full jitter keeps a fleet that lost its server from returning in step;
    // a Retry-After the server sent is a floor.
    auto wait = std::chrono::milliseconds(
        env.random->Uniform(static_cast<std::uint64_t>(backoff.count()) + 1));
    if (exchange.retry_after) {
      wait = std::max<std::chrono::milliseconds>(wait, *exchange.retry_after);
    }
    env.clock->SleepFor(wait);
    backoff = std::min(options.max_backoff, backoff * 2);
  }
  return MakeError(ErrorCode::kRetryLater, "download incomplete after " +
                                               std::to_string(options.max_attempts) +
                                               " attempts: " + last.message);
}

}  // namespace ota::agent
