#include <algorithm>
#include <optional>

#include "byte_grouping.h"
#include "chunk_crypto.h"
#include "container_format.h"
#include "ota/bundle/bundle.h"
#include "ota/common/hash.h"
#include "plain_file_writer.h"
#include "zstd_codec.h"

namespace ota::bundle {

// The stream is a sequence of units (preamble, header, chunk 0..n-1), each of
// a size known before it starts. Bytes are gathered until the current unit is
// complete, then the unit is verified and consumed as a whole, so the buffer
// never holds more than one unit.
struct StreamingUnpacker::Impl {
  enum class Stage { kPreamble, kHeader, kChunks, kEnd, kFinished };

  Impl(FileSystem& fs_in, std::string out_dir_in, UnpackLimits limits_in,
       std::optional<RecipientPrivateKey> key_in, PayloadKind kind_in)
      : fs(fs_in),
        out_dir(std::move(out_dir_in)),
        limits(limits_in),
        key(std::move(key_in)),
        kind(kind_in) {
    buffer.reserve(kPreambleSize);
  }
  ~Impl() {
    WipeKey(content_key);
    if (key) WipeKey(key->private_key);
  }

  Status Feed(std::span<const std::uint8_t> bytes);
  Status ConsumeUnit();
  Status ConsumePreamble();
  Status ConsumeHeader();
  Status ConsumeChunk();
  Status OpenKey();
  Status Fail(const Error& e);
  void StartUnit(Stage next, std::uint64_t size);
  std::string TruncationMessage() const;

  FileSystem& fs;
  const std::string out_dir;
  const UnpackLimits limits;
  std::optional<RecipientPrivateKey> key;
  const PayloadKind kind;
  std::string content_key;  // Set once an encrypted bundle's key is opened.
  std::string context;      // ChunkContext() of an encrypted bundle.
  std::vector<std::uint8_t> decrypted;
  std::vector<std::uint8_t> scratch;
  Stage stage = Stage::kPreamble;
  std::uint64_t need = kPreambleSize;  // Size of the current unit.
  std::vector<std::uint8_t> buffer;    // Bytes of the current unit so far.
  std::uint64_t fed = 0;
  Preamble preamble;
  std::optional<ContainerHeader> header;
  std::size_t chunk_index = 0;
  std::vector<std::uint8_t> plain;
  std::unique_ptr<ZstdDecompressor> decompressor;
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

Status StreamingUnpacker::Impl::OpenKey() {
  if (!header->encryption) return Ok();
  if (!key) {
    const auto& recipients = header->encryption->recipients;
    std::string ids;
    for (std::size_t i = 0; i < recipients.size() && i < 3; ++i) {
      ids += (i == 0 ? "" : ", ") + recipients[i].key_id;
    }
    if (recipients.size() > 3) ids += " and " + std::to_string(recipients.size() - 3) + " more";
    return MakeError(ErrorCode::kSecurity,
                     "bundle is encrypted and no recipient key was given (it is sealed to "
                     "recipient key ids " +
                         ids + ")");
  }
  OTA_ASSIGN_OR_RETURN(content_key, OpenContentKey(*header->encryption, *key));
  context = ChunkContext(*header);
  return Ok();
}

Status StreamingUnpacker::Impl::ConsumeHeader() {
  OTA_ASSIGN_OR_RETURN(header, DecodeHeader(buffer, preamble, limits));
  // The header can be far larger than a chunk; give its memory back.
  std::vector<std::uint8_t>().swap(buffer);
  if (kind == PayloadKind::kFiles && header->delta) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "this is a delta bundle (from base " + header->delta->base_id +
                         "): it can only be applied to its base version, not unpacked");
  }
  if (kind == PayloadKind::kDelta && !header->delta) {
    return MakeError(ErrorCode::kInvalidArgument, "this is a full bundle, not a delta bundle");
  }
  // Before out_dir exists: a device that cannot decrypt writes nothing.
  OTA_TRY(OpenKey());
  OTA_ASSIGN_OR_RETURN(decompressor, ZstdDecompressor::Create());
  std::vector<manifest::BundleFile> files = header->manifest.files;
  if (header->delta) {
    files = {manifest::BundleFile{kDeltaPayloadFileName, header->total_plain,
                                  header->delta->payload_sha256, "other"}};
  }
  // A delta payload is scratch (see PayloadKind): only the files an apply
  // produces from it are made durable.
  writer = std::make_unique<PlainFileWriter>(fs, out_dir, std::move(files),
                                             /*durable=*/!header->delta.has_value());
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
  const ChunkEntry& chunk = header->chunks[chunk_index];
  const std::string name = ChunkName(chunk_index);
  // Hash before decompressing: zstd never sees bytes the header did not vouch for.
  Hasher hasher(HashAlgorithm::kSha256);
  hasher.Update(buffer);
  if (const std::string actual = hasher.FinishHex(); actual != chunk.sha256) {
    return MakeError(ErrorCode::kIntegrity,
                     name + " has SHA-256 " + actual + ", but the header says " + chunk.sha256);
  }
  std::span<const std::uint8_t> encoded = buffer;
  if (header->encryption) {
    OTA_TRY(DecryptChunk(content_key, *header, context, chunk_index, chunk, buffer, decrypted));
    encoded = decrypted;
  }
  // The writer hashes the plaintext on its second thread while the next
  // chunk is read and decoded; the vector handed over comes back as storage.
  if (chunk.codec == ChunkCodec::kRaw) {
    OTA_TRY(writer->WriteAndRecycle(header->encryption ? decrypted : buffer));
  } else {
    if (HasBf16Split(chunk.groups)) {
      OTA_TRY(decompressor->DecompressFrames(encoded, static_cast<std::size_t>(chunk.plain), plain,
                                             name));
    } else {
      OTA_TRY(
          decompressor->Decompress(encoded, static_cast<std::size_t>(chunk.plain), plain, name));
    }
    UngroupBytes(plain, chunk.groups, scratch);
    OTA_TRY(writer->WriteAndRecycle(plain));
  }
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
  WipeKey(content_key);
  return e;
}

StreamingUnpacker::StreamingUnpacker(FileSystem& fs, std::string out_dir, UnpackLimits limits,
                                     std::optional<RecipientPrivateKey> key, PayloadKind kind)
    : impl_(std::make_unique<Impl>(fs, std::move(out_dir), limits, std::move(key), kind)) {}

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
    // Stops the writer's hashing thread and frees the chunk buffers before
    // the caller goes on (a delta apply does, with the unpacker alive).
    impl_->writer.reset();
    std::vector<std::uint8_t>().swap(impl_->buffer);
    std::vector<std::uint8_t>().swap(impl_->plain);
    std::vector<std::uint8_t>().swap(impl_->scratch);
    std::vector<std::uint8_t>().swap(impl_->decrypted);
    if (impl_->header->delta) return Ok();
    // Written last: a folder with bundle.json holds a complete, verified bundle.
    return WriteFileAtomic(impl_->fs, JoinPath(impl_->out_dir, manifest::kBundleManifestFileName),
                           manifest::SerializeBundleManifest(impl_->header->manifest));
  }();
  if (!s.ok()) return impl_->Fail(s.error()).error();
  impl_->stage = Impl::Stage::kFinished;
  WipeKey(impl_->content_key);
  return impl_->header->manifest;
}

std::uint64_t StreamingUnpacker::bytes_fed() const { return impl_->fed; }

std::optional<DeltaInfo> StreamingUnpacker::delta() const {
  if (!impl_->header) return std::nullopt;
  return impl_->header->delta;
}

}  // namespace ota::bundle
