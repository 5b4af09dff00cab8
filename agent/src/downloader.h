// Resumable download of one signed target into a .part file.
//
// The signed length is a hard cap: the server can never make the agent store
// more. A crash or a dropped connection resumes with an HTTP Range request
// from the bytes already on disk. A bundle container is checked piece by
// piece as it arrives (bundle::DownloadChecker): a piece that fails its
// check is cut off and fetched again, so a fault costs at most that piece.
// The whole-file hash check that follows (done by the caller) decides
// whether the bytes are trusted.
#ifndef OTA_AGENT_SRC_DOWNLOADER_H_
#define OTA_AGENT_SRC_DOWNLOADER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ota/common/env.h"
#include "ota/common/result.h"
#include "ota/manifest/target_custom.h"

namespace ota::agent {

// Where a download hands its checked bytes (DownloadOptions::checked_sink).
class CheckedSink {
 public:
  virtual ~CheckedSink() = default;
  // The file's next checked bytes, in order from byte 0.
  virtual void Take(std::vector<std::uint8_t> bytes) = 0;
  // Not every byte will come this way (the transfer resumed, or a piece had
  // to be fetched again): the sink stops using what it got.
  virtual void Abandon() = 0;
};

struct DownloadOptions {
  // Exchanges per call (the retry budget); the deployment resumes on the
  // next cycle after that.
  int max_attempts = 6;
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{30'000};
  // A power cut costs at most this much download again (D52).
  std::uint64_t sync_every_bytes = 64u << 20;
  std::chrono::milliseconds connect_timeout{10'000};
  // A transfer receiving nothing for this long is dropped (and resumed).
  std::chrono::seconds stall_timeout{30};
  // Longest Retry-After (on a 429 or 503) waited for within one call; a
  // longer one ends the call and DownloadStats::retry_after carries it.
  std::chrono::seconds max_retry_after_wait{60};
  // The file is a bundle container, checked piece by piece as it arrives.
  // False for other files (compact deltas), which only the final hash
  // checks.
  bool container = false;
  // The container head signed in the target's custom data, if published.
  std::optional<manifest::ContainerHead> signed_head;
  // With a container and its signed head: takes every piece once checked,
  // while the first exchange streams the file from byte 0; abandoned as soon
  // as that stops being so (streamed_unpack.h).
  CheckedSink* checked_sink = nullptr;
};

struct DownloadStats {
  std::uint64_t resumed_from = 0;  // Bytes already on disk when the call started.
  std::uint64_t fetched = 0;       // Bytes received over the network in this call.
  // Bytes received and thrown away: a piece that failed its check (another
  // file's bytes, a mirror that changed its copy), or what came after the
  // last checked piece of an over-long answer.
  std::uint64_t discarded = 0;
  int attempts = 0;
  // True when every byte of the finished file came from one response that
  // started at byte 0 in this call (no resume, no range). Only such a file's
  // hash failure says something about the artifact itself; any other
  // mismatch may be the transport's (a mirror or proxy answering a range
  // with other bytes).
  bool clean_transfer = false;
  // Set when the server's Retry-After asked for a longer wait than the call
  // makes: the caller should not ask again before it has passed.
  std::optional<std::chrono::seconds> retry_after;
};

// Called with (bytes on disk, total length) as bytes arrive.
using ProgressCallback = std::function<void(std::uint64_t, std::uint64_t)>;

// Downloads `url` into `part_path` until it holds exactly `length` bytes,
// filling `stats` (also when it fails). Retries transient failures with
// jittered exponential backoff (sleeping via env.clock), or the server's
// Retry-After when longer. Transport faults are never a verdict on the
// artifact: a response longer than the signed length keeps only its
// checked pieces (nothing, for a file that is not a container); a piece
// that fails its check is cut off and fetched again, and only when the
// server sends the same wrong bytes for it twice does the call start over
// from byte 0 without piece checks, so that a complete clean transfer lets
// the caller's hash check decide. A 404 or another permanent status ends the
// call at once (no retries). Errors: kRetryLater when the attempts are
// exhausted, the server is unavailable or the target missing; kIo for local
// disk errors.
Status DownloadResumable(Env& env, const std::string& url, const std::string& part_path,
                         std::uint64_t length, const DownloadOptions& options,
                         const ProgressCallback& progress, DownloadStats& stats);

}  // namespace ota::agent

#endif  // OTA_AGENT_SRC_DOWNLOADER_H_
