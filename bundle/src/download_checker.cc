// DownloadChecker: a bundle file's pieces (head, then chunks) checked as a
// download appends them (see bundle.h).
#include <algorithm>

#include "container_format.h"
#include "ota/bundle/bundle.h"
#include "ota/common/checked_math.h"
#include "ota/common/hash.h"

namespace ota::bundle {
namespace {

std::string DigestOf(std::span<const std::uint8_t> bytes) {
  Hasher h(HashAlgorithm::kSha256);
  h.Update(bytes);
  return h.FinishHex();
}

}  // namespace

struct DownloadChecker::Impl {
  Impl(std::uint64_t length, std::optional<ContainerHead> head, UnpackLimits l)
      : file_length(length), signed_head(std::move(head)), limits(l) {
    RestartHead();
  }

  enum class Stage { kHead, kChunks, kDone };

  void RestartHead() {
    stage = Stage::kHead;
    fed = 0;
    head_bytes.clear();
    head_end = kPreambleSize;
    if (signed_head && signed_head->length > kPreambleSize &&
        signed_head->length - kPreambleSize <= limits.max_header_bytes) {
      head_end = signed_head->length;
    }
  }

  std::uint64_t PieceStart() const {
    if (stage == Stage::kHead) return 0;
    if (stage == Stage::kDone) return file_length;
    return starts[index];
  }

  std::uint64_t PieceEnd() const {
    if (stage == Stage::kHead) return head_end;
    if (stage == Stage::kDone) return file_length;
    return starts[index] + chunks[index].stored;
  }

  // A piece failed: remember what arrived for it and rewind to its start.
  Status Fail(std::string digest, const std::string& what) {
    const std::uint64_t start = PieceStart();
    failure = Failure{start, std::move(digest)};
    if (stage == Stage::kHead) {
      RestartHead();
    } else {
      fed = start;
      hasher = std::make_unique<Hasher>(HashAlgorithm::kSha256);
    }
    return MakeError(ErrorCode::kIntegrity, what);
  }

  Status Feed(std::span<const std::uint8_t> bytes);
  Status FinishHeadPiece();
  Status CheckHead();
  void EnterChunk(std::size_t i);

