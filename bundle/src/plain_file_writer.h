// Writes a bundle's plaintext stream into its files under an output folder,
// checking each file's size and SHA-256 against bundle.json as it completes.
//
// Thread-safety: not thread-safe.
#ifndef OTA_BUNDLE_PLAIN_FILE_WRITER_H_
#define OTA_BUNDLE_PLAIN_FILE_WRITER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "ota/common/filesystem.h"
#include "ota/common/hash.h"
#include "ota/common/result.h"
#include "ota/manifest/bundle_manifest.h"

namespace ota::bundle {

class PlainFileWriter {
 public:
  // `files` must have passed manifest validation (safe, unique paths): the
  // writer joins them to `out_dir` as they are.
  PlainFileWriter(FileSystem& fs, std::string out_dir, std::vector<manifest::BundleFile> files);

  // Creates `out_dir`. Errors: kInvalidArgument if it exists and is not an
  // empty folder (a pre-existing symlink inside could redirect writes).
  Status Start();
  // Appends the next plaintext bytes. Errors: kIntegrity if a completed file
  // does not match its SHA-256 or the bytes run past the last file; kIo.
  Status Write(std::span<const std::uint8_t> plain);
  // Creates the remaining empty files and fsyncs every folder written to.
  // Errors: kIntegrity if a non-empty file is incomplete; kIo.
  Status Finish();

 private:
  Status OpenCurrent();
  Status CompleteCurrent();
  Status CompleteEmptyFiles();
  Status CreateParentDirs(const std::string& relative_path);

  FileSystem& fs_;
  std::string out_dir_;
  std::vector<manifest::BundleFile> files_;
  std::size_t index_ = 0;        // The file receiving bytes.
  std::uint64_t remaining_ = 0;  // Bytes the current file still needs.
  std::unique_ptr<WritableFile> file_;
  std::optional<Hasher> hasher_;
  std::set<std::string> dirs_;  // Folders created or written into, to fsync.
};

}  // namespace ota::bundle

#endif  // OTA_BUNDLE_PLAIN_FILE_WRITER_H_
