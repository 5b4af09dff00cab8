#include "ota/common/dropping_fs.h"

#include <unistd.h>

#include <utility>

namespace ota {
namespace {

bool IsUnder(const std::string& path, const std::string& prefix) {
  return path == prefix ||
         (path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0 &&
          path[prefix.size()] == '/');
}

class DroppingWritableFile : public WritableFile {
 public:
  DroppingWritableFile(DroppingFileSystem& fs, FileSystem& base, std::string path,
                       std::unique_ptr<WritableFile> file)
      : fs_(fs), base_(base), path_(std::move(path)), file_(std::move(file)) {}

  Status Append(std::span<const std::uint8_t> data) override {
    OTA_TRY(fs_.BeforeMutation());
    OTA_TRY(fs_.ConsumeSpace(path_, data.size()));
    return file_->Append(data);
  }
  Status Sync() override {
    OTA_TRY(fs_.BeforeMutation());
    OTA_TRY(file_->Sync());
    OTA_ASSIGN_OR_RETURN(std::uint64_t size, base_.FileSize(path_));
    fs_.FileSynced(path_, size);
    return Ok();
  }
  Status Close() override { return file_->Close(); }

 private:
  DroppingFileSystem& fs_;
  FileSystem& base_;
  std::string path_;
  std::unique_ptr<WritableFile> file_;
};

}  // namespace

DroppingFileSystem::DroppingFileSystem(FileSystem& base, std::string scratch)
    : base_(base), scratch_(std::move(scratch)) {}

DroppingFileSystem::~DroppingFileSystem() = default;

void DroppingFileSystem::CutPower() {
  if (power_lost_) return;
  power_lost_ = true;
  for (const std::string& path : kept_paths_) {
    auto bytes = base_.ReadFile(path, std::uint64_t{1} << 32);
    kept_[path] = bytes.ok() ? std::optional<std::string>(std::move(*bytes)) : std::nullopt;
  }
}

Status DroppingFileSystem::BeforeMutation() {
  if (!power_lost_ && crash_after_ != 0 && mutations_ >= crash_after_) CutPower();
  if (power_lost_) return MakeError(ErrorCode::kIo, "power lost");
  ++mutations_;
  return Ok();
}

Status DroppingFileSystem::ConsumeSpace(const std::string& path, std::uint64_t bytes) {
  if (!space_left_) return Ok();
  if (bytes > *space_left_) {
    space_left_ = 0;
    return MakeError(ErrorCode::kNoSpace, "cannot write " + path + ": No space left on device");
  }
  *space_left_ -= bytes;
  return Ok();
}

void DroppingFileSystem::FileSynced(const std::string& path, std::uint64_t size) {
  durable_size_[path] = size;
}

std::string DroppingFileSystem::KeepAside(const std::string& path) {
  const std::string aside = JoinPath(scratch_, "aside-" + std::to_string(++backups_));
  if (!base_.CreateDirs(scratch_).ok() || !base_.Rename(path, aside).ok()) return "";
  return aside;
}

void DroppingFileSystem::Record(DirChange change) { pending_.push_back(std::move(change)); }

Result<std::unique_ptr<WritableFile>> DroppingFileSystem::OpenWritable(const std::string& path,
                                                                       bool append, unsigned mode) {
  OTA_TRY(BeforeMutation());
  OTA_ASSIGN_OR_RETURN(bool existed, base_.Exists(path));
  OTA_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, base_.OpenWritable(path, append, mode));
  if (!existed) Record(DirChange{DirChange::Kind::kCreated, path, "", ""});
  if (!append) {
    durable_size_[path] = 0;
  } else if (durable_size_.count(path) == 0) {
    OTA_ASSIGN_OR_RETURN(durable_size_[path], base_.FileSize(path));
  }
  return std::unique_ptr<WritableFile>(
      new DroppingWritableFile(*this, base_, path, std::move(file)));
}

Result<std::unique_ptr<ReadableFile>> DroppingFileSystem::OpenReadable(const std::string& path) {
  return base_.OpenReadable(path);
}
Result<std::string> DroppingFileSystem::ReadFile(const std::string& path, std::uint64_t max_bytes) {
  return base_.ReadFile(path, max_bytes);
}
Result<bool> DroppingFileSystem::Exists(const std::string& path) { return base_.Exists(path); }
Result<std::uint64_t> DroppingFileSystem::FileSize(const std::string& path) {
  return base_.FileSize(path);
}
Result<std::vector<std::string>> DroppingFileSystem::ListDir(const std::string& path) {
  return base_.ListDir(path);
}
Result<std::string> DroppingFileSystem::ReadSymlink(const std::string& link) {
  return base_.ReadSymlink(link);
}
Result<std::uint64_t> DroppingFileSystem::FreeSpace(const std::string& path) {
  return base_.FreeSpace(path);
}

Status DroppingFileSystem::SetMode(const std::string& path, unsigned mode) {
  return base_.SetMode(path, mode);
}

// Durable when it returns (the real one fsyncs): the file's durable size is
// the new one.
Status DroppingFileSystem::Truncate(const std::string& path, std::uint64_t size) {
  OTA_TRY(BeforeMutation());
  OTA_TRY(base_.Truncate(path, size));
  FileSynced(path, size);
  return Ok();
}

Status DroppingFileSystem::CreateDirs(const std::string& path) {
  OTA_TRY(BeforeMutation());
  return base_.CreateDirs(path);
}

