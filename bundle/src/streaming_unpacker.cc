#include <algorithm>
#include <optional>

#include "chunk_crypto.h"
#include "chunk_reader.h"
#include "container_format.h"
#include "ota/bundle/bundle.h"
#include "plain_file_writer.h"

namespace ota::bundle {

// The stream is a sequence of units (preamble, header, chunk 0..n-1), each of
// a size known before it starts. Bytes are gathered until the current unit is
// complete, then the unit is verified and consumed as a whole, so the buffer
// never holds more than one unit.
struct StreamingUnpacker::Impl {
  enum class Stage { kPreamble, kHeader, kChunks, kEnd, kFinished };

  Impl(FileSystem& fs_in, std::string out_dir_in, UnpackLimits limits_in,
       std::optional<RecipientPrivateKey> key_in)
      : fs(fs_in), out_dir(std::move(out_dir_in)), limits(limits_in), key(std::move(key_in)) {
    buffer.reserve(kPreambleSize);
  }
  ~Impl() {
    if (key) WipeKey(key->private_key);
  }

  Status Feed(std::span<const std::uint8_t> bytes);
  Status ConsumeUnit();
  Status ConsumePreamble();
  Status ConsumeHeader();
  Status ConsumeChunk();
  Status Fail(const Error& e);
  void StartUnit(Stage next, std::uint64_t size);
  std::string TruncationMessage() const;

  FileSystem& fs;
  const std::string out_dir;
  const UnpackLimits limits;
  std::optional<RecipientPrivateKey> key;  // Until the header is accepted.
  Stage stage = Stage::kPreamble;
  std::uint64_t need = kPreambleSize;  // Size of the current unit.
  std::vector<std::uint8_t> buffer;    // Bytes of the current unit so far.
  std::uint64_t fed = 0;
  Preamble preamble;
  std::optional<ContainerHeader> header;
  std::size_t chunk_index = 0;
  std::unique_ptr<ChunkDecoder> decoder;  // Once the header is accepted.
  std::unique_ptr<PlainFileWriter> writer;
  std::optional<Error> error;
  bool owns_out_dir = false;  // Start() created out_dir or found it empty.
};

void StreamingUnpacker::Impl::StartUnit(Stage next, std::uint64_t size) {
  stage = next;
  need = size;
  buffer.clear();
  // Sizes were bounded by the checks that led here (header_len by the
  // limits, stored sizes by MaxCompressedSize(chunk_size)).
  buffer.reserve(static_cast<std::size_t>(size));
}

Status StreamingUnpacker::Impl::Feed(std::span<const std::uint8_t> bytes) {
  while (!bytes.empty()) {
    if (stage == Stage::kEnd) {
      return MakeError(
          ErrorCode::kIntegrity,
          "bundle has trailing bytes after its last chunk (at offset " + std::to_string(fed) + ")");
    }
    const std::size_t take =
        static_cast<std::size_t>(std::min<std::uint64_t>(need - buffer.size(), bytes.size()));
    buffer.insert(buffer.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(take));
    bytes = bytes.subspan(take);
    fed += take;
    if (buffer.size() == need) OTA_TRY(ConsumeUnit());
  }
  return Ok();
}

Status StreamingUnpacker::Impl::ConsumeUnit() {
  switch (stage) {
    case Stage::kPreamble:
      return ConsumePreamble();
    case Stage::kHeader:
      return ConsumeHeader();
    case Stage::kChunks:
      return ConsumeChunk();
    case Stage::kEnd:
    case Stage::kFinished:
      break;
  }
  return MakeError(ErrorCode::kInternal, "bundle unpacker consumed a unit in a final stage");
}

Status StreamingUnpacker::Impl::ConsumePreamble() {
  OTA_ASSIGN_OR_RETURN(preamble, DecodePreamble(buffer, limits));
  StartUnit(Stage::kHeader, preamble.header_len);
  return Ok();
}

Status StreamingUnpacker::Impl::ConsumeHeader() {
  OTA_ASSIGN_OR_RETURN(header, DecodeHeader(buffer, preamble, limits));
  // The header can be far larger than a chunk; give its memory back.
  std::vector<std::uint8_t>().swap(buffer);
  if (header->delta) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "this is a delta bundle (from base " + header->delta->base_id +
                         "): it can only be applied to its base version, not unpacked");
  }
  // Before out_dir exists: a device that cannot decrypt writes nothing.
  OTA_ASSIGN_OR_RETURN(decoder, ChunkDecoder::Create(*header, std::move(key)));
  key.reset();
  writer = std::make_unique<PlainFileWriter>(fs, out_dir, header->manifest.files);
  OTA_TRY(writer->Start());
  owns_out_dir = true;
  if (header->chunks.empty()) {
    StartUnit(Stage::kEnd, 0);
  } else {
    StartUnit(Stage::kChunks, header->chunks[0].stored);
  }
  return Ok();
}

