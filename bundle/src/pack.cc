#include <algorithm>
#include <set>

#include "byte_grouping.h"
#include "chunk_crypto.h"
#include "container_format.h"
#include "gguf_layout.h"
#include "ota/bundle/bundle.h"
#include "ota/common/hash.h"
#include "zstd_codec.h"

namespace ota::bundle {
namespace {

constexpr std::size_t kCopyPieceBytes = 1u << 20;

// Turns the plaintext stream into encoded (grouped, compressed) chunks
// appended to a scratch file, recording the chunk table as it goes.
class ChunkSink {
 public:
  ChunkSink(std::unique_ptr<WritableFile> out, std::unique_ptr<ZstdCompressor> compressor,
            std::size_t chunk_size, StreamRegions regions)
      : out_(std::move(out)),
        compressor_(std::move(compressor)),
        plain_(chunk_size),
        regions_(std::move(regions)) {}

  // The free tail of the plaintext buffer, for reading input straight into it.
  std::span<std::uint8_t> FreeSpace() { return std::span(plain_).subspan(filled_); }
  // Accounts for `n` bytes just placed in FreeSpace(); emits a full chunk.
  Status Commit(std::size_t n) {
    filled_ += n;
    total_plain_ += n;
    return filled_ == plain_.size() ? Emit() : Ok();
  }
  // Emits the final partial chunk and closes the scratch file.
  Status Close() {
    if (filled_ > 0) OTA_TRY(Emit());
    return out_->Close();
  }
  std::vector<ChunkEntry>& chunks() { return chunks_; }
  std::uint64_t total_plain() const { return total_plain_; }
  std::uint64_t total_stored() const { return total_stored_; }

 private:
  Status Emit() {
    std::span<std::uint8_t> plain(plain_.data(), filled_);
    std::vector<ByteGroup> groups =
        GroupsForChunk(regions_, next_region_, total_plain_ - filled_, filled_);
    planes_.clear();
    GroupBytes(plain, groups, scratch_, &planes_);
    // Every plane (and bf16 mantissa bucket) starts a zstd block, so it gets
    // entropy tables of its own instead of sharing them with unlike bytes;
    // in a chunk with bf16 groups, a frame of its own.
    bool compressed = false;
    if (planes_.empty()) {
      OTA_ASSIGN_OR_RETURN(compressed, compressor_->Compress(plain, compressed_));
    } else {
      if (HasBf16Split(groups)) {
        OTA_TRY(compressor_->CompressFrames(plain, planes_, compressed_));
      } else {
        OTA_TRY(compressor_->CompressPlanes(plain, planes_, compressed_));
      }
      compressed = compressed_.size() < plain.size();
    }
    if (!compressed) {
      // Stored raw: raw chunks hold the bytes in their original order.
      UngroupBytes(plain, groups, scratch_);
      groups.clear();
    }
    std::span<const std::uint8_t> stored =
        compressed ? std::span<const std::uint8_t>(compressed_) : plain;
    Hasher hasher(HashAlgorithm::kSha256);
    hasher.Update(stored);
    chunks_.push_back(ChunkEntry{compressed ? ChunkCodec::kZstd : ChunkCodec::kRaw, stored.size(),
                                 plain.size(), hasher.FinishHex(), std::move(groups)});
    OTA_TRY(out_->Append(stored));
    total_stored_ += stored.size();
    filled_ = 0;
    return Ok();
  }

