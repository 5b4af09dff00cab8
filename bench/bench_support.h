// What the benchmarks that run the product share: a filesystem that times
// the agent's steps, the process's I/O counters and peak memory, and
// running the product's programs.
#ifndef OTA_BENCH_BENCH_SUPPORT_H_
#define OTA_BENCH_BENCH_SUPPORT_H_

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ota/common/filesystem.h"

namespace bench {

using SteadyClock = std::chrono::steady_clock;

// The process's I/O counters (/proc/self/io): rchar/wchar count every byte
// passed to read/write-like calls (page cache hits included), read_bytes /
// write_bytes what reached the storage layer.
struct ProcIo {
  std::uint64_t rchar = 0, wchar = 0, read_bytes = 0, write_bytes = 0;

  static ProcIo Now() {
    ProcIo io;
    std::ifstream in("/proc/self/io");
    std::string key;
    std::uint64_t value = 0;
    while (in >> key >> value) {
      if (key == "rchar:") io.rchar = value;
      if (key == "wchar:") io.wchar = value;
      if (key == "read_bytes:") io.read_bytes = value;
      if (key == "write_bytes:") io.write_bytes = value;
    }
    return io;
  }
  ProcIo Since(const ProcIo& before) const {
    return {rchar - before.rchar, wchar - before.wchar, read_bytes - before.read_bytes,
            write_bytes - before.write_bytes};
  }
  std::uint64_t Syscall() const { return rchar + wchar; }
  std::uint64_t Storage() const { return read_bytes + write_bytes; }
};

// This process's peak resident memory (VmHWM), in MiB.
inline double PeakMib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
  }
  return 0;
}

