// The repository as a static origin: nginx (Debian's package, started here
// from a generated configuration on a loopback port) serves the repository
// folder, as any static host or CDN would, and passes the device API
// through to ota-server, which serves no repository at all (an empty
// folder) and only enrolls devices and takes their reports. A device's whole
// cycle works through it, including a download cut short and resumed with a
// Range request that nginx answers.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <thread>

#include "fault_proxy.h"
#include "ota/agent/agent.h"
#include "repo_fixture.h"
#include "test_support.h"

namespace ota {
namespace {

using agent::UpdateOutcome;
using ota::testing::FaultProxy;
using ota::testing::ReadTestFile;
using ota::testing::WriteTestFile;

constexpr char kNginx[] = "/usr/sbin/nginx";

// A loopback port nobody listens on right now (the kernel's pick).
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    close(fd);
    return 0;
  }
  close(fd);
  return ntohs(a.sin_port);
}

bool Accepts(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  close(fd);
  return ok;
}

// nginx in the foreground, one process, everything under `dir`.
class Nginx {
 public:
  ~Nginx() { Stop(); }

  // Serves `repo` at /repo/ and passes /v1/ to `upstream_port`.
  bool Start(const std::string& dir, const std::string& repo, int upstream_port) {
    port_ = FreePort();
    const std::string conf = dir + "/nginx.conf";
    WriteTestFile(conf, "daemon off;\nmaster_process off;\nworker_processes 1;\npid " + dir +
                            "/nginx.pid;\nerror_log " + dir + "/error.log warn;\n" +
                            "events { worker_connections 64; }\nhttp {\n"
                            "  access_log " +
                            dir +
                            "/access.log;\n"
                            "  client_body_temp_path " +
                            dir +
                            "/body;\n"
                            "  proxy_temp_path " +
                            dir +
                            "/proxy;\n"
                            "  fastcgi_temp_path " +
                            dir +
                            "/fastcgi;\n"
                            "  uwsgi_temp_path " +
                            dir +
                            "/uwsgi;\n"
                            "  scgi_temp_path " +
                            dir +
                            "/scgi;\n"
                            "  default_type application/octet-stream;\n"
                            "  server {\n"
                            "    listen 127.0.0.1:" +
                            std::to_string(port_) +
                            ";\n"
                            "    location /repo/ { alias " +
                            repo +
                            "/; }\n"
                            "    location /v1/ {\n"
                            "      proxy_pass http://127.0.0.1:" +
                            std::to_string(upstream_port) +
                            ";\n"
                            "      proxy_http_version 1.1;\n"
                            "      proxy_set_header Connection \"\";\n"
                            "      client_max_body_size 8m;\n"
                            "    }\n"
                            "  }\n}\n");
    pid_ = fork();
    if (pid_ == 0) {
      const int log = open((dir + "/stderr.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (log >= 0) {
        dup2(log, 1);
        dup2(log, 2);
      }
      execl(kNginx, kNginx, "-p", dir.c_str(), "-c", conf.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    // Ready once it accepts: connection attempts until then fail at once.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      if (Accepts(port_)) return true;
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      std::this_thread::yield();
    }
    return false;
  }

  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

class StaticOriginTest : public ota::testing::RepoFixture {
 protected:
  void SetUp() override {
    RepoFixture::SetUp();
    ASSERT_TRUE(std::filesystem::exists(kNginx)) << "nginx is missing (scripts/setup installs it)";
    synth_shape_ = {"--layers", "2", "--width", "128"};
    build_extra_ = {"--chunk-size", std::to_string(64 << 10)};
    model_ = Publish("1.0.0", 1);
    std::filesystem::create_directories(dir_.Sub("empty-repo"));
    std::filesystem::create_directories(dir_.Sub("nginx"));
    // The server has nothing to serve: every repository byte comes from nginx.
    StartServer({}, dir_.Sub("empty-repo"));
    const int server_port = std::stoi(url_.substr(url_.rfind(':') + 1));
    ASSERT_TRUE(nginx_.Start(dir_.Sub("nginx"), dir_.Sub("repo"), server_port))
        << ReadTestFile(dir_.Sub("nginx/stderr.log")) << ReadTestFile(dir_.Sub("nginx/error.log"));
    proxy_ = std::make_unique<FaultProxy>(nginx_.url());
    url_ = proxy_->url();  // The device knows only the edge.
    Enroll();
  }
  void TearDown() override {
    proxy_.reset();
    nginx_.Stop();
  }

  Nginx nginx_;
  std::unique_ptr<FaultProxy> proxy_;
  std::string model_;
};

TEST_F(StaticOriginTest, ADeviceUpdatesFromNginxAndReportsThroughIt) {
  // The bundle download breaks once; the device resumes it where it stopped.
  proxy_->Watch("/targets/bundles/", {FaultProxy::Truncate(300'000)});
  auto a = OpenAgent();
  ASSERT_NE(a, nullptr);
  const UpdateOutcome o = UpdateOnce(*a);
  EXPECT_EQ(o.kind, UpdateOutcome::Kind::kUpdated) << (o.error ? o.error->ToString() : "");
  EXPECT_EQ(ActiveVersion(*a), "1.0.0");
  EXPECT_EQ(ActiveModelBytes(), ReadTestFile(model_));
  const FaultProxy::Watched w = proxy_->watched();
  ASSERT_EQ(w.requests, 2);
  EXPECT_EQ(w.ranges[1], "bytes=300000-");

  // nginx served the metadata and both parts of the bundle (the second as a
  // 206 partial response); ota-server, with an empty repository, could not.
  const std::string access = ReadTestFile(dir_.Sub("nginx/access.log"));
  EXPECT_NE(access.find("GET /repo/metadata/timestamp.json"), std::string::npos) << access;
  EXPECT_NE(access.find("GET /repo/targets/bundles/chat/1.0.0.otab HTTP/1.1\" 200"),
            std::string::npos)
      << access;
  EXPECT_NE(access.find("GET /repo/targets/bundles/chat/1.0.0.otab HTTP/1.1\" 206"),
            std::string::npos)
      << access;
  // The device's signed reports went through nginx to ota-server.
  EXPECT_NE(access.find("POST /v1/reports"), std::string::npos) << access;
  bool committed = false;
  for (const auto& e : ServerEvents(*a)) {
    if (e.value("type", "") == "state" && e.value("state", "") == "committed") committed = true;
  }
  EXPECT_TRUE(committed);
}

}  // namespace
}  // namespace ota
