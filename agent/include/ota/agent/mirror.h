// Live mirroring for apps (docs/app-integration.md "Live mirroring",
// docs/decisions.md D17): while the agent shadow-tests a candidate version of
// a model with mirroring enabled in its policy, it announces the candidate in
// <state>/mirror/<model>.json. A MirrorClient in the app's process loads the
// candidate when one is announced, replays a sample of the requests the app
// offers (with the production model's output) on it in a background thread
// within the policy's CPU budget, and writes aggregate statistics only
// (counts and rates, never a text) to <state>/mirror/<model>.<pid>.stats.json,
// which the agent folds into its verdict. The candidate is unloaded, and the
// stats file removed, when the announcement goes.
//
// Privacy: request and output texts stay in this process's memory, in a
// bounded queue, until their replay ends; nothing writes them anywhere.
//
// Thread-safety: every method may be called from any thread at once.
// Offer never waits for a model load or a replay.
#ifndef OTA_AGENT_MIRROR_H_
#define OTA_AGENT_MIRROR_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "ota/common/env.h"
#include "ota/common/result.h"

namespace ota::agent {

struct MirrorClientOptions {
  std::string state_dir;
  std::string model;
  // How often a background thread re-reads the announcement (loading or
  // unloading the candidate) and rewrites the stats file. Zero: no thread;
  // the app calls Poll() itself.
  std::chrono::milliseconds poll_interval{5000};
  // Measures the replay thread's CPU budget; nullptr uses the system clock.
  Clock* clock = nullptr;
};

// What this client did so far for the current candidate.
struct MirrorClientCounts {
  std::string candidate_id;  // Empty when no candidate is loaded.
  std::uint64_t offered = 0;
  std::uint64_t sampled = 0;
  std::uint64_t replayed = 0;
  std::uint64_t failed = 0;
};

class MirrorClient {
 public:
  // kInvalidArgument for a malformed model name; kNotFound when state_dir is
  // not an agent's state folder (no active/).
  static Result<std::unique_ptr<MirrorClient>> Open(MirrorClientOptions options);
  ~MirrorClient();  // Close().
  MirrorClient(const MirrorClient&) = delete;
  MirrorClient& operator=(const MirrorClient&) = delete;

  // Offers one request and the production model's output for it. Returns
  // true when it was sampled and queued for replay on the candidate; false
  // when no candidate is loaded, it was not sampled, or the queue is full.
  bool Offer(std::string_view request, std::string_view production_output);

  // One round: reads the announcement, loads the announced candidate (a
  // model load: may take seconds) or unloads one no longer announced, and
  // writes the stats file. Errors: the candidate does not load or its
  // bundle is unreadable (the client then mirrors nothing until the
  // announcement changes), or the stats file cannot be written.
  Status Poll();

  // Waits until every queued replay has finished, then writes the stats file.
  Status Flush();

  MirrorClientCounts Counts() const;

  // Stops the background thread and the replays, unloads the candidate and
  // removes this process's stats file. Idempotent.
  void Close();

 private:
  struct Impl;
  explicit MirrorClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ota::agent

#endif  // OTA_AGENT_MIRROR_H_