  const std::uint64_t file_length;
  const std::optional<ContainerHead> signed_head;
  const UnpackLimits limits;
  Stage stage = Stage::kHead;
  std::uint64_t fed = 0;
  std::uint64_t head_end = kPreambleSize;  // Known for good once the preamble is read.
  std::vector<std::uint8_t> head_bytes;
  std::optional<Preamble> preamble;
  std::vector<ChunkEntry> chunks;
  std::vector<std::uint64_t> starts;  // File offset of each chunk.
  std::size_t index = 0;
  std::unique_ptr<Hasher> hasher;
  std::optional<Failure> failure;
};

void DownloadChecker::Impl::EnterChunk(std::size_t i) {
  index = i;
  stage = i < chunks.size() ? Stage::kChunks : Stage::kDone;
  hasher = std::make_unique<Hasher>(HashAlgorithm::kSha256);
}

// The preamble or the whole head is complete.
Status DownloadChecker::Impl::FinishHeadPiece() {
  if (!signed_head && fed == kPreambleSize) {
    Result<Preamble> p = DecodePreamble(head_bytes, limits);
    if (!p.ok()) return Fail(DigestOf(head_bytes), "bundle head: " + p.error().message);
    preamble = *p;
    head_end = kPreambleSize + p->header_len;
    return Ok();
  }
  return CheckHead();
}

Status DownloadChecker::Impl::CheckHead() {
  const std::string digest = DigestOf(head_bytes);
  if (signed_head) {
    if (head_end != signed_head->length) {
      return Fail(digest, "bundle head: its signed length " + std::to_string(signed_head->length) +
                              " is out of range");
    }
    if (digest != signed_head->sha256) {
      return Fail(digest, "bundle head: SHA-256 " + digest + " does not match the signed " +
                              signed_head->sha256);
    }
    Result<Preamble> p =
        DecodePreamble(std::span<const std::uint8_t>(head_bytes.data(), kPreambleSize), limits);
    if (!p.ok()) return Fail(digest, "bundle head: " + p.error().message);
    if (kPreambleSize + p->header_len != head_end) {
      return Fail(digest,
                  "bundle head: the preamble's header length disagrees with the signed "
                  "head length");
    }
    preamble = *p;
  }
  Result<ContainerHeader> header = DecodeHeader(
      std::span<const std::uint8_t>(head_bytes).subspan(kPreambleSize), *preamble, limits);
  if (!header.ok()) return Fail(digest, "bundle head: " + header.error().message);
  const std::optional<std::uint64_t> described = CheckedAdd(head_end, header->total_stored);
  if (!described || *described != file_length) {
    return Fail(digest, "bundle head: it describes a file of " +
                            (described ? std::to_string(*described) : std::string("over 2^64")) +
                            " bytes, the signed length is " + std::to_string(file_length));
  }
  chunks = std::move(header->chunks);
  starts.clear();
  std::uint64_t at = head_end;
  for (const ChunkEntry& c : chunks) {
    starts.push_back(at);
    at += c.stored;  // Bounded: the sum was checked above.
  }
  std::vector<std::uint8_t>().swap(head_bytes);
  EnterChunk(0);
  return Ok();
}

Status DownloadChecker::Impl::Feed(std::span<const std::uint8_t> bytes) {
  if (bytes.empty()) return Ok();
  const std::uint64_t end = PieceEnd();
  if (stage == Stage::kDone || bytes.size() > end - fed) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        "download checker fed past the end of a piece (at offset " + std::to_string(fed) + ")");
  }
  if (stage == Stage::kHead) {
    head_bytes.insert(head_bytes.end(), bytes.begin(), bytes.end());
  } else {
    hasher->Update(bytes);
  }
  fed += bytes.size();
  if (fed != end) return Ok();
  if (stage == Stage::kHead) return FinishHeadPiece();
  const std::string digest = hasher->FinishHex();
  if (digest != chunks[index].sha256) {
    return Fail(digest, ChunkName(index) + " (at offset " + std::to_string(starts[index]) +
                            ") has SHA-256 " + digest + ", its header entry says " +
                            chunks[index].sha256);
  }
  EnterChunk(index + 1);
  return Ok();
}

DownloadChecker::DownloadChecker(std::uint64_t file_length,
                                 std::optional<ContainerHead> signed_head, UnpackLimits limits)
    : impl_(std::make_unique<Impl>(file_length, std::move(signed_head), limits)) {}

DownloadChecker::~DownloadChecker() = default;

std::uint64_t DownloadChecker::fed() const { return impl_->fed; }

std::uint64_t DownloadChecker::checked() const {
  if (impl_->stage == Impl::Stage::kHead) return 0;
  return impl_->PieceStart();
}

std::uint64_t DownloadChecker::piece_end() const { return impl_->PieceEnd(); }

Status DownloadChecker::Feed(std::span<const std::uint8_t> bytes) { return impl_->Feed(bytes); }

Status DownloadChecker::SkipCheckedTo(std::uint64_t offset) {
  Impl& d = *impl_;
  if (d.stage == Impl::Stage::kHead || offset < d.fed) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "download checker cannot skip to offset " + std::to_string(offset));
  }
  if (offset == d.file_length) {
    d.fed = offset;
    d.EnterChunk(d.chunks.size());
    return Ok();
  }
  auto it = std::lower_bound(d.starts.begin(), d.starts.end(), offset);
  if (it == d.starts.end() || *it != offset) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        "download checker: offset " + std::to_string(offset) + " is not a chunk start");
  }
  d.fed = offset;
  d.EnterChunk(static_cast<std::size_t>(it - d.starts.begin()));
  return Ok();
}

std::optional<std::uint64_t> DownloadChecker::ChunkStartOf(std::uint64_t offset) const {
  const Impl& d = *impl_;
  if (d.stage == Impl::Stage::kHead) return std::nullopt;
  if (offset < d.head_end || d.starts.empty()) return d.head_end;
  if (offset >= d.file_length) return d.file_length;
  auto it = std::upper_bound(d.starts.begin(), d.starts.end(), offset);
  return *(it - 1);
}

const std::optional<DownloadChecker::Failure>& DownloadChecker::failure() const {
  return impl_->failure;
}

}  // namespace ota::bundle