  std::unique_ptr<WritableFile> out_;
  std::unique_ptr<ZstdCompressor> compressor_;
  std::vector<std::uint8_t> plain_;
  std::vector<std::uint8_t> compressed_;
  std::vector<std::uint8_t> scratch_;
  std::vector<std::size_t> planes_;
  StreamRegions regions_;
  std::size_t next_region_ = 0;
  std::size_t filled_ = 0;
  std::vector<ChunkEntry> chunks_;
  std::uint64_t total_plain_ = 0;
  std::uint64_t total_stored_ = 0;
};

// The float tensor regions of every GGUF input, as stream offsets. The
// sizes seen here only steer compression: the chunk table records the groups
// actually applied, so a file that changes afterwards still round-trips.
Result<StreamRegions> FindRegions(FileSystem& fs, const std::vector<InputFile>& inputs,
                                  bool bf16_split) {
  StreamRegions regions;
  std::uint64_t stream_offset = 0;
  for (const InputFile& input : inputs) {
    Result<GgufLayout> scanned = [&]() -> Result<GgufLayout> {
      OTA_ASSIGN_OR_RETURN(auto file, fs.OpenReadable(input.source_path));
      OTA_ASSIGN_OR_RETURN(std::uint64_t size, file->Size());
      return ScanGguf(*file, size);
    }();
    if (!scanned.ok()) {
      Error e = std::move(scanned).error();
      e.message = "input " + input.archive_path + ": " + e.message;
      return e;
    }
    const GgufLayout& layout = *scanned;
    const std::uint64_t size = layout.file_size;
    for (const ByteGroup& r : layout.float_regions) {
      const GroupKind kind =
          r.kind == GroupKind::kBf16Split && !bf16_split ? GroupKind::kBytes : r.kind;
      ByteGroup* last = regions.empty() ? nullptr : &regions.back();
      if (last != nullptr && last->width == r.width && last->kind == kind &&
          last->offset + last->length == stream_offset + r.offset) {
        last->length += r.length;
      } else {
        regions.push_back(ByteGroup{stream_offset + r.offset, r.length, r.width, kind});
      }
    }
    stream_offset += size;
  }
  return regions;
}

// Streams one input into the sink; fills in its size and SHA-256.
Status AddInput(FileSystem& fs, const InputFile& input, ChunkSink& sink,
                manifest::BundleFile& entry) {
  auto annotate = [&](Error e) {
    e.message = "input " + input.archive_path + ": " + e.message;
    return e;
  };
  Result<std::unique_ptr<ReadableFile>> file = fs.OpenReadable(input.source_path);
  if (!file.ok()) return annotate(std::move(file).error());
  Hasher hasher(HashAlgorithm::kSha256);
  std::uint64_t offset = 0;
  while (true) {
    std::span<std::uint8_t> space = sink.FreeSpace();
    Result<std::size_t> n = (*file)->ReadAt(offset, space);
    if (!n.ok()) return annotate(std::move(n).error());
    if (*n == 0) break;
    hasher.Update(space.first(*n));
    offset += *n;
    OTA_TRY(sink.Commit(*n));
  }
  entry.size = offset;
  entry.sha256 = hasher.FinishHex();
  return Ok();
}

Status ReadExactly(ReadableFile& file, std::uint64_t offset, std::span<std::uint8_t> out) {
  std::size_t done = 0;
  while (done < out.size()) {
    OTA_ASSIGN_OR_RETURN(std::size_t n, file.ReadAt(offset + done, out.subspan(done)));
    if (n == 0) return MakeError(ErrorCode::kIo, "the chunk scratch file is shorter than written");
    done += n;
  }
  return Ok();
}

Status CopyFile(FileSystem& fs, const std::string& from, std::uint64_t expected, WritableFile& to) {
  OTA_ASSIGN_OR_RETURN(auto in, fs.OpenReadable(from));
  std::vector<std::uint8_t> piece(kCopyPieceBytes);
  std::uint64_t offset = 0;
  while (true) {
    OTA_ASSIGN_OR_RETURN(std::size_t n, in->ReadAt(offset, piece));
    if (n == 0) break;
    OTA_TRY(to.Append(std::span<const std::uint8_t>(piece.data(), n)));
    offset += n;
  }
  if (offset != expected) {
    return MakeError(ErrorCode::kIo, from + " holds " + std::to_string(offset) +
                                         " bytes of chunks, expected " + std::to_string(expected));
  }
  return Ok();
}

// Encrypts every encoded chunk of the scratch file. Called twice: first
// with `to` null to learn the ciphertexts' digests for the header (the
// encryption is deterministic), then to write them after the header.
Status EncryptChunks(FileSystem& fs, const std::string& scratch_path, std::string_view content_key,
                     ContainerHeader& header, const std::vector<std::uint64_t>& encoded_sizes,
                     WritableFile* to) {
  OTA_ASSIGN_OR_RETURN(auto in, fs.OpenReadable(scratch_path));
  const std::string context = ChunkContext(header);
  std::vector<std::uint8_t> encoded;
  std::vector<std::uint8_t> sealed;
  std::uint64_t offset = 0;
  for (std::size_t i = 0; i < header.chunks.size(); ++i) {
    ChunkEntry& chunk = header.chunks[i];
    encoded.resize(static_cast<std::size_t>(encoded_sizes[i]));
    OTA_TRY(ReadExactly(*in, offset, encoded));
    offset += encoded.size();
    OTA_TRY(EncryptChunk(content_key, header, context, i, chunk, encoded, sealed));
    if (to != nullptr) {
      OTA_TRY(to->Append(sealed));
      continue;
    }
    Hasher hasher(HashAlgorithm::kSha256);
    hasher.Update(sealed);
    chunk.stored = sealed.size();
    chunk.sha256 = hasher.FinishHex();
  }
  return Ok();
}

// Seals a fresh content key to every recipient.
Result<Encryption> MakeEncryption(const PackOptions& options, std::string& content_key) {
  Encryption enc;
  OTA_ASSIGN_OR_RETURN(enc.bundle_id, RandomBytes(options.random, kBundleIdBytes));
  OTA_ASSIGN_OR_RETURN(content_key, RandomBytes(options.random, kContentKeyBytes));
  for (const RecipientPublicKey& r : options.recipients) {
    OTA_ASSIGN_OR_RETURN(std::string sealed, SealContentKey(content_key, r.public_key));
    enc.recipients.push_back(Recipient{RecipientKeyId(r.public_key), std::move(sealed)});
  }
  return enc;
}

Status Pack(FileSystem& fs, manifest::BundleManifest& m, const std::vector<InputFile>& inputs,
            const std::string& out_path, const PackOptions& options, const std::string& chunks_path,
            const std::string& tmp_path, std::string& content_key,
            std::optional<DeltaInfo> delta = std::nullopt) {
  // The level is checked before any input is read.
  OTA_ASSIGN_OR_RETURN(auto compressor, ZstdCompressor::Create(options.zstd_level));
  StreamRegions regions;
  if (options.byte_grouping) {
    OTA_ASSIGN_OR_RETURN(regions, FindRegions(fs, inputs, options.bf16_split));
  }
  OTA_ASSIGN_OR_RETURN(auto scratch, fs.OpenWritable(chunks_path, /*append=*/false));
  ChunkSink sink(std::move(scratch), std::move(compressor),
                 static_cast<std::size_t>(options.chunk_size), std::move(regions));
  if (delta) {
    // The payload is the only input; the manifest is the target's, as given.
    manifest::BundleFile payload;
    OTA_TRY(AddInput(fs, inputs.at(0), sink, payload));
    delta->payload_sha256 = payload.sha256;
  } else {
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      OTA_TRY(AddInput(fs, inputs[i], sink, m.files[i]));
    }
  }
  OTA_TRY(sink.Close());
  OTA_TRY(manifest::ValidateBundleManifest(m));

