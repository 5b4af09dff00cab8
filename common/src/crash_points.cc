#include "ota/common/crash_points.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace ota {
namespace {

struct CrashConfig {
  bool enabled = false;
  unsigned long long crash_at = 0;  // 0: never.
  std::string anchor;               // Set: crash_at counts from its first point (as 0).
  int trace_fd = -1;
};

const CrashConfig& Config() {
  static const CrashConfig config = [] {
    CrashConfig c;
    if (const char* at = std::getenv("OTA_CRASH_AT"); at != nullptr && *at != '\0') {
      // "N", or "NAME+N": the N-th point after the first one named NAME.
      std::string spec = at;
      const std::size_t plus = spec.rfind('+');
      if (plus != std::string::npos) {
        c.anchor = spec.substr(0, plus);
        spec = spec.substr(plus + 1);
      }
      char* end = nullptr;
      c.crash_at = std::strtoull(spec.c_str(), &end, 10);
      const bool parsed = !spec.empty() && end != nullptr && *end == '\0';
      if (!parsed || (c.anchor.empty() && c.crash_at == 0)) {
        c.crash_at = 0;
        c.anchor.clear();
      }
    }
    if (const char* trace = std::getenv("OTA_CRASH_TRACE"); trace != nullptr && *trace != '\0') {
      c.trace_fd = ::open(trace, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    }
    c.enabled = c.crash_at != 0 || !c.anchor.empty() || c.trace_fd >= 0;
    return c;
  }();
  return config;
}

std::atomic<unsigned long long> g_count{0};
std::atomic<unsigned long long> g_anchor_at{0};  // Count of the anchor's first point; 0: not yet.

class CrashingWritableFile : public WritableFile {
 public:
  explicit CrashingWritableFile(std::unique_ptr<WritableFile> base) : base_(std::move(base)) {}
  Status Append(std::span<const std::uint8_t> data) override {
    CrashPoint("fs.append");
    return base_->Append(data);
  }
  Status Sync() override {
    CrashPoint("fs.sync");
    return base_->Sync();
  }
  Status Close() override {
    CrashPoint("fs.close");
    return base_->Close();
  }

 private:
  std::unique_ptr<WritableFile> base_;
};

class CrashingFileSystem : public ForwardingFileSystem {
 public:
  explicit CrashingFileSystem(FileSystem& base) : ForwardingFileSystem(base) {}
  bool SingleThreaded() const override { return true; }

  Result<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path, bool append,
                                                     unsigned mode) override {
    CrashPoint("fs.open");
    OTA_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                         base().OpenWritable(path, append, mode));
    return std::unique_ptr<WritableFile>(new CrashingWritableFile(std::move(file)));
  }
  Status CreateDirs(const std::string& path) override {
    CrashPoint("fs.mkdir");
    return base().CreateDirs(path);
  }
  Status Rename(const std::string& from, const std::string& to) override {
    CrashPoint("fs.rename");
    return base().Rename(from, to);
  }
  Status SyncDir(const std::string& path) override {
    CrashPoint("fs.syncdir");
    return base().SyncDir(path);
  }
  Status Remove(const std::string& path) override {
    CrashPoint("fs.remove");
    return base().Remove(path);
  }
  Status RemoveAll(const std::string& path) override {
    CrashPoint("fs.removeall");
    return base().RemoveAll(path);
  }
  Status CreateSymlink(const std::string& target, const std::string& link) override {
    CrashPoint("fs.symlink");
    return base().CreateSymlink(target, link);
  }
  Status Truncate(const std::string& path, std::uint64_t size) override {
    CrashPoint("fs.truncate");
    return base().Truncate(path, size);
  }
};

}  // namespace

bool CrashPointsEnabled() { return Config().enabled; }

void CrashPoint(const char* name) {
  const CrashConfig& c = Config();
  if (!c.enabled) return;
  const unsigned long long n = g_count.fetch_add(1, std::memory_order_relaxed) + 1;
  if (c.trace_fd >= 0) {
    char line[160];
    const int len = std::snprintf(line, sizeof line, "%llu %s\n", n, name);
    if (len > 0) {
      const auto size = static_cast<std::size_t>(len) < sizeof line ? static_cast<std::size_t>(len)
                                                                    : sizeof line - 1;
      [[maybe_unused]] ssize_t written = ::write(c.trace_fd, line, size);
    }
  }
  if (c.anchor.empty()) {
    if (n == c.crash_at) ::kill(::getpid(), SIGKILL);
    return;
  }
  unsigned long long anchor_at = g_anchor_at.load(std::memory_order_relaxed);
  if (anchor_at == 0 && c.anchor == name) {
    g_anchor_at.compare_exchange_strong(anchor_at, n, std::memory_order_relaxed);
    anchor_at = g_anchor_at.load(std::memory_order_relaxed);
  }
  if (anchor_at != 0 && n - anchor_at == c.crash_at) ::kill(::getpid(), SIGKILL);
}

std::unique_ptr<FileSystem> MakeCrashingFileSystem(FileSystem& base) {
  return std::make_unique<CrashingFileSystem>(base);
}

}  // namespace ota
