// Writes a bundle's plaintext stream into its files under an output folder,
// checking each file's size and SHA-256 against bundle.json as it completes.
//
// Thread-safety: not thread-safe. WriteAndRecycle hashes on an internal
// thread; every filesystem call stays on the caller's thread, in the same
// order as with Write.
#ifndef OTA_BUNDLE_PLAIN_FILE_WRITER_H_
#define OTA_BUNDLE_PLAIN_FILE_WRITER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "background_hasher.h"
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
  // Like Write(buffer), but the SHA-256 runs on a second thread while the
  // caller fills the next buffer: `buffer` is taken and replaced by storage
  // to overwrite (the one before it, once hashed; or an empty vector), so at
  // most two buffers exist. A file's digest is still compared, and the file
  // synced, when its last byte is written, before any later byte is.
  Status WriteAndRecycle(std::vector<std::uint8_t>& buffer);
  // Creates the remaining empty files and fsyncs every folder written to.
  // Errors: kIntegrity if a non-empty file is incomplete; kIo.
  Status Finish();

 private:
  Status OpenCurrent();
  Status CompleteCurrent();
  Status CompleteEmptyFiles();
  Status CreateParentDirs(const std::string& relative_path);
  Status WriteBytes(std::span<const std::uint8_t> plain);

  FileSystem& fs_;
  std::string out_dir_;
  std::vector<manifest::BundleFile> files_;
  std::size_t index_ = 0;        // The file receiving bytes.
  std::uint64_t remaining_ = 0;  // Bytes the current file still needs.
  std::unique_ptr<WritableFile> file_;
  std::optional<Hasher> hasher_;                  // Without a background hasher.
  std::unique_ptr<BackgroundHasher> background_;  // Once WriteAndRecycle is used.
  std::set<std::string> dirs_;                    // Folders created or written into, to fsync.
};

}  // namespace ota::bundle

#endif  // OTA_BUNDLE_PLAIN_FILE_WRITER_H_