  ContainerHeader header;
  header.delta = delta;
  header.manifest = m;
  header.chunk_size = options.chunk_size;
  header.chunks = std::move(sink.chunks());
  header.total_plain = sink.total_plain();
  std::vector<std::uint64_t> encoded_sizes;
  for (const ChunkEntry& c : header.chunks) encoded_sizes.push_back(c.stored);
  const bool encrypted = !options.recipients.empty();
  if (encrypted) {
    OTA_ASSIGN_OR_RETURN(header.encryption, MakeEncryption(options, content_key));
    OTA_TRY(EncryptChunks(fs, chunks_path, content_key, header, encoded_sizes, nullptr));
  }
  const std::string header_json = EncodeHeader(header);
  if (header_json.size() > kMaxHeaderBytes) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "the bundle header would be " + std::to_string(header_json.size()) +
                         " bytes, more than " + std::to_string(kMaxHeaderBytes) +
                         "; use a larger chunk size or fewer files");
  }
  OTA_ASSIGN_OR_RETURN(auto out, fs.OpenWritable(tmp_path, /*append=*/false));
  bool bf16_split = false;
  for (const ChunkEntry& c : header.chunks) bf16_split |= HasBf16Split(c.groups);
  const std::uint32_t flags = (encrypted ? kFlagEncrypted : 0) |
                              (delta ? kFlagDelta | kFlagHeaderZstd : 0) |
                              (bf16_split ? kFlagBf16Split : 0);
  std::string stored_header = header_json;
  if (delta) {
    OTA_ASSIGN_OR_RETURN(stored_header, CompressHeader(header_json));
  }
  OTA_TRY(out->Append(EncodePreamble(flags, stored_header)));
  OTA_TRY(out->Append(stored_header));
  if (encrypted) {
    OTA_TRY(EncryptChunks(fs, chunks_path, content_key, header, encoded_sizes, out.get()));
  } else {
    OTA_TRY(CopyFile(fs, chunks_path, sink.total_stored(), *out));
  }
  OTA_TRY(out->Sync());
  OTA_TRY(out->Close());
  OTA_TRY(fs.Rename(tmp_path, out_path));
  return fs.SyncDir(DirName(out_path));
}

