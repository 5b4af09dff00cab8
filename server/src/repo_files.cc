#include "repo_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <limits>
#include <vector>

#include "http_util.h"
#include "ota/server/http_range.h"

namespace ota::server {
namespace {

constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::uint64_t kNoDrop = std::numeric_limits<std::uint64_t>::max();

class FileHandle {
 public:
  explicit FileHandle(int fd) : fd_(fd) {}
  ~FileHandle() { ::close(fd_); }
  FileHandle(const FileHandle&) = delete;
  FileHandle& operator=(const FileHandle&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

struct OpenedFile {
  std::shared_ptr<FileHandle> file;
  std::uint64_t size = 0;
  std::string etag;
};

// Relative, no empty, "." or ".." segment, no NUL. Checked on the decoded path,
// so percent-encoded traversal ("%2e%2e") is caught too.
bool IsSafeRelativePath(std::string_view rel) {
  if (rel.empty() || rel.front() == '/' || rel.find('\0') != std::string_view::npos) return false;
  while (true) {
    std::size_t slash = rel.find('/');
    std::string_view segment = rel.substr(0, slash);
    if (segment.empty() || segment == "." || segment == "..") return false;
    if (slash == std::string_view::npos) return true;
    rel.remove_prefix(slash + 1);
  }
}

// Opens a regular file inside `root`; false if there is none. Symlinks are
// followed only while they stay inside the repository.
bool OpenInside(const std::string& root, std::string_view rel, OpenedFile& out) {
  std::string candidate = root + "/" + std::string(rel);
  char* resolved = ::realpath(candidate.c_str(), nullptr);
  if (resolved == nullptr) return false;
  std::string real(resolved);
  std::free(resolved);
  if (!real.starts_with(root + "/")) return false;
  // O_NONBLOCK keeps a FIFO planted in the repo from blocking a worker.
  int fd = ::open(real.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return false;
  out.file = std::make_shared<FileHandle>(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return false;
  out.size = static_cast<std::uint64_t>(st.st_size);
  std::uint64_t mtime_ns = static_cast<std::uint64_t>(st.st_mtim.tv_sec) * 1'000'000'000u +
                           static_cast<std::uint64_t>(st.st_mtim.tv_nsec);
  out.etag = MakeEtag(out.size, mtime_ns, static_cast<std::uint64_t>(st.st_ino));
  return true;
}

// State of one response body, shared with httplib's content provider.
struct BodyStream {
  std::shared_ptr<FileHandle> file;
  std::uint64_t start = 0;  // File offset of the first body byte.
  std::uint64_t drop_after = kNoDrop;
  std::uint64_t length = 0;  // Bytes of the file in the body; any more are the extra fault.
  std::uint64_t sent = 0;
  std::vector<char> buffer;
};

bool ProvideBody(BodyStream& body, std::size_t offset, std::size_t length,
                 httplib::DataSink& sink) {
  // Returning false makes httplib close the connection mid-body: exactly the
  // fault the drill wants, and the honest answer to a read failure.
  if (body.sent >= body.drop_after) return false;
  if (offset >= body.length) {
    // The extra-bytes fault: filler after the file's own bytes.
    body.buffer.assign(std::min<std::size_t>(length, kReadChunk), 'X');
    if (!sink.write(body.buffer.data(), body.buffer.size())) return false;
    body.sent += body.buffer.size();
    return true;
  }
  length = static_cast<std::size_t>(std::min<std::uint64_t>(length, body.length - offset));
  std::uint64_t want = std::min<std::uint64_t>({length, kReadChunk, body.drop_after - body.sent});
  body.buffer.resize(static_cast<std::size_t>(want));
  ssize_t n;
  do {
    n = ::pread(body.file->fd(), body.buffer.data(), body.buffer.size(),
                static_cast<off_t>(body.start + offset));
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return false;  // Read error, or the file shrank after we sized the response.
  if (!sink.write(body.buffer.data(), static_cast<std::size_t>(n))) return false;
  body.sent += static_cast<std::uint64_t>(n);
  CurrentTrace().body_bytes += static_cast<std::uint64_t>(n);
  return true;
}

}  // namespace

Result<std::unique_ptr<RepoFiles>> RepoFiles::Open(const std::string& repo_dir, FaultDrop drop) {
  char* resolved = ::realpath(repo_dir.c_str(), nullptr);
  if (resolved == nullptr) {
    return MakeError(ErrorCode::kInvalidArgument, "repository folder not found: " + repo_dir);
  }
  std::string root(resolved);
  std::free(resolved);
  struct stat st {};
  if (::stat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return MakeError(ErrorCode::kInvalidArgument, "repository is not a folder: " + repo_dir);
  }
  if (root == "/") root.clear();  // So that root + "/" is the prefix check.
  return std::unique_ptr<RepoFiles>(new RepoFiles(std::move(root), drop));
}

bool RepoFiles::TakeFaultExtra(std::string_view relative_path) {
  if (!relative_path.starts_with("targets/")) return false;
  std::uint64_t left = extras_left_.load();
  while (left > 0) {
    if (extras_left_.compare_exchange_weak(left, left - 1)) return true;
  }
  return false;
}

bool RepoFiles::TakeFaultDrop(std::string_view relative_path) {
  if (!relative_path.starts_with("targets/")) return false;
  std::uint64_t left = drops_left_.load();
  while (left > 0) {
    if (drops_left_.compare_exchange_weak(left, left - 1)) return true;
  }
  return false;
}

void RepoFiles::Serve(const httplib::Request& req, std::string_view relative_path,
                      bool ignore_range, httplib::Response& res) {
  if (!IsSafeRelativePath(relative_path)) {
    SetJsonError(res, 400, "invalid repository path: " + req.path);
    return;
  }
  OpenedFile file;
  if (!OpenInside(root_, relative_path, file)) {
    SetJsonError(res, 404, "not found: " + req.path);
    return;
  }
  const bool metadata = relative_path.ends_with(".json");
  const std::string content_type = metadata ? "application/json" : "application/octet-stream";
  res.set_header("ETag", file.etag);
  res.set_header("Accept-Ranges", "bytes");
  // Metadata changes in place (timestamp.json every few minutes); caches must
  // revalidate it. Targets are immutable and may be cached normally.
  if (metadata) res.set_header("Cache-Control", "no-cache");

  if (req.has_header("If-None-Match") &&
      IfNoneMatchMatches(req.get_header_value("If-None-Match"), file.etag)) {
    res.status = 304;
    // A length-less provider that ends at once keeps httplib from adding
    // "Content-Length: 0", which a 304 must not carry.
    res.set_content_provider(content_type, [](std::size_t, httplib::DataSink& sink) {
      sink.done();
      return true;
    });
    return;
  }

  // Range is defined for GET only; HEAD reports the whole representation.
  bool use_range = !ignore_range && req.method == "GET" && req.has_header("Range");
  if (use_range && req.has_header("If-Range")) {
    use_range = IfRangeMatches(req.get_header_value("If-Range"), file.etag);
  }
  RangeDecision decision;
  if (use_range) decision = EvaluateRange(req.get_header_value("Range"), file.size);

  if (decision.outcome == RangeOutcome::kUnsatisfiable) {
    res.set_header("Content-Range", "bytes */" + std::to_string(file.size));
    SetJsonError(res, 416, "range not satisfiable for " + std::to_string(file.size) + " bytes");
    return;
  }
  ByteRange range{0, file.size == 0 ? 0 : file.size - 1};
  if (decision.outcome == RangeOutcome::kPartial) {
    range = decision.range;
    res.status = 206;
    res.set_header("Content-Range", ContentRange(range, file.size));
  } else {
    res.status = 200;
  }
  if (file.size == 0) {
    res.set_content("", content_type);
    return;
  }
  auto body = std::make_shared<BodyStream>();
  body->file = file.file;
  body->start = range.first;
  body->length = range.length();
  if (req.method == "GET" && TakeFaultDrop(relative_path)) body->drop_after = drop_after_;
  std::uint64_t extra = 0;
  if (req.method == "GET" && TakeFaultExtra(relative_path)) extra = extra_bytes_;
  res.set_content_provider(static_cast<std::size_t>(range.length() + extra), content_type,
                           [body](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
                             return ProvideBody(*body, offset, length, sink);
                           });
}

}  // namespace ota::server
