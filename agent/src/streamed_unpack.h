// Unpacking a full bundle while it downloads (docs/decisions.md D52).
//
// The downloader hands over each piece of the bundle once its DownloadChecker
// has checked it against the signed container head (so nothing unsigned is
// ever decrypted or decompressed); the download thread also computes the
// whole file's signed digests as the pieces pass, and a worker thread feeds
// the pieces to a StreamingUnpacker writing into the staging folder. The
// result counts only when one clean transfer from byte 0 brought the whole
// file and its length and digests match the signed target; the version is
// promoted by the same steps as after a sequential unpack. Anything else (a
// resumed or repaired transfer, an error inside the bundle) abandons it, and
// the deployment verifies and unpacks the part file as before.
#ifndef OTA_AGENT_SRC_STREAMED_UNPACK_H_
#define OTA_AGENT_SRC_STREAMED_UNPACK_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "downloader.h"
#include "ota/bundle/bundle.h"
#include "ota/common/filesystem.h"
#include "ota/common/hash.h"
#include "ota/common/result.h"

namespace ota::agent {

class StreamedUnpack : public CheckedSink {
 public:
  struct Outcome {
    std::uint64_t length = 0;
    std::string sha256;  // Lower-case hex; empty when not asked for.
    std::string sha512;
    manifest::BundleManifest manifest;
  };

  // Unpacks into `staging`, which must not exist or be empty. `sha256` and
  // `sha512`: which digests of the whole file to compute. Without
  // `threaded`, the worker's steps run inside Take on the download thread,
  // for filesystems that need one thread in a repeatable order
  // (FileSystem::SingleThreaded: the power-loss tests and drills).
  StreamedUnpack(FileSystem& fs, std::string staging,
                 std::optional<bundle::RecipientPrivateKey> key, bool sha256, bool sha512,
                 bool threaded = true);
  // Abandons and joins the worker; unless Finish succeeded, removes the
  // staging folder.
  ~StreamedUnpack() override;
  StreamedUnpack(const StreamedUnpack&) = delete;
  StreamedUnpack& operator=(const StreamedUnpack&) = delete;

  // Download thread. Blocks while more than a bounded amount waits for the
  // worker, so a fast network does not fill memory.
  void Take(std::vector<std::uint8_t> bytes) override;
  void Abandon() override;

  // After the download: waits for the worker and completes the unpack.
  // Errors: kCancelled when abandoned; the unpacker's error; kIntegrity when
  // the bytes taken are not `length`. On any error the staging folder is
  // removed.
  Result<Outcome> Finish(std::uint64_t length);

 private:
  void Work();
  // Feeds the unpacker (worker thread, or Take when not threaded).
  void Unpack(const std::vector<std::uint8_t>& bytes);

  const std::size_t max_queued_ = 32u << 20;
  FileSystem& fs_;
  const std::string staging_;
  bool finished_ = false;
  std::unique_ptr<bundle::StreamingUnpacker> unpacker_;
  std::optional<Hasher> sha256_;
  std::optional<Hasher> sha512_;
  std::uint64_t taken_ = 0;  // Download thread only.

  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<std::vector<std::uint8_t>> queue_;  // Guarded by mu_.
  std::size_t queued_bytes_ = 0;                 // Guarded by mu_.
  bool input_done_ = false;                      // Guarded by mu_.
  bool abandoned_ = false;                       // Guarded by mu_.
  std::optional<Error> error_;                   // Guarded by mu_: the unpacker's.
  std::thread worker_;
};

}  // namespace ota::agent

#endif  // OTA_AGENT_SRC_STREAMED_UNPACK_H_
