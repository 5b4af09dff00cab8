#include "connection_gate.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include "http_util.h"

namespace ota::server {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Each write must make progress within this time (a client that stops
// reading its answer releases the worker then).
constexpr std::chrono::milliseconds kWriteTimeout{5'000};
constexpr int kRoomTickMs = 250;

std::string Answer(int status, std::string_view reason, std::string_view message) {
  const std::string body =
      nlohmann::json{{"error", message}, {"code", ErrorCodeForStatus(status)}}.dump(
          -1, ' ', false, nlohmann::json::error_handler_t::replace);
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
         "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Waits for `events` on `sock` until `until`, in short slices so that a
// stopping server (`*abandon`) is noticed; 0 when the time is up or stopping.
int PollFor(int sock, short events, SteadyClock::time_point until,
            const std::atomic<bool>* abandon) {
  while (true) {
    if (abandon != nullptr && abandon->load()) return 0;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(until - SteadyClock::now());
    if (left.count() <= 0) return 0;
    pollfd p{sock, events, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), kRoomTickMs)));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) continue;  // Waited a slice; check the clock again.
    return r;
  }
}

void AddressOf(const sockaddr_storage& addr, std::string& ip, int& port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &a->sin_addr, text, sizeof(text));
    port = ntohs(a->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof(text));
    port = ntohs(a->sin6_port);
  }
  ip = text;
}

// The end of a request head: an empty line (CRLF or bare LF, as httplib
// reads them).
bool HasHeadEnd(std::string_view bytes) {
  return bytes.find("\r\n\r\n") != std::string_view::npos ||
         bytes.find("\n\n") != std::string_view::npos;
}

// Hands every accepted connection to the gate on the accepting thread
// (parking is quick) and stops the gate with the server.
class GateQueue : public httplib::TaskQueue {
 public:
  explicit GateQueue(ConnectionGate& gate) : gate_(gate) {}
  void enqueue(std::function<void()> fn) override { fn(); }
  void shutdown() override { gate_.Shutdown(); }

 private:
  ConnectionGate& gate_;
};

}  // namespace

std::string PeerAddress(int sock) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getpeername(sock, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "";
  std::string ip;
  int port = 0;
  AddressOf(addr, ip, port);
  return ip;
}

// ---- ConnectionGate ----

bool ConnectionGate::Start() {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (epoll_fd_ < 0 || wake_fd_ < 0) return false;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake_fd_;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0) return false;
  started_ = true;
  room_ = std::thread([this] { WaitingRoom(); });
  for (std::size_t i = 0; i < workers_; ++i) threads_.emplace_back([this] { Work(); });
  return true;
}

void ConnectionGate::Admit(int sock) {
  std::string client = PeerAddress(sock);
  Park(sock, std::move(client), 0, SteadyClock::now() + limits_.head_timeout);
}

void ConnectionGate::Park(int sock, std::string client, std::size_t served,
                          SteadyClock::time_point deadline) {
  std::unique_lock lock(mu_);
  if (stopping_) {
    lock.unlock();
    Close(sock, "");
    return;
  }
  std::size_t& mine = per_client_[client];
  if (mine >= limits_.max_waiting_per_client || waiting_.size() >= limits_.max_waiting) {
    if (mine == 0) per_client_.erase(client);
    lock.unlock();
    Close(sock, Answer(503, "Service Unavailable", "too many open connections from this client"));
    return;
  }
  ++mine;
  waiting_[sock] = Waiting{deadline, std::move(client), served};
  epoll_event ev{};
  // Edge-triggered: a partial head stays unread in the socket, and only new
  // bytes wake the room again.
  ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
  ev.data.fd = sock;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, sock, &ev) != 0) {
    auto it = waiting_.find(sock);
    if (--per_client_[it->second.client] == 0) per_client_.erase(it->second.client);
    waiting_.erase(it);
    lock.unlock();
    Close(sock, "");
  }
}

