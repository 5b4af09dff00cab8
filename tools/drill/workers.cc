#include "workers.h"

#include <utility>

namespace ota::drill {

Workers::Workers(unsigned threads) {
  for (unsigned i = 1; i < threads; ++i) helpers_.emplace_back([this] { Help(); });
}

Workers::~Workers() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& t : helpers_) t.join();
}

void Workers::Run(std::size_t count, const std::function<void(std::size_t)>& fn) {
  if (count == 0) return;
  {
    std::lock_guard lock(mu_);
    fn_ = &fn;
    count_ = count;
    next_ = 0;
    failure_ = nullptr;
    ++round_;
  }
  work_cv_.notify_all();
  Drain();
  std::unique_lock lock(mu_);
  done_cv_.wait(lock, [&] { return next_ >= count_ && running_ == 0; });
  fn_ = nullptr;
  if (failure_) std::rethrow_exception(std::exchange(failure_, nullptr));
}

// Takes indices of the current round until none is left.
void Workers::Drain() {
  std::unique_lock lock(mu_);
  while (fn_ != nullptr && next_ < count_) {
    const std::size_t i = next_++;
    const auto* fn = fn_;
    ++running_;
    lock.unlock();
    try {
      (*fn)(i);
    } catch (...) {
      std::lock_guard failed(mu_);
      if (!failure_) failure_ = std::current_exception();
    }
    lock.lock();
    --running_;
  }
  if (running_ == 0) done_cv_.notify_all();
}

void Workers::Help() {
  std::uint64_t seen = 0;
  while (true) {
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [&] { return stop_ || round_ != seen; });
      if (stop_) return;
      seen = round_;
    }
    Drain();
  }
}

}  // namespace ota::drill