inline double MsSince(SteadyClock::time_point from, SteadyClock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

inline bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Forwards to the real filesystem, timing the moments the benchmark measures
// and counting bytes moved.
class TimingFs : public ota::FileSystem {
 public:
  explicit TimingFs(ota::FileSystem& base) : base_(base) {}

  std::atomic<std::uint64_t> bytes_written{0};
  std::atomic<std::uint64_t> bytes_read{0};
  std::optional<SteadyClock::time_point> download_started;  // .part first opened.
  std::optional<SteadyClock::time_point> staged;            // Staging folder renamed.
  std::optional<SteadyClock::time_point> download_removed;  // End of verification.
  std::optional<SteadyClock::time_point> switch_started;    // Link created for a switch.
  std::optional<SteadyClock::time_point> switched;          // Active folder synced.
  double switch_io_ms = 0;
  std::uint64_t bytes_at_removed = 0;  // Read + written when verification ended.
  std::uint64_t bytes_at_switch = 0;   // ... and when the link was synced.
  ProcIo io_at_removed;                // The process's counters at the same moments.
  ProcIo io_at_switch;

  std::uint64_t BytesMoved() const { return bytes_written + bytes_read; }

  void Reset() {
    download_started.reset();
    staged.reset();
    download_removed.reset();
    switch_started.reset();
    switched.reset();
    switch_io_ms = 0;
  }

  class CountingWritable : public ota::WritableFile {
   public:
    CountingWritable(std::unique_ptr<ota::WritableFile> f, TimingFs& fs)
        : f_(std::move(f)), fs_(fs) {}
    ota::Status Append(std::span<const std::uint8_t> data) override {
      fs_.bytes_written += data.size();
      return f_->Append(data);
    }
    ota::Status Sync() override { return f_->Sync(); }
    ota::Status Close() override { return f_->Close(); }

   private:
    std::unique_ptr<ota::WritableFile> f_;
    TimingFs& fs_;
  };
  class CountingReadable : public ota::ReadableFile {
   public:
    CountingReadable(std::unique_ptr<ota::ReadableFile> f, TimingFs& fs)
        : f_(std::move(f)), fs_(fs) {}
    ota::Result<std::size_t> ReadAt(std::uint64_t offset, std::span<std::uint8_t> out) override {
      auto n = f_->ReadAt(offset, out);
      if (n.ok()) fs_.bytes_read += *n;
      return n;
    }
    ota::Result<std::uint64_t> Size() override { return f_->Size(); }

   private:
    std::unique_ptr<ota::ReadableFile> f_;
    TimingFs& fs_;
  };

  ota::Result<std::unique_ptr<ota::WritableFile>> OpenWritable(const std::string& path, bool append,
                                                               unsigned mode) override {
    if (EndsWith(path, ".part") && !download_started) {
      download_started = SteadyClock::now();
    }
    auto f = base_.OpenWritable(path, append, mode);
    if (!f.ok()) return std::move(f).error();
    return std::unique_ptr<ota::WritableFile>(new CountingWritable(std::move(*f), *this));
  }
  ota::Result<std::unique_ptr<ota::ReadableFile>> OpenReadable(const std::string& path) override {
    auto f = base_.OpenReadable(path);
    if (!f.ok()) return std::move(f).error();
    return std::unique_ptr<ota::ReadableFile>(new CountingReadable(std::move(*f), *this));
  }
  ota::Result<std::string> ReadFile(const std::string& path, std::uint64_t max_bytes) override {
    auto text = base_.ReadFile(path, max_bytes);
    if (text.ok()) bytes_read += text->size();
    return text;
  }
  ota::Result<bool> Exists(const std::string& path) override { return base_.Exists(path); }
  ota::Result<std::uint64_t> FileSize(const std::string& path) override {
    return base_.FileSize(path);
  }
  ota::Status CreateDirs(const std::string& path) override { return base_.CreateDirs(path); }
  ota::Status Rename(const std::string& from, const std::string& to) override {
    ota::Status s = base_.Rename(from, to);
    if (from.find("/versions/.staging-") != std::string::npos) staged = SteadyClock::now();
    return s;
  }
  ota::Status SyncDir(const std::string& path) override {
    ota::Status s = base_.SyncDir(path);
    if (EndsWith(path, "/active") && switch_started) {
      switched = SteadyClock::now();
      bytes_at_switch = BytesMoved();
      io_at_switch = ProcIo::Now();
      switch_io_ms += MsSince(*switch_started, *switched);
    }
    return s;
  }
  ota::Status Remove(const std::string& path) override {
    ota::Status s = base_.Remove(path);
    if (EndsWith(path, ".part") && path.find("/downloads/") != std::string::npos) {
      download_removed = SteadyClock::now();
      bytes_at_removed = BytesMoved();
      io_at_removed = ProcIo::Now();
    }
    return s;
  }
  ota::Status RemoveAll(const std::string& path) override { return base_.RemoveAll(path); }
  ota::Result<std::vector<std::string>> ListDir(const std::string& path) override {
    return base_.ListDir(path);
  }
  ota::Status CreateSymlink(const std::string& target, const std::string& link) override {
    if (link.find("/active/") != std::string::npos) switch_started = SteadyClock::now();
    return base_.CreateSymlink(target, link);
  }
  ota::Result<std::string> ReadSymlink(const std::string& link) override {
    return base_.ReadSymlink(link);
  }
  ota::Status SetMode(const std::string& path, unsigned mode) override {
    return base_.SetMode(path, mode);
  }
  ota::Status Truncate(const std::string& path, std::uint64_t size) override {
    return base_.Truncate(path, size);
  }
  ota::Result<std::uint64_t> FreeSpace(const std::string& path) override {
    return base_.FreeSpace(path);
  }

 private:
  ota::FileSystem& base_;
};

[[noreturn]] inline void Die(const std::string& message) {
  std::fprintf(stderr, "%s: %s\n", program_invocation_short_name, message.c_str());
  std::exit(1);
}

// The path under `targets_dir` of the published bundle whose name holds
// `version` (consistent snapshots prefix it with its hash).
inline std::string TargetPath(const std::string& targets_dir, const std::string& version) {
  for (const auto& entry : std::filesystem::recursive_directory_iterator(targets_dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && name.find(version) != std::string::npos &&
        EndsWith(name, ".otab")) {
      return std::filesystem::relative(entry.path(), targets_dir).string();
    }
  }
  Die("no published bundle for " + version + " under " + targets_dir);
}

// In a forked child: becomes the program `argv` (no shell), or exits 127.
[[noreturn]] inline void ExecOrExit(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execv(args[0], args.data());
  ::_exit(127);
}

// Runs a program to completion (no shell); its output goes to /dev/null.
inline void Run(const std::vector<std::string>& argv) {
  const pid_t pid = ::fork();
  if (pid < 0) Die("fork failed");
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ExecOrExit(argv);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) Die(argv[0] + " " + argv[1] + " failed");
}

// A child whose first stdout line says it is ready.
struct Child {
  pid_t pid = -1;
  int out = -1;
  std::string first_line;
};

inline Child Start(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe(fds) != 0) Die("pipe failed");
  Child c;
  c.pid = ::fork();
  if (c.pid < 0) Die("fork failed");
  if (c.pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    ::close(fds[1]);
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 2);
    ExecOrExit(argv);
  }
  ::close(fds[1]);
  c.out = fds[0];
  char ch;
  while (::read(c.out, &ch, 1) == 1 && ch != '\n') c.first_line.push_back(ch);
  return c;
}

// Stops a child with SIGTERM and reaps it; drains its output first so it
// never blocks on a full pipe. Returns the peak RSS (MiB) of the child and
// the descendants it waited for (wait4's rusage covers both).
inline double Stop(Child& c, std::string* output = nullptr) {
  ::kill(c.pid, SIGTERM);
  char buf[4096];
  ssize_t n = 0;
  while ((n = ::read(c.out, buf, sizeof(buf))) > 0) {
    if (output) output->append(buf, static_cast<std::size_t>(n));
  }
  ::close(c.out);
  int status = 0;
  struct rusage usage {};
  ::wait4(c.pid, &status, 0, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

// The next stdout line of a child.
inline std::string ReadLine(Child& c) {
  std::string line;
  char ch;
  while (::read(c.out, &ch, 1) == 1 && ch != '\n') line.push_back(ch);
  return line;
}

}  // namespace bench

#endif  // OTA_BENCH_BENCH_SUPPORT_H_
