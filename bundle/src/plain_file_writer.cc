#include "plain_file_writer.h"

#include <algorithm>

namespace ota::bundle {
namespace {

std::string FileName(const manifest::BundleFile& f) { return "file \"" + f.path + "\""; }

}  // namespace

PlainFileWriter::PlainFileWriter(FileSystem& fs, std::string out_dir,
                                 std::vector<manifest::BundleFile> files)
    : fs_(fs), out_dir_(std::move(out_dir)), files_(std::move(files)) {
  if (!files_.empty()) remaining_ = files_[0].size;
}

Status PlainFileWriter::Start() {
  OTA_ASSIGN_OR_RETURN(bool exists, fs_.Exists(out_dir_));
  if (exists) {
    Result<std::vector<std::string>> entries = fs_.ListDir(out_dir_);
    if (!entries.ok() || !entries->empty()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "cannot unpack into " + out_dir_ + ": it exists and is not an empty folder");
    }
  }
  OTA_TRY(fs_.CreateDirs(out_dir_));
  dirs_.insert(out_dir_);
  // Creating out_dir added an entry to its parent.
  dirs_.insert(DirName(out_dir_));
  return Ok();
}

Status PlainFileWriter::CreateParentDirs(const std::string& relative_path) {
  const std::size_t slash = relative_path.rfind('/');
  if (slash == std::string::npos) return Ok();
  OTA_TRY(fs_.CreateDirs(JoinPath(out_dir_, relative_path.substr(0, slash))));
  // Every folder on the way holds a new entry that must be made durable.
  for (std::size_t pos = relative_path.find('/'); pos != std::string::npos;
       pos = relative_path.find('/', pos + 1)) {
    dirs_.insert(JoinPath(out_dir_, relative_path.substr(0, pos)));
  }
  return Ok();
}

Status PlainFileWriter::OpenCurrent() {
  const manifest::BundleFile& f = files_[index_];
  OTA_TRY(CreateParentDirs(f.path));
  OTA_ASSIGN_OR_RETURN(file_, fs_.OpenWritable(JoinPath(out_dir_, f.path), /*append=*/false));
  if (!background_) hasher_.emplace(HashAlgorithm::kSha256);
  return Ok();
}

Status PlainFileWriter::CompleteCurrent() {
  const manifest::BundleFile& f = files_[index_];
  if (!file_) OTA_TRY(OpenCurrent());
  // The background digest restarts at every Finish, so it covers exactly
  // this file's bytes.
  const std::string actual = background_ ? background_->Finish() : hasher_->FinishHex();
  hasher_.reset();
  if (actual != f.sha256) {
    return MakeError(ErrorCode::kIntegrity,
                     FileName(f) + " has SHA-256 " + actual + ", but bundle.json says " + f.sha256);
  }
  OTA_TRY(file_->Sync());
  OTA_TRY(file_->Close());
  file_.reset();
  ++index_;
  remaining_ = index_ < files_.size() ? files_[index_].size : 0;
  return Ok();
}

// Empty files take no bytes of the stream, so they are completed as soon as
// the stream reaches them.
Status PlainFileWriter::CompleteEmptyFiles() {
  while (index_ < files_.size() && remaining_ == 0) OTA_TRY(CompleteCurrent());
  return Ok();
}

Status PlainFileWriter::Write(std::span<const std::uint8_t> plain) {
  Status s = WriteBytes(plain);
  // The caller may reuse its bytes once this returns.
  if (background_) background_->Wait();
  return s;
}

Status PlainFileWriter::WriteAndRecycle(std::vector<std::uint8_t>& buffer) {
  if (!background_) {
    if (hasher_) {
      // Bytes of the current file were hashed here so far: finish them here.
      OTA_TRY(WriteBytes(buffer));
      return Ok();
    }
    background_ = std::make_unique<BackgroundHasher>();
  }
  if (Status s = WriteBytes(buffer); !s.ok()) {
    // The caller keeps `buffer`: no queued update may still read it.
    background_->Wait();
    return s;
  }
  background_->Recycle(buffer);
  return Ok();
}

Status PlainFileWriter::WriteBytes(std::span<const std::uint8_t> plain) {
  while (!plain.empty()) {
    OTA_TRY(CompleteEmptyFiles());
    if (index_ == files_.size()) {
      return MakeError(ErrorCode::kIntegrity, "the plaintext runs " + std::to_string(plain.size()) +
                                                  " bytes past the last file of bundle.json");
    }
    if (!file_) OTA_TRY(OpenCurrent());
    const std::size_t take =
        static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, plain.size()));
    OTA_TRY(file_->Append(plain.first(take)));
    if (background_) {
      background_->Update(plain.first(take));
    } else {
      hasher_->Update(plain.first(take));
    }
    remaining_ -= take;
    plain = plain.subspan(take);
    // Completing at once keeps at most one file open and reports a bad file
    // as soon as its last byte arrives.
    if (remaining_ == 0) OTA_TRY(CompleteCurrent());
  }
  return Ok();
}

Status PlainFileWriter::Finish() {
  OTA_TRY(CompleteEmptyFiles());
  if (index_ != files_.size()) {
    return MakeError(ErrorCode::kIntegrity, "the plaintext ends " + std::to_string(remaining_) +
                                                " bytes before the end of " +
                                                FileName(files_[index_]));
  }
  // Deepest folders first, so a parent is synced after its children's entries.
  for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) OTA_TRY(fs_.SyncDir(*it));
  return Ok();
}

}  // namespace ota::bundle
