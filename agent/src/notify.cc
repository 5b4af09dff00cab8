#include "ota/agent/notify.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "lease_files.h"
#include "ota/common/filesystem.h"
#include "ota/common/log.h"
#include "version_store.h"

namespace ota::agent {

ActiveVersionWatcher::ActiveVersionWatcher(std::string state_dir, ActiveChangedCallback callback,
                                           int inotify_fd, int stop_fd)
    : state_dir_(std::move(state_dir)),
      callback_(std::move(callback)),
      inotify_fd_(inotify_fd),
      stop_fd_(stop_fd) {}

Result<std::unique_ptr<ActiveVersionWatcher>> ActiveVersionWatcher::Start(
    const std::string& state_dir, ActiveChangedCallback callback) {
  const std::string dir = JoinPath(state_dir, "active");
  int in_fd = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (in_fd < 0) {
    return MakeError(ErrorCode::kIo, std::string("inotify_init1: ") + std::strerror(errno));
  }
  if (::inotify_add_watch(in_fd, dir.c_str(), IN_MOVED_TO | IN_ONLYDIR) < 0) {
    const int err = errno;
    ::close(in_fd);
    return MakeError(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                     "cannot watch " + dir + ": " + std::strerror(err));
  }
  int stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd < 0) {
    ::close(in_fd);
    return MakeError(ErrorCode::kIo, std::string("eventfd: ") + std::strerror(errno));
  }
  std::unique_ptr<ActiveVersionWatcher> w(
      new ActiveVersionWatcher(state_dir, std::move(callback), in_fd, stop_fd));
  // What is active now is the baseline: only later switches are reported.
  auto fs = MakePosixFileSystem();
  auto names = fs->ListDir(dir);
  if (names.ok()) {
    for (const std::string& name : *names) {
      if (!IsValidModelName(name)) continue;
      auto id = lease_files::ReadActiveId(state_dir, name);
      if (id.ok() && *id) w->known_[name] = **id;
    }
  }
  w->thread_ = std::thread([raw = w.get()] { raw->Run(); });
  return w;
}

void ActiveVersionWatcher::Run() {
  alignas(inotify_event) char buf[8192];
  while (true) {
    pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    int n = ::poll(fds, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      Log(LogLevel::kWarning, "agent", std::string("watcher poll: ") + std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    ssize_t len = ::read(inotify_fd_, buf, sizeof(buf));
    if (len <= 0) continue;
    for (ssize_t off = 0; off < len;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
      off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      if (ev->len == 0) continue;
      const std::string name(ev->name);
      if (!IsValidModelName(name)) continue;
      auto id = lease_files::ReadActiveId(state_dir_, name);
      if (!id.ok() || !*id) continue;
      auto it = known_.find(name);
      if (it != known_.end() && it->second == **id) continue;
      known_[name] = **id;
      callback_(name, **id);
    }
  }
}

void ActiveVersionWatcher::Stop() {
  if (thread_.joinable()) {
    const std::uint64_t one = 1;
    (void)!::write(stop_fd_, &one, sizeof(one));
    thread_.join();
  }
}

ActiveVersionWatcher::~ActiveVersionWatcher() {
  Stop();
  ::close(inotify_fd_);
  ::close(stop_fd_);
}

}  // namespace ota::agent