Status StreamingUnpacker::Impl::ConsumeChunk() {
  OTA_ASSIGN_OR_RETURN(std::vector<std::uint8_t> * plain, decoder->Decode(chunk_index, buffer));
  // The writer hashes the plaintext on its second thread while the next
  // chunk is read and decoded; the vector handed over comes back as storage.
  OTA_TRY(writer->WriteAndRecycle(*plain));
  ++chunk_index;
  if (chunk_index == header->chunks.size()) {
    StartUnit(Stage::kEnd, 0);
  } else {
    StartUnit(Stage::kChunks, header->chunks[chunk_index].stored);
  }
  return Ok();
}

std::string StreamingUnpacker::Impl::TruncationMessage() const {
  const std::string got = std::to_string(buffer.size()) + " of " + std::to_string(need) + " bytes";
  switch (stage) {
    case Stage::kPreamble:
      return "bundle is truncated in its preamble (" + got + ")";
    case Stage::kHeader:
      return "bundle is truncated in its header (" + got + ")";
    default:
      return "bundle is truncated in " + ChunkName(chunk_index) + " (" + got + ")";
  }
}

// Sticky failure. Once the header was accepted the unpacker owns out_dir
// (it was absent or empty), so it removes it: a rejected bundle leaves
// nothing behind, not even the chunks that verified before the failure.
Status StreamingUnpacker::Impl::Fail(const Error& e) {
  error = e;
  if (owns_out_dir) (void)fs.RemoveAll(out_dir);
  decoder.reset();
  return e;
}

StreamingUnpacker::StreamingUnpacker(FileSystem& fs, std::string out_dir, UnpackLimits limits,
                                     std::optional<RecipientPrivateKey> key)
    : impl_(std::make_unique<Impl>(fs, std::move(out_dir), limits, std::move(key))) {}

StreamingUnpacker::~StreamingUnpacker() = default;

Status StreamingUnpacker::Feed(std::span<const std::uint8_t> bytes) {
  if (impl_->error) return *impl_->error;
  if (impl_->stage == Impl::Stage::kFinished) {
    return MakeError(ErrorCode::kInvalidArgument, "bundle unpacker: Feed after Finish");
  }
  Status s = impl_->Feed(bytes);
  if (!s.ok()) return impl_->Fail(s.error());
  return s;
}

Result<manifest::BundleManifest> StreamingUnpacker::Finish() {
  if (impl_->error) return *impl_->error;
  if (impl_->stage == Impl::Stage::kFinished) {
    return MakeError(ErrorCode::kInvalidArgument, "bundle unpacker: Finish called twice");
  }
  Status s = [&]() -> Status {
    if (impl_->stage != Impl::Stage::kEnd) {
      return MakeError(ErrorCode::kIntegrity, impl_->TruncationMessage());
    }
    OTA_TRY(impl_->writer->Finish());
    // Stops the writer's hashing thread and frees the chunk buffers.
    impl_->writer.reset();
    impl_->decoder.reset();
    std::vector<std::uint8_t>().swap(impl_->buffer);
    // Written last: a folder with bundle.json holds a complete, verified bundle.
    return WriteFileAtomic(impl_->fs, JoinPath(impl_->out_dir, manifest::kBundleManifestFileName),
                           manifest::SerializeBundleManifest(impl_->header->manifest));
  }();
  if (!s.ok()) return impl_->Fail(s.error()).error();
  impl_->stage = Impl::Stage::kFinished;
  return impl_->header->manifest;
}

std::uint64_t StreamingUnpacker::bytes_fed() const { return impl_->fed; }

}  // namespace ota::bundle
