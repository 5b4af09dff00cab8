#include "background_hasher.h"

#include <optional>
#include <utility>

#include "ota/common/hash.h"

namespace ota::bundle {

BackgroundHasher::BackgroundHasher() : thread_([this] { Run(); }) {}

BackgroundHasher::~BackgroundHasher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_.notify_one();
  thread_.join();
}

void BackgroundHasher::Push(Job job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (job.kind == Job::Kind::kRelease) ++released_pending_;
    jobs_.push_back(std::move(job));
    ++queued_;
  }
  work_.notify_one();
}

void BackgroundHasher::Update(std::span<const std::uint8_t> bytes) {
  if (bytes.empty()) return;
  Push(Job{Job::Kind::kUpdate, bytes, {}});
}

void BackgroundHasher::Recycle(std::vector<std::uint8_t>& buffer) {
  Push(Job{Job::Kind::kRelease, {}, std::move(buffer)});
  std::unique_lock<std::mutex> lock(mu_);
  // The buffer just queued may stay in flight; any earlier one must be back,
  // so no more than two buffers ever exist.
  done_.wait(lock, [this] { return released_pending_ <= 1; });
  if (free_.empty()) {
    buffer = {};
  } else {
    buffer = std::move(free_.back());
    free_.pop_back();
  }
}

void BackgroundHasher::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  const std::uint64_t target = queued_;
  done_.wait(lock, [&] { return completed_ >= target; });
}

std::string BackgroundHasher::Finish() {
  Push(Job{Job::Kind::kFinish, {}, {}});
  std::unique_lock<std::mutex> lock(mu_);
  const std::uint64_t target = queued_;
  done_.wait(lock, [&] { return completed_ >= target; });
  return digest_;
}

void BackgroundHasher::Run() {
  std::optional<Hasher> hasher;
  hasher.emplace(HashAlgorithm::kSha256);
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    work_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
    if (stop_) return;
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    switch (job.kind) {
      case Job::Kind::kUpdate:
        // The bytes belong to the caller, who leaves them alone until this
        // job completes; only the hashing runs unlocked.
        lock.unlock();
        hasher->Update(job.bytes);
        lock.lock();
        break;
      case Job::Kind::kFinish: {
        lock.unlock();
        std::string digest = hasher->FinishHex();
        hasher.emplace(HashAlgorithm::kSha256);
        lock.lock();
        digest_ = std::move(digest);
        break;
      }
      case Job::Kind::kRelease:
        free_.push_back(std::move(job.buffer));
        --released_pending_;
        break;
    }
    ++completed_;
    done_.notify_all();
  }
}

}  // namespace ota::bundle
