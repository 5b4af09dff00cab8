// A fault-injecting HTTP proxy for tests, on 127.0.0.1 only.
//
// Every request is forwarded to an upstream server (one connection per
// request, "Connection: close") and its answer relayed, except that requests
// whose path contains the watched text take the next scripted fault: a body
// cut short or reset, a stall, a Content-Length that lies, bytes beyond the
// body, an error status (with Retry-After), or the bytes of another file at
// the same offsets. Time is bounded: a stall is the only wait, it ends
// early when the proxy stops, and every socket wait has a deadline.
#ifndef OTA_TESTS_SUPPORT_FAULT_PROXY_H_
#define OTA_TESTS_SUPPORT_FAULT_PROXY_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace ota::testing {

class FaultProxy {
 public:
  enum class Kind {
    kPass,           // Relay unchanged.
    kTruncate,       // Send `at` body bytes, then close the connection (FIN).
    kReset,          // Send `at` body bytes, then reset the connection (RST).
    kStall,          // Send `at` body bytes, wait `stall`, send the rest.
    kLongerLength,   // Announce `n` more bytes than the body has, send the body, close.
    kShorterLength,  // Announce `n` fewer bytes than the body has, send it all, close.
    kExtraBytes,     // Send `n` bytes after the body, without a Content-Length.
    kStatus,         // Answer `status` (with `retry_after` if set); upstream not asked.
    kSwap,           // Answer with `swap_file`'s bytes at the requested range.
  };
  struct Fault {
    Kind kind = Kind::kPass;
    std::uint64_t at = 0;
    std::uint64_t n = 0;
    int status = 0;
    std::string retry_after;
    std::chrono::milliseconds stall{0};
    std::string swap_file;
  };
  static Fault Pass() { return {}; }
  static Fault Truncate(std::uint64_t at) { return {Kind::kTruncate, at, 0, 0, "", {}, ""}; }
  static Fault Reset(std::uint64_t at) { return {Kind::kReset, at, 0, 0, "", {}, ""}; }
  static Fault Stall(std::uint64_t at, std::chrono::milliseconds d) {
    return {Kind::kStall, at, 0, 0, "", d, ""};
  }
  static Fault LongerLength(std::uint64_t n) { return {Kind::kLongerLength, 0, n, 0, "", {}, ""}; }
  static Fault ShorterLength(std::uint64_t n) {
    return {Kind::kShorterLength, 0, n, 0, "", {}, ""};
  }
  static Fault ExtraBytes(std::uint64_t n) { return {Kind::kExtraBytes, 0, n, 0, "", {}, ""}; }
  static Fault Status(int status, std::string retry_after = "") {
    return {Kind::kStatus, 0, 0, status, std::move(retry_after), {}, ""};
  }
  static Fault Swap(std::string file) { return {Kind::kSwap, 0, 0, 0, "", {}, std::move(file)}; }

  // What the watched requests saw.
  struct Watched {
    int requests = 0;
    std::uint64_t body_bytes_sent = 0;  // Body bytes written to the client.
    std::vector<std::string> ranges;    // Each request's Range header ("" if none).
  };

  // Forwards to `upstream`, "http://127.0.0.1:PORT". Listens at once.
  explicit FaultProxy(std::string upstream);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  // "http://127.0.0.1:PORT" of the proxy.
  std::string url() const { return url_; }
  // Requests whose path contains `path_part` take `faults` in order (then
  // pass); resets the counts.
  void Watch(std::string path_part, std::vector<Fault> faults);
  // After the script is used up, every watched request takes this fault
  // (a permanent 404, a 5xx storm); kPass by default.
  void SetDefault(Fault fault);
  Watched watched() const;

 private:
  void AcceptLoop();
  void Serve(int client);
  Fault NextFault(const std::string& path, const std::string& range, bool& watched);
  void CountSent(bool watched, std::uint64_t n);
  // Waits up to `d` unless the proxy stops first.
  void StallFor(std::chrono::milliseconds d);

  std::string upstream_host_port_;
  std::string url_;
  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  std::vector<std::thread> workers_;
  std::string path_part_;
  std::deque<Fault> script_;
  Fault default_;
  Watched watched_;
};

}  // namespace ota::testing

#endif  // OTA_TESTS_SUPPORT_FAULT_PROXY_H_
