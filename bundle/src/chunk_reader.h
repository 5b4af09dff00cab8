// Turning a bundle's stored chunks back into plaintext, with every check of
// docs/formats.md "Reading rules" (steps 3 and 5). ChunkDecoder is shared by
// the StreamingUnpacker (bytes pushed as they arrive) and ChunkReader (a
// bundle file pulled chunk by chunk: a delta apply reads its payload this
// way, straight into the files it rebuilds, instead of staging it on disk).
//
// Thread-safety: not thread-safe; use one object per bundle.
#ifndef OTA_BUNDLE_CHUNK_READER_H_
#define OTA_BUNDLE_CHUNK_READER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "container_format.h"
#include "ota/bundle/recipient_keys.h"
#include "ota/common/filesystem.h"
#include "ota/common/result.h"
#include "zstd_codec.h"

namespace ota::bundle {

// A bundle file's preamble and header, read and checked (DecodePreamble,
// DecodeHeader), and checked against the file's length: kIntegrity
// "bundle is truncated: ..." or "bundle has N trailing bytes ...".
struct StoredHeader {
  Preamble preamble;
  ContainerHeader header;
  std::uint64_t file_size = 0;
  ContainerHead head;
};
Result<StoredHeader> ReadStoredHeader(ReadableFile& file, const UnpackLimits& limits);

class ChunkDecoder {
 public:
  // Opens an encrypted header's content key with `key`. `header` must
  // outlive the decoder. Errors: kSecurity when the bundle is encrypted and
  // `key` is absent ("bundle is encrypted and no recipient key was given")
  // or not a recipient; kIntegrity if its sealed key does not open; kInternal.
  static Result<std::unique_ptr<ChunkDecoder>> Create(const ContainerHeader& header,
                                                      std::optional<RecipientPrivateKey> key);
  ~ChunkDecoder();
  ChunkDecoder(const ChunkDecoder&) = delete;
  ChunkDecoder& operator=(const ChunkDecoder&) = delete;

  // Checks chunk `index`'s stored bytes (SHA-256 before anything else, then
  // the tag when encrypted), decompresses them to exactly their declared
  // size and undoes the byte groups. Returns the vector holding the
  // plaintext: `stored` itself for a raw unencrypted chunk, else one of the
  // decoder's buffers; the caller may swap its contents out.
  // Errors: kIntegrity naming the chunk.
  Result<std::vector<std::uint8_t>*> Decode(std::size_t index, std::vector<std::uint8_t>& stored);

  // Overwrites the content key (also done by the destructor).
  void WipeContentKey();

 private:
  explicit ChunkDecoder(const ContainerHeader& header) : header_(header) {}

  const ContainerHeader& header_;
  std::string content_key_;
  std::string context_;
  std::unique_ptr<ZstdDecompressor> decompressor_;
  std::vector<std::uint8_t> decrypted_;
  std::vector<std::uint8_t> plain_;
  std::vector<std::uint8_t> scratch_;
};

// A bundle file read chunk by chunk. Memory: about three chunks.
class ChunkReader {
 public:
  // Reads the header (ReadStoredHeader), so that it can be checked before
  // the content key is opened. Errors: as ReadStoredHeader.
  static Result<std::unique_ptr<ChunkReader>> Open(FileSystem& fs, const std::string& path,
                                                   const UnpackLimits& limits);
  // Opens the content key (ChunkDecoder::Create); required before Next.
  Status OpenContentKey(std::optional<RecipientPrivateKey> key);
  const ContainerHeader& header() const { return header_; }
  // The next chunk's plaintext (valid until the next call); nullptr after
  // the last chunk. Errors: as ChunkDecoder::Decode; kIntegrity if the file
  // changed and ends early; the FileSystem's errors.
  Result<std::vector<std::uint8_t>*> Next();

 private:
  ChunkReader() = default;

  std::unique_ptr<ReadableFile> file_;
  ContainerHeader header_;
  std::unique_ptr<ChunkDecoder> decoder_;
  std::uint64_t offset_ = 0;  // Of the next chunk in the file.
  std::size_t index_ = 0;
  std::vector<std::uint8_t> stored_;
};

}  // namespace ota::bundle

#endif  // OTA_BUNDLE_CHUNK_READER_H_
