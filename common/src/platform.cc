// The POSIX platform (platform.h): flock(2) locks; inotify rename notices on
// Linux and a polling watch elsewhere.
#include "ota/common/platform.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>

#ifdef __linux__
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#endif

namespace ota {
namespace {

std::string LockErrno(const std::string& what) { return what + ": " + std::strerror(errno); }

class FlockFile : public FileLock {
 public:
  explicit FlockFile(int fd) : fd_(fd) {}
  ~FlockFile() override { ::close(fd_); }
  FlockFile(const FlockFile&) = delete;
  FlockFile& operator=(const FlockFile&) = delete;

  Result<bool> TryShared() override { return Try(LOCK_SH); }
  Result<bool> TryExclusive() override { return Try(LOCK_EX); }
  void Unlock() override { (void)::flock(fd_, LOCK_UN); }
  bool StillAt(const std::string& path) const override {
    struct stat open_st {};
    struct stat path_st {};
    if (::fstat(fd_, &open_st) != 0 || ::stat(path.c_str(), &path_st) != 0) return false;
    return open_st.st_ino == path_st.st_ino && open_st.st_dev == path_st.st_dev;
  }

 private:
  Result<bool> Try(int op) {
    while (true) {
      if (::flock(fd_, op | LOCK_NB) == 0) return true;
      if (errno == EWOULDBLOCK) return false;
      if (errno == EINTR) continue;
      return MakeError(ErrorCode::kIo, LockErrno("flock failed"));
    }
  }
  int fd_;
};

// flock locks; the rename notices are the subclass's.
class FlockPlatform : public Platform {
 public:
  Result<std::unique_ptr<FileLock>> OpenLock(const std::string& path, bool create,
                                             unsigned mode) override {
    // Read-only when the file exists: apps may lease versions in a folder
    // they can read but not write.
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
      fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, static_cast<mode_t>(mode));
    }
    if (fd < 0) {
      if (errno == ENOENT && !create) return std::unique_ptr<FileLock>();
      return MakeError(ErrorCode::kIo, LockErrno("cannot open lock file " + path));
    }
    return std::unique_ptr<FileLock>(std::make_unique<FlockFile>(fd));
  }
};

Status CheckWatchedDir(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    const int err = errno;
    return MakeError(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                     "cannot watch " + dir + ": " + std::strerror(err));
  }
  if (!S_ISDIR(st.st_mode)) {
    return MakeError(ErrorCode::kInvalidArgument, "cannot watch " + dir + ": not a folder");
  }
  return Ok();
}

class PollingWatch : public RenameWatch {
 public:
  explicit PollingWatch(std::chrono::milliseconds interval) : interval_(interval) {}
  Result<std::optional<std::vector<std::string>>> Wait() override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, interval_, [this] { return woken_; });
    if (woken_) {
      woken_ = false;
      return std::optional<std::vector<std::string>>();
    }
    return std::optional<std::vector<std::string>>(std::vector<std::string>());
  }
  void Wake() override {
    std::lock_guard<std::mutex> lock(mu_);
    woken_ = true;
    cv_.notify_all();
  }

 private:
  const std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;
};

class PollingPlatform : public FlockPlatform {
 public:
  explicit PollingPlatform(std::chrono::milliseconds interval) : interval_(interval) {}
  Result<std::unique_ptr<RenameWatch>> WatchRenames(const std::string& dir) override {
    OTA_TRY(CheckWatchedDir(dir));
    return std::unique_ptr<RenameWatch>(std::make_unique<PollingWatch>(interval_));
  }

 private:
  const std::chrono::milliseconds interval_;
};

#ifdef __linux__
class InotifyWatch : public RenameWatch {
 public:
  InotifyWatch(int inotify_fd, int wake_fd) : inotify_fd_(inotify_fd), wake_fd_(wake_fd) {}
  ~InotifyWatch() override {
    ::close(inotify_fd_);
    ::close(wake_fd_);
  }
  InotifyWatch(const InotifyWatch&) = delete;
  InotifyWatch& operator=(const InotifyWatch&) = delete;

  Result<std::optional<std::vector<std::string>>> Wait() override {
    alignas(inotify_event) char buf[8192];
    while (true) {
      pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return MakeError(ErrorCode::kIo, LockErrno("poll"));
      }
      if (fds[1].revents != 0) {
        std::uint64_t count = 0;
        (void)!::read(wake_fd_, &count, sizeof(count));
        return std::optional<std::vector<std::string>>();
      }
      const ssize_t len = ::read(inotify_fd_, buf, sizeof(buf));
      if (len <= 0) continue;
      std::vector<std::string> names;
      for (ssize_t off = 0; off < len;) {
        const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
        off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
        // The queue overflowed: events were lost, so look at everything.
        if ((ev->mask & IN_Q_OVERFLOW) != 0) {
          return std::optional<std::vector<std::string>>(std::vector<std::string>());
        }
        if (ev->len != 0) names.emplace_back(ev->name);
      }
      if (!names.empty()) return std::optional<std::vector<std::string>>(std::move(names));
    }
  }
  void Wake() override {
    const std::uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof(one));
  }

 private:
  int inotify_fd_;
  int wake_fd_;
};

class LinuxPlatform : public FlockPlatform {
 public:
  Result<std::unique_ptr<RenameWatch>> WatchRenames(const std::string& dir) override {
    const int in_fd = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (in_fd < 0) return MakeError(ErrorCode::kIo, LockErrno("inotify_init1"));
    if (::inotify_add_watch(in_fd, dir.c_str(), IN_MOVED_TO | IN_ONLYDIR) < 0) {
      const int err = errno;
      ::close(in_fd);
      return MakeError(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                       "cannot watch " + dir + ": " + std::strerror(err));
    }
    const int wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd < 0) {
      ::close(in_fd);
      return MakeError(ErrorCode::kIo, LockErrno("eventfd"));
    }
    return std::unique_ptr<RenameWatch>(std::make_unique<InotifyWatch>(in_fd, wake_fd));
  }
};
#endif

}  // namespace

Platform& DefaultPlatform() {
#ifdef __linux__
  static LinuxPlatform* platform = new LinuxPlatform();
#else
  static PollingPlatform* platform = new PollingPlatform(std::chrono::milliseconds(500));
#endif
  return *platform;
}

std::unique_ptr<Platform> MakePollingPlatform(std::chrono::milliseconds interval) {
  return std::make_unique<PollingPlatform>(interval);
}

}  // namespace ota
