#include "sim_storage.h"

#include <span>
#include <string>
#include <utility>

namespace ota::drill {

namespace {

class UnsyncedFile final : public WritableFile {
 public:
  explicit UnsyncedFile(std::unique_ptr<WritableFile> base) : base_(std::move(base)) {}
  Status Append(std::span<const std::uint8_t> data) override { return base_->Append(data); }
  Status Sync() override { return Ok(); }
  Status Close() override { return base_->Close(); }

 private:
  std::unique_ptr<WritableFile> base_;
};

class SimStorage final : public ForwardingFileSystem {
 public:
  explicit SimStorage(FileSystem& base) : ForwardingFileSystem(base) {}
  Result<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path, bool append,
                                                     unsigned mode) override {
    OTA_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                         base().OpenWritable(path, append, mode));
    return std::unique_ptr<WritableFile>(std::make_unique<UnsyncedFile>(std::move(file)));
  }
  Status SyncDir(const std::string&) override { return Ok(); }
  bool Durable() const override { return false; }
};

}  // namespace

std::unique_ptr<FileSystem> MakeSimStorage(FileSystem& base) {
  return std::make_unique<SimStorage>(base);
}

}  // namespace ota::drill
