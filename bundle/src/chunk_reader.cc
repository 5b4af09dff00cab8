#include "chunk_reader.h"

#include "byte_grouping.h"
#include "chunk_crypto.h"
#include "ota/common/checked_math.h"
#include "ota/common/hash.h"

namespace ota::bundle {
namespace {

// Reads exactly out.size() bytes at `offset`; kIntegrity if the file ends first.
Status ReadBundleBytes(ReadableFile& file, std::uint64_t offset, std::span<std::uint8_t> out,
                       const std::string& what) {
  std::size_t done = 0;
  while (done < out.size()) {
    OTA_ASSIGN_OR_RETURN(std::size_t n, file.ReadAt(offset + done, out.subspan(done)));
    if (n == 0) {
      return MakeError(ErrorCode::kIntegrity, "bundle is truncated in its " + what + " (" +
                                                  std::to_string(done) + " of " +
                                                  std::to_string(out.size()) + " bytes)");
    }
    done += n;
  }
  return Ok();
}

}  // namespace

Result<std::unique_ptr<ChunkDecoder>> ChunkDecoder::Create(const ContainerHeader& header,
                                                           std::optional<RecipientPrivateKey> key) {
  std::unique_ptr<ChunkDecoder> d(new ChunkDecoder(header));
  if (header.encryption) {
    if (!key) {
      const auto& recipients = header.encryption->recipients;
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
    Result<std::string> opened = OpenContentKey(*header.encryption, *key);
    WipeKey(key->private_key);
    if (!opened.ok()) return std::move(opened).error();
    d->content_key_ = std::move(opened).value();
    d->context_ = ChunkContext(header);
  }
  OTA_ASSIGN_OR_RETURN(d->decompressor_, ZstdDecompressor::Create());
  return d;
}

ChunkDecoder::~ChunkDecoder() { WipeContentKey(); }

void ChunkDecoder::WipeContentKey() { WipeKey(content_key_); }

Result<std::vector<std::uint8_t>*> ChunkDecoder::Decode(std::size_t index,
                                                        std::vector<std::uint8_t>& stored) {
  const ChunkEntry& chunk = header_.chunks[index];
  const std::string name = ChunkName(index);
  // Hash before decompressing: zstd never sees bytes the header did not vouch for.
  Hasher hasher(HashAlgorithm::kSha256);
  hasher.Update(stored);
  if (const std::string actual = hasher.FinishHex(); actual != chunk.sha256) {
    return MakeError(ErrorCode::kIntegrity,
                     name + " has SHA-256 " + actual + ", but the header says " + chunk.sha256);
  }
  std::vector<std::uint8_t>* encoded = &stored;
  if (header_.encryption) {
    OTA_TRY(DecryptChunk(content_key_, header_, context_, index, chunk, stored, decrypted_));
    encoded = &decrypted_;
  }
  if (chunk.codec == ChunkCodec::kRaw) return encoded;
  const auto plain_size = static_cast<std::size_t>(chunk.plain);
  if (HasBf16Split(chunk.groups)) {
    OTA_TRY(decompressor_->DecompressFrames(*encoded, plain_size, plain_, name));
  } else {
    OTA_TRY(decompressor_->Decompress(*encoded, plain_size, plain_, name));
  }
  UngroupBytes(plain_, chunk.groups, scratch_);
  return &plain_;
}

Result<StoredHeader> ReadStoredHeader(ReadableFile& file, const UnpackLimits& limits) {
  StoredHeader out;
  std::vector<std::uint8_t> bytes(kPreambleSize);
  OTA_TRY(ReadBundleBytes(file, 0, bytes, "preamble"));
  OTA_ASSIGN_OR_RETURN(out.preamble, DecodePreamble(bytes, limits));
  Hasher head(HashAlgorithm::kSha256);
  head.Update(bytes);
  bytes.resize(static_cast<std::size_t>(out.preamble.header_len));
  OTA_TRY(ReadBundleBytes(file, kPreambleSize, bytes, "header"));
  OTA_ASSIGN_OR_RETURN(out.header, DecodeHeader(bytes, out.preamble, limits));
  head.Update(bytes);
  out.head = ContainerHead{kPreambleSize + out.preamble.header_len, head.FinishHex()};
  OTA_ASSIGN_OR_RETURN(out.file_size, file.Size());
  const std::optional<std::uint64_t> described =
      CheckedSum({kPreambleSize, out.preamble.header_len, out.header.total_stored});
  if (!described) {
    return MakeError(ErrorCode::kIntegrity, "bundle header describes more than 2^64 bytes");
  }
  const std::uint64_t expected = *described;
  if (out.file_size < expected) {
    return MakeError(ErrorCode::kIntegrity,
                     "bundle is truncated: it is " + std::to_string(out.file_size) +
                         " bytes, its header describes " + std::to_string(expected));
  }
  if (out.file_size > expected) {
    return MakeError(ErrorCode::kIntegrity, "bundle has " +
                                                std::to_string(out.file_size - expected) +
                                                " trailing bytes after its last chunk");
  }
  return out;
}

Result<std::unique_ptr<ChunkReader>> ChunkReader::Open(FileSystem& fs, const std::string& path,
                                                       const UnpackLimits& limits) {
  std::unique_ptr<ChunkReader> r(new ChunkReader());
  OTA_ASSIGN_OR_RETURN(r->file_, fs.OpenReadable(path));
  OTA_ASSIGN_OR_RETURN(StoredHeader stored, ReadStoredHeader(*r->file_, limits));
  r->header_ = std::move(stored.header);
  r->offset_ = kPreambleSize + stored.preamble.header_len;
  return r;
}

Status ChunkReader::OpenContentKey(std::optional<RecipientPrivateKey> key) {
  OTA_ASSIGN_OR_RETURN(decoder_, ChunkDecoder::Create(header_, std::move(key)));
  return Ok();
}

Result<std::vector<std::uint8_t>*> ChunkReader::Next() {
  if (!decoder_) return MakeError(ErrorCode::kInternal, "bundle chunks read before the key");
  if (index_ == header_.chunks.size()) {
    decoder_->WipeContentKey();
    return nullptr;
  }
  const ChunkEntry& chunk = header_.chunks[index_];
  // Stored sizes were bounded when the header was decoded.
  stored_.resize(static_cast<std::size_t>(chunk.stored));
  OTA_TRY(ReadBundleBytes(*file_, offset_, stored_, ChunkName(index_)));
  offset_ += chunk.stored;
  return decoder_->Decode(index_++, stored_);
}

}  // namespace ota::bundle
