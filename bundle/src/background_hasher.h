// SHA-256 of a byte stream computed on a second thread, so hashing a window
// overlaps decoding and writing the next one (docs/decisions.md D18).
//
// The caller hands over whole buffers: Add() queues one and gives back the
// storage of the previous one once it is hashed, so at most two buffers exist
// (one being hashed, one being filled) and memory stays bounded.
//
// Thread-safety: one caller thread; the worker thread is internal.
#ifndef OTA_BUNDLE_BACKGROUND_HASHER_H_
#define OTA_BUNDLE_BACKGROUND_HASHER_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace ota::bundle {

class BackgroundHasher {
 public:
  // Starts the worker thread.
  BackgroundHasher();
  // Discards what is still queued and joins the worker.
  ~BackgroundHasher();
  BackgroundHasher(const BackgroundHasher&) = delete;
  BackgroundHasher& operator=(const BackgroundHasher&) = delete;

  // Queues `bytes` into the current digest. They must stay unchanged until
  // the buffer holding them is recycled by Recycle or until Finish returns.
  void Update(std::span<const std::uint8_t> bytes);
  // Takes `buffer` (whose bytes were passed to Update) and returns, in
  // `buffer`, storage the caller may overwrite: the previously recycled
  // buffer once the worker is done with it (it blocks until then), or an
  // empty vector the first time.
  void Recycle(std::vector<std::uint8_t>& buffer);
  // Waits for every queued update; returns the lower-case hex SHA-256 of the
  // bytes given since the previous Finish and starts a new digest.
  std::string Finish();
  // Waits until every queued update is hashed (the caller's bytes handed to
  // Update may then change).
  void Wait();

 private:
  struct Job {
    enum class Kind { kUpdate, kFinish, kRelease } kind;
    std::span<const std::uint8_t> bytes;
    std::vector<std::uint8_t> buffer;  // kRelease: storage handed back.
  };
  void Run();
  void Push(Job job);

  std::mutex mu_;
  std::condition_variable work_;  // Worker: a job was queued or stop_ set.
  std::condition_variable done_;  // Caller: a job completed.
  std::deque<Job> jobs_;
  std::uint64_t queued_ = 0, completed_ = 0;  // Jobs ever queued / completed.
  std::vector<std::vector<std::uint8_t>> free_;
  std::uint64_t released_pending_ = 0;  // kRelease jobs queued, not yet run.
  std::string digest_;                  // Of the last kFinish.
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace ota::bundle

#endif  // OTA_BUNDLE_BACKGROUND_HASHER_H_