Status CheckPackOptions(const PackOptions& options) {
  if (options.chunk_size < kMinChunkSize || options.chunk_size > kMaxChunkSize) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "chunk size " + std::to_string(options.chunk_size) + " is outside " +
                         std::to_string(kMinChunkSize) + ".." + std::to_string(kMaxChunkSize));
  }
  if (options.recipients.size() > kMaxRecipients) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "at most " + std::to_string(kMaxRecipients) + " recipients per bundle");
  }
  std::set<std::string> key_ids;
  for (const RecipientPublicKey& r : options.recipients) {
    if (r.public_key.size() != kRecipientKeyBytes) {
      return MakeError(ErrorCode::kInvalidArgument, "a recipient key is not 32 bytes");
    }
    if (!key_ids.insert(RecipientKeyId(r.public_key)).second) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "recipient key id " + RecipientKeyId(r.public_key) + " is given twice");
    }
  }
  return Ok();
}

}  // namespace

Status PackDeltaContainer(FileSystem& fs, const manifest::BundleManifest& target, DeltaInfo delta,
                          const std::string& payload_path, const std::string& out_path,
                          const PackOptions& options) {
  OTA_TRY(CheckPackOptions(options));
  manifest::BundleManifest m = target;
  OTA_TRY(manifest::ValidateBundleManifest(m));
  const std::string chunks_path = out_path + ".chunks.tmp";
  const std::string tmp_path = out_path + ".tmp";
  std::string content_key;
  PackOptions plain_options = options;
  plain_options.byte_grouping = false;  // The payload is already transformed.
  Status s = Pack(fs, m, {InputFile{kDeltaPayloadFileName, payload_path, "other"}}, out_path,
                  plain_options, chunks_path, tmp_path, content_key, std::move(delta));
  WipeKey(content_key);
  (void)fs.Remove(chunks_path);
  if (!s.ok()) (void)fs.Remove(tmp_path);
  return s;
}

Result<manifest::BundleManifest> PackBundle(FileSystem& fs, const manifest::BundleManifest& base,
                                            const std::vector<InputFile>& inputs,
                                            const std::string& out_path,
                                            const PackOptions& options) {
  OTA_TRY(CheckPackOptions(options));
  manifest::BundleManifest m = base;
  m.files.clear();
  for (const InputFile& input : inputs) {
    // Placeholder size and hash: the rest of the manifest is checked before
    // any input is read.
    m.files.push_back(
        manifest::BundleFile{input.archive_path, 0, std::string(64, '0'), input.role});
  }
  OTA_TRY(manifest::ValidateBundleManifest(m));
  const std::string chunks_path = out_path + ".chunks.tmp";
  const std::string tmp_path = out_path + ".tmp";
  std::string content_key;
  Status s = Pack(fs, m, inputs, out_path, options, chunks_path, tmp_path, content_key);
  WipeKey(content_key);
  (void)fs.Remove(chunks_path);
  if (!s.ok()) {
    (void)fs.Remove(tmp_path);
    return std::move(s).error();
  }
  return m;
}

}  // namespace ota::bundle
