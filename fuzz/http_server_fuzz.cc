// Whole HTTP requests, as a hostile client sends them, against a real
// ota-server on loopback: the waiting room, the library's request parsing,
// routing, ranges, bodies, the fleet endpoints. Each input is one
// connection: its bytes, then the client closes its side; the server must
// answer (or close) at once and stay up.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "fuzz_support.h"
#include "ota/server/server.h"

namespace {

int ServerPort() {
  static int port = [] {
    const std::string repo = ota::fuzz::ScratchDir() + "/repo";
    std::filesystem::create_directories(repo + "/targets");
    std::ofstream(repo + "/timestamp.json") << R"({"signed":{"version":3}})";
    std::ofstream(repo + "/targets/model.bin") << std::string(70000, 'm');
    ota::server::ServerOptions o;
    o.repo_dir = repo;
    o.db_path = ota::fuzz::ScratchDir() + "/server.db";
    o.port = 0;
    o.quiet = true;
    o.threads = 2;
    o.enroll_burst = 1e6;
    static ota::server::Server server(o);
    ota::fuzz::Require(server.Start().ok(), "the server does not start");
    return server.port();
  }();
  return port;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const int port = ServerPort();
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ota::fuzz::Require(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0,
                     "the server does not accept connections");
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  std::size_t sent = 0;
  while (sent < size) {
    const ssize_t n = ::send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // The server may answer and close before reading it all.
    sent += static_cast<std::size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  char buf[16384];
  while (true) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n > 0) continue;
    ota::fuzz::Require(n == 0 || errno != EAGAIN, "the server neither answered nor closed in 5 s");
    break;
  }
  ::close(fd);
  return 0;
}
