// Keeps slow and idle clients away from the request workers.
//
// httplib gives each connection a worker thread from the moment it is
// accepted, and its read timeout restarts with every byte: eight clients
// sending one header line every few seconds held every worker, and the
// server stopped answering even /v1/health. Here a connection waits in a
// "waiting room" (one epoll thread, no worker) until its whole request head
// has arrived; only then does a worker read and answer it, within a deadline
// for the rest of the request. An idle keep-alive connection goes back to the
// waiting room between requests. docs/security.md ("Slow clients") and
// docs/server-api.md describe the limits.
#ifndef OTA_SERVER_CONNECTION_GATE_H_
#define OTA_SERVER_CONNECTION_GATE_H_

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ota::server {

struct GateLimits {
  // A new connection must deliver its whole request head within this time.
  std::chrono::milliseconds head_timeout{10'000};
  // After the head, the rest of the request (the body) must arrive within
  // this time. Writing the answer is bounded per write, not here.
  std::chrono::milliseconds body_timeout{30'000};
  // An idle keep-alive connection is closed after this time.
  std::chrono::milliseconds idle_timeout{2'000};
  // A request head larger than this is refused (431) without being read.
  std::size_t max_head_bytes = 16 * 1024;
  // Connections waiting for their head, per client address and in all.
  std::size_t max_waiting_per_client = 64;
  std::size_t max_waiting = 4096;
  // Requests served on one connection before it is closed.
  std::size_t max_requests_per_connection = 100;
};

// The request loop of one ready connection, run on a worker: answers one
// request read from `stream` (httplib's process_request). Returns false when
// the connection must close.
class GatedStream;
using ServeRequest =
    std::function<bool(GatedStream& stream, bool close_connection, bool& connection_closed)>;

// Thread-safe. Start() once, Admit() from the accepting thread, Shutdown()
// once when the server stops.
class ConnectionGate {
 public:
  ConnectionGate(GateLimits limits, ServeRequest serve, std::size_t workers)
      : limits_(limits), serve_(std::move(serve)), workers_(workers) {}
  ~ConnectionGate() { Shutdown(); }
  ConnectionGate(const ConnectionGate&) = delete;
  ConnectionGate& operator=(const ConnectionGate&) = delete;

  // Starts the waiting room and the workers. False if epoll is unavailable.
  bool Start();
  // Takes an accepted connection (it owns the socket from now on).
  void Admit(int sock);
  // Closes waiting connections, lets workers finish the request they serve,
  // joins every thread. Idempotent.
  void Shutdown();

 private:
  struct Waiting {
    std::chrono::steady_clock::time_point deadline;
    std::string client;
    std::size_t served = 0;  // Requests already answered on it.
  };
  struct Ready {
    int sock;
    std::string client;
    std::size_t served;
  };

  void WaitingRoom();
  // Looks at what `sock` has sent without taking it; true if it was moved on
  // (dispatched or closed). `peer_done`: the client closed its side, so a
  // head not complete now never will be.
  bool Examine(int sock, bool peer_done);
  void ExpireWaiting(std::chrono::steady_clock::time_point now);
  // Puts a connection in the waiting room (mu_ held by caller: no).
  void Park(int sock, std::string client, std::size_t served,
            std::chrono::steady_clock::time_point deadline);
  void Close(int sock, std::string_view answer);
  void Work();
  void Serve(Ready ready);

  const GateLimits limits_;
  const ServeRequest serve_;
  const std::size_t workers_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: ends epoll_wait at shutdown.

  std::mutex mu_;
  std::map<int, Waiting> waiting_;                 // Guarded by mu_.
  std::map<std::string, std::size_t> per_client_;  // Waiting, by address.
  std::deque<Ready> ready_;                        // Guarded by mu_.
  std::condition_variable ready_cv_;
  bool stopping_ = false;
  // stopping_ for streams, read without the lock: a worker waiting for a
  // slow client's bytes gives up once the server stops.
  std::atomic<bool> abandon_{false};
  bool started_ = false;
  std::thread room_;
  std::vector<std::thread> threads_;
};

// The socket of one ready connection as an httplib stream: reads are
// buffered and fail once the request's deadline has passed, so a client
// cannot hold a worker by sending its body slowly.
class GatedStream : public httplib::Stream {
 public:
  // Waits end at `read_deadline` (reads), per write after a fixed time, or
  // as soon as `*abandon` is set (the server stops).
  GatedStream(int sock, std::chrono::steady_clock::time_point read_deadline,
              const std::atomic<bool>* abandon)
      : sock_(sock), deadline_(read_deadline), abandon_(abandon) {}

  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  int socket() const override { return sock_; }

  // Bytes read from the socket but not yet consumed (a pipelined request).
  bool HasBuffered() const { return begin_ < end_; }
  void set_deadline(std::chrono::steady_clock::time_point d) { deadline_ = d; }

 private:
  // Waits until the socket is readable, at most until the deadline.
  bool WaitReadable() const;

  int sock_;
  std::chrono::steady_clock::time_point deadline_;
  const std::atomic<bool>* abandon_;
  char buffer_[4096];
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

// The client address of a socket ("" if unknown).
std::string PeerAddress(int sock);

// httplib's server with its accepted connections handed to a ConnectionGate
// instead of a worker each.
class GatedHttpServer : public httplib::Server {
 public:
  explicit GatedHttpServer(GateLimits limits) : limits_(limits) {}
  ~GatedHttpServer() override;

  // Creates the gate with `workers` threads; call before listening.
  // `on_listen` runs once the library's accept loop is about to start.
  void UseGate(std::size_t workers, std::function<void()> on_listen);

  // After binding: a listen queue of `backlog` connections (the library's
  // own is 5, which drops connection attempts in bursts of clients).
  bool SetBacklog(int backlog);

 private:
  bool process_and_close_socket(socket_t sock) override;
  bool ServeOne(GatedStream& stream, bool close_connection, bool& connection_closed);

  const GateLimits limits_;
  std::unique_ptr<ConnectionGate> gate_;
};

}  // namespace ota::server

#endif  // OTA_SERVER_CONNECTION_GATE_H_
