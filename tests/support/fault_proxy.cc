#include "fault_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>

namespace ota::testing {
namespace {

// Every socket wait has this deadline, so a stuck peer cannot hang a test.
constexpr int kIoTimeoutMs = 10'000;
constexpr std::size_t kMaxHead = 64 << 10;
constexpr std::size_t kMaxResponse = 512u << 20;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool WaitFor(int fd, short events) {
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, kIoTimeoutMs) == 1;
}

bool SendAll(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    if (!WaitFor(fd, POLLOUT)) return false;
    const ssize_t sent = ::send(fd, data, n, MSG_NOSIGNAL);
    if (sent <= 0) return false;
    data += sent;
    n -= static_cast<std::size_t>(sent);
  }
  return true;
}

// Reads until `until` appears (returns everything read, which may run past
// it) or the peer closes (until empty: to the end).
std::string ReadUntil(int fd, const std::string& until, std::size_t cap) {
  std::string out;
  char buf[16384];
  while (out.size() < cap) {
    if (!until.empty() && out.find(until) != std::string::npos) break;
    if (!WaitFor(fd, POLLIN)) break;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

struct Message {
  std::string first_line;
  std::vector<std::pair<std::string, std::string>> headers;  // Names lower-cased.
  std::string body;

  std::string Header(const std::string& name) const {
    for (const auto& [k, v] : headers) {
      if (k == name) return v;
    }
    return "";
  }
};

// Splits a head "line\r\nName: value\r\n...\r\n\r\n" plus what follows.
bool ParseHead(const std::string& raw, Message& m, std::size_t& body_at) {
  const std::size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  body_at = end + 4;
  std::istringstream lines(raw.substr(0, end));
  std::string line;
  std::getline(lines, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  m.first_line = line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    m.headers.emplace_back(Lower(line.substr(0, colon)), value);
  }
  return true;
}

int ConnectTo(const std::string& host_port) {
  const std::size_t colon = host_port.rfind(':');
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(std::stoi(host_port.substr(colon + 1))));
  ::inet_pton(AF_INET, host_port.substr(0, colon).c_str(), &addr.sin_addr);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

FaultProxy::FaultProxy(std::string upstream) {
  const std::string prefix = "http://";
  if (upstream.rfind(prefix, 0) != 0) throw std::invalid_argument("upstream must be http://");
  upstream_host_port_ = upstream.substr(prefix.size());
  if (!upstream_host_port_.empty() && upstream_host_port_.back() == '/') {
    upstream_host_port_.pop_back();
  }
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      ::pipe2(wake_pipe_, O_CLOEXEC) != 0) {
    throw std::runtime_error("fault proxy cannot listen on 127.0.0.1");
  }
  url_ = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

FaultProxy::~FaultProxy() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  (void)!::write(wake_pipe_[1], "x", 1);
  acceptor_.join();
  for (std::thread& t : workers_) t.join();
  ::close(listen_fd_);
  ::close(wake_pipe_[0]);
  ::close(wake_pipe_[1]);
}

void FaultProxy::Watch(std::string path_part, std::vector<Fault> faults) {
  std::lock_guard<std::mutex> lock(mu_);
  path_part_ = std::move(path_part);
  script_.assign(faults.begin(), faults.end());
  watched_ = Watched{};
}

void FaultProxy::SetDefault(Fault fault) {
  std::lock_guard<std::mutex> lock(mu_);
  default_ = std::move(fault);
}

FaultProxy::Watched FaultProxy::watched() const {
  std::lock_guard<std::mutex> lock(mu_);
  return watched_;
}

void FaultProxy::AcceptLoop() {
  while (!stopping_) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) <= 0 || (fds[1].revents & POLLIN) != 0) continue;
    const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    std::lock_guard<std::mutex> lock(mu_);
    workers_.emplace_back([this, client] {
      Serve(client);
      ::close(client);
    });
  }
}

FaultProxy::Fault FaultProxy::NextFault(const std::string& path, const std::string& range,
                                        bool& watched) {
  std::lock_guard<std::mutex> lock(mu_);
  watched = !path_part_.empty() && path.find(path_part_) != std::string::npos;
  if (!watched) return Pass();
  ++watched_.requests;
  watched_.ranges.push_back(range);
  if (script_.empty()) return default_;
  Fault f = script_.front();
  script_.pop_front();
  return f;
}

