#include "streamed_unpack.h"

#include <utility>

namespace ota::agent {

StreamedUnpack::StreamedUnpack(FileSystem& fs, std::string staging,
                               std::optional<bundle::RecipientPrivateKey> key, bool sha256,
                               bool sha512, bool threaded)
    : fs_(fs),
      staging_(std::move(staging)),
      unpacker_(std::make_unique<bundle::StreamingUnpacker>(fs, staging_, bundle::UnpackLimits{},
                                                            std::move(key))) {
  if (sha256) sha256_.emplace(HashAlgorithm::kSha256);
  if (sha512) sha512_.emplace(HashAlgorithm::kSha512);
  if (threaded) worker_ = std::thread([this] { Work(); });
}

StreamedUnpack::~StreamedUnpack() {
  Abandon();
  if (worker_.joinable()) worker_.join();
  unpacker_.reset();
  if (!finished_) (void)fs_.RemoveAll(staging_);
}

void StreamedUnpack::Take(std::vector<std::uint8_t> bytes) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (abandoned_ || error_ || input_done_) return;
  }
  // The download thread hashes SHA-256, the worker SHA-512: the two
  // digests cost more than the unpack, so they are split between them.
  if (sha256_) sha256_->Update(bytes);
  taken_ += bytes.size();
  if (!worker_.joinable()) {
    Unpack(bytes);
    return;
  }
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock,
                [this] { return queued_bytes_ < max_queued_ || abandoned_ || error_.has_value(); });
  if (abandoned_ || error_) return;
  queued_bytes_ += bytes.size();
  queue_.push_back(std::move(bytes));
  changed_.notify_all();
}

void StreamedUnpack::Abandon() {
  std::lock_guard<std::mutex> lock(mu_);
  abandoned_ = true;
  queue_.clear();
  queued_bytes_ = 0;
  changed_.notify_all();
}

void StreamedUnpack::Work() {
  while (true) {
    std::vector<std::uint8_t> bytes;
    {
      std::unique_lock<std::mutex> lock(mu_);
      changed_.wait(lock, [this] { return !queue_.empty() || input_done_ || abandoned_; });
      if (abandoned_ || queue_.empty()) return;  // Abandoned, or all input consumed.
      bytes = std::move(queue_.front());
      queue_.pop_front();
      queued_bytes_ -= bytes.size();
      changed_.notify_all();
    }
    Unpack(bytes);
    std::lock_guard<std::mutex> lock(mu_);
    if (error_) return;
  }
}

void StreamedUnpack::Unpack(const std::vector<std::uint8_t>& bytes) {
  if (sha512_) sha512_->Update(bytes);
  Status fed = unpacker_->Feed(bytes);
  if (fed.ok()) return;
  std::lock_guard<std::mutex> lock(mu_);
  error_ = std::move(fed).error();
  queue_.clear();
  queued_bytes_ = 0;
  changed_.notify_all();
}

Result<StreamedUnpack::Outcome> StreamedUnpack::Finish(std::uint64_t length) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    input_done_ = true;
    changed_.notify_all();
  }
  if (worker_.joinable()) worker_.join();
  // What is not finished goes, with what the unpacker wrote.
  auto discard = [this](Error e) -> Error {
    unpacker_.reset();
    (void)fs_.RemoveAll(staging_);
    return e;
  };
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (abandoned_) {
      return discard(
          MakeError(ErrorCode::kCancelled, "the download did not come in one clean stream"));
    }
    if (error_) return discard(*error_);
  }
  if (taken_ != length) {
    return discard(MakeError(ErrorCode::kIntegrity, "the stream brought " + std::to_string(taken_) +
                                                        " of " + std::to_string(length) +
                                                        " bytes"));
  }
  Outcome out;
  out.length = taken_;
  if (sha256_) out.sha256 = sha256_->FinishHex();
  if (sha512_) out.sha512 = sha512_->FinishHex();
  auto manifest = unpacker_->Finish();
  if (!manifest.ok()) return discard(std::move(manifest).error());
  out.manifest = std::move(*manifest);
  finished_ = true;
  return out;
}

}  // namespace ota::agent
