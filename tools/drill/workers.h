// A small pool that runs the simulated devices' independent work (their
// check-ins within one short slice of simulated time) on several threads.
#ifndef OTA_TOOLS_DRILL_WORKERS_H_
#define OTA_TOOLS_DRILL_WORKERS_H_

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ota::drill {

class Workers {
 public:
  // `threads` in all, the caller of Run included (at least 1).
  explicit Workers(unsigned threads);
  ~Workers();
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  unsigned threads() const { return static_cast<unsigned>(helpers_.size()) + 1; }

  // Calls fn(i) once for every i in [0, count), spread over the threads,
  // and returns when every call has returned. Calls may run in any order
  // and at the same time; an exception a call throws is thrown here once
  // every call is done.
  void Run(std::size_t count, const std::function<void(std::size_t)>& fn);

 private:
  void Help();
  void Drain();

  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  const std::function<void(std::size_t)>* fn_ = nullptr;
  std::size_t count_ = 0, next_ = 0, running_ = 0;
  std::uint64_t round_ = 0;
  bool stop_ = false;
  std::exception_ptr failure_;
  std::vector<std::thread> helpers_;
};

}  // namespace ota::drill

#endif  // OTA_TOOLS_DRILL_WORKERS_H_