void FaultProxy::CountSent(bool watched, std::uint64_t n) {
  if (!watched) return;
  std::lock_guard<std::mutex> lock(mu_);
  watched_.body_bytes_sent += n;
}

void FaultProxy::StallFor(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  stop_cv_.wait_for(lock, d, [this] { return stopping_.load(); });
}

void FaultProxy::Serve(int client) {
  // The request: head, then a Content-Length body (POSTs).
  std::string raw = ReadUntil(client, "\r\n\r\n", kMaxHead);
  Message request;
  std::size_t body_at = 0;
  if (!ParseHead(raw, request, body_at)) return;
  request.body = raw.substr(body_at);
  const std::string length_text = request.Header("content-length");
  const std::size_t want = length_text.empty() ? 0 : std::stoul(length_text);
  if (request.body.size() < want) {
    request.body += ReadUntil(client, "", want - request.body.size());
  }
  std::istringstream first(request.first_line);
  std::string method, path;
  first >> method >> path;
  bool watched = false;
  const Fault fault = NextFault(path, request.Header("range"), watched);

  Message response;
  if (fault.kind == Kind::kStatus) {
    response.first_line = "HTTP/1.1 " + std::to_string(fault.status) + " Fault";
    if (!fault.retry_after.empty()) response.headers.emplace_back("retry-after", fault.retry_after);
    response.body = "injected fault\n";
  } else {
    const int up = ConnectTo(upstream_host_port_);
    if (up < 0) return;
    std::string forward = request.first_line + "\r\n";
    for (const auto& [k, v] : request.headers) {
      if (k != "connection") forward += k + ": " + v + "\r\n";
    }
    forward += "connection: close\r\n\r\n" + request.body;
    const bool sent = SendAll(up, forward.data(), forward.size());
    const std::string answer = sent ? ReadUntil(up, "", kMaxResponse) : "";
    ::close(up);
    if (!ParseHead(answer, response, body_at)) return;
    response.body = answer.substr(body_at);
    if (!response.Header("transfer-encoding").empty()) return;  // Not used by ota-server.
    if (fault.kind == Kind::kSwap) {
      const std::string other = ReadWholeFile(fault.swap_file);
      std::uint64_t start = 0;
      const std::string range = request.Header("range");
      if (range.rfind("bytes=", 0) == 0) start = std::stoull(range.substr(6));
      response.body = other.substr(std::min<std::uint64_t>(start, other.size()));
    }
  }

  // The answer, with the fault applied.
  std::uint64_t announced = response.body.size();
  std::string body = response.body;
  if (fault.kind == Kind::kLongerLength) announced += fault.n;
  if (fault.kind == Kind::kShorterLength) announced -= std::min<std::uint64_t>(fault.n, announced);
  if (fault.kind == Kind::kExtraBytes) body.append(fault.n, 'X');
  std::string head = response.first_line + "\r\n";
  for (const auto& [k, v] : response.headers) {
    if (k != "content-length" && k != "connection") head += k + ": " + v + "\r\n";
  }
  // Extra bytes come without a length (the body ends when the connection
  // closes), so the client cannot refuse them up front.
  if (fault.kind != Kind::kExtraBytes)
    head += "content-length: " + std::to_string(announced) + "\r\n";
  head += "connection: close\r\n\r\n";
  if (!SendAll(client, head.data(), head.size())) return;
  const bool cuts =
      fault.kind == Kind::kTruncate || fault.kind == Kind::kReset || fault.kind == Kind::kStall;
  const std::size_t first_part =
      cuts ? static_cast<std::size_t>(std::min<std::uint64_t>(fault.at, body.size())) : body.size();
  if (!SendAll(client, body.data(), first_part)) return;
  CountSent(watched, first_part);
  if (fault.kind == Kind::kReset) {
    linger l{1, 0};  // Close with RST.
    ::setsockopt(client, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    return;
  }
  if (fault.kind == Kind::kTruncate) return;
  if (fault.kind == Kind::kStall) {
    StallFor(fault.stall);
    if (stopping_) return;
    if (!SendAll(client, body.data() + first_part, body.size() - first_part)) return;
    CountSent(watched, body.size() - first_part);
  }
  ::shutdown(client, SHUT_WR);
  // Let the client read to the end before the socket closes.
  (void)ReadUntil(client, "", 1);
}

}  // namespace ota::testing