void ConnectionGate::WaitingRoom() {
  std::vector<epoll_event> events(64);
  auto last_sweep = SteadyClock::now();
  while (true) {
    const int n =
        ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), kRoomTickMs);
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
    }
    for (int i = 0; i < n; ++i) {
      if (events[static_cast<std::size_t>(i)].data.fd == wake_fd_) continue;
      const epoll_event& e = events[static_cast<std::size_t>(i)];
      (void)Examine(e.data.fd, (e.events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
    }
    const auto now = SteadyClock::now();
    if (now - last_sweep >= std::chrono::milliseconds(kRoomTickMs)) {
      ExpireWaiting(now);
      last_sweep = now;
    }
  }
  std::map<int, Waiting> left;
  {
    std::lock_guard lock(mu_);
    left.swap(waiting_);
    per_client_.clear();
  }
  for (const auto& [sock, w] : left) Close(sock, "");
}

bool ConnectionGate::Examine(int sock, bool peer_done) {
  std::string peeked(limits_.max_head_bytes + 1, '\0');
  const ssize_t n = ::recv(sock, peeked.data(), peeked.size(), MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return false;
  std::string answer;
  bool ready = false;
  if (n > 0) {
    const std::string_view head(peeked.data(), static_cast<std::size_t>(n));
    if (HasHeadEnd(head)) {
      ready = true;
    } else if (static_cast<std::size_t>(n) > limits_.max_head_bytes) {
      answer =
          Answer(431, "Request Header Fields Too Large",
                 "request head larger than " + std::to_string(limits_.max_head_bytes) + " bytes");
    } else if (peer_done) {
      answer = Answer(400, "Bad Request", "connection closed before the request head ended");
    } else {
      return false;  // Wait for more.
    }
  }
  std::unique_lock lock(mu_);
  auto it = waiting_.find(sock);
  if (it == waiting_.end()) return false;
  Waiting w = std::move(it->second);
  waiting_.erase(it);
  if (--per_client_[w.client] == 0) per_client_.erase(w.client);
  (void)::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, sock, nullptr);
  if (ready) {
    ready_.push_back(Ready{sock, std::move(w.client), w.served});
    lock.unlock();
    ready_cv_.notify_one();
    return true;
  }
  lock.unlock();
  Close(sock, answer);  // Closed by the peer, an error, or a head too large.
  return true;
}

void ConnectionGate::ExpireWaiting(SteadyClock::time_point now) {
  std::vector<std::pair<int, bool>> expired;  // Socket, and whether it was new.
  {
    std::lock_guard lock(mu_);
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if (it->second.deadline > now) {
        ++it;
        continue;
      }
      (void)::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->first, nullptr);
      if (--per_client_[it->second.client] == 0) per_client_.erase(it->second.client);
      expired.emplace_back(it->first, it->second.served == 0);
      it = waiting_.erase(it);
    }
  }
  for (const auto& [sock, fresh] : expired) {
    // A new connection that never finished its head learns why; an idle
    // keep-alive connection is simply closed.
    Close(sock, fresh ? Answer(408, "Request Timeout", "request head not received in time") : "");
  }
}

