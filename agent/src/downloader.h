// Resumable download of one signed target into a .part file.
//
// The signed length is a hard cap: the server can never make the agent store
// more. A crash or a dropped connection resumes with an HTTP Range request
// from the bytes already on disk; the whole-file hash check that follows
// (done by the caller) decides whether those bytes are trusted.
#ifndef OTA_AGENT_SRC_DOWNLOADER_H_
#define OTA_AGENT_SRC_DOWNLOADER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "ota/common/env.h"
#include "ota/common/result.h"

namespace ota::agent {

struct DownloadOptions {
  int max_attempts = 6;  // Per call; the deployment resumes on the next cycle after that.
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{30'000};
  std::uint64_t sync_every_bytes = 8u << 20;
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::seconds stall_timeout{30};
};

struct DownloadStats {
  std::uint64_t resumed_from = 0;  // Bytes already on disk when the call started.
  std::uint64_t fetched = 0;       // Bytes received over the network in this call.
  int attempts = 0;
  // True when every byte of the finished file came from one response that
  // started at byte 0 in this call (no resume, no range). Only such a file's
  // hash failure says something about the artifact itself; any other
  // mismatch may be the transport's (a mirror or proxy answering a range
  // with other bytes).
  bool clean_transfer = false;
};

// Called with (bytes on disk, total length) as bytes arrive.
using ProgressCallback = std::function<void(std::uint64_t, std::uint64_t)>;

// Downloads `url` into `part_path` until it holds exactly `length` bytes.
// Retries transient failures with jittered exponential backoff (sleeping via
// env.clock). A response longer than the signed length (a captive portal, a
// bad mirror, a range answered with a whole error page) is a transport
// fault, not a verdict on the artifact: its bytes are discarded and the
// next attempt starts from byte 0. Errors: kRetryLater when attempts are
// exhausted or the server is unavailable; kIo for local disk errors.
Result<DownloadStats> DownloadResumable(Env& env, const std::string& url,
                                        const std::string& part_path, std::uint64_t length,
                                        const DownloadOptions& options,
                                        const ProgressCallback& progress);

}  // namespace ota::agent

#endif  // OTA_AGENT_SRC_DOWNLOADER_H_
