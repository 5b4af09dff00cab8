#include <algorithm>

#include "container_format.h"
#include "ota/bundle/bundle.h"
#include "ota/common/hash.h"
#include "zstd_codec.h"

namespace ota::bundle {
namespace {

constexpr std::size_t kCopyPieceBytes = 1u << 20;

// Turns the plaintext stream into stored chunks appended to a scratch file,
// recording the chunk table as it goes.
class ChunkSink {
 public:
  ChunkSink(std::unique_ptr<WritableFile> out, std::unique_ptr<ZstdCompressor> compressor,
            std::size_t chunk_size)
      : out_(std::move(out)), compressor_(std::move(compressor)), plain_(chunk_size) {}

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
    std::span<const std::uint8_t> plain(plain_.data(), filled_);
    OTA_ASSIGN_OR_RETURN(bool compressed, compressor_->Compress(plain, compressed_));
    std::span<const std::uint8_t> stored =
        compressed ? std::span<const std::uint8_t>(compressed_) : plain;
    Hasher hasher(HashAlgorithm::kSha256);
    hasher.Update(stored);
    chunks_.push_back(ChunkEntry{compressed ? ChunkCodec::kZstd : ChunkCodec::kRaw, stored.size(),
                                 plain.size(), hasher.FinishHex()});
    OTA_TRY(out_->Append(stored));
    total_stored_ += stored.size();
    filled_ = 0;
    return Ok();
  }

  std::unique_ptr<WritableFile> out_;
  std::unique_ptr<ZstdCompressor> compressor_;
  std::vector<std::uint8_t> plain_;
  std::vector<std::uint8_t> compressed_;
  std::size_t filled_ = 0;
  std::vector<ChunkEntry> chunks_;
  std::uint64_t total_plain_ = 0;
  std::uint64_t total_stored_ = 0;
};

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

Status Pack(FileSystem& fs, manifest::BundleManifest& m, const std::vector<InputFile>& inputs,
            const std::string& out_path, const PackOptions& options, const std::string& chunks_path,
            const std::string& tmp_path) {
  OTA_ASSIGN_OR_RETURN(auto compressor, ZstdCompressor::Create(options.zstd_level));
  OTA_ASSIGN_OR_RETURN(auto scratch, fs.OpenWritable(chunks_path, /*append=*/false));
  ChunkSink sink(std::move(scratch), std::move(compressor),
                 static_cast<std::size_t>(options.chunk_size));
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    OTA_TRY(AddInput(fs, inputs[i], sink, m.files[i]));
  }
  OTA_TRY(sink.Close());
  OTA_TRY(manifest::ValidateBundleManifest(m));

  ContainerHeader header;
  header.manifest = m;
  header.chunk_size = options.chunk_size;
  header.chunks = std::move(sink.chunks());
  header.total_plain = sink.total_plain();
  const std::string header_json = EncodeHeader(header);
  if (header_json.size() > kMaxHeaderBytes) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "the bundle header would be " + std::to_string(header_json.size()) +
                         " bytes, more than " + std::to_string(kMaxHeaderBytes) +
                         "; use a larger chunk size or fewer files");
  }
  OTA_ASSIGN_OR_RETURN(auto out, fs.OpenWritable(tmp_path, /*append=*/false));
  OTA_TRY(out->Append(EncodePreamble(/*flags=*/0, header_json)));
  OTA_TRY(out->Append(header_json));
  OTA_TRY(CopyFile(fs, chunks_path, sink.total_stored(), *out));
  OTA_TRY(out->Sync());
  OTA_TRY(out->Close());
  OTA_TRY(fs.Rename(tmp_path, out_path));
  return fs.SyncDir(DirName(out_path));
}

}  // namespace

Result<manifest::BundleManifest> PackBundle(FileSystem& fs, const manifest::BundleManifest& base,
                                            const std::vector<InputFile>& inputs,
                                            const std::string& out_path,
                                            const PackOptions& options) {
  if (options.chunk_size < kMinChunkSize || options.chunk_size > kMaxChunkSize) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "chunk size " + std::to_string(options.chunk_size) + " is outside " +
                         std::to_string(kMinChunkSize) + ".." + std::to_string(kMaxChunkSize));
  }
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
  Status s = Pack(fs, m, inputs, out_path, options, chunks_path, tmp_path);
  (void)fs.Remove(chunks_path);
  if (!s.ok()) {
    (void)fs.Remove(tmp_path);
    return std::move(s).error();
  }
  return m;
}

}  // namespace ota::bundle