Status DroppingFileSystem::Rename(const std::string& from, const std::string& to) {
  OTA_TRY(BeforeMutation());
  OTA_ASSIGN_OR_RETURN(bool from_exists, base_.Exists(from));
  if (!from_exists) return base_.Rename(from, to);  // The real error.
  OTA_ASSIGN_OR_RETURN(bool replaced, base_.Exists(to));
  std::string backup;
  if (replaced) {
    backup = KeepAside(to);
    if (backup.empty()) return MakeError(ErrorCode::kIo, "cannot keep " + to + " aside");
  }
  Status s = base_.Rename(from, to);
  if (!s.ok()) {
    if (!backup.empty()) (void)base_.Rename(backup, to);
    return s;
  }
  // Unsynced changes inside a renamed directory move with it (the entry of
  // `from` itself stays where it was made: undoing the rename puts it back).
  for (DirChange& c : pending_) {
    if (c.path != from && IsUnder(c.path, from)) c.path = to + c.path.substr(from.size());
    if (c.from != from && IsUnder(c.from, from)) c.from = to + c.from.substr(from.size());
  }
  Record(DirChange{DirChange::Kind::kRenamed, to, from, backup});
  // What was written to `from` (or under it) now lives at `to`.
  std::map<std::string, std::uint64_t> moved;
  for (auto it = durable_size_.begin(); it != durable_size_.end();) {
    if (IsUnder(it->first, to)) {
      it = durable_size_.erase(it);  // Replaced.
    } else if (IsUnder(it->first, from)) {
      moved[to + it->first.substr(from.size())] = it->second;
      it = durable_size_.erase(it);
    } else {
      ++it;
    }
  }
  durable_size_.merge(moved);
  return Ok();
}

Status DroppingFileSystem::SyncDir(const std::string& path) {
  OTA_TRY(BeforeMutation());
  OTA_TRY(base_.SyncDir(path));
  std::vector<DirChange> still;
  for (DirChange& c : pending_) {
    if (DirName(c.path) != path) still.push_back(std::move(c));
  }
  pending_ = std::move(still);
  return Ok();
}

Status DroppingFileSystem::Remove(const std::string& path) {
  OTA_TRY(BeforeMutation());
  OTA_ASSIGN_OR_RETURN(bool exists, base_.Exists(path));
  if (!exists) return Ok();
  if (auto names = base_.ListDir(path); names.ok() && !names->empty()) {
    return base_.Remove(path);  // A non-empty directory: the real error.
  }
  const std::string backup = KeepAside(path);
  if (backup.empty()) return MakeError(ErrorCode::kIo, "cannot remove " + path);
  Record(DirChange{DirChange::Kind::kRemoved, path, "", backup});
  return Ok();
}

Status DroppingFileSystem::RemoveAll(const std::string& path) {
  OTA_TRY(BeforeMutation());
  OTA_ASSIGN_OR_RETURN(bool exists, base_.Exists(path));
  if (!exists) return Ok();
  const std::string backup = KeepAside(path);
  if (backup.empty()) return MakeError(ErrorCode::kIo, "cannot remove " + path);
  Record(DirChange{DirChange::Kind::kRemoved, path, "", backup});
  for (auto it = durable_size_.begin(); it != durable_size_.end();) {
    it = IsUnder(it->first, path) ? durable_size_.erase(it) : std::next(it);
  }
  return Ok();
}

Status DroppingFileSystem::CreateSymlink(const std::string& target, const std::string& link) {
  OTA_TRY(BeforeMutation());
  OTA_TRY(base_.CreateSymlink(target, link));
  Record(DirChange{DirChange::Kind::kCreated, link, "", ""});
  return Ok();
}

Status DroppingFileSystem::DropUnsynced() {
  Status result = Ok();
  auto keep = [&result](Status s) {
    if (result.ok() && !s.ok()) result = std::move(s);
  };
  // Data first, at the paths the files have now; then the directory changes,
  // newest first.
  for (const auto& [path, size] : durable_size_) {
    auto current = base_.FileSize(path);
    if (current.ok() && *current > size &&
        ::truncate(path.c_str(), static_cast<off_t>(size)) != 0) {
      keep(MakeError(ErrorCode::kIo, "cannot truncate " + path));
    }
  }
  durable_size_.clear();
  for (auto it = pending_.rbegin(); it != pending_.rend(); ++it) {
    switch (it->kind) {
      case DirChange::Kind::kCreated:
        keep(base_.RemoveAll(it->path));
        break;
      case DirChange::Kind::kRenamed:
        keep(base_.Rename(it->path, it->from));
        if (!it->backup.empty()) keep(base_.Rename(it->backup, it->path));
        break;
      case DirChange::Kind::kRemoved:
        keep(base_.RemoveAll(it->path));
        keep(base_.Rename(it->backup, it->path));
        break;
    }
  }
  pending_.clear();
  // Files behind the seam go back to what they were at the cut.
  for (const auto& [path, bytes] : kept_) {
    if (!bytes) {
      keep(base_.RemoveAll(path));
      continue;
    }
    auto file = base_.OpenWritable(path, /*append=*/false, 0600);
    if (!file.ok()) {
      keep(std::move(file).error());
      continue;
    }
    keep((*file)->Append(
        std::span(reinterpret_cast<const std::uint8_t*>(bytes->data()), bytes->size())));
    keep((*file)->Close());
  }
  kept_.clear();
  return result;
}

}  // namespace ota