void ConnectionGate::Close(int sock, std::string_view answer) {
  if (!answer.empty()) {
    (void)::send(sock, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
}

void ConnectionGate::Work() {
  while (true) {
    Ready next;
    {
      std::unique_lock lock(mu_);
      ready_cv_.wait(lock, [this] { return stopping_ || !ready_.empty(); });
      if (ready_.empty()) return;  // Stopping, nothing left.
      next = std::move(ready_.front());
      ready_.pop_front();
    }
    Serve(std::move(next));
  }
}

void ConnectionGate::Serve(Ready ready) {
  GatedStream stream(ready.sock, SteadyClock::now() + limits_.body_timeout, &abandon_);
  std::size_t served = ready.served;
  while (true) {
    bool stopping = false;
    {
      std::lock_guard lock(mu_);
      stopping = stopping_;
    }
    const bool close_connection = stopping || served + 1 >= limits_.max_requests_per_connection;
    bool connection_closed = false;
    const bool ok = serve_(stream, close_connection, connection_closed);
    ++served;
    if (!ok || connection_closed || close_connection) {
      Close(ready.sock, "");
      return;
    }
    if (stream.HasBuffered()) {
      // The client sent its next request already (pipelining).
      stream.set_deadline(SteadyClock::now() + limits_.head_timeout + limits_.body_timeout);
      continue;
    }
    Park(ready.sock, std::move(ready.client), served, SteadyClock::now() + limits_.idle_timeout);
    return;
  }
}

void ConnectionGate::Shutdown() {
  {
    std::lock_guard lock(mu_);
    if (!started_ || stopping_) return;
    stopping_ = true;
    abandon_ = true;
  }
  const std::uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof(one));
  ready_cv_.notify_all();
  if (room_.joinable()) room_.join();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  std::deque<Ready> left;
  {
    std::lock_guard lock(mu_);
    left.swap(ready_);
  }
  for (const Ready& r : left) Close(r.sock, "");
  ::close(epoll_fd_);
  ::close(wake_fd_);
}

// ---- GatedStream ----

bool GatedStream::WaitReadable() const { return PollFor(sock_, POLLIN, deadline_, abandon_) > 0; }

bool GatedStream::is_readable() const { return HasBuffered() || WaitReadable(); }

bool GatedStream::is_writable() const {
  return PollFor(sock_, POLLOUT, SteadyClock::now() + kWriteTimeout, abandon_) > 0;
}

ssize_t GatedStream::read(char* ptr, size_t size) {
  if (size == 0) return 0;
  if (!HasBuffered()) {
    if (!WaitReadable()) return -1;  // Deadline passed.
    if (size >= sizeof(buffer_)) {
      ssize_t n;
      do {
        n = ::recv(sock_, ptr, size, 0);
      } while (n < 0 && errno == EINTR);
      return n;
    }
    ssize_t n;
    do {
      n = ::recv(sock_, buffer_, sizeof(buffer_), 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) return n;
    begin_ = 0;
    end_ = static_cast<std::size_t>(n);
  }
  const std::size_t take = std::min(size, end_ - begin_);
  std::memcpy(ptr, buffer_ + begin_, take);
  begin_ += take;
  return static_cast<ssize_t>(take);
}

ssize_t GatedStream::write(const char* ptr, size_t size) {
  if (!is_writable()) return -1;
  ssize_t n;
  do {
    n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n;
}

void GatedStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getpeername(sock_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    AddressOf(addr, ip, port);
  }
}

void GatedStream::get_local_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getsockname(sock_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    AddressOf(addr, ip, port);
  }
}

// ---- GatedHttpServer ----

GatedHttpServer::~GatedHttpServer() { gate_.reset(); }

void GatedHttpServer::UseGate(std::size_t workers, std::function<void()> on_listen) {
  gate_ = std::make_unique<ConnectionGate>(
      limits_,
      [this](GatedStream& stream, bool close_connection, bool& connection_closed) {
        return ServeOne(stream, close_connection, connection_closed);
      },
      workers);
  new_task_queue = [this, on_listen = std::move(on_listen)]() -> httplib::TaskQueue* {
    on_listen();
    (void)gate_->Start();
    return new GateQueue(*gate_);
  };
}

bool GatedHttpServer::SetBacklog(int backlog) { return ::listen(svr_sock_, backlog) == 0; }

bool GatedHttpServer::process_and_close_socket(socket_t sock) {
  gate_->Admit(sock);
  return true;
}

bool GatedHttpServer::ServeOne(GatedStream& stream, bool close_connection,
                               bool& connection_closed) {
  return process_request(stream, close_connection, connection_closed, nullptr);
}

}  // namespace ota::server
